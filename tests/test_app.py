"""The Streamlit app under ``streamlit.testing`` (AppTest): every page renders without an exception, view
controls never run a forward pass, a new image runs exactly one, and bad uploads show one readable sentence.

The app runs on its default model (the bundled demo model, or a tiny random ViT while its weights are
missing), with the hub offline. Forward passes are counted by ``viz_app.resources.FORWARD_CALLS``, which
the cached analysis functions increment only when they really run.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from app_support import choose, interact
from PIL import Image
from streamlit.testing.v1 import AppTest

from vit_core.models.loading import DEMO_MODEL_NAME
from viz_app import resources, sidebar, state, ui
from viz_app.page_registry import PAGE_CONTROLS
from viz_app.page_registry import PAGES as PAGE_SPECS

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
TIMEOUT = 120  # first model load and analysis on a shared 2-core CPU
PAGES = [page.name for page in PAGE_SPECS if page.name != "lesson"]  # the lesson has its own tests


def _page(name: str) -> str:
    return f"viz_app/pages/{name}.py"


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture(scope="module")
def at() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    _ok(app)
    return app


def test_every_page_renders(at):
    trained = at.session_state[state.CONTEXT].spec.pretrained
    for name in PAGES:
        at.switch_page(_page(name)).run()
        if name == "compare" and not trained:
            # the fallback tiny model has random weights; its trained twin needs the (offline) hub
            assert not at.exception and len(at.error) <= 1
            continue
        _ok(at)
        assert at.title[0].value, name
    at.switch_page(_page("overview")).run()
    assert any("What the model sees" in s.value for s in at.subheader)
    captions = [c.value for c in at.sidebar.caption]
    assert any("layers" in c and "heads" in c for c in captions)  # device, precision and geometry are shown
    diagnostics = captions[-1]  # the shared analysis cache: its bytes of its bound, its analyses
    assert diagnostics.startswith("analysis cache: ") and " MB of 2,048 MB, analyses: " in diagnostics
    assert int(diagnostics.split("analyses: ")[1].split(" ")[0]) >= 1


def test_the_bundled_presence_model_shows_per_class_sigmoids_and_says_so(at):
    """The bundled model's last phase trained a sigmoid per class: the overview's bars are those sigmoids (they need
    not sum to one) and a caption says so; the probability under the class picker is the same number."""
    ctx = at.session_state[state.CONTEXT]
    if ctx.loaded.source != "demo":
        pytest.skip("the bundled demo model is not the default here")
    assert ctx.loaded.class_output == "sigmoid"
    at.switch_page(_page("overview")).run()
    _ok(at)
    assert any("need not add up to 100%" in c.value for c in at.caption)
    logits = np.asarray(ctx.analysis.logits[0], dtype=np.float64)
    top = ctx.predictions[0]
    assert top.probability == pytest.approx(1 / (1 + np.exp(-logits[top.index])), abs=1e-5)
    assert ui.class_probabilities(ctx)[top.index] == pytest.approx(top.probability, abs=1e-5)


def _forwards_unchanged(at: AppTest, action) -> None:
    """`action` changes the view (a figure, a heading, a caption) without a forward pass."""
    before = resources.forward_count()
    interact(at, action)
    _ok(at)
    assert resources.forward_count() == before, dict(resources.FORWARD_CALLS)


def test_view_controls_run_no_forward_pass(at):
    geometry = at.session_state[state.CONTEXT].geometry
    at.switch_page(_page("overview")).run()
    _forwards_unchanged(at, lambda: at.toggle(key=state.SHOW_INDICES).set_value(False))

    at.switch_page(_page("rollout")).run()
    _forwards_unchanged(at, lambda: at.selectbox(key=state.FUSION).set_value("max"))
    _forwards_unchanged(at, lambda: at.slider(key=state.DISCARD).set_value(0.9))
    _forwards_unchanged(at, lambda: at.slider(key=state.RESIDUAL).set_value(0.3))
    _forwards_unchanged(at, lambda: at.slider(key=state.START_LAYER).set_value(1))
    _forwards_unchanged(at, lambda: at.slider(key=state.OPACITY).set_value(0.2))
    _forwards_unchanged(at, lambda: at.selectbox(key=state.COLORMAP).set_value("Viridis"))
    _forwards_unchanged(at, lambda: at.selectbox(key=state.RENDERING).set_value("Paper (Figure 6)"))
    assert len(at.get("plotly_chart")) == 2  # rollout beside relevance

    at.switch_page(_page("class_token")).run()
    _forwards_unchanged(at, lambda: at.radio(key=state.CLS_MODE).set_value("Layer × head grid"))
    _forwards_unchanged(at, lambda: at.toggle(key=state.CLS_NORMALISE).set_value(False))
    _forwards_unchanged(at, lambda: at.slider(key=state.CLS_LAYER).set_value(0))
    _forwards_unchanged(at, lambda: at.selectbox(key=state.CLS_HEAD).set_value(1))

    at.switch_page(_page("query")).run()
    _forwards_unchanged(at, lambda: at.number_input(key=state.QUERY_ROW).set_value(1))
    _forwards_unchanged(at, lambda: at.number_input(key=state.QUERY_COL).set_value(2))
    assert any(s.value == "Where patch (1, 2) attends" for s in at.subheader)
    _forwards_unchanged(at, lambda: at.selectbox(key=state.QUERY_LAYER).set_value(0))
    _forwards_unchanged(at, lambda: at.selectbox(key=state.QUERY_HEAD).set_value(1))
    _forwards_unchanged(at, lambda: at.selectbox(key=state.QUERY_LAYER).set_value("rolled out"))

    at.switch_page(_page("position")).run()
    _forwards_unchanged(at, lambda: at.number_input(key=state.POS_ROW).set_value(geometry.grid_size[0] - 1))
    _forwards_unchanged(at, lambda: at.number_input(key=state.POS_COL).set_value(1))


def test_another_class_costs_one_cached_gradient_pass(at):
    at.switch_page(_page("rollout")).run()
    picker = at.selectbox(key=state.TARGET_CLASS)
    classes = list(picker.options)
    assert len(classes) >= 2
    before = resources.FORWARD_CALLS["relevance"]
    interact(at, lambda: picker.set_value(int(at.session_state[state.CONTEXT].predictions[1].index)))
    _ok(at)
    runs = resources.FORWARD_CALLS["relevance"] - before
    assert runs in (0, 1)  # 0 when an earlier test in this process already asked for this class
    top = int(at.session_state[state.CONTEXT].predictions[0].index)
    interact(at, lambda: at.selectbox(key=state.TARGET_CLASS).set_value(top))
    second = int(at.session_state[state.CONTEXT].predictions[1].index)
    interact(at, lambda: at.selectbox(key=state.TARGET_CLASS).set_value(second))
    _ok(at)
    assert resources.FORWARD_CALLS["relevance"] - before == runs  # cached now


def test_the_bundled_model_opens_on_a_scene_it_knows():
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    _ok(app)
    demo = app.session_state[state.CONTEXT].spec.name == DEMO_MODEL_NAME
    assert app.selectbox(key=state.SAMPLE).value == (sidebar.FIRST_SCENE if demo else sidebar.FIRST_PHOTO)


def test_generated_scene_shows_its_ground_truth_and_a_photo_does_not(at):
    at.switch_page(_page("overview")).run()
    choose(at, lambda: at.radio(key=state.IMAGE_SOURCE), "Sample")
    choose(at, lambda: at.selectbox(key=state.SAMPLE), "pair_ring_star.png")
    at.switch_page(_page("rollout")).run()
    _ok(at)
    truth = [c.value for c in at.caption if c.value.startswith("Ground truth")]
    assert len(truth) == 2, truth
    assert "rollout peak on the" in truth[0] and ("✓" in truth[0] or "✗" in truth[0])
    assert "relevance for" in truth[1]
    interact(at, lambda: at.toggle(key=state.SHOW_TRUTH).set_value(False))
    assert not [c for c in at.caption if c.value.startswith("Ground truth")]
    at.switch_page(_page("overview")).run()
    choose(at, lambda: at.selectbox(key=state.SAMPLE), "astronaut.png")
    at.switch_page(_page("rollout")).run()
    _ok(at)
    assert not [c for c in at.caption if c.value.startswith("Ground truth")]


def test_view_controls_survive_a_visit_to_another_page(at):
    at.switch_page(_page("rollout")).run()
    choose(at, lambda: at.selectbox(key=state.FUSION), "max")
    choose(at, lambda: at.slider(key=state.DISCARD), 0.5)
    at.switch_page(_page("class_token")).run()
    at.switch_page(_page("overview")).run()  # two runs without the rollout page's widgets
    _ok(at)
    at.switch_page(_page("rollout")).run()
    _ok(at)
    assert at.selectbox(key=state.FUSION).value == "max"
    assert at.slider(key=state.DISCARD).value == 0.5
    # a new image while away: the kept class choice may not be among its top-5; the page still draws
    at.switch_page(_page("overview")).run()
    choose(at, lambda: at.radio(key=state.IMAGE_SOURCE), "Sample")
    choose(at, lambda: at.selectbox(key=state.SAMPLE), "scene_cross.png")
    at.switch_page(_page("rollout")).run()
    _ok(at)
    interact(at, lambda: at.selectbox(key=state.FUSION).set_value("mean"))
    interact(at, lambda: at.slider(key=state.DISCARD).set_value(0.0))


def _page_widgets(node):
    """Every widget under `node` of an AppTest tree, however its key was written (or left out)."""
    from streamlit.testing.v1.element_tree import Button, DownloadButton, Widget

    if isinstance(node, Widget) and not isinstance(node, Button | DownloadButton):  # buttons keep no value
        yield node
    for child in getattr(node, "children", {}).values():
        yield from _page_widgets(child)


def test_every_page_control_is_kept(at):
    """Each widget a page draws has a key in the page-control registry, so it survives a visit elsewhere."""
    at.switch_page(_page("overview")).run()
    choose(at, lambda: at.radio(key=state.IMAGE_SOURCE), "Sample")
    choose(at, lambda: at.selectbox(key=state.SAMPLE), "pair_ring_star.png")  # a scene: its ground-truth toggle too
    seen = 0
    for name in PAGES:
        at.switch_page(_page(name)).run()
        page = "" if name == "overview" else name
        for widget in _page_widgets(at.main):
            seen += 1
            assert widget.key in PAGE_CONTROLS.get(page, ()), (name, widget.type, widget.key)
    assert seen >= 20


def _png(colour: tuple[int, int, int], size=(180, 140)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((*size[::-1], 3), colour, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_new_image_runs_exactly_one_analysis(at):
    at.switch_page(_page("overview")).run()
    choose(at, lambda: at.radio(key=state.IMAGE_SOURCE), "Upload")
    _ok(at)
    before = resources.FORWARD_CALLS["analyze"]
    colour = tuple(int(v) for v in np.random.default_rng().integers(0, 255, 3))
    at.file_uploader(key=state.UPLOAD).upload("fresh.png", _png(colour), "image/png").run()
    _ok(at)
    assert resources.FORWARD_CALLS["analyze"] == before + 1
    assert any("fresh.png" in c.value for c in at.caption)
    at.switch_page(_page("rollout")).run()
    _ok(at)
    assert resources.FORWARD_CALLS["analyze"] == before + 1


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        ("notes.jpg", b"this is text, not a picture"),
        ("empty.png", b""),
        ("truncated.png", _png((10, 200, 30), (400, 300))[:300]),
    ],
)
def test_bad_upload_shows_one_sentence_and_app_keeps_running(name, content):
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    choose(app, lambda: app.radio(key=state.IMAGE_SOURCE), "Upload")
    app.file_uploader(key=state.UPLOAD).upload(name, content, "image/png").run()
    assert not app.exception, [e.value for e in app.exception]
    assert len(app.error) == 1
    message = app.error[0].value
    assert "Traceback" not in message and message.count("\n") == 0 and message.endswith(".")
    notices = [i.value for i in app.info]  # the model is loaded: no "choose a model and an image" (issue 33.8)
    assert not any("Choose a model" in n for n in notices) and any("message above" in n for n in notices), notices
    # the app keeps running: back to a sample image and everything renders again
    choose(app, lambda: app.radio(key=state.IMAGE_SOURCE), "Sample")
    _ok(app)
    assert len(app.get("plotly_chart")) >= 3


def test_unknown_model_name_shows_error():
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    interact(app, lambda: app.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM))
    interact(app, lambda: app.text_input(key=state.MODEL_NAME).input("vit_not_a_real_model"))
    assert not app.exception
    assert len(app.error) == 1 and "no model named" in app.error[0].value.lower()


def test_the_first_demo_version_opens_by_name_offline_with_its_scene_checks():
    """``vit_demo_shapes.first_version`` under "Other timm model": its bundled weights, no download, and the
    generated scenes' ground truth as for the default demo model."""
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    interact(app, lambda: app.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM))
    interact(app, lambda: app.text_input(key=state.MODEL_NAME).input("vit_demo_shapes.first_version"))
    _ok(app)
    loaded = app.session_state[state.CONTEXT].loaded
    assert loaded.source == "demo" and loaded.weights_file.parent.name == "first_version"
    app.switch_page(_page("rollout")).run()
    _ok(app)
    assert any("Ground truth: rollout peak" in c.value for c in app.caption)


