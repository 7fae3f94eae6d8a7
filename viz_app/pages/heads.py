"""Heads at a glance: mean attention distance against depth (the ViT paper's Figure 7 right) and attention
entropy, for the current image and, on request, averaged over every sample image."""

import streamlit as st

from viz_app import figures, findings, resources, state
from viz_app.ui import plotly, require_context

ctx = require_context()
distance = ctx.analysis.mean_attention_distance[0]  # [layer, head], pixels
entropy = ctx.analysis.attention_entropy[0]  # [layer, head], nats


@st.fragment
def heads_view() -> None:
    samples = len(resources.sample_images())
    across = st.toggle(f"Average over all {samples} sample images", key=state.HEADS_ALL_SAMPLES,
                       help="Runs the model once per sample image (cached afterwards).")
    spread_d = spread_e = None
    d, e, where = distance, entropy, "this image"
    if across:
        with st.spinner(f"Analysing {samples} sample images…"):
            metrics = resources.sample_head_metrics(ctx.spec.key, ctx.loaded)
        d, e, spread_d, spread_e = (metrics["distance_mean"], metrics["entropy_mean"],
                                    metrics["distance_std"], metrics["entropy_std"])
        where = f"mean ± std over {int(metrics['count'])} sample images"
    left, right = st.columns(2)
    with left:
        st.subheader("Mean attention distance")
        plotly(figures.head_metric_figure(d, y_title="mean attention distance (pixels)", spread=spread_d,
                                          title=where))
        st.caption("Attention-weighted distance between a patch and the patches it attends to, one point per head "
                   f"(Figure 7 right), {where}. {findings.distance_finding(d).text}")
    with right:
        st.subheader("Attention entropy")
        plotly(figures.head_metric_figure(e, y_title="entropy (nats)", spread=spread_e, title=where))
        st.caption("Low entropy: a head focuses on few tokens; high: it spreads its attention widely.")


heads_view()
