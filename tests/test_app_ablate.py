"""The "Switch off heads & tokens" page under AppTest: every control changes what is on screen, and the logit it
shows equals the ablated forward computed directly with vit_core."""

from __future__ import annotations

import pytest
import torch
from app_support import interact, run_app

from vit_core.inside.ablation import ablated_forward, head_importance
from viz_app import resources, state

pytestmark = pytest.mark.slow

SAMPLE = "pair_ring_star.png"


def _metric(at):
    return at.metric[0]


def _captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_switching_heads_and_tokens_off_changes_the_view_and_the_numbers_are_the_models():
    at = run_app(page="ablate", sample=SAMPLE)
    assert at.title[0].value == "Switch off heads & tokens"
    assert "Nothing is switched off yet" in _captions(at)
    ctx = at.session_state[state.CONTEXT]
    assert _metric(at).delta == "+0.000"

    interact(at, lambda: at.multiselect(key=state.ABLATE_HEADS).set_value(["0:0", f"{ctx.geometry.depth - 1}:1"]))
    assert "Switched off: 2 heads (mean over" in _captions(at)
    mean_delta = float(_metric(at).delta)

    interact(at, lambda: at.radio(key=state.ABLATE_MODE).set_value("zero"))
    assert "Switched off: 2 heads (zero)" in _captions(at)
    # the shown change is the model's: the zero-ablated forward computed here, without the app
    pixel_values, _, _ = resources.model_input(ctx.loaded, ctx.image.data)
    clean = ablated_forward(ctx.loaded.model, pixel_values)[0]
    heads = [(0, 0), (ctx.geometry.depth - 1, 1)]
    zeroed = ablated_forward(ctx.loaded.model, pixel_values, heads, mode="zero")[0]
    top = int(clean.argmax())
    assert float(_metric(at).delta) == pytest.approx(float(zeroed[top] - clean[top]), abs=2e-3)
    assert float(_metric(at).delta) != mean_delta

    patch = ctx.geometry.num_prefix_tokens + 5
    interact(at, lambda: at.multiselect(key=state.ABLATE_TOKENS).set_value([patch]))
    assert "1 tokens masked" in _captions(at)

    interact(at, lambda: at.toggle(key=state.ABLATE_IMPORTANCE).set_value(True))
    assert "needs most" in _captions(at)
    grid = head_importance(ctx.loaded.model, pixel_values, top, mode="zero")[0]
    layer, head = divmod(int(grid.argmax()), grid.shape[1])
    assert f"layer {layer}, head {head}" in _captions(at)

    interact(at, lambda: at.radio(key=state.ABLATE_MODE).set_value("mean"))  # the grid follows the mode
    assert "(mean over" in " ".join(str(c.value) for c in at.caption)
    assert torch.isfinite(grid).all()


def test_masking_every_token_is_refused_in_one_sentence_and_the_choice_is_kept():
    at = run_app(page="ablate", sample=SAMPLE)
    every = list(range(at.session_state[state.CONTEXT].geometry.num_tokens))
    interact(at, lambda: at.multiselect(key=state.ABLATE_TOKENS).set_value(every))
    assert not at.exception
    assert any("every token would be switched off; keep at least one token" in e.value.lower() for e in at.error)
    assert at.multiselect(key=state.ABLATE_TOKENS).value == every  # nothing lost: unmask one and go on
    assert _metric(at).delta == "+0.000"  # the view shows the unablated model, not a wrong one


def test_the_test_time_register_says_plainly_when_there_is_no_outlier_and_shows_what_it_moves():
    at = run_app(page="ablate", sample=SAMPLE)
    interact(at, lambda: at.toggle(key=state.REGISTER_SHOW).set_value(True))
    # the small bundled model: at the default cut (median + 10 MAD) no sample patch is an outlier, and the page says so
    assert any("no high-norm outlier" in i.value for i in at.info)
    interact(at, lambda: at.slider(key=state.REGISTER_LAYER).set_value(1))
    interact(at, lambda: at.slider(key=state.REGISTER_MADS).set_value(3.0))  # a cut low enough to find some
    assert "Register neurons (layer:neuron)" in _captions(at)
    interact(at, lambda: at.slider(key=state.REGISTER_K).set_value(1))
    assert "Register neurons (layer:neuron)" in _captions(at)


def test_the_page_in_korean():
    at = run_app(page="ablate", sample=SAMPLE, lang="ko")
    assert at.title[0].value == "헤드와 토큰 끄기"
    assert "아직 아무것도 끄지 않았습니다" in _captions(at)
