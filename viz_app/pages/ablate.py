"""Switch off heads & tokens: zero- or mean-ablate any heads, mask any tokens, and see the top-5, the top-1 logit,
the rollout and the class-token attention before and after; the head-importance grid one toggle away."""

import numpy as np
import streamlit as st

from vit_core.errors import VitCoreError
from vit_core.inside.ablation import parse_heads
from vit_core.inside.norms import MAD_K
from viz_app import ablation_data, figures, links, state
from viz_app.i18n import t
from viz_app.ui import class_name, plotly, require_context, show_error

ctx = require_context()
geometry = ctx.geometry
P, (gh, gw) = geometry.num_prefix_tokens, geometry.grid_size
MODES = {"mean": "ablate.mode.mean", "zero": "ablate.mode.zero"}  # values stay English
HEADS = [f"{layer}:{head}" for layer in range(geometry.depth) for head in range(geometry.num_heads)]


def token_label(token: int) -> str:
    if token < P:
        return f"{ctx.prefix_labels[token]} (#{token})"
    row, col = divmod(token - P, gw)
    return f"{t('ablate.patch', row=row, col=col)} (#{token})"


def top5(logits: np.ndarray, title: str):
    import torch

    from vit_core.models.predict import top_k

    row = top_k(torch.from_numpy(np.asarray(logits))[None], ctx.loaded.label_names, k=5,
                output=ctx.loaded.class_output)[0]
    return figures.topk_figure([p.label for p in row], [p.probability for p in row], title=title,
                               presence=ctx.loaded.class_output == "sigmoid")


@st.fragment
def ablate_view() -> None:
    count = len(ablation_data.sample_images())
    st.markdown(t("ablate.intro", n=count))
    top = st.columns([3, 3, 2])
    chosen = top[0].multiselect(t("ablate.heads"), HEADS, key=state.ABLATE_HEADS)
    tokens = top[1].multiselect(t("ablate.tokens"), list(range(geometry.num_tokens)), key=state.ABLATE_TOKENS,
                                format_func=token_label)
    mode = top[2].radio(t("ablate.mode"), list(MODES), key=state.ABLATE_MODE, format_func=lambda m: t(MODES[m]))
    heads = parse_heads(",".join(chosen), geometry.depth, geometry.num_heads)
    mode_name = t("ablate.mean_name", n=count) if mode == "mean" else t("ablate.zero_name")
    clean = {"logits": ctx.analysis.logits[0], "rollout": ctx.analysis.rollout[0],
             "cls": None if ctx.analysis.cls_attention is None else ctx.analysis.cls_attention[0, -1].mean(0)}
    if heads or tokens:
        st.caption(t("ablate.state", heads=len(heads), mode=mode_name, tokens=len(tokens)))
        try:
            after = ablation_data.ablated_view(ctx, heads, tuple(tokens), mode)
        except VitCoreError as error:  # e.g. every token masked: the sentence says what to keep, the choice stays
            show_error(error)
            after = clean
    else:
        st.caption(t("ablate.state_none", mode=mode_name))
        after = clean
    target = int(np.argmax(clean["logits"]))
    label = class_name(ctx, target)
    if ctx.predictions:
        cols = st.columns([2, 2, 1])
        with cols[0]:
            plotly(top5(clean["logits"], t("ablate.before")))
        with cols[1]:
            plotly(top5(after["logits"], t("ablate.after")))
        before_logit, after_logit = float(clean["logits"][target]), float(after["logits"][target])
        cols[2].metric(t("ablate.target", label=label), f"{after_logit:.3f}", f"{after_logit - before_logit:+.3f}",
                       help=t("ablate.target_help"))
    else:
        st.info(t("ablate.no_head"))
    for name, title in (("rollout", "ablate.rollout"), ("cls", "ablate.cls")):
        st.subheader(t(title))
        if clean[name] is None:
            st.info(t("ablate.no_cls"))
            continue
        left, right = st.columns(2)
        for column, maps, side in ((left, clean, "ablate.before"), (right, after, "ablate.after")):
            with column:
                plotly(figures.overlay_figure(ctx.view, maps[name], geometry.patch_size, height=380,
                                              clickable=False, title=t(side)))
        if heads or tokens:
            change = float(np.abs(np.asarray(after[name]) - np.asarray(clean[name])).max())
            st.caption(t("ablate.map_change", change=f"{change:.4f}"))
    if ctx.predictions and st.toggle(t("ablate.importance"), key=state.ABLATE_IMPORTANCE, help=t("ablate.importance_help")):
        importance_view(mode, mode_name, target, label)
    register_view()
    links.share_view("ablate")


def importance_view(mode: str, mode_name: str, target: int, label: str) -> None:
    try:
        grid = ablation_data.importance_grid(ctx, mode, target)
    except VitCoreError as error:
        show_error(error)
        return
    plotly(figures.head_importance_figure(grid, title=t("ablate.importance_title", label=label, mode=mode_name),
                                          bar_title=t("ablate.importance_axis")))
    layer, head = np.unravel_index(int(np.argmax(grid)), grid.shape)
    st.caption(t("ablate.importance_caption", label=label, layer=int(layer), head=int(head),
                 drop=f"{float(grid.max()):+.3f}", positive=int((grid > 0).sum()), total=grid.size))


def register_view() -> None:
    if not st.toggle(t("ablate.register"), key=state.REGISTER_SHOW, help=t("ablate.register_help")):
        return
    pick = st.columns(3)
    layer = pick[0].slider(t("ablate.register_layer"), 0, geometry.depth - 1, geometry.depth // 2, key=state.REGISTER_LAYER)
    mads = pick[1].slider(t("ablate.register_mads"), 2.0, 30.0, MAD_K, 1.0, key=state.REGISTER_MADS)
    k = pick[2].slider(t("ablate.register_k"), 1, 20, 5, key=state.REGISTER_K)
    try:
        found = ablation_data.test_time_register(ctx, layer, mads, k)
    except VitCoreError as error:
        show_error(error)
        return
    if found["neurons"] is None:
        st.info(t("ablate.register_none", images=found["images"], layer=layer, cut=f"{found['cut']:.2f}",
                  median=f"{found['median']:.2f}", highest=f"{found['max']:.2f}"))
        return
    st.caption(t("ablate.register_found", neurons=", ".join(f"{a}:{b}" for a, b in found["neurons"]),
                 count=found["with_outliers"], images=found["images"], cut=f"{found['cut']:.2f}", layer=layer,
                 before=f"{found['norms_before'].max():.2f}", after=f"{found['norms_after'].max():.2f}",
                 register=f"{found['register_norm']:.2f}", share=f"{found['register_attention']:.1%}"))
    for name, title in (("norms", t("ablate.register_norms", layer=layer)), ("cls_attention", t("ablate.register_cls"))):
        st.subheader(title)
        left, right = st.columns(2)
        for column, side, label in ((left, "before", "ablate.before"), (right, "after", "ablate.after")):
            with column:
                plotly(figures.overlay_figure(ctx.view, found[f"{name}_{side}"], geometry.patch_size, height=340,
                                              clickable=False, title=t(label)))


ablate_view()
