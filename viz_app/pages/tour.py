"""A guided tour for teaching: the ViT paper's pipeline in order, each step a short paragraph beside the
live figure for the current image and model."""

import streamlit as st

from viz_app import figures, findings, state
from viz_app.i18n import t
from viz_app.rendering import PAPER, RenderSettings
from viz_app.ui import plotly, require_context

ctx = require_context()
g = ctx.geometry
gh, gw = g.grid_size
ph, pw = g.patch_size
a = ctx.analysis

STEPS = ["1 · Patches", "2 · Linear embedding", "3 · Position embeddings", "4 · Attention", "5 · Rollout"]  # values
STEP_KEYS = dict(zip(STEPS, ("patches", "embedding", "position", "attention", "rollout"), strict=True))


@st.fragment
def tour() -> None:
    labels = {s: f"{n} · {t(f'tour.{STEP_KEYS[s]}.name')}" for n, s in enumerate(STEPS, start=1)}
    step = st.segmented_control(t("tour.step"), STEPS, default=STEPS[0], key=state.TOUR_STEP,
                                format_func=lambda s: labels.get(s, str(s))) or STEPS[0]
    text, figure = st.columns([2, 3])
    if step == STEPS[0]:
        text.markdown(t("tour.patches.text", gh=gh, gw=gw, w=g.img_size[1], h=g.img_size[0], n=gh * gw, ph=ph,
                        pw=pw, tokens=findings.learned_tokens(g.num_prefix_tokens),
                        prefix=", ".join(ctx.prefix_labels) or t("none")))
        with figure:
            plotly(figures.patch_grid_figure(ctx.view, g.grid_size, g.patch_size, g.num_prefix_tokens))
    elif step == STEPS[1]:
        text.markdown(t("tour.embedding.text", values=3 * ph * pw, dim=g.embed_dim))
        with figure:
            plotly(figures.filters_figure(a.patch_embed_pcs, a.patch_embed_pcs_variance))
    elif step == STEPS[2]:
        found = ("" if "pos_embed_similarity" not in a else " " + findings.position_finding(
            a.pos_embed_similarity, random_weights=ctx.loaded.source == "random").text)
        text.markdown(t("tour.position.text") + found)
        with figure:
            if a.pos_embed_similarity is not None:
                plotly(figures.pos_embed_tiles_figure(a.pos_embed_similarity))
            else:
                st.info(t("lesson.position.none"))
    elif step == STEPS[3]:
        text.markdown(t("tour.attention.text", depth=g.depth, heads=g.num_heads))
        with figure:
            if a.cls_attention is not None:
                plotly(figures.head_grid_figure(a.cls_attention[0][-1:], mode="grid", layers=[g.depth - 1]))
            else:
                st.info(t("tour.no_cls", query=t("nav.query")))
    else:
        text.markdown(t("tour.rollout.text"))
        with figure:
            plotly(figures.overlay_figure(ctx.view, a.rollout[0], g.patch_size, clickable=False, height=460,
                                          settings=RenderSettings(style=PAPER)))


tour()
