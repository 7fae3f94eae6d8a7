"""ViT Attention Explorer: how a Vision Transformer sees an image.

A small router (``st.navigation`` + ``st.Page``): the sidebar picks the model and the image and prepares
the cached analysis; each page in ``viz_app/pages`` is one view. The URL's query keeps the view
(``viz_app.links``). Run with ``streamlit run streamlit_app.py``.
"""

from pathlib import Path

import streamlit as st

from viz_app import crowd, first_screen, links, projector
from viz_app.i18n import language_switch, t
from viz_app.ui import keep_view_controls, render_sidebar

# Icons that ship with the app: the tab shows assets/icon.png (served by this server) and the pages have none. A
# :material/ page icon is fetched from fonts.gstatic.com, which an offline classroom cannot reach, and an emoji
# needs an emoji font that a classroom machine may lack (Chromium then draws empty boxes).
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"  # a 4 x 4 patch grid in inferno colours
links.read_language()  # before the first title: the page and navigation titles are in the link's language
st.set_page_config(page_title=t("intro.name"), page_icon=str(ICON), layout="wide")


def _page(name: str, **kwargs) -> st.Page:
    """A page of viz_app/pages with its title in the current language; its url path (the file's name) never
    changes, so links keep working in every language."""
    return st.Page(f"viz_app/pages/{name}.py", title=t(f"nav.{name}"), url_path=None if kwargs.get("default") else name,
                   **kwargs)


LESSON = _page("lesson")
PAGES = {  # three sections: a fourth heading pushed the sample picker below the fold at 1440 x 900
    t("nav.teach"): [LESSON, _page("tour")],
    t("nav.explore"): [_page(name, default=name == "overview") for name in
                       ("overview", "rollout", "class_token", "query", "faithfulness", "compare", "export")],
    t("nav.figure7"): [_page(name) for name in ("position", "heads", "filters")],
}

with crowd.running():  # counts this run; draws 'your view is coming' first while the server is saturated
    page = st.navigation(PAGES)
    links.read_link({p.url_path: p for section in PAGES.values() for p in section}, page.url_path)
    keep_view_controls(page.url_path)
    with st.sidebar:
        language_switch()
        projector.toggle()
    projector.apply_css()
    ctx = render_sidebar()
    if ctx is not None:
        links.apply_view(page.url_path, ctx.geometry)
    links.show_notices()
    if page.url_path == "":
        first_screen.intro(ctx, LESSON)
    st.title(page.title)
    page.run()
    if page.url_path not in links.FRAGMENT_PAGES:
        links.share_view(page.url_path)
