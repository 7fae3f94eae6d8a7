"""Compare: two models (or trained vs random weights) side by side on the same image."""

import streamlit as st

from vit_core.errors import VitCoreError
from viz_app import figures, resources, state
from viz_app.state import ModelSpec
from viz_app.ui import percent, plotly, require_context, show_error, weights_label

ctx = require_context()

SAME_OTHER_WEIGHTS = "The same architecture with " + ("random" if ctx.spec.pretrained else "trained") + " weights"
options = [SAME_OTHER_WEIGHTS, state.DEMO_LABEL, *state.CURATED_MODELS]
choice = st.selectbox("Compare with", options, key=state.COMPARE_CHOICE,
                      help="The second model runs once on this image (cached afterwards).")
if choice == SAME_OTHER_WEIGHTS:
    other = ModelSpec(ctx.spec.name, ctx.spec.checkpoint, pretrained=not ctx.spec.pretrained, dtype=ctx.spec.dtype)
elif choice == state.DEMO_LABEL:
    other = resources.default_model_spec()
else:
    other = ModelSpec(state.CURATED_MODELS[choice])

try:
    with st.spinner(f"Running {other.name}…", show_time=True):
        second = resources.prepare_context(other, ctx.image)
except VitCoreError as error:
    show_error(error)
    st.stop()


def column(c, title: str, side: str) -> None:
    st.subheader(title)
    st.caption(f"{c.loaded.name} · {weights_label(c.loaded)}")
    if c.predictions:
        top = c.predictions[0]
        st.markdown(f"Top-1: **{top.label}** ({percent(top.probability)})")
    else:
        st.markdown("No classification head.")
    plotly(figures.overlay_figure(c.view, c.analysis.rollout[0], c.geometry.patch_size, clickable=False,
                                  height=420, title="Attention rollout"), key=f"compare_{side}_rollout")
    plotly(figures.head_metric_figure(c.analysis.mean_attention_distance[0],
                                      y_title="mean attention distance (px)", title="Mean attention distance"),
           key=f"compare_{side}_distance")


left, right = st.columns(2)
with left:
    column(ctx, "Current model", "left")
with right:
    column(second, "Compared with", "right")
