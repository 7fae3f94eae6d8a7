"""Export: the rollout map as PNG (rendered as on the rollout page, at a chosen width, with its colour bar and
a caption of the settings), every array as .npz (the keys of ``python -m vit_core analyze``), and a figure as
standalone HTML that opens offline, built with the same settings as on screen."""

from pathlib import Path

import streamlit as st

from vit_core.errors import VitCoreError
from viz_app import export, figures, resources, state
from viz_app.ui import describe_rollout, png_download, render_settings, require_context, rollout_settings, show_error

ctx = require_context()
g = ctx.geometry
a = ctx.analysis
stem = f"{Path(ctx.image.label).stem}_{ctx.loaded.name.replace('/', '_')}"
settings = rollout_settings(g.depth)
render = render_settings(state.ROLLOUT_RENDER)
try:
    heat, _ = resources.rollout_map(ctx, settings)
except VitCoreError as error:
    show_error(error)
    st.stop()

st.subheader("Rollout map (PNG)")
st.caption(f"The attention rollout as the “Attention rollout” page draws it now ({render.describe()}; "
           f"{describe_rollout(settings)}), with its colour bar and a caption of these settings and the model.")
width = st.select_slider("Width (px)", [448, 672, 896, 1344, 1792], value=export.DEFAULT_WIDTH, key=state.EXPORT_WIDTH)
png_download(ctx, heat, render, "Attention rollout", describe_rollout(settings), key="export_png", width=width,
             file_stem=f"{stem}_rollout")

st.subheader("All arrays (.npz)")
shapes = ", ".join(f"`{k}` {list(v.shape)}" for k, v in a.arrays().items())
st.caption(f"The same keys as `python -m vit_core analyze`: {shapes}, and `provenance` (model, weights SHA-256, "
           "preprocessing, settings, versions, date) as a JSON string.")
st.download_button("Download .npz", lambda: resources.npz_bytes(ctx.key, a), file_name=f"{stem}.npz",
                   mime="application/octet-stream", key="export_npz")

st.subheader("A figure as standalone HTML")
builders = {
    "Attention rollout overlay": lambda: figures.overlay_figure(ctx.view, heat, g.patch_size, settings=render,
                                                                clickable=False,
                                                                title=f"Attention rollout ({describe_rollout(settings)})"),
    "Mean attention distance": lambda: figures.head_metric_figure(a.mean_attention_distance[0],
                                                                  y_title="mean attention distance (px)"),
    "Patch-embedding filters": lambda: figures.filters_figure(a.patch_embed_pcs, a.patch_embed_pcs_variance),
}
if a.cls_attention is not None:
    builders["Class-token attention (animated)"] = lambda: figures.head_grid_figure(
        a.cls_attention[0], colorscale=render_settings(state.CLS_RENDER).colorscale)
if a.pos_embed_similarity is not None:
    builders["Position-embedding similarity"] = lambda: figures.pos_embed_tiles_figure(a.pos_embed_similarity)
name = st.selectbox("Figure", list(builders), key=state.EXPORT_FIGURE)
st.download_button("Download HTML", lambda: export.figure_html(builders[name](), f"{name} — {ctx.image.label}"),
                   file_name=f"{stem}_{name.split()[0].lower()}.html", mime="text/html", key="export_html")
