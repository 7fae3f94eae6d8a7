"""ViT Attention Explorer: how a Vision Transformer sees an image.

A small router (``st.navigation`` + ``st.Page``): the sidebar picks the model and the image and prepares
the cached analysis; each page in ``viz_app/pages`` is one view. Run with ``streamlit run streamlit_app.py``.
"""

import streamlit as st

from viz_app.ui import keep_view_controls, render_sidebar

# Emoji icons only: Streamlit draws them as text (the tab's icon as a data: URL); a :material/ page icon is fetched
# from fonts.gstatic.com, which an offline classroom cannot reach.
st.set_page_config(page_title="ViT Attention Explorer", page_icon="🔬", layout="wide")

PAGES = {
    "Explore": [
        st.Page("viz_app/pages/overview.py", title="Image & patches", icon="🖼️", default=True),
        st.Page("viz_app/pages/rollout.py", title="Attention rollout", icon="🔥"),
        st.Page("viz_app/pages/class_token.py", title="Class-token attention", icon="🎯"),
        st.Page("viz_app/pages/query.py", title="Query a patch", icon="👆"),
    ],
    "The paper's Figure 7": [
        st.Page("viz_app/pages/position.py", title="Position embeddings", icon="🧭"),
        st.Page("viz_app/pages/heads.py", title="Heads at a glance", icon="📊"),
        st.Page("viz_app/pages/filters.py", title="Patch-embedding filters", icon="🎨"),
    ],
    "More": [
        st.Page("viz_app/pages/tour.py", title="Guided tour", icon="🎓"),
        st.Page("viz_app/pages/compare.py", title="Compare models", icon="⚖️"),
        st.Page("viz_app/pages/export.py", title="Export", icon="💾"),
    ],
}

page = st.navigation(PAGES)
keep_view_controls(page.url_path)
st.title(page.title)
render_sidebar()
page.run()
