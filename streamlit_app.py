"""ViT Attention Explorer: how a Vision Transformer sees an image.

A small router (``st.navigation`` + ``st.Page``): the sidebar picks the model and the image and prepares
the cached analysis; each page in ``viz_app/pages`` is one view. Run with ``streamlit run streamlit_app.py``.
"""

import streamlit as st

from viz_app.ui import keep_view_controls, render_sidebar

st.set_page_config(page_title="ViT Attention Explorer", page_icon=":material/grid_view:", layout="wide")

PAGES = {
    "Explore": [
        st.Page("viz_app/pages/overview.py", title="Image & patches", icon=":material/image:", default=True),
        st.Page("viz_app/pages/rollout.py", title="Attention rollout", icon=":material/layers:"),
        st.Page("viz_app/pages/class_token.py", title="Class-token attention", icon=":material/apps:"),
        st.Page("viz_app/pages/query.py", title="Query a patch", icon=":material/ads_click:"),
        st.Page("viz_app/pages/faithfulness.py", title="Faithfulness", icon=":material/fact_check:"),
    ],
    "The paper's Figure 7": [
        st.Page("viz_app/pages/position.py", title="Position embeddings", icon=":material/grid_on:"),
        st.Page("viz_app/pages/heads.py", title="Heads at a glance", icon=":material/scatter_plot:"),
        st.Page("viz_app/pages/filters.py", title="Patch-embedding filters", icon=":material/filter:"),
    ],
    "More": [
        st.Page("viz_app/pages/tour.py", title="Guided tour", icon=":material/school:"),
        st.Page("viz_app/pages/compare.py", title="Compare models", icon=":material/compare:"),
        st.Page("viz_app/pages/export.py", title="Export", icon=":material/download:"),
    ],
}

page = st.navigation(PAGES)
keep_view_controls(page.url_path)
st.title(page.title)
render_sidebar()
page.run()