def test_hub_model_downloads_with_a_progress_bar(local_hub):
    """A pretrained timm model not yet cached: a progress bar follows the download, then the model is analysed."""
    import safetensors.torch
    import timm
    import torch

    name = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    torch.manual_seed(5)
    served = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    local_hub.files["model.safetensors"] = safetensors.torch.save(served.state_dict())
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    interact(app, lambda: app.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM))
    interact(app, lambda: app.text_input(key=state.MODEL_NAME).input(name))
    _ok(app)
    bars = app.get("progress")
    assert len(bars) == 1 and bars[0].proto.value == 100 and "Downloaded " + name in bars[0].proto.text
    loaded = app.session_state[state.CONTEXT].loaded
    assert loaded.name == name and loaded.source == "hub"
    assert torch.equal(loaded.model.state_dict()["head.weight"].cpu(), served.state_dict()["head.weight"])
    app.run()  # cached now: no second download, no bar
    _ok(app)
    assert not app.get("progress")
    assert sum(r.startswith("GET") and r.endswith("/model.safetensors") for r in local_hub.requests) == 1


def test_faithfulness_page_computes_each_method_once_and_view_controls_run_nothing(at):
    at.switch_page(_page("overview")).run()
    choose(at, lambda: at.radio(key=state.IMAGE_SOURCE), "Sample")
    choose(at, lambda: at.selectbox(key=state.SAMPLE), "scene_cross.png")
    before = resources.FORWARD_CALLS["faithfulness"]
    at.switch_page(_page("faithfulness")).run()
    _ok(at)
    methods = at.multiselect(key=state.FAITH_METHODS).value
    assert resources.FORWARD_CALLS["faithfulness"] - before <= 1  # all methods in one batch (0: an earlier test ran it)
    assert any("AUCs" in s.value for s in at.subheader)
    table = at.table[0].value
    assert "box IoU (top 10%) ↑" in table.index  # measures are rows (issue 33.4); a generated scene: the localisation measures too
    _forwards_unchanged(at, lambda: at.slider(key=state.FAITH_OPACITY).set_value(0.3))
    _forwards_unchanged(at, lambda: at.multiselect(key=state.FAITH_METHODS).set_value(methods[:2]))
    after = resources.FORWARD_CALLS["faithfulness"]
    interact(at, lambda: at.multiselect(key=state.FAITH_METHODS).set_value([*methods[:2], "flow"]))
    _ok(at)
    assert resources.FORWARD_CALLS["faithfulness"] == after + 1  # only the new method computes


