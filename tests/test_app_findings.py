"""AppTest: captions that follow the data, the random-weights label, the out-of-domain notice and the export's
settings, on the real app with real models (the bundled one, its random-weights twin, and a checkpoint of it
whose first layer has position-only local heads)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from app_support import choose, interact
from PIL import Image
from streamlit.testing.v1 import AppTest

from vit_core.models.loading import DEMO_MODEL_NAME, load_model
from viz_app import resources, state, ui
from viz_app.page_registry import PAGES as PAGE_SPECS

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
TIMEOUT = 120
# every page but those with their own random-weights tests (the lesson, faithfulness, compare: slow here)
PAGES = [page.name for page in PAGE_SPECS if page.name not in ("lesson", "faithfulness", "compare")]
DISTANCE = "Attention-weighted distance"
RANDOM = "Random weights: the untrained control"
OUTSIDE = "knows only six synthetic shapes"

if not resources.demo_available():  # these tests are about the bundled model
    pytest.skip("the bundled demo model is not installed", allow_module_level=True)


def _page(name: str) -> str:
    return f"viz_app/pages/{name}.py"


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _caption(at: AppTest, start: str) -> str:
    return next(c.value for c in at.caption if c.value.startswith(start))


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _ok(at)
    return at


def local_heads_checkpoint(path: Path) -> Path:
    """The bundled model with a first layer of two sharp, position-only heads (they attend to their own patch)
    and two uniform heads: local and global heads in layer 0, the trained layers after it."""
    model = load_model(DEMO_MODEL_NAME).model
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    dim, heads = weights["pos_embed"].shape[-1], model.blocks[0].attn.num_heads
    head_dim = dim // heads
    weights["patch_embed.proj.weight"].zero_()  # tokens are their position embeddings alone
    weights["patch_embed.proj.bias"].zero_()
    z = torch.nn.functional.layer_norm(weights["pos_embed"][0, 1:], (dim,))  # what layer 0's attention reads
    basis = torch.linalg.svd(z - z.mean(0), full_matrices=False).Vh[:head_dim]  # [head_dim, dim]
    qkv = weights["blocks.0.attn.qkv.weight"]  # [3 * dim, dim]
    qkv.zero_()
    weights["blocks.0.attn.qkv.bias"].zero_()
    weights["blocks.0.norm1.weight"].fill_(1.0)
    weights["blocks.0.norm1.bias"].zero_()
    for h in range(heads // 2):
        qkv[h * head_dim:(h + 1) * head_dim] = 6.0 * basis  # q
        qkv[dim + h * head_dim:dim + (h + 1) * head_dim] = 6.0 * basis  # k: q.k peaks at the same position
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in weights.items()}, str(path))
    return path


def test_distance_caption_says_whether_the_papers_pattern_appears(tmp_path):
    at = _app()
    at.switch_page(_page("heads")).run()
    _ok(at)
    bundled = _caption(at, DISTANCE)  # the second demo model has local heads in layers 0-1 (its model card)
    assert "This is the paper's pattern" in bundled and "Layer 0's heads attend" in bundled, bundled

    interact(at, lambda: at.selectbox(key=state.MODEL_CHOICE).set_value(state.CHECKPOINT))
    interact(at, lambda: at.text_input(key=state.CHECKPOINT_ARCH).set_value(DEMO_MODEL_NAME))
    checkpoint = str(local_heads_checkpoint(tmp_path / "local.safetensors"))
    interact(at, lambda: at.text_input(key=state.CHECKPOINT_PATH).set_value(checkpoint))
    _ok(at)
    local = _caption(at, DISTANCE)
    assert "This is the paper's pattern" in local and "Layer 0's heads attend 0–" in local, local


def test_random_weights_are_labelled_on_every_page_and_captions_follow():
    at = _app()
    assert not any(RANDOM in w.value for w in at.warning)
    at.switch_page(_page("position")).run()
    assert "learned the 2-D layout" in _caption(at, "Tile (row, column)")
    interact(at, lambda: at.toggle(key=state.RANDOM_WEIGHTS).set_value(True))
    _ok(at)
    for name in PAGES:
        at.switch_page(_page(name)).run()
        _ok(at)
        assert any(RANDOM in w.value for w in at.warning), name
        if name == "position":
            assert "no clear 2-D layout (as expected of untrained, random weights)" in _caption(at, "Tile (row")
        if name == "heads":
            assert "does not appear" in _caption(at, DISTANCE)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_bundled_model_says_what_it_knows_on_photos_and_uploads():
    at = _app()
    at.switch_page(_page("overview")).run()
    choose(at, lambda: at.selectbox(key=state.SAMPLE), "pair_ring_star.png")
    _ok(at)
    assert not any(OUTSIDE in w.value for w in at.warning)  # a generated scene: no notice

    choose(at, lambda: at.selectbox(key=state.SAMPLE), "chelsea.png")
    _ok(at)
    notice = next(w.value for w in at.warning if OUTSIDE in w.value)
    assert "circle" in notice and "pretrained ImageNet model" in notice
    assert any("not a confidence about this image" in m.value for m in at.markdown)

    choose(at, lambda: at.radio(key=state.IMAGE_SOURCE), "Upload")
    photo = np.asarray(Image.open(Path(resources.SAMPLES_DIR) / "rocket.jpg").convert("RGB"))
    at.file_uploader(key=state.UPLOAD).upload("my_photo.png", _png(photo[::2, ::2]), "image/png").run()
    _ok(at)
    assert at.session_state[state.CONTEXT].image.label == "my_photo.png"
    assert any(OUTSIDE in w.value for w in at.warning)

    interact(at, lambda: at.button(key="domain_switch").click())
    assert at.session_state[state.MODEL_CHOICE] == ui.PRETRAINED_OFFER  # the offer switches the model


def test_export_uses_the_rollout_pages_current_settings():
    at = _app()
    at.switch_page(_page("rollout")).run()
    interact(at, lambda: at.selectbox(key=state.RENDERING).set_value("Paper (Figure 6)"))
    interact(at, lambda: at.slider(key=state.RESIDUAL).set_value(0.3))
    interact(at, lambda: at.selectbox(key=state.FUSION).set_value("max"))
    _ok(at)
    at.switch_page(_page("export")).run()
    _ok(at)
    caption = _caption(at, "The attention rollout as")
    assert "Paper (Figure 6)" in caption and "max of heads" in caption and "residual 0.30" in caption
    assert at.select_slider(key=state.EXPORT_WIDTH).value == 896


def test_a_constant_rollout_shows_a_note_and_any_class_can_be_explained():
    at = _app()
    at.switch_page(_page("rollout")).run()
    picker = at.selectbox(key=state.TARGET_CLASS)
    ctx = at.session_state[state.CONTEXT]
    top = [p.index for p in ctx.predictions]
    assert list(picker.options)[:5] == [picker.format_func(i) for i in top]  # the top 5 first
    assert len(picker.options) == ctx.num_classes  # then every other class
    charts = len(at.get("plotly_chart"))
    interact(at, lambda: at.slider(key=state.RESIDUAL).set_value(1.0))
    _ok(at)
    assert any("same for every patch" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == charts - 1  # no flat map drawn in its place
    assert not any(c.value.startswith("Ground truth: rollout") for c in at.caption)
