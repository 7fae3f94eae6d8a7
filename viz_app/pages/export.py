"""Export: the rollout map as PNG (rendered as on the rollout page, at a chosen width, with its colour bar and
a caption of the settings), every array as .npz (the keys of ``python -m vit_core analyze``), and a figure as
standalone HTML that opens offline, built with the same settings as on screen."""

from pathlib import Path

import streamlit as st

from vit_core.errors import VitCoreError
from viz_app import export, figures, resources, state
from viz_app.ground_truth import objects_in_view
from viz_app.i18n import t
from viz_app.ui import (
    describe_rollout,
    png_download,
    png_language,
    render_settings,
    require_context,
    rollout_settings,
    show_error,
    utc_now,
)

OVERLAY_PX = 480  # the exported overlay's height, as on the rollout page

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

st.subheader(t("export.png"))
st.caption(t("export.png_caption", page=t("nav.rollout"), rendering=render.describe(),
             settings=describe_rollout(settings)))
width = st.select_slider(t("export.width"), [448, 672, 896, 1344, 1792], value=export.DEFAULT_WIDTH, key=state.EXPORT_WIDTH)
lang = png_language()
scene = resources.scene_ground_truth().get(ctx.image.sha256)  # the true boxes, as the rollout page shows them
boxes = ([(o.label, o.box) for o in objects_in_view(scene, ctx.mapping)]
         if scene and st.session_state.get(state.SHOW_TRUTH, True) else [])
png_download(ctx, heat, render, t("nav.rollout", lang=lang), describe_rollout(settings, lang), lang, key="export_png",
             width=width, file_stem=f"{stem}_rollout", boxes=boxes)

st.subheader(t("export.npz"))
shapes = ", ".join(f"`{k}` {list(v.shape)}" for k, v in a.arrays().items())
st.caption(t("export.npz_caption", shapes=shapes))
st.download_button(t("export.npz_button"), lambda: resources.npz_bytes(ctx.key, a), file_name=f"{stem}.npz",
                   mime="application/octet-stream", key="export_npz")

st.subheader(t("export.html"))
# figure value (English: it names the file) -> its catalogue key and builder
builders = {
    "Attention rollout overlay": ("export.fig.rollout", lambda: figures.overlay_figure(
        ctx.view, heat, g.patch_size, settings=render, clickable=False, boxes=boxes, height=OVERLAY_PX,
        title=t("nav.rollout"))),  # the settings are in the caption under it (a title with them was cut at the width)
    "Mean attention distance": ("heads.distance", lambda: figures.head_metric_figure(
        a.mean_attention_distance[0], y_title=t("fig.distance_px"))),
    "Patch-embedding filters": ("nav.filters", lambda: figures.filters_figure(a.patch_embed_pcs,
                                                                              a.patch_embed_pcs_variance)),
}
if a.cls_attention is not None:
    builders["Class-token attention (animated)"] = ("export.fig.cls", lambda: figures.head_grid_figure(
        a.cls_attention[0], colorscale=render_settings(state.CLS_RENDER).colorscale))
if a.pos_embed_similarity is not None:
    builders["Position-embedding similarity"] = ("position.title",
                                                 lambda: figures.pos_embed_tiles_figure(a.pos_embed_similarity))
name = st.selectbox(t("export.figure"), list(builders), key=state.EXPORT_FIGURE, format_func=lambda n: t(builders[n][0]))
title = f"{t(builders[name][0])} — {ctx.image.label}"
overlay = name == "Attention rollout overlay"
# the picture's width at OVERLAY_PX high (margins 50 px) plus the colour bar's 130 px: the bar sits by the picture
html_width = round((OVERLAY_PX - 50) * ctx.view.shape[1] / ctx.view.shape[0]) + 130 if overlay else None
settings_line = [f"{render.describe()}; {describe_rollout(settings)}."] if overlay else []
st.download_button(t("export.html_button"),
                   lambda: export.figure_html(builders[name][1](), title, width=html_width,
                                              caption=[title, *settings_line, resources.provenance(ctx, made=utc_now())]),
                   file_name=f"{stem}_{name.split()[0].lower()}.html", mime="text/html", key="export_html")
