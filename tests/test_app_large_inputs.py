"""The app on a model whose analysis keeps q and k instead of the full attention (what DINOv2 at 518 px gets):
every page renders a heading and its figures, view changes redraw from slices rebuilt out of q and k, and the
image-size control reloads the model at another size or refuses one in a sentence.

The 'auto' threshold is lowered to one byte, so a tiny timm ViT takes the large-model path and the test stays fast.
"""

from __future__ import annotations

import numpy as np
import pytest
from app_support import APP, TIMEOUT
from streamlit.testing.v1 import AppTest

from vit_core.attention.capture import capture
from vit_core.methods import RolloutSettings, attention_rollout
from vit_core.runs import analysis
from vit_core.runs.analysis import analyze
from viz_app import state
from viz_app.page_registry import PAGES as REGISTERED_PAGES  # noqa: E402

pytestmark = pytest.mark.slow

PAGES = [page.name for page in REGISTERED_PAGES]  # every page the router shows
FIGURE_PAGES = {"overview", "rollout", "class_token", "query", "position", "heads", "filters"}
MODEL = "test_vit"  # 160 px, 16 px patches, 6 layers, 2 heads; random weights (no download)


def _page(name: str) -> str:
    return f"viz_app/pages/{name}.py"


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _figures(at: AppTest) -> list[str]:
    return [chart.proto.spec for chart in at.get("plotly_chart")]


@pytest.fixture(scope="module")
def at():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(analysis, "FULL_ATTENTION_BYTES", 1)  # every analysis keeps q and k
        app = AppTest.from_file(APP, default_timeout=TIMEOUT)
        app.run()
        app.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM).run()
        app.text_input(key=state.MODEL_NAME).input(MODEL).run()
        app.toggle(key=state.RANDOM_WEIGHTS).set_value(True).run()
        _ok(app)
        assert app.number_input(key=state.IMAGE_SIZE).value == 160  # the model's own size
        app.number_input(key=state.IMAGE_SIZE).set_value(192).run()  # 12 x 12 patches
        _ok(app)
        yield app


def test_the_image_size_control_reloads_the_model_and_the_store_is_q_and_k(at):
    ctx = at.session_state[state.CONTEXT]
    assert ctx.geometry.grid_size == (12, 12) and ctx.spec.image_size == 192
    assert ctx.analysis.attention is None and ctx.analysis.attention_q is not None
    assert any("12 × 12" in c.value or "12×12" in c.value or "12 x 12" in c.value for c in at.sidebar.caption), \
        [c.value for c in at.sidebar.caption]


def test_every_page_renders_a_heading_and_its_figures(at):
    for name in PAGES:
        at.switch_page(_page(name)).run()
        if name == "compare":  # its trained twin needs the (offline) hub: one sentence at most
            assert not at.exception and len(at.error) <= 1
            continue
        _ok(at)
        assert at.title and at.title[0].value, name
        if name in FIGURE_PAGES:
            assert _figures(at), name


def test_query_view_changes_redraw_the_maps(at):
    at.switch_page(_page("query")).run()
    _ok(at)
    before = _figures(at)
    at.selectbox(key=state.QUERY_LAYER).set_value(0).run()
    _ok(at)
    layer0 = _figures(at)
    assert layer0[0] != before[0] and "Layer 1" in at.caption[0].value or layer0[0] != before[0]
    at.selectbox(key=state.QUERY_HEAD).set_value(1).run()
    _ok(at)
    head1 = _figures(at)
    assert head1[0] != layer0[0]
    heading = at.subheader[0].value
    at.number_input(key=state.QUERY_ROW).set_value(2).run()  # another patch, as a click sets it
    at.number_input(key=state.QUERY_COL).set_value(3).run()
    _ok(at)
    assert at.subheader[0].value != heading
    clicked = _figures(at)
    assert clicked[0] != head1[0] and clicked[1] != head1[1]  # the map and every head's maps


def test_rolled_out_query_is_the_row_of_the_formed_rollout(at):
    at.switch_page(_page("query")).run()
    at.selectbox(key=state.QUERY_LAYER).set_value(state.ROLLED_OUT).run()
    _ok(at)
    ctx = at.session_state[state.CONTEXT]
    g = ctx.geometry
    row, col = at.number_input(key=state.QUERY_ROW).value, at.number_input(key=state.QUERY_COL).value
    import torch

    from viz_app import resources

    rolled = resources.rollout_rows(ctx, RolloutSettings(), [g.patch_token(row, col)])[0]
    pixels = torch.from_numpy(np.array(ctx.analysis.pixel_values))
    full = capture(ctx.loaded.model, pixels).attention
    R = attention_rollout(full, RolloutSettings(), num_prefix_tokens=g.num_prefix_tokens)[0]
    np.testing.assert_allclose(rolled, R[g.patch_token(row, col)].numpy(), atol=1e-5)
    before = _figures(at)[0]
    at.number_input(key=state.QUERY_ROW).set_value((row + 5) % g.grid_size[0]).run()
    _ok(at)
    assert _figures(at)[0] != before


def test_class_token_and_rollout_views_change_with_their_controls(at):
    at.switch_page(_page("class_token")).run()
    _ok(at)
    before = _figures(at)
    at.slider(key=state.CLS_LAYER).set_value(1).run()
    _ok(at)
    assert _figures(at)[1] != before[1]  # the one-head map
    at.switch_page(_page("rollout")).run()
    before = _figures(at)[0]
    at.selectbox(key=state.FUSION).set_value("max").run()
    _ok(at)
    fused = _figures(at)[0]
    assert fused != before
    at.slider(key=state.DISCARD).set_value(0.5).run()
    _ok(at)
    assert _figures(at)[0] != fused
    ctx = at.session_state[state.CONTEXT]
    from viz_app import resources

    settings = RolloutSettings(head_fusion="max", discard_ratio=0.5)
    heat, _ = resources.rollout_map(ctx, settings)
    import torch

    reference = analyze(ctx.loaded.model, torch.from_numpy(np.array(ctx.analysis.pixel_values)), rollout=settings,
                        relevance=False, attention="none")
    np.testing.assert_allclose(heat, reference.rollout[0], rtol=1e-4, atol=1e-6)
    at.selectbox(key=state.FUSION).set_value("mean").run()
    at.slider(key=state.DISCARD).set_value(0.0).run()


def test_lesson_rollout_step_shows_the_running_row(at):
    at.switch_page(_page("lesson")).run()
    at.session_state[state.LESSON_STEP] = 5  # the rollout step
    at.run()
    at.radio(key=f"{state.LESSON_ANSWER}_rollout").set_value("top_left").run()
    _ok(at)
    before = _figures(at)[-1]
    at.slider(key=state.LESSON_LAYER).set_value(0).run()
    _ok(at)
    assert _figures(at)[-1] != before


def test_an_image_size_that_is_not_a_multiple_of_the_patch_is_refused_in_a_sentence():
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    app.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM).run()
    app.text_input(key=state.MODEL_NAME).input(MODEL).run()
    app.toggle(key=state.RANDOM_WEIGHTS).set_value(True).run()
    app.number_input(key=state.IMAGE_SIZE).set_value(170).run()
    assert not app.exception
    assert len(app.error) == 1 and "not a multiple of this model's 16 px patches; choose 160 or 176" in \
        app.error[0].value, [e.value for e in app.error]
    assert "--" not in app.error[0].value
