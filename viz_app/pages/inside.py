"""Token norms & sinks: each token's norm per layer on the image grid and as a histogram with the outlier cut,
the high-norm outliers (Darcet et al. 2024), the attention each key token receives per layer and head (prefix
tokens against outlier patches), and the same statistics for a second model side by side (with and without
registers)."""

import numpy as np
import streamlit as st

from vit_core.errors import VitCoreError
from viz_app import figures, inside_figures, links, resources, state
from viz_app.i18n import t
from viz_app.state import MEAN_OF_HEADS, ModelSpec
from viz_app.ui import head_label, layer_label, model_label, percent, plotly, require_context, show_error, weights_label

ctx = require_context()
geometry = ctx.geometry
found = resources.inspection(ctx)
P, (gh, gw) = geometry.num_prefix_tokens, geometry.grid_size


def rule_text(result) -> str:
    """The outlier rule in the current language, from what the result records."""
    settings = result.provenance.settings
    if settings["rule"] == "absolute":
        return t("inside.rule_absolute", cut=f"{settings['cut']:g}")
    return t("inside.rule_mad", k=f"{settings['k']:g}")


def outliers_at(result, image_index: int = 0) -> list[tuple[int, int]]:
    """(row, col) of the listed outlier patches of one image."""
    here = (result.outlier_image == image_index) & (result.outlier_row >= 0)
    return list(zip(result.outlier_row[here].tolist(), result.outlier_col[here].tolist(), strict=True))


def norm_views(result, view, patch_size, layer: int, key: str, height: int = 380, stacked: bool = False) -> None:
    """The norm map of `layer` on the image grid beside (or above) its histogram with the cut."""
    prefix = result.num_prefix_tokens
    norms = result.token_norms[0, layer]
    cut = float(result.outlier_cut[0, layer])
    above = np.flatnonzero(result.outlier_mask[0, layer][int(prefix):])
    marked = [divmod(int(i), int(result.grid_size[1])) for i in above]
    labels = {result.token_label(i): float(norms[i]) for i in range(int(prefix))}
    left, right = (st.container(), st.container()) if stacked else st.columns(2)
    with left:
        plotly(inside_figures.grid_value_figure(
            view, norms[int(prefix):].reshape(tuple(result.grid_size)), tuple(patch_size), marked=marked,
            title=t("inside.norm_map", layer=layer_label(layer)), colorbar_title=t("inside.norm_axis"), height=height,
        ), key=f"{key}_map")
    with right:
        plotly(inside_figures.norm_histogram_figure(
            norms[int(prefix):], cut, prefix_norms=labels, title=t("inside.histogram", layer=layer_label(layer)),
            height=height,
        ), key=f"{key}_hist")
    st.caption(t("inside.above", n=len(above), layer=layer_label(layer), cut=f"{cut:.3g}"))


def shares_by_depth(result) -> dict[str, np.ndarray]:
    """Prefix and outlier shares of the sink mass per layer (the mean over heads), by their shown name."""
    return {t("inside.to_prefix"): result.prefix_share[0].mean(-1), t("inside.to_outliers"): result.outlier_share[0].mean(-1)}


