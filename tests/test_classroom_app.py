"""The classroom parts under AppTest: a link's values reach the widgets, bad values fall back with one notice,
the lesson steps with Next/Back through all its steps and reveals its figure once answered (also on models
without a classifier or a class token), and the language switch changes the text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from app_support import choose, interact, run_app
from streamlit.testing.v1 import AppTest

from viz_app import lesson, resources, state
from viz_app.faithfulness_data import method_results
from viz_app.ground_truth import objects_in_view
from viz_app.i18n import CATALOGUE

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow





def test_link_opens_the_named_view():
    at = run_app(page="query", layer="2", head="1", row="3", col="5")
    assert at.session_state[state.QUERY_LAYER] == 2
    assert at.session_state[state.QUERY_HEAD] == 1
    assert (at.session_state[state.QUERY_ROW], at.session_state[state.QUERY_COL]) == (3, 5)
    assert any("Where patch (3, 5) attends" in s.value for s in at.subheader)
    assert not at.info  # nothing was refused


def test_bad_values_fall_back_with_a_notice():
    at = run_app(page="rollout", fusion="median", discard="7", start="x", colour="red")
    notices = [i.value for i in at.info]
    assert any("fusion=median" in n for n in notices), notices
    assert any("discard=7" in n for n in notices), notices
    assert any("start=x" in n for n in notices), notices
    assert any("colour" in n for n in notices), notices
    assert at.session_state[state.FUSION] == "mean"
    assert not at.error


def test_unknown_page_and_model_fall_back():
    at = run_app(page="nowhere", model="vit_huge_nonsense", sample="missing.png", lang="fr")
    assert len(at.info) == 4, [i.value for i in at.info]
    assert at.title[-1].value == "Image & patches"


def test_an_interaction_that_changes_nothing_on_screen_fails():
    """The check every AppTest interaction goes through can fail: a set_value the view does not follow (here the
    slider's own value again) is refused, as an ignored one would be."""
    at = run_app(page="rollout")
    current = at.slider(key=state.RESIDUAL).value
    with pytest.raises(AssertionError, match="changed nothing on screen"):
        interact(at, lambda: at.slider(key=state.RESIDUAL).set_value(current))
    interact(at, lambda: at.slider(key=state.RESIDUAL).set_value(0.3))  # a real change passes


def test_an_old_tour_link_opens_the_lesson():
    """The guided tour was folded into the lesson: a slide's `?page=tour` opens the lesson's first step."""
    at = run_app(page="tour")
    assert at.title[-1].value == EN["nav.lesson"]
    assert at.session_state[state.LESSON_STEP] == 0
    assert not at.info  # an alias, not a refused value


def test_the_url_follows_the_view():
    at = run_app(page="rollout", residual="0.3")
    assert at.session_state[state.RESIDUAL] == 0.3
    assert at.query_params["residual"] == ["0.3"] or at.query_params["residual"] == "0.3"
    assert "page=rollout" in at.code[-1].value and "residual=0.3" in at.code[-1].value


def _query(at, name: str) -> str:
    value = at.query_params[name]
    return value[0] if isinstance(value, list) else value


def test_a_link_reopens_the_lesson_step_and_follows_next():
    at = run_app(page="lesson", step="3")
    assert at.session_state[state.LESSON_STEP] == 2
    assert any(h.value == "Position embeddings" for h in at.subheader)
    at.button(key="lesson_next").click().run()
    assert any(h.value == "Self-attention, head by head" for h in at.subheader)
    assert _query(at, "step") == "4" and _query(at, "page") == "lesson"  # the URL follows the fragment's Next
    assert "step=4" in at.code[-1].value
    far = run_app(page="lesson", step="12")  # outside 1 to 8: the first step and a notice
    assert far.session_state[state.LESSON_STEP] == 0 and any("step=12" in i.value for i in far.info)


def test_lesson_next_back_and_reveal():
    at = run_app(page="lesson")
    assert at.session_state[state.LESSON_STEP] == 0
    interact(at, lambda: at.button(key="lesson_next").click())
    interact(at, lambda: at.button(key="lesson_next").click())
    assert at.session_state[state.LESSON_STEP] == 2
    interact(at, lambda: at.button(key="lesson_back").click())
    assert at.session_state[state.LESSON_STEP] == 1
    radio = at.radio(key=f"{state.LESSON_ANSWER}_embedding")
    assert radio.value is None
    right = str(3 * 16 * 16)  # the demo model's 16 x 16 RGB patches
    interact(at, lambda: radio.set_value(right))
    assert at.success and not at.warning
    wrong = radio.options[0] if radio.options[0] != right else radio.options[2]
    interact(at, lambda: at.radio(key=f"{state.LESSON_ANSWER}_embedding").set_value(wrong))
    assert at.warning and right in at.warning[0].value


STEPS = ("patches", "embedding", "position", "attention", "distance", "rollout", "relevance", "faithfulness",
         "registers")
EN = CATALOGUE["en"]


def _next(at: AppTest) -> None:
    interact(at, lambda: at.button(key="lesson_next").click())
    assert not at.exception, [e.value for e in at.exception]


def _chart_titles(at: AppTest) -> list[str]:
    titles = []
    for chart in at.get("plotly_chart"):
        title = json.loads(chart.proto.spec)["layout"].get("title", {})
        titles.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return titles


def _answers(at: AppTest, step: str, ids: list[str]) -> dict[str, bool]:
    """answer id -> whether the lesson calls it right, trying each in turn (the figure shown each time)."""
    right = {}
    for answer in ids:
        interact(at, lambda answer=answer: at.radio(key=f"{state.LESSON_ANSWER}_{step}").set_value(answer))
        assert not at.exception, [e.value for e in at.exception]
        wrong = [w for w in at.warning if w.value.startswith(EN["lesson.wrong"].split("“")[0])]
        assert bool(at.success) != bool(wrong)
        assert at.get("plotly_chart"), f"{step}: no figure after answering {answer}"
        right[answer] = bool(at.success)
    return right


def test_lesson_walks_every_step_and_answers_relevance_and_faithfulness():
    """Next through every step to the last (then disabled, Back one step); on the two-object scene the relevance
    question names the scene's objects, its right answer is the object under the peak, and the two maps explain the
    two objects' classes; the faithfulness answer is the race's, computed once, its reading and both AUCs shown."""
    at = run_app(page="lesson", sample="pair_ring_star.png")
    titles = [at.subheader[0].value]
    for _ in STEPS[1:]:
        _next(at)
        titles.append(at.subheader[0].value)
    assert titles == [EN[f"lesson.{step}.title"] for step in STEPS]
    assert at.session_state[state.LESSON_STEP] == len(STEPS) - 1 and at.button(key="lesson_next").disabled
    right = _answers(at, "registers", ["yes", "no"])  # the last step: a high-norm outlier, or plainly none
    found = resources.inspection(at.session_state[state.CONTEXT])
    assert right == {"yes": len(found.outlier_token) > 0, "no": len(found.outlier_token) == 0}
    reading = [m.value for m in at.markdown if m.value.startswith(("No token stands out", "patch", "cls", "reg"))]
    assert len(reading) == 1 and (("No token" in reading[0]) == (len(found.outlier_token) == 0)), reading
    interact(at, lambda: at.button(key="lesson_back").click())
    interact(at, lambda: at.button(key="lesson_back").click())
    assert at.subheader[0].value == EN["lesson.relevance.title"]

    ctx = at.session_state[state.CONTEXT]
    objects = objects_in_view(resources.scene_ground_truth()[ctx.image.sha256], ctx.mapping)
    labels = [o.label for o in objects]
    radio = at.radio(key=f"{state.LESSON_ANSWER}_relevance")
    assert radio.options == [*(EN["truth.on_object"].format(label=x) for x in labels), EN["truth.on_background"]]
    assert ctx.predictions[0].label in radio.label
    right = _answers(at, "relevance", [*labels, lesson.BACKGROUND])
    peak = lesson.relevance_peak(ctx.analysis.relevance[0], ctx.geometry.patch_size, objects)
    assert [a for a, ok in right.items() if ok] == [peak]
    top = ctx.predictions[0].label
    other = next(x for x in labels if x != top) if top in labels else ctx.predictions[1].label
    assert {EN["rollout.relevance_for"].format(name=n) for n in (top, other)} <= set(_chart_titles(at))

    _next(at)
    before = resources.FORWARD_CALLS["faithfulness"]
    right = _answers(at, "faithfulness", ["faster", "slower"])
    assert resources.FORWARD_CALLS["faithfulness"] == before  # computed when the step opened, once
    race = lesson.removal_race(method_results(ctx.key, lesson.RACE_METHODS, ctx.predictions[0].index, ctx.loaded,
                                              ctx.image.data))
    assert right == {"faster": race.rollout_faster, "slower": not race.rollout_faster}
    reading = EN["lesson.faithfulness.reading_" + ("faster" if race.rollout_faster else "slower")].format(name=top)
    assert reading in [m.value for m in at.markdown]
    lines = {trace["name"] for chart in at.get("plotly_chart") for trace in json.loads(chart.proto.spec)["data"]
             if "name" in trace}
    assert {EN["lesson.faithfulness.rollout"].format(auc=f"{race.rollout_auc:.3f}"),
            EN["lesson.faithfulness.random"].format(auc=f"{race.random_auc:.3f}")} <= lines


def _timm_model_named(name: str, **kwargs) -> str:
    """A tiny random test_vit registered with timm as `name` (built with `kwargs`), loadable in the app by name."""
    import timm
    from timm.models import register_model

    if not timm.is_model(name):
        def build(pretrained: bool = False, **overrides):
            return timm.create_model("test_vit", pretrained=False, **{**kwargs, **overrides})

        build.__name__ = build.__qualname__ = name
        register_model(build)
    return name


@pytest.mark.parametrize("layout", ["no_classifier", "no_class_token"])
def test_lesson_walks_on_a_model_without_a_classifier_or_a_class_token(layout):
    """Without a classifier the relevance and faithfulness steps say so in one line and ask nothing; without a class
    token (global average pooling) they ask and answer as usual."""
    from layouts import registered_name

    name = _timm_model_named("lesson_headless", num_classes=0) if layout == "no_classifier" else registered_name(
        "registers_gap")
    at = run_app(page="lesson")
    interact(at, lambda: at.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM))
    interact(at, lambda: at.text_input(key=state.MODEL_NAME).input(name))
    interact(at, lambda: at.toggle(key=state.RANDOM_WEIGHTS).set_value(True))
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[state.CONTEXT].spec.name == name
    for step in STEPS[1:]:
        _next(at)
        assert at.subheader[0].value == EN[f"lesson.{step}.title"]
        if step not in ("relevance", "faithfulness"):
            continue
        asked = [r for r in at.radio if r.key == f"{state.LESSON_ANSWER}_{step}"]
        if layout == "no_classifier":
            assert not asked
            assert [i.value for i in at.info] == [EN["rollout.no_head" if step == "relevance" else "faith.no_head"]]
        else:
            assert asked
            on_scene = EN["truth.on_background"] in asked[0].options  # the sample stays the two-object scene
            first = "faster" if step == "faithfulness" else lesson.BACKGROUND if on_scene else "top_left"
            _answers(at, step, [first])


