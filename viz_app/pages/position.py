"""Position embeddings: the ViT paper's Figure 7 (centre), cosine similarity of each patch's learned
position embedding to every other patch's; click a tile to enlarge it."""

import streamlit as st

from viz_app import figures, state
from viz_app.ui import patch_from_selection, plotly, require_context

ctx = require_context()
if ctx.analysis.pos_embed_similarity is None:
    st.info("This model has no learned absolute position-embedding table (it uses rotary, relative or fixed "
            "embeddings), so there are no similarity tiles to show.")
    st.stop()

similarity = ctx.analysis.pos_embed_similarity  # [gh, gw, gh, gw]
gh, gw = similarity.shape[:2]
st.session_state.setdefault(state.POS_ROW, 0)
st.session_state.setdefault(state.POS_COL, 0)
if st.session_state[state.POS_ROW] >= gh or st.session_state[state.POS_COL] >= gw:
    st.session_state[state.POS_ROW], st.session_state[state.POS_COL] = 0, 0


def _on_click() -> None:
    tile = patch_from_selection(state.POS_CHART)
    if tile is not None:
        st.session_state[state.POS_ROW], st.session_state[state.POS_COL] = tile


@st.fragment
def position_view() -> None:
    st.caption(
        "Tile (row, column) shows how similar that patch's position embedding is to every other patch's "
        "(Dosovitskiy et al. 2021, Figure 7 centre). Nearby patches have similar embeddings, and rows and "
        "columns emerge: the model learned the 2-D layout from 1-D positions."
    )
    row_col = st.columns([1, 1, 4])
    row = row_col[0].number_input("Row", 0, gh - 1, key=state.POS_ROW)
    col = row_col[1].number_input("Column", 0, gw - 1, key=state.POS_COL)
    left, right = st.columns([3, 2])
    with left:
        plotly(figures.pos_embed_tiles_figure(similarity, selected=(row, col), title="Position-embedding similarity"),
               key=state.POS_CHART, on_select=_on_click)
    with right:
        plotly(figures.pos_embed_tile_figure(similarity[row, col], row, col))


position_view()
