"""Patch-embedding filters: the ViT paper's Figure 7 (left), principal components of the linear
projection that turns each patch into a token."""

import streamlit as st

from viz_app import figures
from viz_app.findings import filters_finding
from viz_app.i18n import t
from viz_app.ui import plotly, require_context

ctx = require_context()
components = ctx.analysis.patch_embed_pcs
variance = ctx.analysis.patch_embed_pcs_variance
st.caption(t("filters.caption", k=len(components), dim=ctx.geometry.embed_dim))
st.caption(filters_finding(components, variance).text)
plotly(figures.filters_figure(components, variance, title=t("filters.title")))
