"""Image & patches: the model's view of the image, its top-5 prediction, the patch grid and the token
sequence (the "16x16 words" of Dosovitskiy et al. 2021)."""

import base64
import io

import streamlit as st
from PIL import Image

from viz_app import figures, state
from viz_app.rendering import token_strip
from viz_app.ui import domain_notice, outside_domain, percent, plotly, require_context

ctx = require_context()
geometry = ctx.geometry
gh, gw = geometry.grid_size
ph, pw = geometry.patch_size

left, right = st.columns([1, 1])
with left:
    st.subheader("What the model sees")
    st.caption(
        f"{ctx.image.label}, resized and cropped to {geometry.img_size[1]} × {geometry.img_size[0]} px "
        "by the model's own preprocessing."
    )
    plotly(figures.image_figure(ctx.view, height=420))
with right:
    st.subheader("Prediction")
    if ctx.predictions:
        top = ctx.predictions[0]
        strange = outside_domain(ctx)
        if strange:
            domain_notice(ctx)
            st.markdown(f"Its pick among its {ctx.num_classes} shapes: **{top.label}** "
                        f"({percent(top.probability)} of its probability, not a confidence about this image)")
        else:
            st.markdown(f"Top-1: **{top.label}** with probability **{percent(top.probability)}**")
        plotly(figures.topk_figure([p.label for p in ctx.predictions], [p.probability for p in ctx.predictions],
                                   title=f"probability among the {ctx.num_classes} shapes it knows" if strange else None))
    else:
        st.info("This model has no classification head (a self-supervised or image-tower model), so it predicts no class.")


@st.fragment
def patches_view() -> None:
    st.subheader("16 × 16 words: the image as a sequence of patches")
    show = st.toggle("Show token indices", value=True, key=state.SHOW_INDICES)
    col_grid, col_seq = st.columns([1, 1])
    with col_grid:
        st.caption(
            f"{gh} × {gw} = {gh * gw} patches of {ph} × {pw} px, numbered by their position in the sequence."
        )
        plotly(figures.patch_grid_figure(ctx.view, geometry.grid_size, geometry.patch_size,
                                         geometry.num_prefix_tokens, show_indices=show))
    with col_seq:
        prefix = ", ".join(ctx.prefix_labels) or "none (the model pools the patch tokens)"
        count = geometry.num_prefix_tokens
        st.caption(
            f"The flattened sequence: {count} prefix token{'' if count == 1 else 's'} ({prefix}) first, then every "
            f"patch row by row: {geometry.num_tokens} tokens in all, in one row (scroll sideways); the number "
            "under a patch is its position in the sequence, shown where each image row starts."
        )
        strip = token_strip(ctx.view, geometry.grid_size, geometry.patch_size, ctx.prefix_labels,
                            figures.PREFIX_COLOURS)
        buffer = io.BytesIO()
        Image.fromarray(strip).save(buffer, format="PNG")
        st.html(f"<div style='overflow-x:auto;white-space:nowrap;padding-bottom:6px' class='token-strip'>"
                f"<img alt='token sequence' src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}' "
                f"style='max-width:none;height:{strip.shape[0]}px'></div>")


patches_view()
