"""transformers-format ViTs loaded through the project, checked against transformers itself (a test-only dependency).

Each model type is a small random-weight model written with ``save_pretrained`` (the folder a Trainer run leaves),
loaded with ``load_model``; its logits and every layer's attention must equal transformers' eager forward with
``output_attentions``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import torch

from vit_core.attention.capture import capture
from vit_core.errors import ModelLoadError, UnsupportedModelError, VitCoreError
from vit_core.models.loading import download_hub_weights, load_model

transformers = pytest.importorskip("transformers")

TOLERANCE = 1e-4
_SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8)
_LABELS = {0: "cat", 1: "dog", 2: "owl", 3: "fox", 4: "yak"}
# name -> (model class, config class, config arguments, image processor arguments)
_VIT_PROCESSOR = ("ViTImageProcessor", dict(size={"height": 32, "width": 32}, resample=2))
_DINO_PROCESSOR = ("BitImageProcessor", dict(size={"shortest_edge": 40}, crop_size={"height": 24, "width": 24},
                                             image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]))
MODELS = {
    "vit-classifier": ("ViTForImageClassification", "ViTConfig", dict(intermediate_size=64, id2label=_LABELS),
                       _VIT_PROCESSOR),
    "vit-backbone": ("ViTModel", "ViTConfig", dict(intermediate_size=64), _VIT_PROCESSOR),
    "deit-distilled": ("DeiTForImageClassificationWithTeacher", "DeiTConfig",
                       dict(intermediate_size=64, id2label=_LABELS), _VIT_PROCESSOR),
    "deit-classifier": ("DeiTForImageClassification", "DeiTConfig", dict(intermediate_size=64, id2label=_LABELS),
                        _VIT_PROCESSOR),
    "dinov2": ("Dinov2Model", "Dinov2Config", dict(layer_norm_eps=1e-6), _DINO_PROCESSOR),
    "dinov2-swiglu": ("Dinov2Model", "Dinov2Config", dict(use_swiglu_ffn=True), _DINO_PROCESSOR),
    "dinov2-registers": ("Dinov2WithRegistersModel", "Dinov2WithRegistersConfig", dict(num_register_tokens=3),
                         _DINO_PROCESSOR),
    # a linear head on [class token ; mean patch token], as the hub's facebook/dinov2-*-imagenet1k-1-layer
    "dinov2-classifier": ("Dinov2ForImageClassification", "Dinov2Config", dict(layer_norm_eps=1e-6, id2label=_LABELS),
                          _DINO_PROCESSOR),
    "dinov2-registers-classifier": ("Dinov2WithRegistersForImageClassification", "Dinov2WithRegistersConfig",
                                    dict(num_register_tokens=3, id2label=_LABELS), _DINO_PROCESSOR),
}


def _save(folder: Path, key: str, seed: int = 0) -> Path:
    model_class, config_class, config_args, (processor_class, processor_args) = MODELS[key]
    config = getattr(transformers, config_class)(**_SMALL, **config_args)
    torch.manual_seed(seed)
    model = getattr(transformers, model_class)(config)
    with torch.no_grad():  # weights far from the initialiser's, so attention is far from uniform
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.3)
    model.save_pretrained(folder)
    getattr(transformers, processor_class)(**processor_args).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("transformers-models")
    return {key: _save(root / key, key) for key in MODELS}


def _reference(folder: Path):
    """transformers' own model from `folder`, eager attention so that output_attentions returns the probabilities."""
    model_class = MODELS[folder.name][0]
    return getattr(transformers, model_class).from_pretrained(folder, attn_implementation="eager").eval()


def _compare(loaded, reference, pixel_values: torch.Tensor, **reference_kwargs) -> tuple[float, float]:
    """(largest |logit difference|, largest |attention difference| over every layer) against transformers."""
    ours = capture(loaded.model, pixel_values)
    with torch.no_grad():
        theirs = reference(pixel_values=pixel_values, output_attentions=True, **reference_kwargs)
    if getattr(theirs, "logits", None) is not None:
        expected = theirs.logits
        got = ours.logits
    else:  # a backbone: every token of the last layer's normalised output
        expected = theirs.last_hidden_state
        with torch.no_grad():
            got = loaded.model.forward_features(pixel_values)
    assert got.shape == expected.shape
    assert len(theirs.attentions) == ours.attention.shape[1]
    attention = max(
        (ours.attention[:, layer] - theirs.attentions[layer]).abs().max().item() for layer in range(len(theirs.attentions))
    )
    return (got - expected).abs().max().item(), attention


