"""Patch-embedding filters: the ViT paper's Figure 7 (left), principal components of the linear
projection that turns each patch into a token."""

import streamlit as st

from viz_app import figures
from viz_app.ui import plotly, require_context

ctx = require_context()
components = ctx.analysis.patch_embed_pcs
variance = ctx.analysis.patch_embed_pcs_variance
st.caption(
    f"The first {len(components)} principal components of the {ctx.geometry.embed_dim} patch-embedding filters, "
    "each shown as an RGB patch with the share of variance it explains (Dosovitskiy et al. 2021, Figure 7 left). "
    "Trained models show smooth, low-frequency bases, much like a CNN's first layer."
)
plotly(figures.filters_figure(components, variance, title="Patch-embedding filters (principal components)"))
