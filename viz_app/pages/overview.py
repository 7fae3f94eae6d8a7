"""Image & patches: the model's view of the image, its top-5 prediction, the patch grid and the token
sequence (the "16x16 words" of Dosovitskiy et al. 2021)."""

import base64
import io

import numpy as np
import streamlit as st
from PIL import Image

from viz_app import figures, state
from viz_app.i18n import t
from viz_app.rendering import token_strip
from viz_app.ui import class_name, class_probabilities, domain_notice, outside_domain, percent, plotly, require_context

ALL_CLASSES_UP_TO = 10  # a model with this many classes or fewer has every class drawn (the bundled model: 6 shapes)

ctx = require_context()
geometry = ctx.geometry
gh, gw = geometry.grid_size
ph, pw = geometry.patch_size

left, right = st.columns([1, 1])
with left:
    st.subheader(t("overview.sees"))
    st.caption(t("overview.sees_caption", image=ctx.image.label, w=geometry.img_size[1], h=geometry.img_size[0]))
    plotly(figures.image_figure(ctx.view, height=420))
with right:
    st.subheader(t("overview.prediction"))
    if ctx.predictions:
        top = ctx.predictions[0]
        strange = outside_domain(ctx)
        presence = ctx.loaded.class_output == "sigmoid"  # each class scored on its own (vit_core.models.predict)
        if strange:
            domain_notice(ctx)
            pick = "overview.pick_presence" if presence else "overview.pick"
            st.markdown(t(pick, n=ctx.num_classes, label=top.label, p=percent(top.probability)))
        else:
            st.markdown(t("overview.top1", label=top.label, p=percent(top.probability)))
        shapes = "overview.topk_presence" if presence else "overview.topk_shapes"
        labels, probs = [p.label for p in ctx.predictions], [p.probability for p in ctx.predictions]
        if strange and ctx.num_classes <= ALL_CLASSES_UP_TO:  # the title names every class: draw every one
            every = class_probabilities(ctx)
            order = np.argsort(-every, kind="stable")
            labels, probs = [class_name(ctx, int(i)) for i in order], [float(every[i]) for i in order]
        every_drawn = len(labels) == ctx.num_classes  # the title counts the classes: only when it draws them all
        plotly(figures.topk_figure(labels, probs, title=t(shapes, n=ctx.num_classes) if strange and every_drawn
                                   else None, presence=presence))
        if presence:
            st.caption(t("overview.sigmoid"))
    else:
        st.info(t("overview.no_head", dim=geometry.embed_dim))


@st.fragment
def patches_view() -> None:
    st.subheader(t("overview.words"))
    show = st.toggle(t("overview.show_indices"), value=True, key=state.SHOW_INDICES)
    col_grid, col_seq = st.columns([1, 1])
    with col_grid:
        st.caption(t("overview.grid", gh=gh, gw=gw, n=gh * gw, ph=ph, pw=pw))
        plotly(figures.patch_grid_figure(ctx.view, geometry.grid_size, geometry.patch_size,
                                         geometry.num_prefix_tokens, show_indices=show))
    with col_seq:
        prefix = ", ".join(ctx.prefix_labels) or t("overview.no_prefix")
        count = geometry.num_prefix_tokens
        st.caption(t("overview.sequence_one" if count == 1 else "overview.sequence", count=count, prefix=prefix,
                     tokens=geometry.num_tokens))
        strip = token_strip(ctx.view, geometry.grid_size, geometry.patch_size, ctx.prefix_labels,
                            figures.PREFIX_COLOURS)
        buffer = io.BytesIO()
        Image.fromarray(strip).save(buffer, format="PNG")
        st.html(f"<div style='overflow-x:auto;white-space:nowrap;padding-bottom:6px' class='token-strip'>"
                f"<img alt='token sequence' src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}' "
                f"style='max-width:none;height:{strip.shape[0]}px'></div>")


patches_view()