@pytest.mark.parametrize("key", list(MODELS))
def test_logits_and_every_layers_attention_equal_transformers(saved, key):
    loaded = load_model(str(saved[key]), device="cpu")
    assert loaded.source == "checkpoint" and loaded.name == str(saved[key].resolve())
    torch.manual_seed(1)
    pixel_values = torch.randn(2, *loaded.data_config["input_size"])
    logits, attention = _compare(loaded, _reference(saved[key]), pixel_values)
    assert logits < TOLERANCE and attention < TOLERANCE, (logits, attention)


_CLASSIFIERS = ["dinov2-classifier", "dinov2-registers-classifier"]


def _reference_tokens(reference, pixel_values: torch.Tensor):
    """transformers' eager forward of a DINOv2 classifier: (logits, attentions in the graph, final normalised tokens)."""
    out = reference(pixel_values=pixel_values, output_attentions=True, output_hidden_states=True)
    base = getattr(reference, reference.base_model_prefix)
    return out.logits, out.attentions, base.layernorm(out.hidden_states[-1])


@pytest.mark.parametrize("key", _CLASSIFIERS)
def test_dinov2_classifier_rollout_reads_half_class_row_half_mean_patch_row(saved, key):
    """Rollout of a head on [class token ; mean patch token], by hand from transformers' own attention:
    B_l = rownorm(0.5 mean_h A_l + 0.5 I), R = B_L ... B_1, row = 1/2 R[cls] + 1/2 mean over the patch rows
    (registers in neither half); analyze's streamed rollout must equal it."""
    from vit_core.runs.analysis import analyze

    loaded = load_model(str(saved[key]), device="cpu")
    assert loaded.geometry.global_pool == "token+avg" and loaded.label_names == tuple(_LABELS.values())
    torch.manual_seed(3)
    pixel_values = torch.randn(2, *loaded.data_config["input_size"])
    with torch.no_grad():
        _, attentions, _ = _reference_tokens(_reference(saved[key]), pixel_values)
    tokens, prefix = attentions[0].shape[-1], loaded.geometry.num_prefix_tokens
    rolled = torch.eye(tokens).expand(2, tokens, tokens)
    for attention in attentions:
        factor = 0.5 * attention.mean(dim=1) + 0.5 * torch.eye(tokens)
        rolled = (factor / factor.sum(dim=-1, keepdim=True)) @ rolled
    row = 0.5 * rolled[:, 0] + 0.5 * rolled[:, prefix:].mean(dim=1)
    expected = row[:, prefix:].reshape(2, *loaded.geometry.grid_size)
    ours = torch.from_numpy(analyze(loaded, pixel_values, relevance=False, model_views=False).rollout)
    assert (ours - expected).abs().max().item() < TOLERANCE
    class_row_only = rolled[:, 0, prefix:].reshape(expected.shape)
    assert (ours - class_row_only).abs().max().item() > 10 * TOLERANCE  # the mean patch row does enter


@pytest.mark.parametrize("key", _CLASSIFIERS)
def test_dinov2_classifier_relevance_follows_transformers_head(saved, key):
    """Chefer et al.'s relevance on transformers' own model: dy_c/dA of its eager attention, R <- R + Abar R by
    hand, read out as a R[cls] + (1 - a) mean_k R[k] with a each half's share of the target logit, from its own
    final tokens and classifier weights; class_relevance on the loaded model must equal it."""
    from vit_core.methods.relevance import class_relevance

    loaded = load_model(str(saved[key]), device="cpu")
    reference = _reference(saved[key])
    torch.manual_seed(4)
    pixel_values = torch.randn(2, *loaded.data_config["input_size"])
    target = torch.tensor([3, 1])
    logits, attentions, final = _reference_tokens(reference, pixel_values)
    gradients = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), attentions)
    tokens, prefix = attentions[0].shape[-1], loaded.geometry.num_prefix_tokens
    relevance = torch.eye(tokens).expand(2, tokens, tokens)
    for attention, gradient in zip(attentions, gradients, strict=True):
        relevance = relevance + (gradient * attention).clamp(min=0).mean(dim=1) @ relevance
    dim = final.shape[-1]
    weight = reference.classifier.weight[target]
    from_cls = (weight[:, :dim] * final[:, 0]).sum(-1).abs()
    from_mean = (weight[:, dim:] * final[:, prefix:].mean(dim=1)).sum(-1).abs()
    share = (from_cls / (from_cls + from_mean)).detach()[:, None]
    row = share * relevance[:, 0] + (1 - share) * relevance[:, prefix:].mean(dim=1)
    expected = row[:, prefix:].reshape(2, *loaded.geometry.grid_size).detach()
    ours = class_relevance(loaded.model, pixel_values, target_class=target)
    assert torch.equal(ours.target_class, target)
    assert (ours.logits - logits.detach()).abs().max().item() < TOLERANCE
    assert (ours.heatmap - expected).abs().max().item() < TOLERANCE
    assert (share - 0.5).abs().max().item() > 0.05  # the weights are the head's, not a fixed 1/2