def _save_checkpoint(path: Path, seed: int, num_classes: int = 7) -> dict:
    import safetensors.torch
    import timm
    import torch

    torch.manual_seed(seed)
    state = timm.create_model("test_vit", pretrained=False, num_classes=num_classes).state_dict()
    safetensors.torch.save_file(state, path)
    return state


def _checkpoint_app(path: Path) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    interact(app, lambda: app.selectbox(key=state.MODEL_CHOICE).set_value(state.CHECKPOINT))
    interact(app, lambda: app.text_input(key=state.CHECKPOINT_ARCH).input("test_vit"))
    interact(app, lambda: app.text_input(key=state.CHECKPOINT_PATH).input(str(path)))
    _ok(app)
    return app


def test_random_weights_of_a_local_checkpoint_are_the_seeded_init_on_both_controls(tmp_path):
    import timm
    import torch

    from vit_core.models.loading import RANDOM_SEED

    path = tmp_path / "trained.safetensors"
    trained = _save_checkpoint(path, seed=123)
    torch.manual_seed(RANDOM_SEED)
    reference = timm.create_model("test_vit", pretrained=False, num_classes=7).state_dict()

    def is_random_control(loaded) -> bool:
        state_dict = loaded.model.state_dict()
        differs = not torch.equal(state_dict["head.weight"], trained["head.weight"])
        return loaded.source == "random" and differs and all(torch.equal(state_dict[k], v) for k, v in reference.items())

    app = _checkpoint_app(path)
    assert app.session_state[state.CONTEXT].loaded.source == "checkpoint"
    # the compare page's control: the same architecture with random weights
    app.switch_page(_page("compare")).run()
    _ok(app)
    assert app.selectbox(key=state.COMPARE_CHOICE).value.endswith("random weights")
    shown = [c.value for c in app.caption if "test_vit" in c.value]
    assert any(f"seed {RANDOM_SEED}" in c for c in shown), shown
    # the sidebar's control
    interact(app, lambda: app.toggle(key=state.RANDOM_WEIGHTS).set_value(True))
    _ok(app)
    assert is_random_control(app.session_state[state.CONTEXT].loaded)
    assert f"seed {RANDOM_SEED}" in app.sidebar.caption[-2].value  # the model line, above the diagnostics line


