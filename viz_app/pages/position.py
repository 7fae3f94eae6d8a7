"""Position embeddings: the ViT paper's Figure 7 (centre), cosine similarity of each patch's learned
position embedding to every other patch's; click a tile to enlarge it."""

import numpy as np
import streamlit as st

from viz_app import figures, findings, resources, state
from viz_app.i18n import t
from viz_app.ui import patch_from_selection, plotly, require_context

ctx = require_context()
if ctx.analysis.pos_embed_similarity is None:
    st.info(t("position.none"))
    st.stop()

raw = ctx.analysis.pos_embed_similarity  # [gh, gw, gh, gw]
gh, gw = raw.shape[:2]
st.session_state.setdefault(state.POS_ROW, 0)
st.session_state.setdefault(state.POS_COL, 0)
if st.session_state[state.POS_ROW] >= gh or st.session_state[state.POS_COL] >= gw:
    st.session_state[state.POS_ROW], st.session_state[state.POS_COL] = 0, 0
FITTED, PAPER_RANGE = "Fitted to the data", "−1 to 1 (the paper)"  # values; the labels shown are translated
RANGE_KEYS = {FITTED: "position.fitted", PAPER_RANGE: "position.paper_range"}


def _on_click() -> None:
    tile = patch_from_selection(state.POS_CHART)
    if tile is not None:
        st.session_state[state.POS_ROW], st.session_state[state.POS_COL] = tile


@st.fragment
def position_view() -> None:
    st.caption(t("position.caption") + " "
               + findings.position_finding(raw, random_weights=ctx.loaded.source == "random").text)
    controls = st.columns([1, 1, 2, 2])
    row = controls[0].number_input(t("label.row"), 0, gh - 1, key=state.POS_ROW)
    col = controls[1].number_input(t("label.column"), 0, gw - 1, key=state.POS_COL)
    scale = controls[2].radio(t("position.range"), [FITTED, PAPER_RANGE], key=state.POS_RANGE, horizontal=True,
                              format_func=lambda v: t(RANGE_KEYS[v]), help=t("position.range_help"))
    centre = controls[3].toggle(t("position.centre"), key=state.POS_CENTRE, help=t("position.centre_help"))
    similarity = resources.centred_pos_similarity(ctx.spec.key, (gh, gw), ctx.loaded) if centre else raw
    if scale == FITTED:
        zrange = (float(np.min(similarity)), float(np.max(similarity)))
    else:
        zrange = (-1.0, 1.0)
    title = (t("fig.cosine") + (t("position.mean_removed") if centre else "")
             + (t("position.fitted_range") if scale == FITTED else ""))
    if centre:
        st.caption(t("position.centred_caption"))
    left, right = st.columns([3, 2])
    with left:
        plotly(figures.pos_embed_tiles_figure(similarity, selected=(row, col), zrange=zrange, colorbar_title=title,
                                              title=t("position.title")),
               key=state.POS_CHART, on_select=_on_click)
    with right:
        plotly(figures.pos_embed_tile_figure(similarity[row, col], row, col, zrange=zrange, colorbar_title=title))


position_view()
