"""Class-token attention: every layer and head, as a grid or animated over depth, with the weight that went
to the prefix tokens (class, distillation, registers) shown beside it."""

import streamlit as st

from viz_app import figures, state
from viz_app.ui import colormap_select, plotly, prefix_mass, require_context

ctx = require_context()
geometry = ctx.geometry

if ctx.analysis.cls_attention is None:
    st.info("This model has no class token (it pools the patch tokens); use “Query a patch” to see where any token looks.")
    st.stop()

maps = ctx.analysis.cls_attention[0]  # [layer, head, gh, gw]
cls = geometry.token_index("cls")
P = geometry.num_prefix_tokens
# weights of the class-token query on each prefix key: [layer, head, prefix]
prefix_weights = ctx.analysis.attention[0, :, :, cls, :P]


@st.fragment
def class_token_view() -> None:
    top = st.columns([2, 1, 1])
    mode = top[0].radio("Layout", ["Animate over layers", "Layer × head grid"], key=state.CLS_MODE, horizontal=True)
    normalise = top[1].toggle("Scale each map", value=True, key=state.CLS_NORMALISE,
                              help="Min-max scale every map on its own so weak heads stay visible.")
    with top[2]:
        colorscale = colormap_select(state.CLS_COLORMAP)
    fig = figures.head_grid_figure(maps, mode="animate" if mode.startswith("Animate") else "grid",
                                   colorscale=colorscale, normalise=normalise)
    plotly(fig)

    st.subheader("One head on the image")
    pick = st.columns([2, 2, 1])
    layer = pick[0].slider("Layer", 0, geometry.depth - 1, geometry.depth - 1, key=state.CLS_LAYER)
    heads = ["mean of heads", *range(geometry.num_heads)]
    head = pick[1].selectbox("Head", heads, key=state.CLS_HEAD)
    opacity = pick[2].slider("Opacity", 0.0, 1.0, 0.6, 0.05, key="cls_opacity")
    heat = maps[layer].mean(0) if head == "mean of heads" else maps[layer, head]
    on_prefix = prefix_weights[layer].mean(0) if head == "mean of heads" else prefix_weights[layer, head]
    left, right = st.columns([1, 1])
    with left:
        plotly(figures.overlay_figure(ctx.view, heat, geometry.patch_size, opacity=opacity, colorscale=colorscale,
                                      num_prefix_tokens=P, height=420, clickable=False,
                                      title=f"layer {layer}, {head if isinstance(head, str) else f'head {head}'}"))
        st.caption(f"Weight this query put on prefix tokens: {prefix_mass(on_prefix, ctx.prefix_labels)}; "
                   "the map shows the rest, over the patches.")
    with right:
        plotly(figures.prefix_weights_figure(prefix_weights, ctx.prefix_labels,
                                             title="Class-token attention to prefix tokens (layer × head)"))


class_token_view()