def test_korean():
    at = run_app(page="lesson", lang="ko")
    assert at.subheader[0].value == CATALOGUE["ko"]["lesson.patches.title"]
    assert at.sidebar.radio(key=state.IMAGE_SOURCE).options[0] == CATALOGUE["ko"]["source.Sample"]
    # switching back is driven in the browser (tests/e2e/test_classroom.py): AppTest re-sends every widget's
    # value through str(), which a radio with a format_func (the image source) cannot take
    assert run_app(page="lesson").subheader[0].value == CATALOGUE["en"]["lesson.patches.title"]


def test_an_own_image_cannot_travel_in_a_link():
    at = run_app(sample="pair_ring_star.png")
    assert "sample=pair_ring_star.png" in at.code[-1].value
    choose(at, lambda: at.radio(key=state.IMAGE_SOURCE), "Upload")
    photo = (ROOT / "assets" / "samples" / "scene_ring.png").read_bytes()
    at.file_uploader(key=state.UPLOAD).upload("my_photo.png", photo, "image/png").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "sample=" not in at.code[-1].value
    assert any(CATALOGUE["en"]["link.own_image"] == c.value for c in at.caption)


def test_a_near_tie_of_peaks_is_said_to_be_no_clear_winner():
    """Issue 33: on pair_ring_star.png the ring's relevance is 1.000 on the ring against 0.997 on the star: the
    rollout page's caption and the lesson's step 7 say 'no clear winner' and give both numbers, not a tick."""
    at = run_app(page="rollout", sample="pair_ring_star.png", **{"class": "ring"})
    captions = [c.value for c in at.caption if "relevance for “ring”" in c.value]
    assert captions and "no clear winner" in captions[0] and "✓" not in captions[0], captions
    at = run_app(page="lesson", sample="pair_ring_star.png", step="7")
    at.radio(key=f"{state.LESSON_ANSWER}_relevance").set_value("ring").run()  # predict first, then the maps
    text = " ".join(m.value for m in at.markdown)
    assert "“ring”: no clear winner" in text, text
    assert any("do not each light up" in c.value for c in at.caption), [c.value for c in at.caption]
    at = run_app(page="lesson", step="7")  # the default scene: the claim holds, each by a clear margin
    at.radio(key=f"{state.LESSON_ANSWER}_relevance").set_value("ring").run()
    assert any("each by a clear margin" in c.value for c in at.caption), [c.value for c in at.caption]


