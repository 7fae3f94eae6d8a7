"""Class-token attention: every layer and head, as a grid or animated over depth, with the weight that went
to the prefix tokens (class, distillation, registers) shown beside it."""

import streamlit as st

from viz_app import figures, links, projector, state
from viz_app.rendering import HEAD_COLOURS, MASK, head_composite
from viz_app.ui import head_label, plotly, prefix_mass, render_controls, require_context

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
    top = st.columns([2, 1])
    mode = top[0].radio("Layout", ["Animate over layers", "Layer × head grid"], key=state.CLS_MODE, horizontal=True)
    normalise = top[1].toggle("Scale each map", value=True, key=state.CLS_NORMALISE,
                              help="Min-max scale every map on its own so weak heads stay visible.")
    render = render_controls(state.CLS_RENDER)
    colorscale = render.colorscale
    fig = figures.head_grid_figure(maps, mode="animate" if mode.startswith("Animate") else "grid",
                                   colorscale=colorscale, normalise=normalise,
                                   **projector.head_grid_options(geometry.num_heads))
    plotly(fig)

    st.subheader("One head on the image")
    pick = st.columns([2, 2])
    layer = pick[0].slider("Layer", 0, geometry.depth - 1, geometry.depth - 1, key=state.CLS_LAYER)
    heads = ["mean of heads", *range(geometry.num_heads)]
    head = pick[1].selectbox("Head", heads, key=state.CLS_HEAD, format_func=head_label)
    heat = maps[layer].mean(0) if head == "mean of heads" else maps[layer, head]
    on_prefix = prefix_weights[layer].mean(0) if head == "mean of heads" else prefix_weights[layer, head]
    left, right = st.columns([1, 1])
    with left:
        plotly(figures.overlay_figure(ctx.view, heat, geometry.patch_size, settings=render,
                                      num_prefix_tokens=P, height=420, clickable=False,
                                      title=f"layer {layer}, {head_label(head)}"))
        st.caption(f"Weight this query put on prefix tokens: {prefix_mass(on_prefix, ctx.prefix_labels)}; "
                   f"the map shows the rest, over the patches. {render.describe()}.")
    with right:
        mass = render.mass if render.style == MASK else 0.6
        plotly(figures.image_figure(head_composite(ctx.view, maps[layer], mass), height=420,
                                    title=f"layer {layer}, every head at once"))
        st.caption(f"DINO's per-head picture (Caron et al. 2021, Figure 3): each colour is one head's patches "
                   f"holding the top {mass:.0%} of its attention.")
        st.markdown(" ".join(
            f"<span style='background:rgb{HEAD_COLOURS[h % len(HEAD_COLOURS)]};padding:0 6px;border-radius:3px;"
            f"color:black'>{head_label(h)}</span>" for h in range(geometry.num_heads)), unsafe_allow_html=True)
    plotly(figures.prefix_weights_figure(prefix_weights, ctx.prefix_labels,
                                         title="Class-token attention to prefix tokens (layer × head)"))
    links.share_view("class_token")


class_token_view()