def test_the_mapping_can_fail(saved, tmp_path):
    """The comparison sees a wrong mapping: swapped query and key weights of one layer no longer match."""
    folder = _save(tmp_path / "vit-classifier", "vit-classifier")
    weights = safetensors.torch.load_file(folder / "model.safetensors")
    layer = "vit.encoder.layer.1.attention.attention."
    weights[layer + "query.weight"], weights[layer + "key.weight"] = weights[layer + "key.weight"], weights[layer + "query.weight"]
    safetensors.torch.save_file(weights, folder / "model.safetensors")
    logits, attention = _compare(load_model(str(folder), device="cpu"), _reference(saved["vit-classifier"]),
                                 torch.randn(1, 3, 32, 32))
    assert attention > 1e-2 and logits > TOLERANCE


def test_a_multi_label_classifier_reads_its_logits_as_sigmoids(saved, tmp_path):
    """problem_type multi_label_classification (trained with a sigmoid per class) gives class_output "sigmoid", and
    the top classes' probabilities are the sigmoids of transformers' own logits; a plain classifier stays softmax."""
    from vit_core.models.predict import top_k

    folder = tmp_path / "multi-label"
    shutil.copytree(saved["vit-classifier"], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "problem_type": "multi_label_classification"}))
    loaded = load_model(str(folder), device="cpu")
    assert loaded.class_output == "sigmoid" and load_model(str(saved["vit-classifier"]), device="cpu").class_output == "softmax"
    pixel_values = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        reference = _reference(saved["vit-classifier"])(pixel_values=pixel_values).logits
        ours = top_k(loaded.model(pixel_values), loaded.label_names, k=5, output=loaded.class_output)[0]
    assert [p.probability for p in ours] == pytest.approx(reference.sigmoid()[0].sort(descending=True).values.tolist(), abs=1e-5)


def test_class_names_and_preprocessing_come_from_the_folder(saved):
    vit = load_model(str(saved["vit-classifier"]), device="cpu")
    assert vit.label_names == ("cat", "dog", "owl", "fox", "yak")
    assert vit.data_config["input_size"] == (3, 32, 32) and vit.data_config["interpolation"] == "bilinear"
    assert vit.data_config["mean"] == (0.5, 0.5, 0.5) and vit.data_config["crop_pct"] == 1.0
    dino = load_model(str(saved["dinov2-registers"]), device="cpu")
    assert dino.label_names is None  # a backbone has no classes
    assert dino.data_config["input_size"] == (3, 24, 24) and dino.data_config["interpolation"] == "bicubic"
    assert dino.data_config["mean"] == (0.485, 0.456, 0.406) and dino.data_config["crop_pct"] == 24 / 40
    assert dino.geometry.prefix_kinds == ("cls", "reg", "reg", "reg") and dino.geometry.grid_size == (3, 3)
    deit = load_model(str(saved["deit-distilled"]), device="cpu")
    assert deit.geometry.prefix_kinds == ("cls", "dist")


