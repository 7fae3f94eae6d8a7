"""The lesson: the ViT paper's pipeline step by step with Next/Back, each step a short text, one
predict-then-reveal question and the live figure for the current model and image (shown once answered);
rollout is stepped through layer by layer, then class-specific relevance, the faithfulness of rollout, and a
high-norm outlier token and what a register does."""

from functools import cache

import numpy as np
import streamlit as st

from vit_core.errors import VitCoreError
from vit_core.methods import RolloutSettings
from viz_app import figures, inside_figures, lesson, links, projector, resources, state
from viz_app.faithfulness_data import method_results
from viz_app.ground_truth import CLEAR_MARGIN, describe_peak, objects_in_view, own_objects_clear, read_peak
from viz_app.i18n import t
from viz_app.ui import class_name, plotly, require_context, shared_figure, show_error

ctx = require_context()
g = ctx.geometry
gh, gw = g.grid_size
ph, pw = g.patch_size
P = g.num_prefix_tokens
a = ctx.analysis
cls = g.token_index("cls") if a.cls_attention is not None else None
top = ctx.predictions[0] if ctx.predictions else None  # the model's best guess, None without a classifier
scene = resources.scene_ground_truth().get(ctx.image.sha256)
objects = objects_in_view(scene, ctx.mapping) if scene else []  # a generated scene's objects, in the model's view

FIGURE_PX = 300  # the relevance and faithfulness figures: below their text and question, above the fold at 900 px
STEPS = lesson.STEPS  # the lesson's steps, in order (the link's step=N opens the N-th)


def _quarters() -> dict[str, str]:
    return {q: t(f"lesson.rollout.{q}") for q in lesson.QUARTERS}


def _where(name: str, heat: np.ndarray) -> str:
    """Where the relevance for `name` is strongest, in a sentence: on which object of a scene and by what margin
    ('no clear winner' below ground_truth.CLEAR_MARGIN), else which quarter."""
    if objects:
        verdict = describe_peak(read_peak(heat, g.patch_size, objects), name, [o.label for o in objects])
        return t("lesson.relevance.peak", name=name, verdict=verdict)
    return t("lesson.relevance.quarter", name=name, where=_quarters()[lesson.strongest_quarter(heat)])


@cache
def _race() -> lesson.RemovalRace | None:
    """Token removal in rollout's order and in a random one for the top class (computed once per image, shared
    with the Faithfulness page); None without a classifier or when the computation is refused."""
    if top is None:
        return None
    try:
        with st.spinner(t("lesson.faithfulness.computing")):
            results = method_results(ctx.key, lesson.RACE_METHODS, int(top.index), ctx.loaded, ctx.image.data)
    except VitCoreError as error:
        show_error(error)
        return None
    return lesson.removal_race(results)