def test_an_overwritten_checkpoint_is_loaded_afresh_and_hashed_once_per_change(tmp_path, monkeypatch):
    import hashlib
    import os

    import torch

    hashed = []  # every file the real hashing reads, counted where vit_core.results.provenance calls it
    real_digest = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda f, d: hashed.append(f.name) or real_digest(f, d))
    path = tmp_path / "weights.safetensors"
    first = _save_checkpoint(path, seed=1)
    app = _checkpoint_app(path)
    head = app.session_state[state.CONTEXT].loaded.model.state_dict()["head.weight"]
    assert torch.equal(head, first["head.weight"])
    app.run()  # nothing changed: the file is not read again (counted below)
    second = _save_checkpoint(path, seed=2)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a new mtime even on a coarse clock
    app.run()
    _ok(app)
    head = app.session_state[state.CONTEXT].loaded.model.state_dict()["head.weight"]
    assert torch.equal(head, second["head.weight"])
    app.run()
    assert hashed.count(str(path.resolve())) == 2  # once per version of the file, over four runs


def test_a_bogus_uploaded_checkpoint_is_named_by_its_file_name():
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    interact(app, lambda: app.selectbox(key=state.MODEL_CHOICE).set_value(state.CHECKPOINT))
    interact(app, lambda: app.text_input(key=state.CHECKPOINT_ARCH).input("test_vit"))
    app.file_uploader(key=state.CHECKPOINT_UPLOAD).upload("my_weights.safetensors", b"not a checkpoint" * 8,
                                                         "application/octet-stream").run()
    assert not app.exception
    assert len(app.error) == 1 and "my_weights.safetensors" in app.error[0].value, [e.value for e in app.error]


