"""The classroom parts under AppTest: a link's values reach the widgets, bad values fall back with one notice,
the lesson steps with Next/Back and reveals its figure once answered, and the language switch changes the text."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from viz_app import state
from viz_app.i18n import CATALOGUE

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
TIMEOUT = 120


def _run(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_link_opens_the_named_view():
    at = _run(page="query", layer="2", head="1", row="3", col="5")
    assert at.session_state[state.QUERY_LAYER] == 2
    assert at.session_state[state.QUERY_HEAD] == 1
    assert (at.session_state[state.QUERY_ROW], at.session_state[state.QUERY_COL]) == (3, 5)
    assert any("Where patch (3, 5) attends" in s.value for s in at.subheader)
    assert not at.info  # nothing was refused


def test_bad_values_fall_back_with_a_notice():
    at = _run(page="rollout", fusion="median", discard="7", start="x", colour="red")
    notices = [i.value for i in at.info]
    assert any("fusion=median" in n for n in notices), notices
    assert any("discard=7" in n for n in notices), notices
    assert any("start=x" in n for n in notices), notices
    assert any("colour" in n for n in notices), notices
    assert at.session_state[state.FUSION] == "mean"
    assert not at.error


def test_unknown_page_and_model_fall_back():
    at = _run(page="nowhere", model="vit_huge_nonsense", sample="missing.png", lang="fr")
    assert len(at.info) == 4, [i.value for i in at.info]
    assert at.title[-1].value == "Image & patches"


def test_the_url_follows_the_view():
    at = _run(page="rollout", residual="0.3")
    assert at.session_state[state.RESIDUAL] == 0.3
    assert at.query_params["residual"] == ["0.3"] or at.query_params["residual"] == "0.3"
    assert "page=rollout" in at.code[-1].value and "residual=0.3" in at.code[-1].value


def test_lesson_next_back_and_reveal():
    at = _run(page="lesson")
    assert at.session_state[state.LESSON_STEP] == 0
    at.button(key="lesson_next").click().run()
    at.button(key="lesson_next").click().run()
    assert at.session_state[state.LESSON_STEP] == 2
    at.button(key="lesson_back").click().run()
    assert at.session_state[state.LESSON_STEP] == 1
    radio = at.radio(key=f"{state.LESSON_ANSWER}_embedding")
    assert radio.value is None
    right = str(3 * 16 * 16)  # the demo model's 16 x 16 RGB patches
    radio.set_value(right).run()
    assert at.success and not at.warning
    radio.set_value(radio.options[0] if radio.options[0] != right else radio.options[2]).run()
    assert at.warning and right in at.warning[0].value


def test_korean():
    at = _run(page="lesson", lang="ko")
    assert at.subheader[0].value == CATALOGUE["ko"]["lesson.patches.title"]
    assert at.sidebar.radio(key=state.IMAGE_SOURCE).options[0] == CATALOGUE["ko"]["source.Sample"]
    # switching back is driven in the browser (tests/e2e/test_classroom.py): AppTest re-sends every widget's
    # value through str(), which a radio with a format_func (the image source) cannot take
    assert _run(page="lesson").subheader[0].value == CATALOGUE["en"]["lesson.patches.title"]


def test_an_own_image_cannot_travel_in_a_link():
    at = _run(sample="pair_ring_star.png")
    assert "sample=pair_ring_star.png" in at.code[-1].value
    at.radio(key=state.IMAGE_SOURCE).set_value("Upload").run()
    photo = (ROOT / "assets" / "samples" / "scene_ring.png").read_bytes()
    at.file_uploader(key=state.UPLOAD).upload("my_photo.png", photo, "image/png").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "sample=" not in at.code[-1].value
    assert any(CATALOGUE["en"]["link.own_image"] == c.value for c in at.caption)
