"""ViT Attention Explorer: how a Vision Transformer sees an image.

A small router (``st.navigation`` + ``st.Page``): the sidebar picks the model and the image and prepares
the cached analysis; each page in ``viz_app/pages`` is one view. The URL's query keeps the view
(``viz_app.links``). Run with ``streamlit run streamlit_app.py``.
"""

import copy
from pathlib import Path

import streamlit as st

from viz_app import crowd, first_screen, links, projector
from viz_app.i18n import language, language_switch, t
from viz_app.page_registry import FRAGMENT_PAGES, SECTIONS, PageSpec
from viz_app.page_registry import PAGES as PAGE_SPECS
from viz_app.sidebar import render_sidebar
from viz_app.ui import keep_view_controls

# Icons that ship with the app: the tab shows assets/icon.png (served by this server) and the pages have none. A
# :material/ page icon is fetched from fonts.gstatic.com, which an offline classroom cannot reach, and an emoji
# needs an emoji font that a classroom machine may lack (Chromium then draws empty boxes).
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"  # a 4 x 4 patch grid in inferno colours
links.read_language()  # before the first title: the page and navigation titles are in the link's language
st.set_page_config(page_title=t("intro.name"), page_icon=str(ICON), layout="wide")


def _page(spec: PageSpec, lang: str) -> st.Page:
    """A page of viz_app/pages with its title in `lang`; its url path (the file's name) never changes, so links
    keep working in every language."""
    return st.Page(spec.file, title=t(spec.label_key, lang=lang), url_path=spec.url_path or None, default=spec.default)


@st.cache_resource(show_spinner=False)
def _pages_in(lang: str) -> dict[str, st.Page]:
    """The registry's pages, in its order, built once per language and process: each build resolves and checks its
    file, and 13 of them on every run were a tenth of a class's server time (py-spy, 100 sessions)."""
    return {spec.name: _page(spec, lang) for spec in PAGE_SPECS}


# Each run navigates its own copies: st.navigation marks the page it chose as callable once, and the cached pages
# are shared by every session's run at the same time.
BUILT = {name: copy.copy(page) for name, page in _pages_in(language()).items()}
LESSON = BUILT["lesson"]
# The lesson heads the menu without a section title, so all 13 pages and the image picker fit above the fold at
# 1280 x 720 (Streamlit folds a menu of more than 12 pages behind "View 3 more" unless expanded; that hid Figure 7).
PAGES = {(t(f"nav.{section}") if section != "teach" else ""): [BUILT[s.name] for s in PAGE_SPECS if s.section == section]
         for section in SECTIONS}

with crowd.running():  # counts this run; draws 'your view is coming' first while the server is saturated
    page = st.navigation(PAGES, expanded=True)
    links.read_link({p.url_path: p for section in PAGES.values() for p in section}, page.url_path)
    keep_view_controls(page.url_path)
    with st.sidebar:
        image_box = st.container()  # right under the navigation: the image picker in view at 1280 x 720 (below the
        language_switch()  # language and projector switches its sample menu was under the fold)
        projector.toggle()
    projector.apply_css()
    ctx = render_sidebar(image_box)
    if ctx is not None:
        links.apply_view(page.url_path, ctx.geometry)
    links.show_notices()
    if page.url_path == "":
        first_screen.intro(ctx, LESSON)
    st.title(page.title)
    page.run()
    if page.url_path not in FRAGMENT_PAGES:
        links.share_view(page.url_path)