ROLLOUT_CONTROLS = [
    (state.FUSION, "selectbox", "max", "head_fusion"),
    (state.DISCARD, "slider", 0.5, "discard_ratio"),
    (state.RESIDUAL, "slider", 0.3, "residual_weight"),
    (state.START_LAYER, "slider", 1, "start_layer"),
]


@pytest.mark.parametrize("layout", list(__import__("layouts").LAYOUTS))
def test_every_rollout_control_on_every_token_layout(layout):
    """Each control away from its default draws the map with no error, and the map is the streaming analysis's
    rollout for those settings (a reference computed another way: folded layer by layer in the forward pass)."""
    import torch
    from layouts import registered_name

    from vit_core.methods import RolloutSettings
    from vit_core.runs.analysis import analyze

    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    interact(app, lambda: app.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM))
    interact(app, lambda: app.text_input(key=state.MODEL_NAME).input(registered_name(layout)))
    interact(app, lambda: app.toggle(key=state.RANDOM_WEIGHTS).set_value(True))
    app.switch_page(_page("rollout")).run()
    _ok(app)
    for key, kind, value, field in ROLLOUT_CONTROLS:
        interact(app, lambda kind=kind, key=key, value=value: getattr(app, kind)(key=key).set_value(value))
        _ok(app)
        assert app.get("plotly_chart"), (layout, key)
        ctx = app.session_state[state.CONTEXT]
        settings = RolloutSettings(**{field: value})
        heat, prefix = resources.rollout_map(ctx, settings)
        pixels = torch.from_numpy(np.array(ctx.analysis.pixel_values))
        reference = analyze(ctx.loaded.model, pixels, rollout=settings, relevance=False, attention="none")
        np.testing.assert_allclose(heat, reference.rollout[0], rtol=1e-4, atol=1e-6, err_msg=f"{layout} {key}")
        np.testing.assert_allclose(prefix, reference.prefix_weights[0], rtol=1e-4, atol=1e-6)
        # one control at a time
        back = getattr(RolloutSettings(), field)
        interact(app, lambda kind=kind, key=key, back=back: getattr(app, kind)(key=key).set_value(back))


