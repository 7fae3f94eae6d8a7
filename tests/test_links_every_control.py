"""Every control of a view goes in its link (issue 33): a link with every control away from its default, opened in a
fresh session, sets every control to it, and the URL the app then keeps states the same values."""

from __future__ import annotations

import numpy as np
import pytest
from app_support import run_app

from viz_app import links, state
from viz_app.page_registry import PAGE_CONTROLS

pytestmark = pytest.mark.slow

LINKS = {  # page -> a link's view parameters, each away from the control's default
    "rollout": {"fusion": "max", "discard": "0.9", "residual": "0.3", "start": "2", "render": "patches",
                "colormap": "Viridis", "opacity": "0.7", "class": "star", "truth": "0"},
    "lesson": {"step": "6", "layer": "2"},
    "class_token": {"layer": "3", "head": "1", "render": "mask", "mass": "0.4", "mode": "grid", "normalise": "0"},
    "query": {"layer": "2", "head": "1", "row": "3", "col": "4", "render": "paper", "blur": "1"},
    "position": {"row": "2", "col": "5", "range": "paper", "centre": "1"},
    "heads": {"across": "1"},
    "inside": {"layer": "3", "head": "1", "compare": "1", "other": "demo", "other_random": "1"},
    "ablate": {"heads": "0:1,5:0", "tokens": "0,7", "mode": "zero", "importance": "1", "register": "1",
               "register_layer": "2", "mads": "3.0", "k": "4"},
    "faithfulness": {"methods": "rollout,random", "class": "star", "render": "patches", "colormap": "Inferno",
                     "opacity": "0.6"},
}


def _written(value) -> str:
    return value[0] if isinstance(value, list) else value


@pytest.mark.parametrize("page", LINKS)
def test_a_link_sets_every_control_of_its_page(page):
    params = LINKS[page]
    at = run_app(page=page, sample="pair_ring_star.png", **params)
    assert not at.info or all("link" not in i.value.lower() for i in at.info), [i.value for i in at.info]
    kept = {name: _written(at.query_params[name]) for name in params if name in at.query_params}
    assert kept == params, f"the URL after opening the link: {kept}"
    by_name = {p.name: p for p in links.VIEW_PARAMS.get(page, ())}
    for name, raw in params.items():
        param = by_name.get(name)
        if param is None:
            continue  # the older names (layer, head, fusion, ...), read by apply_view and compared in the URL
        if param.kind == "class":  # the picker shows the class by name
            picker = at.selectbox(key=param.key)
            assert picker.options[picker.index] == raw, (name, picker.options[picker.index])
            continue
        value = at.session_state[param.key]
        assert links._table_text(param, value) == raw, (name, value)


def test_every_view_control_of_a_linked_page_has_a_link_name():
    """No control of a page that has a link is left out of it (PAGE_CONTROLS is every page's controls)."""
    older = {"rollout": {state.FUSION, state.DISCARD, state.RESIDUAL, state.START_LAYER},
             "class_token": {state.CLS_LAYER, state.CLS_HEAD},
             "query": {state.QUERY_LAYER, state.QUERY_HEAD, state.QUERY_ROW, state.QUERY_COL},
             "inside": {state.INSIDE_LAYER, state.INSIDE_HEAD}}
    for page, params in links.VIEW_PARAMS.items():
        covered = {p.key for p in params} | older.get(page, set())
        missing = set(PAGE_CONTROLS[page]) - covered
        assert not missing, (page, missing)


def test_the_lesson_link_opens_its_step():
    at = run_app(page="lesson", step="7")
    assert at.session_state[state.LESSON_STEP] == 6
    assert _written(at.query_params["step"]) == "7"
    assert at.subheader[0].value == "Class-specific relevance", [s.value for s in at.subheader]


def test_a_link_opens_the_model_at_its_image_size():
    """size= is the sidebar's image size: a fresh session opened on it runs the model at that size (the grid, the
    control and the map all change), and the URL it keeps says the size again."""
    native = run_app(page="rollout", sample="pair_ring_star.png")
    assert "size" not in native.query_params  # the model's own size is not written
    sized = run_app(page="rollout", sample="pair_ring_star.png", size="160")
    assert not sized.error, [e.value for e in sized.error]
    assert sized.number_input(key=state.IMAGE_SIZE).value == 160
    assert sized.session_state[state.CONTEXT].geometry.grid_size == (10, 10)
    assert any("10×10 patches" in c.value for c in sized.sidebar.caption), [c.value for c in sized.sidebar.caption]
    assert sized.get("plotly_chart")[0].proto.spec != native.get("plotly_chart")[0].proto.spec
    assert _written(sized.query_params["size"]) == "160"


def test_a_link_opens_the_model_with_random_weights_and_keeps_saying_so():
    """weights=random turns the sidebar's random-weights switch on: the loaded model's weights are the seeded random
    ones (another prediction than the trained model's), and the URL it keeps says so again."""
    trained = run_app(page="overview", sample="pair_ring_star.png")
    assert "weights" not in trained.query_params
    random = run_app(page="overview", sample="pair_ring_star.png", weights="random")
    assert random.toggle(key=state.RANDOM_WEIGHTS).value is True
    assert random.session_state[state.CONTEXT].spec.pretrained is False
    before, after = (at.session_state[state.CONTEXT].analysis.logits for at in (trained, random))
    assert not np.allclose(before, after)
    assert _written(random.query_params["weights"]) == "random"
    wrong = run_app(page="overview", weights="pretty")
    assert wrong.toggle(key=state.RANDOM_WEIGHTS).value is False
    assert any("weights=" in i.value for i in wrong.info), [i.value for i in wrong.info]


@pytest.mark.parametrize(("name", "raw"), [("heads", "9:0"), ("heads", "1-2"), ("tokens", "0,999"), ("tokens", "x")])
def test_a_link_with_heads_or_tokens_the_model_lacks_opens_with_none_and_says_which(name, raw):
    at = run_app(page="ablate", sample="pair_ring_star.png", **{name: raw})
    assert any(f"{name}={raw}" in i.value for i in at.info), [i.value for i in at.info]
    assert at.multiselect(key=state.ABLATE_HEADS if name == "heads" else state.ABLATE_TOKENS).value == []


@pytest.mark.parametrize("size", ["170", "8", "huge"])
def test_a_link_size_that_does_not_fit_the_model_keeps_its_own_size_with_a_notice(size):
    at = run_app(page="rollout", sample="pair_ring_star.png", size=size)
    assert at.number_input(key=state.IMAGE_SIZE).value == 224
    assert any("size=" in i.value for i in at.info), [i.value for i in at.info]
    assert not at.error, [e.value for e in at.error]