def test_a_photos_presence_chart_draws_every_shape_it_names():
    """Issue 33.8: the chart's title promised the 6 shapes and drew the top 5 (cross missing)."""
    import json

    at = run_app(sample="chelsea.png")
    ctx = at.session_state[state.CONTEXT]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    bars = next(c for c in charts if any(d.get("type") == "bar" for d in c["data"]))
    drawn = [y for d in bars["data"] if d.get("type") == "bar" for y in d["y"]]
    assert sorted(drawn) == sorted(ctx.loaded.label_names), drawn
    assert str(len(ctx.loaded.label_names)) in bars["layout"]["title"]["text"]


def test_a_class_on_one_step_shares_one_built_figure(monkeypatch):
    """Students on the same lesson step draw the same figure, built once for all of them (plotly's validation was
    paid once per student and rerun); the projector's large text and another language get figures of their own."""
    from viz_app import figures, ui

    built = []
    real = figures.image_figure
    monkeypatch.setattr(figures, "image_figure", lambda *a, **k: built.append(k) or real(*a, **k))
    ui._shared_figures.clear()

    def before(at: AppTest) -> str:
        charts = [chart for chart in at.get("plotly_chart") if chart.proto.id and "lesson_before" in chart.proto.id]
        assert len(charts) == 1, "the step's picture before an answer is missing"
        return charts[0].proto.spec

    try:
        first, second = run_app(page="lesson"), run_app(page="lesson")
        assert before(first) == before(second) and len(built) == 1
        second.run()
        assert len(built) == 1 and before(second) == before(first)
        interact(second, lambda: second.toggle(key=state.PROJECTOR).set_value(True))
        assert len(built) == 2 and before(second) != before(first)  # the projector's figure: larger text
        assert json.loads(before(second))["layout"]["font"]["size"] > json.loads(before(first))["layout"].get(
            "font", {}).get("size", 0)
        run_app(page="lesson", lang="ko")
        assert len(built) == 3
    finally:
        ui._shared_figures.clear()


def test_the_pages_are_built_once_per_language_and_each_run_navigates_its_own(monkeypatch):
    """The router's pages are built once per language and process (each build resolves and checks a file) and
    every run navigates copies: two sessions on different pages each run their own, and Korean gets its titles."""
    import streamlit as st

    from viz_app.page_registry import PAGES

    built = []
    real = st.Page
    monkeypatch.setattr(st, "Page", lambda *args, **kwargs: built.append(kwargs["title"]) or real(*args, **kwargs))
    st.cache_resource.clear()
    try:
        lesson_view, query_view = run_app(page="lesson"), run_app(page="query")
        assert len(built) == len(PAGES)
        assert lesson_view.title[0].value == EN["nav.lesson"] and query_view.title[0].value == EN["nav.query"]
        lesson_view.run()  # a rerun navigates a fresh copy: the chosen page runs again
        assert not lesson_view.exception and lesson_view.title[0].value == EN["nav.lesson"]
        korean = run_app(page="lesson", lang="ko")
        assert len(built) == 2 * len(PAGES) and CATALOGUE["ko"]["nav.lesson"] in built[len(PAGES):]
        assert korean.title[0].value == CATALOGUE["ko"]["nav.lesson"]
    finally:
        st.cache_resource.clear()