def _other_timm_app(name: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    interact(app, lambda: app.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM))
    interact(app, lambda: app.text_input(key=state.MODEL_NAME).input(name))
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224.not_a_tag", "vit_tiny_patch16_244", "resnet50"])
def test_a_refused_name_leaves_one_error_and_no_stale_download_line(name):
    app = _other_timm_app(name)
    assert len(app.error) == 1, [e.value for e in app.error]
    assert not app.get("progress"), [bar.proto.text for bar in app.get("progress")]
    if name == "resnet50":  # a model's name is kept as written, not sentence-cased into "Resnet50"
        assert app.error[0].value.startswith("resnet50 is a ResNet, not a Vision Transformer")


@pytest.mark.parametrize("offline", [True, False])
@pytest.mark.parametrize("name", ["vit_tiny_patch16_224.augreg_in21k_ft_in1k", "hf-hub:someone/tiny-vit"])
def test_an_unreachable_hub_is_explained_in_the_apps_words(name, offline, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # nothing cached
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: nobody answers
    app = _other_timm_app(name)
    assert len(app.error) == 1, [e.value for e in app.error]
    message = app.error[0].value
    assert "--" not in message and "HF_HUB" not in message and state.CHECKPOINT in message, message
    assert name.removeprefix("hf-hub:") in message and message.count(". ") == 0, message  # one sentence
    # random weights build the architecture from timm's own config; a hub repository's needs its config file
    assert ("“Random weights (untrained control)” under the Model menu" in message) == (not name.startswith("hf-hub:"))
    assert not app.get("progress")


def test_offline_a_dinov2_model_says_to_switch_on_random_weights_and_doing_so_analyses_it(monkeypatch):
    """The curated DINOv2 models' weights are not bundled: offline the one sentence names the sidebar's toggle, and
    switching it on (what the sentence says) loads the model at its 518 px (37 x 37 patches) with no error."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    app = AppTest.from_file(APP, default_timeout=TIMEOUT * 3)
    app.run()
    label = "DINOv2 ViT-S/14 with registers (518 px)"
    interact(app, lambda: app.selectbox(key=state.MODEL_CHOICE).set_value(label))
    if not app.error:
        pytest.skip("these weights are in the local hub cache: nothing is missing")
    assert len(app.error) == 1, [e.value for e in app.error]
    message = app.error[0].value
    assert message == (f"The weights of {state.CURATED_MODELS[label]} are not on this computer and the model hub "
                       "cannot be reached: switch on “Random weights (untrained control)” under the Model menu to "
                       "explore it untrained, or choose “Local checkpoint (path or upload)...” in the Model menu.")
    toggle = app.toggle(key=state.RANDOM_WEIGHTS)
    assert toggle.label in message  # the toggle the sentence names is the one in the sidebar
    interact(app, lambda: toggle.set_value(True))
    assert not app.error, [e.value for e in app.error]
    assert any("37×37 patches" in c.value for c in app.sidebar.caption), [c.value for c in app.sidebar.caption]



def test_the_exported_picture_names_the_weights_that_made_it(at):
    """The PNG caption's provenance line is the analysis's own record: the bundled weights' SHA-256 (hashed here
    independently), the dtype, the versions, and the image's hash."""
    import hashlib

    ctx = at.session_state[state.CONTEXT]
    line = resources.provenance(ctx)
    recorded = ctx.analysis.provenance
    assert recorded is not None and line.startswith(recorded.describe())
    assert f"sha256 {ctx.image.sha256[:12]}" in line and f"timm {recorded.versions['timm']}" in line
    weights = ctx.loaded.weights_file
    if weights is not None:  # the bundled demo model (the fallback random model has no file)
        assert f"weights sha256 {hashlib.sha256(weights.read_bytes()).hexdigest()[:12]}" in line


