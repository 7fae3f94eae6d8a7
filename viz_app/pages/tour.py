"""A guided tour for teaching: the ViT paper's pipeline in order, each step a short paragraph beside the
live figure for the current image and model."""

import streamlit as st

from viz_app import figures, findings, state
from viz_app.rendering import PAPER, RenderSettings
from viz_app.ui import plotly, require_context

ctx = require_context()
g = ctx.geometry
gh, gw = g.grid_size
ph, pw = g.patch_size
a = ctx.analysis

STEPS = ["1 · Patches", "2 · Linear embedding", "3 · Position embeddings", "4 · Attention", "5 · Rollout"]


@st.fragment
def tour() -> None:
    step = st.segmented_control("Step", STEPS, default=STEPS[0], key=state.TOUR_STEP) or STEPS[0]
    text, figure = st.columns([2, 3])
    if step == STEPS[0]:
        text.markdown(
            f"**An image is worth {gh} × {gw} words.** The Vision Transformer (Dosovitskiy et al. 2021) cuts the "
            f"{g.img_size[1]} × {g.img_size[0]} px image into {gh * gw} square patches of {ph} × {pw} px and reads "
            f"them row by row, like words in a sentence. In front of them it puts "
            f"{findings.learned_tokens(g.num_prefix_tokens)} ({', '.join(ctx.prefix_labels) or 'none'}); the class token is the one whose final state "
            "makes the prediction."
        )
        with figure:
            plotly(figures.patch_grid_figure(ctx.view, g.grid_size, g.patch_size, g.num_prefix_tokens))
    elif step == STEPS[1]:
        text.markdown(
            f"**Linear embedding.** Each patch's {3 * ph * pw} pixel values are multiplied by one learned matrix "
            f"into a {g.embed_dim}-dimensional token. The rows of that matrix are filters; their principal "
            "components (Figure 7, left) look like the smooth, edge- and colour-detecting bases a CNN learns "
            "in its first layer."
        )
        with figure:
            plotly(figures.filters_figure(a.patch_embed_pcs, a.patch_embed_pcs_variance))
    elif step == STEPS[2]:
        found = ("" if "pos_embed_similarity" not in a else " " + findings.position_finding(
            a.pos_embed_similarity, random_weights=ctx.loaded.source == "random").text)
        text.markdown(
            "**Position embeddings.** Patches carry no position by themselves, so a learned vector is added "
            "to each according to its index. Nobody tells the model the grid is 2-D; in the ViT paper the "
            "embeddings of nearby patches end up similar (Figure 7, centre)." + found
        )
        with figure:
            if a.pos_embed_similarity is not None:
                plotly(figures.pos_embed_tiles_figure(a.pos_embed_similarity))
            else:
                st.info("This model has no learned position-embedding table.")
    elif step == STEPS[3]:
        text.markdown(
            f"**Self-attention.** In each of the {g.depth} layers, every token looks at every other token; each "
            f"of the {g.num_heads} heads learns its own way of looking. Here is where the class token looks in "
            "every head of the last layer: some heads find the object, others look everywhere."
        )
        with figure:
            if a.cls_attention is not None:
                plotly(figures.head_grid_figure(a.cls_attention[0][-1:], mode="grid", layers=[g.depth - 1]))
            else:
                st.info("This model has no class token; see “Query a patch”.")
    else:
        text.markdown(
            "**Attention rollout.** One layer's attention says little about the input, because tokens mix "
            "layer after layer. Rollout (Abnar & Zuidema 2020) multiplies the layers' attention, with the "
            "residual connection added, to trace how much each input patch flows into the class token: the "
            "ViT paper's Figure 6, drawn as there: the image darkened where little flows to the class token."
        )
        with figure:
            plotly(figures.overlay_figure(ctx.view, a.rollout[0], g.patch_size, clickable=False, height=460,
                                          settings=RenderSettings(style=PAPER)))


tour()