def test_pixels_match_transformers_image_processor(saved):
    """The project's preprocessing from preprocessor_config.json gives the processor's pixels (resize, crop, scale)."""
    import numpy as np
    from PIL import Image

    from vit_core.models.images import preprocess

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (61, 83, 3), dtype=np.uint8))  # not square: crop and squash differ
    for key in ("vit-classifier", "dinov2"):
        loaded = load_model(str(saved[key]), device="cpu")
        ours, _ = preprocess(image, loaded.data_config)
        processor = transformers.AutoImageProcessor.from_pretrained(saved[key], backend="pil")
        theirs = processor(images=image, return_tensors="pt")["pixel_values"][0]
        assert ours.shape == theirs.shape
        assert (ours - theirs).abs().max().item() < 1e-6, key  # both resize with PIL: the same pixels


def test_dinov2_at_another_fixed_size_resamples_as_transformers_does(saved):
    """img_size= builds the model at another size: position embeddings resampled with transformers' own call."""
    for key in ("dinov2", "dinov2-registers"):
        loaded = load_model(str(saved[key]), device="cpu", img_size=48)
        assert loaded.geometry.grid_size == (6, 6)
        logits, attention = _compare(loaded, _reference(saved[key]), torch.randn(1, 3, 48, 48))
        assert logits < TOLERANCE and attention < TOLERANCE, (key, logits, attention)


def test_vit_at_another_fixed_size_matches_transformers_interpolation(saved):
    for key in ("vit-classifier", "deit-distilled"):
        loaded = load_model(str(saved[key]), device="cpu", img_size=48)
        logits, attention = _compare(loaded, _reference(saved[key]), torch.randn(1, 3, 48, 48),
                                     interpolate_pos_encoding=True)
        assert logits < TOLERANCE and attention < TOLERANCE, (key, logits, attention)


def test_memory_is_checked_from_the_config_before_the_weights(saved, monkeypatch):
    import vit_core.models.loading as loading
    import vit_core.models.memory as memory

    monkeypatch.setattr(memory, "available_memory_bytes", lambda device: 1024)
    monkeypatch.setattr(loading, "_read_state_dict", lambda path: pytest.fail("read the weights"))
    with pytest.raises(ModelLoadError, match="needs about .* GB of memory"):
        load_model(str(saved["vit-classifier"]), device="cpu")


def test_dynamic_size_difference_is_measured(saved):
    """dynamic_img_size=True: timm resamples per input with antialiasing. For dinov2_with_registers that is
    transformers' call; for dinov2 (transformers: no antialiasing) it differs when shrinking the grid."""
    pixel_values = torch.randn(1, 3, 24, 24)  # 3 x 3 patches from the checkpoint's 4 x 4 grid
    registers = load_model(str(saved["dinov2-registers"]), device="cpu", dynamic_img_size=True)
    logits, attention = _compare(registers, _reference(saved["dinov2-registers"]), pixel_values)
    assert logits < TOLERANCE and attention < TOLERANCE
    plain = load_model(str(saved["dinov2"]), device="cpu", dynamic_img_size=True)
    logits, attention = _compare(plain, _reference(saved["dinov2"]), pixel_values)
    print(f"dinov2, dynamic_img_size, 4x4 -> 3x3 grid: max |feature diff| {logits:.3g}, max |attention diff| {attention:.3g}")
    assert logits > TOLERANCE  # the documented difference exists; a fixed size (img_size=) is exact instead


def test_pytorch_bin_folder_loads_through_the_safe_loader(saved, tmp_path):
    source = saved["deit-distilled"]
    folder = tmp_path / "deit-distilled"
    folder.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        (folder / name).write_bytes((source / name).read_bytes())
    torch.save(safetensors.torch.load_file(source / "model.safetensors"), folder / "pytorch_model.bin")
    from_bin = load_model(str(folder), device="cpu")
    from_safetensors = load_model(str(source), device="cpu")
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(from_bin.model(x), from_safetensors.model(x))

    class Payload:
        def __reduce__(self):
            return (exec, ("raise SystemExit('ran code from a checkpoint')",))

    torch.save({"weights": Payload()}, folder / "pytorch_model.bin")
    with pytest.raises(VitCoreError, match="refused without running them"):
        load_model(str(folder), device="cpu")