def _question(step: str) -> tuple[str, dict[str, str], str] | None:
    """(question, {answer id: label}, right answer id) for `step`, the answer computed from this model and image."""
    if step == "patches":
        options = dict.fromkeys([str(gh * gw), str(gh * gw + P), str(3 * ph * pw)])
        return t("lesson.patches.q"), {k: k for k in options}, str(gh * gw + P)
    if step == "embedding":
        options = dict.fromkeys([str(ph * pw), str(3 * ph * pw), str(g.embed_dim)])
        return t("lesson.embedding.q", dim=g.embed_dim), {k: k for k in options}, str(3 * ph * pw)
    if step == "position":
        if a.pos_embed_similarity is None:
            return None
        near = lesson.most_similar_is_neighbour(a.pos_embed_similarity, gh // 2, gw // 2)
        options = {"near": t("lesson.position.a_near"), "far": t("lesson.position.a_far")}
        return t("lesson.position.q", row=gh // 2, col=gw // 2), options, "near" if near else "far"
    if step == "attention":
        if cls is None:
            return None
        same = lesson.heads_agree(a.cls_attention[0][-1])
        options = {"same": t("lesson.attention.a_same"), "different": t("lesson.attention.a_different")}
        return t("lesson.attention.q"), options, "same" if same else "different"
    if step == "distance":
        early = lesson.local_heads_early(a.mean_attention_distance[0])
        options = {"early": t("lesson.distance.a_early"), "late": t("lesson.distance.a_late")}
        return t("lesson.distance.q"), options, "early" if early else "late"
    if step == "rollout":
        return t("lesson.rollout.q"), _quarters(), lesson.strongest_quarter(a.rollout[0])
    if step == "relevance":
        if a.relevance is None:
            return None
        heat, name = a.relevance[0], class_name(ctx, int(a.relevance_target[0]))
        if objects:
            options = {o.label: t("truth.on_object", label=o.label) for o in objects}
            options[lesson.BACKGROUND] = t("truth.on_background")
            return t("lesson.relevance.q_scene", name=name), options, lesson.relevance_peak(heat, g.patch_size, objects)
        return t("lesson.relevance.q", name=name), _quarters(), lesson.strongest_quarter(heat)
    if step == "registers":
        options = {"yes": t("lesson.registers.a_yes"), "no": t("lesson.registers.a_no")}
        return t("lesson.registers.q"), options, "yes" if lesson.has_outlier(resources.inspection(ctx).outlier_image) else "no"
    race = _race()
    if race is None:
        return None
    options = {"faster": t("lesson.faithfulness.a_faster"), "slower": t("lesson.faithfulness.a_slower")}
    return t("lesson.faithfulness.q", name=top.label), options, "faster" if race.rollout_faster else "slower"


def _draw(parts: tuple, build, key: str | None = None) -> None:
    """One of the lesson's figures: the same for every student at this step (and `parts`), so built once for the
    class (:func:`viz_app.ui.shared_figure`), not once per student and rerun."""
    plotly(shared_figure(ctx, parts, build), key=key, shared=True)


def _figure(step: str) -> None:
    if step == "patches":
        _draw((step,), lambda: figures.patch_grid_figure(ctx.view, g.grid_size, g.patch_size, P), "lesson_figure")
    elif step == "embedding":
        _draw((step,), lambda: figures.filters_figure(a.patch_embed_pcs, a.patch_embed_pcs_variance), "lesson_figure")
    elif step == "position":
        if a.pos_embed_similarity is not None:
            _draw((step,), lambda: figures.pos_embed_tiles_figure(a.pos_embed_similarity), "lesson_figure")
        else:
            st.info(t("lesson.position.none"))
    elif step == "attention":
        if cls is None:
            st.info(t("lesson.attention.none"))
        else:
            _draw((step,), lambda: figures.head_grid_figure(a.cls_attention[0][-1:], layers=[g.depth - 1],
                                                            **projector.head_grid_options(g.num_heads)), "lesson_figure")
    elif step == "distance":
        _draw((step,), lambda: figures.head_metric_figure(a.mean_attention_distance[0], y_title=t("lesson.distance.axis")),
              "lesson_figure")
    elif step == "rollout":
        _rollout_step_through()
    elif step == "relevance":
        _relevance_pair()
    elif step == "registers":
        _outlier_and_registers()
    else:
        _removal_race()


def _outlier_and_registers() -> None:
    """The last layer's token norms on the grid and as a histogram with the cut, and what they show: the first
    outlier and the class token's attention to it, or plainly that this model has none; then the registers' share."""
    found = resources.inspection(ctx)
    norms, cut = found.token_norms[0, -1], float(found.outlier_cut[0, -1])
    first = np.flatnonzero(found.outlier_image == 0)
    if len(first):
        i = int(first[0])
        share = found.outlier_cls_share[i]
        st.markdown(t("lesson.registers.found", token=found.token_label(int(found.outlier_token[i])),
                      norm=f"{found.outlier_norm[i]:.1f}", cut=f"{cut:.1f}", first=int(found.outlier_first_layer[i]),
                      cls=t("none") if np.isnan(share) else f"{100 * float(share):.1f}%"))
    else:
        st.markdown(t("lesson.registers.none", top=f"{float(norms[P:].max()):.1f}", cut=f"{cut:.1f}", depth=g.depth,
                      dim=g.embed_dim, page=t("nav.inside")))
    prefix_share = f"{100 * float(found.prefix_share[0, -1].mean()):.1f}%"
    if g.num_registers:
        st.caption(t("lesson.registers.share", n=g.num_registers, share=prefix_share))
    else:
        st.caption(t("lesson.registers.no_registers", prefix=", ".join(ctx.prefix_labels) or "—", share=prefix_share))
    marked = [divmod(int(k) - P, gw) for k in found.outlier_token[first] if k >= P]
    left, right = st.columns(2)
    with left:
        _draw(("registers", "norms"), lambda: inside_figures.grid_value_figure(
            ctx.view, norms[P:].reshape(gh, gw), g.patch_size, marked=marked, height=FIGURE_PX,
            colorbar_title=t("inside.norm_axis"), title=t("inside.norm_map", layer=t("layer.n", layer=g.depth - 1))),
            "lesson_figure")
    with right:
        _draw(("registers", "histogram"), lambda: inside_figures.norm_histogram_figure(
            norms[P:], cut, height=FIGURE_PX, prefix_norms={found.token_label(k): float(norms[k]) for k in range(P)},
            title=t("inside.histogram", layer=t("layer.n", layer=g.depth - 1))), "lesson_figure_second")


def _relevance_pair() -> None:
    """The top class's relevance beside another class's (another object of the scene, else the runner-up)."""
    if a.relevance is None:
        st.info(t("rollout.no_head"))
        return
    first = int(a.relevance_target[0])
    names = ctx.loaded.label_names or []
    second = lesson.contrast_class(first, names, [o.label for o in objects], [p.index for p in ctx.predictions])
    boxes = [(o.label, o.box) for o in objects]
    maps = {first: a.relevance[0]}
    if second is not None:
        try:
            with st.spinner(t("rollout.gradient_pass")):
                maps[second] = resources.relevance_map(ctx, second)
        except VitCoreError as error:
            show_error(error)
    st.markdown(" ".join(_where(class_name(ctx, c), heat) for c, heat in maps.items()))
    if objects and len(maps) == 2:  # the step's claim, said only where it holds by a clear margin
        readings = {class_name(ctx, c): read_peak(heat, g.patch_size, objects) for c, heat in maps.items()}
        st.caption(t("lesson.relevance.holds") if own_objects_clear(readings)
                   else t("lesson.relevance.not_here", threshold=f"{CLEAR_MARGIN:.2f}"))
    columns = st.columns(2)
    for column, (target, heat) in zip(columns, maps.items(), strict=False):
        with column:
            _draw(("relevance", int(target)), lambda heat=heat, target=target: figures.overlay_figure(
                ctx.view, heat, g.patch_size, clickable=False, height=FIGURE_PX, boxes=boxes, num_prefix_tokens=P,
                title=t("rollout.relevance_for", name=class_name(ctx, target))),
                "lesson_figure" if target == first else "lesson_figure_second")


def _removal_race() -> None:
    """Rollout's map beside the two token-removal curves, their AUCs and a one-line reading."""
    race = _race()
    if race is None:
        if top is None:
            st.info(t("faith.no_head"))
        return
    reading = "lesson.faithfulness.reading_faster" if race.rollout_faster else "lesson.faithfulness.reading_slower"
    st.markdown(t(reading, name=top.label))
    left, right = st.columns([2, 3])
    with left:
        _draw(("faithfulness", "order"), lambda: figures.overlay_figure(
            ctx.view, a.rollout[0], g.patch_size, clickable=False, height=FIGURE_PX, num_prefix_tokens=P,
            title=t("lesson.faithfulness.order")))

    def curves():
        names = {
            "rollout": t("lesson.faithfulness.rollout", auc=f"{race.rollout_auc:.3f}"),
            "random": t("lesson.faithfulness.random", auc=f"{race.random_auc:.3f}"),
        }
        fig = figures.curves_figure(race.fractions, {"rollout": race.rollout, "random": race.random}, names=names,
                                    height=FIGURE_PX, y_title=t("lesson.faithfulness.curves", name=top.label))
        fig.update_layout(legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}, margin={"t": 40})  # on top: in view with the axes
        return fig

    with right:
        _draw(("faithfulness", "curves"), curves, "lesson_figure")


def _rollout_step_through() -> None:
    """Layer by layer: the head-fused factor with the residual, the running product, and the class-token row."""
    if not a.has_attention:
        _draw(("rollout",), lambda: figures.overlay_figure(ctx.view, a.rollout[0], g.patch_size, clickable=False),
              "lesson_figure")
        return
    layer = st.slider(t("lesson.rollout.layer"), 0, g.depth - 1, g.depth - 1, key=state.LESSON_LAYER)
    query = cls if cls is not None else P  # without a class token, follow the first patch token
    if a.attention is None:  # a large model keeps q and k: the running product's row, without N x N matrices
        running = resources.running_rollout_rows(ctx, query)[layer]  # [N]
        _draw(("rollout", "row", layer), lambda: figures.overlay_figure(
            ctx.view, running[P:].reshape(gh, gw), g.patch_size, clickable=False, height=360,
            title=t("lesson.rollout.row", layer=layer)), "lesson_figure")
        st.caption(t("lesson.rollout.caption", prefix=f"{100 * float(np.sum(running[:P])):.1f}%"))
        return
    steps = lesson.rollout_steps(a.attention, RolloutSettings(), P)
    step = steps[layer]
    row = step.product[query, P:].reshape(gh, gw)  # [gh, gw]
    left, middle, right = st.columns(3)
    with left:
        _draw(("rollout", "factor", layer), lambda: lesson.matrix_figure(step.factor, t("lesson.rollout.factor", layer=layer)))
    with middle:
        _draw(("rollout", "product", layer),
              lambda: lesson.matrix_figure(step.product, t("lesson.rollout.product", layer=layer)))
    with right:
        _draw(("rollout", "row", layer), lambda: figures.overlay_figure(
            ctx.view, row, g.patch_size, clickable=False, height=360, title=t("lesson.rollout.row", layer=layer)),
            "lesson_figure")
    st.caption(t("lesson.rollout.caption", prefix=f"{100 * float(np.sum(step.product[query, :P])):.1f}%"))


def _go(delta: int) -> None:
    st.session_state[state.LESSON_STEP] = min(max(st.session_state.get(state.LESSON_STEP, 0) + delta, 0),
                                              len(STEPS) - 1)


@st.fragment
def lesson_view() -> None:
    """The current step, then the link to it (in the fragment: the URL follows Next and Back)."""
    _step_view()
    links.share_view("lesson")


def _step_view() -> None:
    _race.cache_clear()  # computed at most once per run of the fragment (question and figure share it)
    index = st.session_state.setdefault(state.LESSON_STEP, 0)
    step = STEPS[index]
    st.progress((index + 1) / len(STEPS), text=t("lesson.progress", n=index + 1, total=len(STEPS),
                                                    title=t(f"lesson.{step}.title")))
    nav = st.columns([2, 2, 5] if projector.is_on() else [1, 1, 6])  # the projector's large text: Back and Next in full
    nav[0].button(t("lesson.back"), key="lesson_back", on_click=_go, args=(-1,), disabled=index == 0,
                  icon=":material/arrow_back:", use_container_width=True)
    nav[1].button(t("lesson.next"), key="lesson_next", on_click=_go, args=(1,), disabled=index == len(STEPS) - 1,
                  icon=":material/arrow_forward:", use_container_width=True, type="primary")
    st.subheader(t(f"lesson.{step}.title"))
    st.markdown(t(f"lesson.{step}.text", gh=gh, gw=gw, n=gh * gw, ph=ph, pw=pw, P=P, depth=g.depth,
                  heads=g.num_heads, dim=g.embed_dim, size=f"{g.img_size[1]} × {g.img_size[0]}",
                  prefix=", ".join(ctx.prefix_labels) or "—"))
    question = _question(step)
    if question is None:
        _figure(step)
        return
    text, options, right = question
    asked, verdict = st.columns([3, 2], vertical_alignment="center")  # the verdict beside: the figure stays in view
    answer = asked.radio(f"**{text}**", list(options), format_func=options.get, index=None,  # the question stands out
                         key=f"{state.LESSON_ANSWER}_{step}",
                         horizontal=True)
    if answer is None:
        verdict.caption(t("lesson.predict_first"))
        _draw(("before",), lambda: figures.image_figure(ctx.view, height=360), "lesson_before")
        return
    if answer == right:
        verdict.success(t("lesson.right"), icon=":material/check_circle:")
    else:
        verdict.warning(t("lesson.wrong", answer=options[right]), icon=":material/lightbulb:")
    _figure(step)


lesson_view()
