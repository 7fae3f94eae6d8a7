"""The one list of the app's pages: each page's file, navigation section, view controls and title key.

The router (``streamlit_app.py``) builds its navigation from :data:`PAGES`, the link reader (``viz_app.links``)
names pages by their url path and reads old names through :data:`ALIASES`, ``viz_app.ui.keep_view_controls``
keeps :data:`PAGE_CONTROLS`, and the tests walk :data:`PAGES`. Adding a page is a file ``viz_app/pages/<name>.py``
and one entry here (recipe: docs/ARCHITECTURE.md, "Add a page"). No streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import state

__all__ = ["SECTIONS", "PageSpec", "PAGES", "PAGE_CONTROLS", "FRAGMENT_PAGES", "ALIASES", "page_named"]

# Navigation sections in order, each titled by the catalogue key nav.<section>. Three: a fourth heading pushed the
# sample picker below the fold at 1440 x 900.
SECTIONS: tuple[str, ...] = ("teach", "explore", "figure7")


@dataclass(frozen=True)
class PageSpec:
    """One page.

    Attributes:
        name: its file ``viz_app/pages/<name>.py``, its url path and its ``page=`` link value.
        section: one of :data:`SECTIONS`.
        controls: the widget keys of its view controls (kept while another page is shown).
        default: the page the app opens on (url path "").
        fragment: its controls live in an ``st.fragment`` and it shares its link itself (``links.share_view``).
    """

    name: str
    section: str
    controls: tuple[str, ...] = ()
    default: bool = False
    fragment: bool = False

    @property
    def label_key(self) -> str:
        """The catalogue key of its title."""
        return f"nav.{self.name}"

    @property
    def url_path(self) -> str:
        return "" if self.default else self.name

    @property
    def file(self) -> str:
        return f"viz_app/pages/{self.name}.py"


PAGES: tuple[PageSpec, ...] = (
    PageSpec("lesson", "teach", (state.LESSON_STEP, state.LESSON_LAYER), fragment=True),
    PageSpec("overview", "explore", (state.SHOW_INDICES,), default=True),
    PageSpec("rollout", "explore", (state.FUSION, state.DISCARD, state.RESIDUAL, state.START_LAYER,
                                    *state.ROLLOUT_RENDER.all(), state.TARGET_CLASS, state.SHOW_TRUTH), fragment=True),
    PageSpec("class_token", "explore", (state.CLS_MODE, state.CLS_LAYER, state.CLS_HEAD, state.CLS_NORMALISE,
                                        *state.CLS_RENDER.all()), fragment=True),
    PageSpec("query", "explore", (state.QUERY_ROW, state.QUERY_COL, state.QUERY_LAYER, state.QUERY_HEAD,
                                  *state.QUERY_RENDER.all()), fragment=True),
    PageSpec("faithfulness", "explore", (state.FAITH_METHODS, state.FAITH_TARGET, *state.FAITH_RENDER.all())),
    PageSpec("inside", "explore", (state.INSIDE_LAYER, state.INSIDE_HEAD, state.INSIDE_COMPARE, state.INSIDE_OTHER,
                                   state.INSIDE_OTHER_RANDOM), fragment=True),
    PageSpec("ablate", "explore", (state.ABLATE_HEADS, state.ABLATE_TOKENS, state.ABLATE_MODE, state.ABLATE_IMPORTANCE,
                                   state.REGISTER_SHOW, state.REGISTER_LAYER, state.REGISTER_MADS, state.REGISTER_K),
             fragment=True),
    PageSpec("compare", "explore", (state.COMPARE_CHOICE,)),
    PageSpec("export", "explore", (state.EXPORT_FIGURE, state.EXPORT_WIDTH)),
    PageSpec("position", "figure7", (state.POS_ROW, state.POS_COL, state.POS_RANGE, state.POS_CENTRE)),
    PageSpec("heads", "figure7", (state.HEADS_ALL_SAMPLES,)),
    PageSpec("filters", "figure7"),
)

# View controls of each page by its url path ("" is the default page). Streamlit drops the state of a widget that
# a run does not draw, so leaving a page would reset its controls: the router re-asserts the controls of every
# page but the one it draws (viz_app.ui.keep_view_controls).
PAGE_CONTROLS: dict[str, tuple[str, ...]] = {page.url_path: page.controls for page in PAGES}
# Pages whose controls live in a fragment: they call links.share_view themselves so the URL follows every change.
FRAGMENT_PAGES: tuple[str, ...] = tuple(page.url_path for page in PAGES if page.fragment)
# `page=` values of old links -> the url path that answers them now. The guided tour was folded into the lesson,
# the one teaching path; `page=overview` names the default page.
ALIASES: dict[str, str] = {"tour": "lesson", **{page.name: "" for page in PAGES if page.default}}


def page_named(name: str) -> PageSpec:
    """The page whose file is `name` (KeyError if none)."""
    return {page.name: page for page in PAGES}[name]
