"""Export: the rollout overlay as PNG, every array as .npz (the keys of ``python -m vit_core analyze``), and a
figure as standalone HTML that opens offline."""

from pathlib import Path

import streamlit as st

from viz_app import export, figures, resources, state
from viz_app.ui import require_context

ctx = require_context()
g = ctx.geometry
a = ctx.analysis
stem = f"{Path(ctx.image.label).stem}_{ctx.loaded.name.replace('/', '_')}"

st.subheader("Overlay (PNG)")
st.caption("The attention rollout over the image as the model sees it (paper settings, inferno colours).")
st.download_button("Download overlay PNG", export.overlay_png(ctx.view, a.rollout[0]),
                   file_name=f"{stem}_rollout.png", mime="image/png", key="export_png")

st.subheader("All arrays (.npz)")
shapes = ", ".join(f"`{k}` {list(v.shape)}" for k, v in a.arrays().items())
st.caption(f"The same keys as `python -m vit_core analyze`: {shapes}, and `provenance` (model, weights SHA-256, "
           "preprocessing, settings, versions, date) as a JSON string.")
st.download_button("Download .npz", lambda: resources.npz_bytes(ctx.key, a), file_name=f"{stem}.npz",
                   mime="application/octet-stream", key="export_npz")

st.subheader("A figure as standalone HTML")
builders = {
    "Attention rollout overlay": lambda: figures.overlay_figure(ctx.view, a.rollout[0], g.patch_size,
                                                                clickable=False),
    "Mean attention distance": lambda: figures.head_metric_figure(a.mean_attention_distance[0],
                                                                  y_title="mean attention distance (px)"),
    "Patch-embedding filters": lambda: figures.filters_figure(a.patch_embed_pcs, a.patch_embed_pcs_variance),
}
if a.cls_attention is not None:
    builders["Class-token attention (animated)"] = lambda: figures.head_grid_figure(a.cls_attention[0])
if a.pos_embed_similarity is not None:
    builders["Position-embedding similarity"] = lambda: figures.pos_embed_tiles_figure(a.pos_embed_similarity)
name = st.selectbox("Figure", list(builders), key=state.EXPORT_FIGURE)
st.download_button("Download HTML", lambda: export.figure_html(builders[name](), f"{name} — {ctx.image.label}"),
                   file_name=f"{stem}_{name.split()[0].lower()}.html", mime="text/html", key="export_html")
