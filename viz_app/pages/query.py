"""Query a patch: click any patch to see where its token attends, per layer and head, and rolled out."""

import streamlit as st

from vit_core.errors import VitCoreError
from vit_core.methods import RolloutSettings
from vit_core.methods.token_attention import grid_of_keys
from viz_app import figures, links, projector, resources, state
from viz_app.i18n import t
from viz_app.state import MEAN_OF_HEADS, ROLLED_OUT
from viz_app.ui import (
    head_label,
    layer_label,
    patch_from_selection,
    plotly,
    prefix_mass,
    render_controls,
    require_context,
    show_error,
)

ctx = require_context()
geometry = ctx.geometry
gh, gw = geometry.grid_size
P = geometry.num_prefix_tokens

st.session_state.setdefault(state.QUERY_ROW, gh // 2)
st.session_state.setdefault(state.QUERY_COL, gw // 2)
if st.session_state[state.QUERY_ROW] >= gh or st.session_state[state.QUERY_COL] >= gw:  # a smaller grid now
    st.session_state[state.QUERY_ROW], st.session_state[state.QUERY_COL] = gh // 2, gw // 2


def _on_click() -> None:
    patch = patch_from_selection(state.QUERY_CHART)
    if patch is not None:
        st.session_state[state.QUERY_ROW], st.session_state[state.QUERY_COL] = patch


@st.fragment
def query_view() -> None:
    big = projector.is_on()  # projector: controls and titles in a side column, so the map fits 1280 x 720
    side, main = st.columns([1, 2]) if big else (st.container(), None)
    with side:
        heading = st.container() if big else None  # filled once the controls have said which patch
        controls = [st.container()] * 4 if big else st.columns([1, 1, 2, 2])
        row = controls[0].number_input(t("label.row"), 0, gh - 1, key=state.QUERY_ROW)
        col = controls[1].number_input(t("label.column"), 0, gw - 1, key=state.QUERY_COL)
        layers = [ROLLED_OUT, *range(geometry.depth)]
        layer = controls[2].selectbox(t("label.layer"), layers, index=len(layers) - 1, key=state.QUERY_LAYER,
                                      format_func=layer_label)
        heads = [MEAN_OF_HEADS, *range(geometry.num_heads)]
        head = controls[3].selectbox(t("label.head"), heads, key=state.QUERY_HEAD, disabled=layer == ROLLED_OUT,
                                     format_func=head_label)
        render = render_controls(state.QUERY_RENDER, stacked=big)
    token = geometry.patch_token(row, col)
    try:
        rows = ctx.analysis.token_rows(token)  # [L, H, N], rebuilt from q and k where the analysis keeps those
        per_head = grid_of_keys(resources.shared_tensor(rows), geometry).numpy()  # [L, H, gh, gw]
        if layer == ROLLED_OUT:
            rolled = resources.rollout_rows(ctx, RolloutSettings(), [token])[0]  # [N]: e_token B_L ... B_1
            heat, on_prefix = rolled[P:].reshape(gh, gw), rolled[:P]
            what = t("query.rolled")
        else:
            what = f"{layer_label(layer)}, {head_label(head)}"
            if head == MEAN_OF_HEADS:
                heat, on_prefix = per_head[layer].mean(0), rows[layer, :, :P].mean(0)
            else:
                heat, on_prefix = per_head[layer, head], rows[layer, head, :P]
    except VitCoreError as error:
        show_error(error)
        return
    if big:  # the map beside the controls, every head's maps below at full width
        titles, left, right = heading, main, st.container()
    else:  # the query's map and every head's side by side
        left, right = st.columns([1, 1])
        titles = left
    with titles:
        st.subheader(t("query.where", row=row, col=col))
        st.caption(t("query.token", token=token, what=what))
    with left:
        plotly(figures.overlay_figure(ctx.view, heat, geometry.patch_size, settings=render,
                                      num_prefix_tokens=P, selected=(row, col), height=480),
               key=state.QUERY_CHART, on_select=_on_click)
        st.caption(t("query.on_prefix", mass=prefix_mass(on_prefix, ctx.prefix_labels)))
    with right:
        st.subheader(t("query.every_head"))
        plotly(figures.head_grid_figure(per_head, mode="animate", colorscale=render.colorscale,
                                        title=t("query.as_query", row=row, col=col),
                                        **projector.head_grid_options(geometry.num_heads, beside=True)))
    links.share_view("query")


query_view()
