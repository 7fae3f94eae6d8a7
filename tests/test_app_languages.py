"""Every page in Korean and in English under AppTest, and a language switch that keeps the person's choices.

A page opened with ``lang=ko`` shows its title and headings from the Korean catalogue (Hangul), without an
exception; the same page in English shows the English title. Switching the language keeps the chosen layer, head,
sample, rendering and layout (widget keys, not labels, are their identity).
"""

from __future__ import annotations

import re

import pytest
from app_support import APP, TIMEOUT, choose, interact, run_app
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.testing.v1 import AppTest

from viz_app import catalogue, state
from viz_app.i18n import CATALOGUE
from viz_app.page_registry import PAGES as PAGE_SPECS

pytestmark = pytest.mark.slow

PAGES = [page.name for page in PAGE_SPECS]
HANGUL = re.compile("[\uac00-\ud7a3]")




@pytest.mark.parametrize("page", PAGES)
def test_every_page_in_korean(page):
    at = run_app(page=page, lang="ko")
    assert at.title[-1].value == CATALOGUE["ko"][f"nav.{page}"]
    headings = [h.value for h in (*at.title, *at.header, *at.subheader)]
    assert headings and all(HANGUL.search(h) for h in headings), headings
    assert all(HANGUL.search(w.label) for w in at.sidebar.selectbox), [w.label for w in at.sidebar.selectbox]
    assert not any(HANGUL.search(v) for v in CATALOGUE["en"].values())  # the English side holds no Korean


@pytest.mark.parametrize("page", ["overview", "rollout", "heads"])
def test_the_same_pages_in_english(page):
    at = run_app(page=page)
    assert at.title[-1].value == CATALOGUE["en"][f"nav.{page}"]
    headings = [h.value for h in (*at.title, *at.subheader)]
    assert not any(HANGUL.search(h) for h in headings), headings


def test_switching_language_keeps_the_choices(monkeypatch):
    """AppTest sends each choice as its label, as the browser does; outside the app's run (where the test builds
    those labels) the language must be the one the page was drawn in, so the source falls back to the test's
    view of the session there."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app_source = catalogue._source
    monkeypatch.setattr(catalogue, "_source", lambda: app_source() if get_script_run_ctx() is not None
                        else at.session_state[state.LANG] if state.LANG in at.session_state else None)
    at.query_params["page"] = "class_token"
    at.run()
    sample = at.sidebar.selectbox(key=state.SAMPLE)
    other = next(name for name in sample.options if name != sample.value)
    interact(at, lambda: sample.set_value(other))
    interact(at, lambda: at.slider(key=state.CLS_LAYER).set_value(2))
    interact(at, lambda: at.selectbox(key=state.CLS_HEAD).set_value(1))
    interact(at, lambda: at.radio(key=state.CLS_MODE).set_value("Layer × head grid"))
    interact(at, lambda: at.selectbox(key=state.CLS_RENDERING).set_value("Patches"))
    chosen = {key: at.session_state[key] for key in
              (state.SAMPLE, state.CLS_LAYER, state.CLS_HEAD, state.CLS_MODE, state.CLS_RENDERING, state.IMAGE_SOURCE)}
    for lang in ("ko", "en", "ko"):
        # through the switch itself, as a person does (its on_change re-asserts the translated choices)
        interact(at, lambda lang=lang: at.sidebar.segmented_control(key=state.LANG).set_value(lang))
        assert not at.exception, [e.value for e in at.exception]
        assert {key: at.session_state[key] for key in chosen} == chosen, lang
        assert at.title[-1].value == CATALOGUE[lang]["nav.class_token"]
        assert at.subheader[0].value == CATALOGUE[lang]["cls.one_head"]
    assert at.selectbox(key=state.CLS_HEAD).value == 1
    assert at.selectbox(key=state.CLS_RENDERING).format_func("Patches") == CATALOGUE["ko"]["render.name.patches"]


def test_a_bad_upload_is_explained_in_korean_and_the_app_keeps_running(monkeypatch):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app_source = catalogue._source  # the test builds the choice's label in the page's language (see above)
    monkeypatch.setattr(catalogue, "_source", lambda: app_source() if get_script_run_ctx() is not None else "ko")
    at.query_params["lang"] = "ko"
    at.run()
    choose(at, lambda: at.radio(key=state.IMAGE_SOURCE), "Upload")
    at.file_uploader(key=state.UPLOAD).upload("notes.png", b"this is text, not a picture", "image/png").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and HANGUL.search(at.error[0].value) and "Pillow" in at.error[0].value, at.error[0].value
    assert "choose" not in at.error[0].value  # the Korean sentence, not the English one