@st.fragment
def inside_view() -> None:
    st.caption(t("inside.rule", rule=rule_text(found), layer=layer_label(int(found.outlier_layer))))
    pick = st.columns(2)
    layer = pick[0].slider(t("label.layer"), 0, geometry.depth - 1, geometry.depth - 1, key=state.INSIDE_LAYER)
    heads = [MEAN_OF_HEADS, *range(geometry.num_heads)]
    head = pick[1].selectbox(t("label.head"), heads, key=state.INSIDE_HEAD, format_func=head_label)

    st.subheader(t("inside.norms_title"))
    norm_views(found, ctx.view, geometry.patch_size, layer, "inside_norms")

    st.subheader(t("inside.outliers_title", n=len(found.outlier_token)))
    if len(found.outlier_token):
        st.dataframe({
            t("inside.col_token"): [found.token_label(int(i)) for i in found.outlier_token],
            t("inside.col_first"): found.outlier_first_layer.tolist(),
            t("inside.col_norm"): np.round(found.outlier_norm, 2).tolist(),
            t("inside.col_cls"): [t("none") if np.isnan(v) else percent(v) for v in found.outlier_cls_share],
        }, hide_index=True)
    else:
        st.info(t("inside.no_outliers", rule=rule_text(found)))

    st.subheader(t("inside.sinks_title"))
    mass = found.sink_mass[0, layer]  # [head, token]
    shown = mass.mean(0) if head == MEAN_OF_HEADS else mass[head]
    prefix_share = float(shown[:P].sum())
    top = np.argsort(-shown, kind="stable")[:5]
    left, right = st.columns(2)
    with left:
        plotly(inside_figures.grid_value_figure(
            ctx.view, shown[P:].reshape(gh, gw), geometry.patch_size, marked=outliers_at(found),
            title=t("inside.sink_map", layer=layer_label(layer), head=head_label(head)),
            colorbar_title=t("inside.sink_axis"), height=380,
        ), key="inside_sink_map")
        st.caption(t("inside.sink_caption", prefix=percent(prefix_share),
                     top=", ".join(f"{found.token_label(int(i))} {percent(shown[i])}" for i in top)))
    with right:
        plotly(inside_figures.depth_share_figure(shares_by_depth(found), y_title=t("inside.share_axis"),
                                                 title=t("inside.share_title"), height=380), key="inside_shares")
    plotly(figures.head_metric_figure(found.prefix_share[0], y_title=t("inside.share_axis"),
                                      title=t("inside.prefix_heads")), key="inside_prefix_heads")
    links.share_view("inside")


inside_view()


def _twin_default() -> str:
    """The registers twin of the current model where the curated list has one, else the first with registers."""
    names = list(state.CURATED_MODELS)
    current = next((label for label, name in state.CURATED_MODELS.items() if name == ctx.spec.name), None)
    if current is not None and "registers" not in current:
        twin = next((label for label in names if label.startswith(current.split(" (")[0]) and "registers" in label), None)
        if twin:
            return twin
    return next(label for label in names if "registers" in label)


@st.fragment
def side_by_side() -> None:
    st.subheader(t("inside.compare_title"))
    if not st.toggle(t("inside.compare"), key=state.INSIDE_COMPARE, help=t("inside.compare_help")):
        st.caption(t("inside.compare_off"))
        return
    options = [state.DEMO_LABEL, *state.CURATED_MODELS]
    if state.INSIDE_OTHER not in st.session_state:
        st.session_state[state.INSIDE_OTHER] = _twin_default()
    cells = st.columns([3, 1])
    choice = cells[0].selectbox(t("inside.other"), options, key=state.INSIDE_OTHER, format_func=model_label)
    random = cells[1].toggle(t("inside.random"), value=True, key=state.INSIDE_OTHER_RANDOM, help=t("inside.random_help"))
    other = resources.default_model_spec() if choice == state.DEMO_LABEL else ModelSpec(state.CURATED_MODELS[choice])
    if random:
        other = ModelSpec(other.name, other.checkpoint, pretrained=False, dtype=other.dtype)
    try:
        with st.spinner(t("compare.running", name=other.name), show_time=True):
            loaded, view, second = resources.model_inspection(other, ctx.image)
    except VitCoreError as error:
        show_error(error)
        return
    columns = st.columns(2)
    for column, title, result, image, patch, side, model in (
        (columns[0], t("compare.current"), found, ctx.view, geometry.patch_size, "left", ctx.loaded),
        (columns[1], t("compare.compared"), second, view, loaded.geometry.patch_size, "right", loaded),
    ):
        with column:
            last = result.token_norms.shape[1] - 1
            kinds = [str(k) for k in result.prefix_kinds]
            st.markdown(f"**{title}** · {model.name} · {weights_label(model)}")
            st.caption(t("inside.layout", registers=kinds.count("reg"), n=len(result.outlier_token)))
            norm_views(result, image, patch, last, f"inside_{side}", height=320, stacked=True)
            plotly(inside_figures.depth_share_figure(shares_by_depth(result), y_title=t("inside.share_axis"),
                                                     title=t("inside.share_title"), height=320),
                   key=f"inside_{side}_shares")


side_by_side()
