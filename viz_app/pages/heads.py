"""Heads at a glance: mean attention distance against depth (the ViT paper's Figure 7 right) and attention
entropy, for the current image and, on request, averaged over every sample image."""

import streamlit as st

from viz_app import figures, findings, resources, state
from viz_app.i18n import t
from viz_app.ui import plotly, require_context

ctx = require_context()
distance = ctx.analysis.mean_attention_distance[0]  # [layer, head], pixels
entropy = ctx.analysis.attention_entropy[0]  # [layer, head], nats


@st.fragment
def heads_view() -> None:
    samples = len(resources.sample_images())
    across = st.toggle(t("heads.across", n=samples), key=state.HEADS_ALL_SAMPLES, help=t("heads.across_help"))
    spread_d = spread_e = None
    d, e, where = distance, entropy, t("heads.this_image")
    if across:
        with st.spinner(t("heads.analysing", n=samples)):
            metrics = resources.sample_head_metrics(ctx.spec.key, ctx.loaded)
        d, e, spread_d, spread_e = (metrics["distance_mean"], metrics["entropy_mean"],
                                    metrics["distance_std"], metrics["entropy_std"])
        where = t("heads.over_samples", n=int(metrics["count"]))
    left, right = st.columns(2)
    with left:
        st.subheader(t("heads.distance"))
        plotly(figures.head_metric_figure(d, y_title=t("lesson.distance.axis"), spread=spread_d, title=where))
        st.caption(t("heads.distance_caption", where=where, finding=findings.distance_finding(d).text))
    with right:
        st.subheader(t("heads.entropy"))
        plotly(figures.head_metric_figure(e, y_title=t("heads.entropy_axis"), spread=spread_e, title=where))
        st.caption(t("heads.entropy_caption"))


heads_view()
