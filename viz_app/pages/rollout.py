"""Attention rollout (Abnar & Zuidema 2020) beside class-specific relevance (GAE: Chefer et al. ICCV 2021).

Every control here is a view control: rollout is recomputed from the stored attention, never by a new
forward pass; relevance for a class other than the top-1 costs one cached gradient pass. On a generated
sample scene the objects' true boxes are drawn, and each map's peak is checked against them (the demo
model card's pointing game, for this one image).
"""

from pathlib import Path

import streamlit as st

from vit_core.errors import VitCoreError
from vit_core.methods import HEAD_FUSIONS, RolloutSettings
from viz_app import figures, links, projector, resources, state
from viz_app.ground_truth import GROW, describe_peak, objects_in_view, read_peak
from viz_app.i18n import t
from viz_app.rendering import is_constant
from viz_app.ui import (
    class_name,
    class_select,
    describe_rollout,
    outside_domain,
    plotly,
    png_download,
    png_language,
    prefix_mass,
    render_controls,
    require_context,
    show_error,
)

ctx = require_context()
geometry = ctx.geometry
scene = resources.scene_ground_truth().get(ctx.image.sha256)
objects = objects_in_view(scene, ctx.mapping) if scene else []


def peak_verdict(heat, wanted: str | None) -> str:
    """Where the map's peak lies among the scene's objects and by what margin; ticked when clearly on `wanted`."""
    reading = read_peak(heat, geometry.patch_size, objects)
    return describe_peak(reading, wanted, [o.label for o in objects])


def constant_note(settings: RolloutSettings) -> str:
    """Why a rollout map came out the same everywhere, and what to change."""
    if settings.residual_weight >= 1.0:
        why = t("rollout.constant_residual")
    elif settings.discard_ratio > 0:
        why = t("rollout.constant_discard")
    else:
        why = t("rollout.constant_same")
    return t("rollout.constant", why=why)


@st.fragment
def rollout_view() -> None:
    if outside_domain(ctx):
        st.caption(t("rollout.outside", overview=t("nav.overview")))
    controls_box, figures_box = projector.controls_and_figures()
    with controls_box:
        controls = st.columns([3, 3, 3, 3, 2], vertical_alignment="bottom")
        paper = RolloutSettings()  # the defaults' one home
        fusion = controls[0].selectbox(t("rollout.fusion"), HEAD_FUSIONS, index=HEAD_FUSIONS.index(paper.head_fusion),
                                       key=state.FUSION, format_func=lambda f: t(f"fusion.{f}"))
        # The sliders apply on Apply (or with the menu): Streamlit's slider sends every arrow-key step, one rerun
        # each (8 runs for 18 steps tapped, and a step pressed during a run could be lost); the browser holds an
        # ignored slider's value and sends it with the next run.
        held = {"on_change": "ignore"}
        discard = controls[1].slider(t("rollout.discard"), 0.0, 0.95, paper.discard_ratio, 0.05, key=state.DISCARD,
                                     help=t("rollout.discard_help"), **held)
        residual = controls[2].slider(t("rollout.residual"), 0.0, 1.0, paper.residual_weight, 0.05,
                                      key=state.RESIDUAL, help=t("rollout.residual_help"), **held)
        start = controls[3].slider(t("rollout.start"), 0, max(geometry.depth - 1, 1), paper.start_layer,
                                   key=state.START_LAYER, disabled=geometry.depth < 2, **held)
        controls[4].button(t("rollout.apply"), key=state.ROLLOUT_APPLY, help=t("rollout.apply_help"), type="primary")
        render = render_controls(state.ROLLOUT_RENDER)
        look = st.columns([1, 2])
        truth = bool(objects) and look[0].toggle(
            t("truth.toggle"), value=True, key=state.SHOW_TRUTH, help=t("truth.help")
        )
        boxes = [(o.label, o.box) for o in objects] if truth else []
        target = None
        if ctx.predictions:
            with look[1]:
                target = class_select(ctx)
    try:
        settings = RolloutSettings(head_fusion=fusion, discard_ratio=discard, residual_weight=residual,
                                   start_layer=min(start, geometry.depth - 1))
        heat, prefix = resources.rollout_map(ctx, settings)
        relevance = None
        if target is not None:
            with st.spinner(t("rollout.gradient_pass")):
                relevance = resources.relevance_map(ctx, target)
    except VitCoreError as error:
        show_error(error)
        return
    with figures_box:
        left, right = st.columns(2)
        lang = png_language()  # the exported pictures' captions
        with left:
            st.subheader(t("nav.rollout"))
            if is_constant(heat):
                st.info(constant_note(settings))
            else:
                plotly(figures.overlay_figure(ctx.view, heat, geometry.patch_size, settings=render,
                                              num_prefix_tokens=geometry.num_prefix_tokens, height=480, boxes=boxes),
                       key=state.ROLLOUT_CHART)
            st.caption(t("rollout.caption", mass=prefix_mass(prefix, ctx.prefix_labels), rendering=render.describe()))
            if not is_constant(heat):
                png_download(ctx, heat, render, t("nav.rollout", lang=lang), describe_rollout(settings, lang),
                             lang, key="rollout_png", file_stem=f"{Path(ctx.image.label).stem}_rollout", boxes=boxes)
            if truth and not is_constant(heat):
                st.caption(t("truth.rollout", verdict=peak_verdict(heat, None), grow=GROW))
        with right:
            st.subheader(t("rollout.relevance"))
            if relevance is None:
                st.info(t("rollout.no_head"))
            else:
                plotly(figures.overlay_figure(ctx.view, relevance, geometry.patch_size, settings=render,
                                              num_prefix_tokens=geometry.num_prefix_tokens, height=480, boxes=boxes))
                name = class_name(ctx, target)
                st.caption(t("rollout.relevance_caption", name=name, rendering=render.describe()))
                png_download(ctx, relevance, render, t("rollout.relevance_for", lang=lang, name=name),
                             t("rollout.relevance_method", lang=lang), lang,
                             key="relevance_png", file_stem=f"{Path(ctx.image.label).stem}_relevance_{name}",
                             boxes=boxes)
                if truth:
                    st.caption(t("truth.relevance", name=name, verdict=peak_verdict(relevance, name)))
    links.share_view("rollout")


rollout_view()