def test_folder_refusals_are_one_sentence(saved, tmp_path):
    with pytest.raises(ModelLoadError, match="has no config.json"):
        load_model(str(tmp_path), device="cpu")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "swin", "hidden_size": 8}))
    with pytest.raises(UnsupportedModelError, match="model type 'swin' is not supported"):
        load_model(str(tmp_path), device="cpu")
    config = json.loads((saved["dinov2"] / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="holds none of model.safetensors, pytorch_model.bin"):
        load_model(str(tmp_path), device="cpu")
    other = json.loads((saved["vit-classifier"] / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(other))  # a config that is not these weights'
    (tmp_path / "model.safetensors").write_bytes((saved["dinov2"] / "model.safetensors").read_bytes())
    with pytest.raises(VitCoreError, match="config.json"):
        load_model(str(tmp_path), device="cpu")


def test_random_weights_of_a_transformers_config(saved):
    first = load_model(str(saved["vit-classifier"]), device="cpu", pretrained=False)
    again = load_model(str(saved["vit-classifier"]), device="cpu", pretrained=False)
    trained = load_model(str(saved["vit-classifier"]), device="cpu")
    assert first.source == "random"
    assert torch.equal(first.model.pos_embed, again.model.pos_embed)
    assert not torch.equal(first.model.pos_embed, trained.model.pos_embed)


# -- the hub path, against the project's local stand-in for huggingface.co (tests/conftest.py) ----------------------
def _serve(local_hub, folder: Path) -> None:
    for name in ("config.json", "preprocessor_config.json", "model.safetensors"):
        local_hub.files[name] = (folder / name).read_bytes()


@pytest.mark.parametrize("key", ["vit-classifier", "deit-distilled", "dinov2", "dinov2-registers"])
def test_hub_repository_downloads_with_progress_then_loads_offline(saved, local_hub, monkeypatch, key):
    import huggingface_hub.constants as constants
    import tqdm

    _serve(local_hub, saved[key])
    progress: list[int] = []

    class Recording(tqdm.tqdm):
        def update(self, n=1):
            shown = super().update(n)
            progress.append(self.n)
            return shown

    name = f"hf-hub:someone/tiny-{key}"
    path = download_hub_weights(name, tqdm_class=Recording)
    assert Path(path).name == "model.safetensors"
    assert progress and progress[-1] == len(local_hub.files["model.safetensors"])
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # everything now comes from the cache
    loaded = load_model(name, device="cpu")
    assert loaded.source == "hub" and loaded.name == name
    pixel_values = torch.randn(1, *loaded.data_config["input_size"])
    logits, attention = _compare(loaded, _reference(saved[key]), pixel_values)
    assert logits < TOLERANCE and attention < TOLERANCE


def test_hub_repository_without_a_preprocessor_config_loads_offline_with_the_defaults(saved, local_hub, monkeypatch):
    import huggingface_hub.constants as constants

    _serve(local_hub, saved["vit-classifier"])
    del local_hub.files["preprocessor_config.json"]
    download_hub_weights("hf-hub:someone/bare-vit")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the hub's "no such file" is remembered in the cache
    loaded = load_model("hf-hub:someone/bare-vit", device="cpu")
    assert loaded.data_config["input_size"] == (3, 32, 32) and loaded.data_config["mean"] == (0.5, 0.5, 0.5)


def test_hub_repository_is_refused_before_any_weights(saved, local_hub):
    def weight_requests():
        return [r for r in local_hub.requests if "model.safetensors" in r or "pytorch_model.bin" in r]

    local_hub.files.update({"config.json": b'{"hello": "world"}', "model.safetensors": b"never fetched"})
    with pytest.raises(ModelLoadError, match="neither timm's nor transformers' format") as refused:
        download_hub_weights("hf-hub:someone/not-a-model")
    assert refused.value.args[0].count(". ") == 0  # one sentence
    local_hub.files["config.json"] = json.dumps({"model_type": "swin"}).encode()
    with pytest.raises(UnsupportedModelError, match="'swin' is not supported"):
        download_hub_weights("hf-hub:someone/a-swin")
    with pytest.raises(UnsupportedModelError, match="'swin' is not supported"):
        load_model("hf-hub:someone/a-swin", device="cpu")
    assert not weight_requests()
    del local_hub.files["config.json"]
    with pytest.raises(ModelLoadError, match="has no config.json, so it is neither a timm nor a transformers model"):
        load_model("hf-hub:someone/unknown", device="cpu")
    assert not weight_requests()


# -- the app's "Hugging Face model (transformers)" entry ------------------------------------------------------------
@pytest.mark.slow
def test_app_loads_a_transformers_preset_and_a_folder(saved, local_hub):
    from app_support import interact
    from streamlit.testing.v1 import AppTest

    from viz_app import state

    app_file = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
    _serve(local_hub, saved["vit-classifier"])  # what the first preset's repository holds here
    app = AppTest.from_file(app_file, default_timeout=120)
    app.run()
    interact(app, lambda: app.selectbox(key=state.MODEL_CHOICE).set_value(state.HF_TRANSFORMERS))
    assert not app.exception and not app.error, [e.value for e in app.error]
    first = f"hf-hub:{next(iter(state.TRANSFORMERS_MODELS))}"
    loaded = app.session_state[state.CONTEXT].loaded
    assert loaded.name == first and loaded.source == "hub" and loaded.label_names[0] == "cat"
    bars = app.get("progress")
    assert len(bars) == 1 and bars[0].proto.value == 100
    interact(app, lambda: app.selectbox(key=state.HF_PRESET).set_value(state.HF_OTHER))
    interact(app, lambda: app.text_input(key=state.HF_NAME).input(str(saved["dinov2-registers"])))
    assert not app.exception and not app.error, [e.value for e in app.error]
    loaded = app.session_state[state.CONTEXT].loaded
    assert loaded.source == "checkpoint" and loaded.geometry.prefix_kinds == ("cls", "reg", "reg", "reg")
    assert "prefix: " in app.sidebar.caption[-2].value  # the model line, above the diagnostics line
    del local_hub.files["config.json"]
    interact(app, lambda: app.text_input(key=state.HF_NAME).input("someone/does-not-exist-here"))
    assert not app.exception and len(app.error) == 1 and "config.json" in app.error[0].value


def _visible_bars(app) -> list[str]:
    """Every bar label of every plotly chart on the page (the overview's class bars)."""
    return [str(label) for chart in app.get("plotly_chart") for trace in json.loads(chart.proto.spec)["data"]
            if trace.get("type") == "bar" for label in (trace.get("y") or [])]


@pytest.mark.slow
def test_app_shows_a_backbone_as_one_and_a_dinov2_classifiers_classes(saved, local_hub):
    """A Dinov2Model folder: the overview shows a sentence and no class bars ("class 4 8.0%" from a feature vector
    before), the rollout page says relevance needs a head; a Dinov2ForImageClassification folder then shows its
    own classes as bars."""
    import re

    from streamlit.testing.v1 import AppTest

    from viz_app import state

    app_file = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
    _serve(local_hub, saved["vit-classifier"])  # the first preset's repository, loaded when the entry is chosen
    app = AppTest.from_file(app_file, default_timeout=120)
    app.run()
    app.selectbox(key=state.MODEL_CHOICE).set_value(state.HF_TRANSFORMERS).run()
    app.selectbox(key=state.HF_PRESET).set_value(state.HF_OTHER).run()
    app.text_input(key=state.HF_NAME).input(str(saved["dinov2"])).run()
    app.switch_page("viz_app/pages/overview.py").run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert app.session_state[state.CONTEXT].loaded.name == str(saved["dinov2"].resolve())
    notes = [i.value for i in app.info]
    assert any("no classification head" in n and "a feature of 32 numbers" in n for n in notes), notes
    assert _visible_bars(app) == []
    shown = " ".join(str(e.value) for kind in ("markdown", "caption", "info") for e in app.get(kind))
    assert not re.search(r"class \d+ \d", shown)
    app.switch_page("viz_app/pages/rollout.py").run()
    assert not app.exception and "Relevance needs a classification head; this model has none." in [i.value for i in app.info]
    app.text_input(key=state.HF_NAME).input(str(saved["dinov2-classifier"])).run()
    app.switch_page("viz_app/pages/overview.py").run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert sorted(_visible_bars(app)) == sorted(_LABELS.values())
    assert not any("no classification head" in i.value for i in app.info)


# -- the command line takes the same names ------------------------------------------------------------------------
def test_cli_analyzes_with_a_transformers_folder_and_hub_name(saved, local_hub, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from vit_core.cli import main

    image = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(image)
    folder_out, hub_out = tmp_path / "folder.npz", tmp_path / "hub.npz"
    assert main(["analyze", str(image), "--model", str(saved["vit-classifier"]), "--device", "cpu", "--out", str(folder_out)]) == 0
    assert any(label in capsys.readouterr().out for label in _LABELS.values())  # top-5 names from id2label
    _serve(local_hub, saved["vit-classifier"])
    assert main(["analyze", str(image), "--model", "hf-hub:google/vit-base-patch16-224", "--device", "cpu",
                 "--out", str(hub_out)]) == 0
    printed = capsys.readouterr().out
    assert any(label in printed for label in _LABELS.values())
    with np.load(folder_out) as a, np.load(hub_out) as b:
        assert np.array_equal(a["logits"], b["logits"]) and np.array_equal(a["attention"], b["attention"])
    local_hub.files.clear()
    assert main(["analyze", str(image), "--model", "hf-hub:someone/nothing", "--device", "cpu", "--out", str(hub_out)]) == 2
    assert "no config.json" in capsys.readouterr().err


def _noise_images(folder: Path, count: int = 2) -> list[Path]:
    import numpy as np
    from PIL import Image

    folder.mkdir(exist_ok=True)
    paths = [folder / f"noise{i}.png" for i in range(count)]
    for i, path in enumerate(paths):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(path)
    return paths


def test_cli_prints_a_dinov2_classifiers_classes_and_writes_its_relevance(saved, tmp_path, capsys):
    import numpy as np

    from vit_core.cli import main

    [image] = _noise_images(tmp_path / "images", 1)
    out = tmp_path / "classifier.npz"
    assert main(["analyze", str(image), "--model", str(saved["dinov2-classifier"]), "--device", "cpu",
                 "--out", str(out), "--methods", "rollout,relevance,gradcam,lrp"]) == 0
    printed = capsys.readouterr().out.splitlines()[0]
    assert printed.startswith("noise0.png: ") and sum(label in printed for label in _LABELS.values()) == 5
    with np.load(out) as result:
        assert result["logits"].shape == (1, 5) and result["relevance"].shape == (1, 3, 3)
        assert np.isfinite(result["gradcam"]).all() and np.isfinite(result["lrp"]).all()


def test_a_backbone_on_the_command_line_shows_no_classes(saved, tmp_path, capsys):
    """A Dinov2Model folder (num_classes 0: its output is a feature vector): analyze prints no top-5 "classes" but
    one line saying what its maps explain, and writes rollout without relevance; a class-specific method asked for
    is refused in one sentence before any file is written; batch writes no top-5; evaluate refuses."""
    import numpy as np

    from vit_core.cli import main

    images = _noise_images(tmp_path / "images")
    backbone = str(saved["dinov2"])
    assert load_model(backbone, device="cpu").has_classifier is False
    assert load_model(str(saved["dinov2-classifier"]), device="cpu").has_classifier is True
    out = tmp_path / "backbone.npz"
    assert main(["analyze", *map(str, images), "--model", backbone, "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "No classes: this model has no classifier and outputs a 32-number feature (its class token); rollout, raw "
        "attention and attention flow show where that feature draws from, and class-specific maps (relevance, "
        "Grad-CAM, LRP) are not offered.",
        "attention: the full [B,L,H,N,N] array, 0 MB (under 256 MB per image)",
        f"wrote {out}",
    ]
    with np.load(out) as result:
        assert result["rollout"].shape == (2, 3, 3) and "relevance" not in result.files
    for method, name in (("relevance", "class-specific relevance"), ("gradcam", "Grad-CAM"), ("lrp", "LRP")):
        refused = tmp_path / f"{method}.npz"
        assert main(["analyze", str(images[0]), "--model", backbone, "--device", "cpu", "--out", str(refused),
                     "--methods", f"rollout,{method}"]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith(f"error: {name}") and "has no classifier" in error
        assert error.replace("et al. ", "").count(". ") == 0  # one sentence
        assert "\n" not in error and not refused.exists()
    batch = tmp_path / "batch.npz"
    assert main(["batch", str(tmp_path / "images"), "--model", backbone, "--device", "cpu", "--out", str(batch)]) == 0
    with np.load(batch) as result:
        assert result["rollout"].shape == (2, 3, 3)
        assert not {"top5_index", "top5_probability", "relevance"} & set(result.files)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "images"), "--model", backbone, "--device", "cpu",
                 "--out", str(tmp_path / "report.json"), "--no-progress"]) == 2
    assert "has no classifier" in capsys.readouterr().err and not (tmp_path / "report.json").exists()