def test_the_class_picker_keeps_its_class_under_random_weights_and_shows_their_probability():
    """The options are class names only (a probability in a label goes stale in the browser, streamlit#13788);
    switching to random weights keeps the chosen class, and the caption gives its probability under these weights;
    another image starts again at its own top-1 class."""
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    app.switch_page(_page("rollout")).run()
    _ok(app)
    ctx = app.session_state[state.CONTEXT]
    picker = app.selectbox(key=state.TARGET_CLASS)
    assert not [o for o in picker.options if "%" in o]
    second = int(ctx.predictions[1].index)
    interact(app, lambda: picker.set_value(second))
    interact(app, lambda: app.toggle(key=state.RANDOM_WEIGHTS).set_value(True))
    _ok(app)
    random_ctx = app.session_state[state.CONTEXT]
    assert random_ctx.loaded.source == "random" and app.selectbox(key=state.TARGET_CLASS).value == second
    logits = np.asarray(random_ctx.analysis.logits[0], dtype=np.float64)
    if random_ctx.loaded.class_output == "sigmoid":  # the bundled model's file says so; its random twin reads alike
        probability = 100 / (1 + np.exp(-logits[second]))
    else:
        probability = 100 * np.exp(logits[second]) / np.exp(logits).sum()
    assert any(c.value.startswith(f"{ui.class_name(random_ctx, second)}: {probability:.1f}%") for c in app.caption)
    interact(app, lambda: app.toggle(key=state.RANDOM_WEIGHTS).set_value(False))
    choose(app, lambda: app.radio(key=state.IMAGE_SOURCE), "Sample")
    choose(app, lambda: app.selectbox(key=state.SAMPLE), "scene_cross.png")  # a new image: its own top-1 class again
    _ok(app)
    assert app.selectbox(key=state.TARGET_CLASS).value == int(app.session_state[state.CONTEXT].predictions[0].index)


def test_query_pages_per_head_maps_are_two_to_a_row_with_the_play_buttons_off_their_width(at):
    """Issue 33.8: six to a row in a half-page column, with the play buttons widening the left margin, drew each
    per-layer map about 35 px wide; two to a row (up to four heads), buttons above the layer slider."""
    import json

    at.switch_page(_page("query")).run()
    _ok(at)
    ctx = at.session_state[state.CONTEXT]
    heads, (gh, gw) = ctx.geometry.num_heads, ctx.geometry.grid_size
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    grid = next(s for s in specs if s.get("frames"))
    columns = min(heads, 2 if heads <= 4 else 3)
    gap = max(1, gh // 7)
    z = grid["data"][0]["z"]  # plotly sends arrays as typed data with their shape
    width = int(str(z["shape"]).split(",")[1]) if isinstance(z, dict) else len(z[0])
    assert width == columns * (gw + gap) - gap, (width, columns)
    assert grid["layout"]["updatemenus"][0]["xanchor"] == "left"  # over the slider, not left of the maps
