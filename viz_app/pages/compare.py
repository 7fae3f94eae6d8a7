"""Compare: two models (or trained vs random weights) side by side on the same image."""

import streamlit as st

from vit_core.errors import VitCoreError
from viz_app import figures, resources, state
from viz_app.i18n import t
from viz_app.state import ModelSpec
from viz_app.ui import model_label, percent, plotly, require_context, show_error, weights_label

ctx = require_context()

# the value names the weights in English (a test reads it); the label is translated
SAME_OTHER_WEIGHTS = "The same architecture with " + ("random" if ctx.spec.pretrained else "trained") + " weights"
SAME_LABEL = t("compare.same_random" if ctx.spec.pretrained else "compare.same_trained")
options = [SAME_OTHER_WEIGHTS, state.DEMO_LABEL, *state.CURATED_MODELS]
choice = st.selectbox(t("compare.with"), options, key=state.COMPARE_CHOICE, help=t("compare.help"),
                      format_func=lambda c: SAME_LABEL if c == SAME_OTHER_WEIGHTS else model_label(c))
if choice == SAME_OTHER_WEIGHTS:
    other = ModelSpec(ctx.spec.name, ctx.spec.checkpoint, pretrained=not ctx.spec.pretrained, dtype=ctx.spec.dtype)
elif choice == state.DEMO_LABEL:
    other = resources.default_model_spec()
else:
    other = ModelSpec(state.CURATED_MODELS[choice])

try:
    with st.spinner(t("compare.running", name=other.name), show_time=True):
        second = resources.prepare_context(other, ctx.image)
except VitCoreError as error:
    show_error(error)
    st.stop()


def column(c, title: str, side: str) -> None:
    st.subheader(title)
    st.caption(f"{c.loaded.name} · {weights_label(c.loaded)}")
    if c.predictions:
        top = c.predictions[0]
        st.markdown(t("compare.top1", label=top.label, p=percent(top.probability)))
    else:
        st.markdown(t("compare.no_head"))
    plotly(figures.overlay_figure(c.view, c.analysis.rollout[0], c.geometry.patch_size, clickable=False,
                                  height=420, title=t("nav.rollout")), key=f"compare_{side}_rollout")
    plotly(figures.head_metric_figure(c.analysis.mean_attention_distance[0], y_title=t("fig.distance_px"),
                                      title=t("heads.distance")),
           key=f"compare_{side}_distance")


left, right = st.columns(2)
with left:
    column(ctx, t("compare.current"), "left")
with right:
    column(second, t("compare.compared"), "right")
