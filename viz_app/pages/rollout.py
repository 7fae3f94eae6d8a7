"""Attention rollout (Abnar & Zuidema 2020) beside class-specific relevance (Chefer et al. 2021).

Every control here is a view control: rollout is recomputed from the stored attention, never by a new
forward pass; relevance for a class other than the top-1 costs one cached gradient pass. On a generated
sample scene the objects' true boxes are drawn, and each map's peak is checked against them (the demo
model card's pointing game, for this one image).
"""

from pathlib import Path

import streamlit as st

from vit_core.errors import VitCoreError
from vit_core.methods import HEAD_FUSIONS, RolloutSettings
from viz_app import figures, links, resources, state
from viz_app.ground_truth import GROW, SceneObject, object_at_peak, objects_in_view
from viz_app.rendering import is_constant
from viz_app.ui import (
    class_name,
    class_select,
    describe_rollout,
    outside_domain,
    plotly,
    png_download,
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
    """Where the map's peak lies among the scene's objects; ticked when on `wanted` (on any object if None)."""
    found: SceneObject | None = object_at_peak(heat, geometry.patch_size, objects)
    where = f"on the {found.label}" if found else "on the background"
    if wanted is not None and wanted not in {o.label for o in objects}:
        return f"there is no {wanted} in this scene; the peak is {where}"
    right = found is not None and (wanted is None or found.label == wanted)
    return f"peak {where} {'✓' if right else '✗'}"


def constant_note(settings: RolloutSettings) -> str:
    """Why a rollout map came out the same everywhere, and what to change."""
    if settings.residual_weight >= 1.0:
        why = "a residual weight of 1 replaces every layer's attention by the identity, so nothing is rolled out"
    elif settings.discard_ratio > 0:
        why = "the discard ratio removed the weights that differ between patches"
    else:
        why = "every patch receives the same rolled-out weight for these settings"
    return f"The rollout map is the same for every patch: {why}. Lower the residual weight or the discard ratio."


@st.fragment
def rollout_view() -> None:
    if outside_domain(ctx):
        st.caption("The bundled model knows six synthetic shapes only (see “Image & patches”); on this image its maps "
                   "show where it looked for them, not what the image shows.")
    controls = st.columns(4)
    fusion = controls[0].selectbox("Head fusion", HEAD_FUSIONS, key=state.FUSION)
    discard = controls[1].slider("Discard ratio", 0.0, 0.95, 0.0, 0.05, key=state.DISCARD,
                                 help="Per row, drop this fraction of the weakest weights to patches.")
    residual = controls[2].slider("Residual weight", 0.0, 1.0, 0.5, 0.05, key=state.RESIDUAL,
                                  help="a in (1 − a)·A + a·I; 0.5 in the paper.")
    start = controls[3].slider("Start layer", 0, max(geometry.depth - 1, 1), 0, key=state.START_LAYER,
                               disabled=geometry.depth < 2)
    render = render_controls(state.ROLLOUT_RENDER)
    look = st.columns([1, 2])
    truth = bool(objects) and look[0].toggle(
        "Ground truth", value=True, key=state.SHOW_TRUTH, help="Outline the objects of this generated scene."
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
            with st.spinner("One gradient pass for this class…"):
                relevance = resources.relevance_map(ctx, target)
    except VitCoreError as error:
        show_error(error)
        return
    left, right = st.columns(2)
    with left:
        st.subheader("Attention rollout")
        if is_constant(heat):
            st.info(constant_note(settings))
        else:
            plotly(figures.overlay_figure(ctx.view, heat, geometry.patch_size, settings=render,
                                          num_prefix_tokens=geometry.num_prefix_tokens, height=480, boxes=boxes),
                   key=state.ROLLOUT_CHART)
        st.caption(f"Class-agnostic. Rolled-out weight on prefix tokens: {prefix_mass(prefix, ctx.prefix_labels)}. "
                   f"{render.describe()}.")
        if not is_constant(heat):
            png_download(ctx, heat, render, "Attention rollout", describe_rollout(settings), key="rollout_png")
        if truth and not is_constant(heat):
            st.caption(
                f"Ground truth: rollout {peak_verdict(heat, None)} (the peak patch's centre inside an object's "
                f"box grown by {GROW} px: the pointing game of the demo model's card)."
            )
    with right:
        st.subheader("Class-specific relevance")
        if relevance is None:
            st.info("Relevance needs a classification head; this model has none.")
        else:
            plotly(figures.overlay_figure(ctx.view, relevance, geometry.patch_size, settings=render,
                                          num_prefix_tokens=geometry.num_prefix_tokens, height=480, boxes=boxes))
            name = class_name(ctx, target)
            st.caption(f"Gradient × attention for “{name}” (Chefer et al. 2021). {render.describe()}.")
            png_download(ctx, relevance, render, f"Relevance for {name}", "gradient x attention (Chefer et al. 2021)",
                         key="relevance_png", file_stem=f"{Path(ctx.image.label).stem}_relevance_{name}")
            if truth:
                st.caption(f"Ground truth: relevance for “{name}”: {peak_verdict(relevance, name)}.")
    links.share_view("rollout")


rollout_view()
