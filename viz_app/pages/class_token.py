"""Class-token attention: every layer and head, as a grid or animated over depth, with the weight that went
to the prefix tokens (class, distillation, registers) shown beside it."""

import streamlit as st

from viz_app import figures, links, projector, state
from viz_app.i18n import t
from viz_app.rendering import HEAD_COLOURS, MASK, head_composite
from viz_app.state import MEAN_OF_HEADS
from viz_app.ui import head_label, layer_label, plotly, prefix_mass, render_controls, require_context

ctx = require_context()
geometry = ctx.geometry

if ctx.analysis.cls_attention is None:
    st.info(t("cls.none", query=t("nav.query")))
    st.stop()

maps = ctx.analysis.cls_attention[0]  # [layer, head, gh, gw]
cls = geometry.token_index("cls")
P = geometry.num_prefix_tokens
# weights of the class-token query on each prefix key: [layer, head, prefix]
prefix_weights = ctx.analysis.token_rows(cls)[..., :P]  # from either store


@st.fragment
def class_token_view() -> None:
    controls_box, figures_box = projector.controls_and_figures()
    with controls_box:
        top = st.columns([2, 1])
        layouts = {"Animate over layers": t("cls.animate"), "Layer × head grid": t("cls.grid")}  # values stay English
        mode = top[0].radio(t("cls.layout"), list(layouts), key=state.CLS_MODE, horizontal=True, format_func=layouts.get)
        normalise = top[1].toggle(t("cls.scale"), value=True, key=state.CLS_NORMALISE, help=t("cls.scale_help"))
        render = render_controls(state.CLS_RENDER)
        colorscale = render.colorscale
    fig = figures.head_grid_figure(maps, mode="animate" if mode.startswith("Animate") else "grid",
                                   colorscale=colorscale, normalise=normalise,
                                   **projector.head_grid_options(geometry.num_heads))
    with figures_box:
        plotly(fig)

    st.subheader(t("cls.one_head"))
    pick = st.columns([2, 2])
    layer = pick[0].slider(t("label.layer"), 0, geometry.depth - 1, geometry.depth - 1, key=state.CLS_LAYER)
    heads = [MEAN_OF_HEADS, *range(geometry.num_heads)]
    head = pick[1].selectbox(t("label.head"), heads, key=state.CLS_HEAD, format_func=head_label)
    heat = maps[layer].mean(0) if head == MEAN_OF_HEADS else maps[layer, head]
    on_prefix = prefix_weights[layer].mean(0) if head == MEAN_OF_HEADS else prefix_weights[layer, head]
    left, right = st.columns([1, 1])
    with left:
        plotly(figures.overlay_figure(ctx.view, heat, geometry.patch_size, settings=render,
                                      num_prefix_tokens=P, height=420, clickable=False,
                                      title=f"{layer_label(layer)}, {head_label(head)}"))
        st.caption(t("cls.on_prefix", mass=prefix_mass(on_prefix, ctx.prefix_labels), rendering=render.describe()))
    with right:
        mass = render.mass if render.style == MASK else 0.6
        plotly(figures.image_figure(head_composite(ctx.view, maps[layer], mass), height=420,
                                    title=t("cls.every_head", layer=layer_label(layer))))
        st.caption(t("cls.dino", mass=f"{mass:.0%}"))
        st.markdown(" ".join(
            f"<span style='background:rgb{HEAD_COLOURS[h % len(HEAD_COLOURS)]};padding:0 6px;border-radius:3px;"
            f"color:black'>{head_label(h)}</span>" for h in range(geometry.num_heads)), unsafe_allow_html=True)
    plotly(figures.prefix_weights_figure(prefix_weights, ctx.prefix_labels,
                                         title=t("cls.prefix_title")))
    links.share_view("class_token")


class_token_view()
