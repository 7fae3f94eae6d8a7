"""Loading from every source, and one clear sentence for every way it can fail."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import timm
import torch

from vit_core.errors import CheckpointError, ModelLoadError, UnsupportedModelError
from vit_core.models.loading import DEMO_MODEL_NAME, load_model


@pytest.fixture(scope="module")
def trained_like(tmp_path_factory):
    """A test_vit with non-default weights and its state dict saved in every supported container."""
    torch.manual_seed(123)
    model = timm.create_model("test_vit", pretrained=False, num_classes=7).eval()
    state = model.state_dict()
    folder = tmp_path_factory.mktemp("ckpt")
    safetensors.torch.save_file(state, folder / "weights.safetensors")
    torch.save(state, folder / "weights.pth")
    torch.save({"state_dict": state, "epoch": 3}, folder / "wrapped.pt")
    return model, folder


def _logits(model, size=160):
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("filename", ["weights.safetensors", "weights.pth", "wrapped.pt"])
def test_checkpoint_round_trip_gives_the_same_model(trained_like, filename):
    model, folder = trained_like
    loaded = load_model("test_vit", folder / filename, device="cpu", num_classes=7)
    assert loaded.source == "checkpoint"
    assert torch.equal(_logits(loaded.model), _logits(model))


def test_loaded_model_describes_itself():
    loaded = load_model("test_vit", pretrained=False, device="cpu")
    assert loaded.source == "random" and loaded.device.type == "cpu" and loaded.dtype == torch.float32
    assert loaded.geometry.grid_size == (10, 10) and loaded.geometry.prefix_kinds == ("cls",)
    assert loaded.data_config["input_size"] == (3, 160, 160)
    assert not loaded.model.training
    # 1000 ImageNet classes are labelled from timm's own ImageNetInfo
    assert loaded.label_names is not None and len(loaded.label_names) == 1000
    assert loaded.label_names[1].startswith("goldfish")


def test_pickle_that_runs_code_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": Exploit()}, handle)
    with pytest.raises(CheckpointError, match="refused without running"):
        load_model("test_vit", path, device="cpu")
    assert not marker.exists()


def test_truncated_safetensors_is_a_clear_error(trained_like, tmp_path):
    _, folder = trained_like
    data = (folder / "weights.safetensors").read_bytes()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="check that the file is complete"):
        load_model("test_vit", broken, device="cpu", num_classes=7)


def test_checkpoint_of_another_architecture_names_the_keys(trained_like):
    _, folder = trained_like
    with pytest.raises(CheckpointError) as info:
        load_model("test_vit2", folder / "weights.safetensors", device="cpu")
    message = str(info.value)
    assert "does not match this architecture" in message
    assert "cls_token" in message or "reg_token" in message or "head.weight" in message


def test_npz_with_missing_arrays_is_refused(tmp_path):
    path = tmp_path / "jax.npz"
    np.savez(path, unrelated=np.zeros(3))
    with pytest.raises(CheckpointError, match="npz"):
        load_model("test_vit", path, device="cpu")


def test_unsupported_suffix_and_missing_file(tmp_path):
    odd = tmp_path / "weights.ckpt"
    odd.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="not a supported checkpoint"):
        load_model("test_vit", odd, device="cpu")
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_model("test_vit", tmp_path / "absent.safetensors", device="cpu")


def test_unknown_name_suggests_close_names():
    with pytest.raises(ModelLoadError, match="Did you mean .*vit_base_patch16_224"):
        load_model("vit_bse_patch16_224", device="cpu")


@pytest.mark.parametrize("name", ["resnet18", "convnext_atto"])
def test_non_vit_is_refused_before_any_download(name):
    with pytest.raises(UnsupportedModelError, match="not a Vision Transformer"):
        load_model(name, device="cpu")


@pytest.mark.parametrize("name", ["../../etc/passwd", "vit base", "vit_base;rm -rf /", ""])
def test_odd_characters_are_refused(name):
    with pytest.raises(ModelLoadError, match="not a valid model name"):
        load_model(name, device="cpu")


def test_missing_pretrained_tag_lists_available_ones():
    with pytest.raises(ModelLoadError, match="no pretrained weights .*Available"):
        load_model("vit_tiny_patch16_224.nonexistent_tag", device="cpu")


def test_offline_hub_download_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="local checkpoint .* bundled model"):
        load_model("vit_tiny_patch16_224.augreg_in21k_ft_in1k", device="cpu")


def test_device_and_precision_are_checked():
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="no GPU"):
            load_model("test_vit", pretrained=False, device="cuda")
    with pytest.raises(ModelLoadError, match="use float32 on the CPU"):
        load_model("test_vit", pretrained=False, device="cpu", dtype="bfloat16")
    with pytest.raises(ModelLoadError, match="unknown precision"):
        load_model("test_vit", pretrained=False, device="cpu", dtype="int3")


def test_memory_is_checked_before_loading(monkeypatch):
    import vit_core.models.loading as loading
    import vit_core.models.memory as memory

    needed = loading.memory_needed_bytes("vit_huge_patch14_224")
    assert 4 * 2**30 < needed < 6 * 2**30  # 632M parameters, float32, file + model
    monkeypatch.setattr(memory, "available_memory_bytes", lambda device: 2**30)
    with pytest.raises(ModelLoadError, match=r"needs about 4\.\d GB of memory to load but only 1\.0 GB"):
        load_model("vit_huge_patch14_224", pretrained=False, device="cpu")


def test_unreachable_hub_fails_within_seconds(monkeypatch):
    import socket
    import time

    import huggingface_hub.constants as hub

    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "ENDPOINT", f"http://127.0.0.1:{port}")
    begun = time.monotonic()
    with pytest.raises(ModelLoadError, match="cannot reach 127.0.0.1 .* bundled model"):
        load_model("vit_tiny_patch16_224.augreg_in21k_ft_in1k", device="cpu")
    assert time.monotonic() - begun < 20


def test_cached_hub_weights_load_without_network(tmp_path, monkeypatch):
    # Put weights where huggingface_hub's cache keeps them; with HF_HUB_OFFLINE the hub path must find them.
    import huggingface_hub.constants as hub

    name = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    repo = timm.models.get_pretrained_cfg(name).hf_hub_id
    torch.manual_seed(9)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    snapshot = tmp_path / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    safetensors.torch.save_file(model.state_dict(), snapshot / "model.safetensors")
    (tmp_path / f"models--{repo.replace('/', '--')}" / "refs").mkdir()
    (tmp_path / f"models--{repo.replace('/', '--')}" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    loaded = load_model(name, device="cpu")
    assert loaded.source == "hub"
    assert torch.equal(loaded.model.state_dict()["head.weight"], model.state_dict()["head.weight"])


def _to_jax_npz(model, path) -> None:
    """Write a timm ViT in the original JAX checkpoint layout (the inverse of timm's _load_weights)."""
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    dim, heads = model.embed_dim, model.blocks[0].attn.num_heads
    arrays = {
        "embedding/kernel": sd["patch_embed.proj.weight"].transpose(2, 3, 1, 0),
        "embedding/bias": sd["patch_embed.proj.bias"],
        "cls": sd["cls_token"],
        "Transformer/posembed_input/pos_embedding": sd["pos_embed"],
        "Transformer/encoder_norm/scale": sd["norm.weight"],
        "Transformer/encoder_norm/bias": sd["norm.bias"],
        "head/kernel": sd["head.weight"].T,
        "head/bias": sd["head.bias"],
    }
    for i in range(len(model.blocks)):
        b, p = f"blocks.{i}.", f"Transformer/encoderblock_{i}/"
        mha = p + "MultiHeadDotProductAttention_1/"
        qkv_w = sd[b + "attn.qkv.weight"].reshape(3, dim, dim)
        qkv_b = sd[b + "attn.qkv.bias"].reshape(3, heads, dim // heads)
        for j, n in enumerate(("query", "key", "value")):
            arrays[f"{mha}{n}/kernel"] = qkv_w[j].T.reshape(dim, heads, dim // heads)
            arrays[f"{mha}{n}/bias"] = qkv_b[j]
        arrays[mha + "out/kernel"] = sd[b + "attn.proj.weight"].reshape(dim, heads, dim // heads).transpose(1, 2, 0)
        arrays[mha + "out/bias"] = sd[b + "attn.proj.bias"]
        for ln, norm in (("LayerNorm_0", "norm1"), ("LayerNorm_2", "norm2")):
            arrays[f"{p}{ln}/scale"] = sd[f"{b}{norm}.weight"]
            arrays[f"{p}{ln}/bias"] = sd[f"{b}{norm}.bias"]
        for r in (0, 1):
            arrays[f"{p}MlpBlock_3/Dense_{r}/kernel"] = sd[f"{b}mlp.fc{r + 1}.weight"].T
            arrays[f"{p}MlpBlock_3/Dense_{r}/bias"] = sd[f"{b}mlp.fc{r + 1}.bias"]
    np.savez(path, **arrays)


def test_original_jax_npz_loads_through_timms_loader(tmp_path):
    torch.manual_seed(31)
    model = timm.create_model("test_vit", pretrained=False, qkv_bias=True).eval()
    path = tmp_path / "ViT-test.npz"
    _to_jax_npz(model, path)
    loaded = load_model("test_vit", path, device="cpu", qkv_bias=True)
    torch.testing.assert_close(_logits(loaded.model), _logits(model), atol=1e-5, rtol=1e-5)


def _hub_cache_entry(cache: Path, repo: str, files: dict[str, bytes]) -> None:
    """Files of `repo` laid out as huggingface_hub's cache keeps them (snapshot + refs/main)."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / ("1" * 40)
    snapshot.mkdir(parents=True)
    for filename, data in files.items():
        (snapshot / filename).write_bytes(data)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("1" * 40)


def _timm_config(architecture: str, num_classes: int, labels: list[str]) -> bytes:
    """A config.json as timm's push_to_hub writes it."""
    return json.dumps({
        "architecture": architecture,
        "num_classes": num_classes,
        "label_names": labels,
        "pretrained_cfg": {"input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.9,
                           "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    }).encode()


def test_hub_repository_name_loads_from_its_config_and_weights_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    torch.manual_seed(4)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3)
    weights = safetensors.torch.save(model.state_dict())
    _hub_cache_entry(tmp_path, "someone/tiny-shapes-vit", {
        "config.json": _timm_config("vit_tiny_patch16_224", 3, ["cat", "dog", "owl"]),
        "model.safetensors": weights,
    })
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    loaded = load_model("hf-hub:someone/tiny-shapes-vit", device="cpu")
    assert loaded.source == "hub" and loaded.label_names == ("cat", "dog", "owl")
    assert tuple(loaded.data_config["mean"]) == (0.5, 0.5, 0.5) and loaded.data_config["crop_pct"] == 0.9
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key


def test_hub_repository_of_a_non_vit_is_refused_from_its_config_alone(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    # only the config is cached: the refusal must come before any weights are fetched
    _hub_cache_entry(tmp_path, "someone/a-resnet", {"config.json": _timm_config("resnet18", 10, [])})
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    with pytest.raises(UnsupportedModelError, match="resnet18 is a ResNet, not a Vision Transformer"):
        load_model("hf-hub:someone/a-resnet", device="cpu")


def test_uncached_hub_repository_offline_says_what_to_do(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="config of hf-hub:timm/vit_small_patch16_224.dino are not cached"):
        load_model("hf-hub:timm/vit_small_patch16_224.dino", device="cpu")
    with pytest.raises(ModelLoadError, match="not the hub repository"):
        load_model("hf-hub:timm/vit_small_patch16_224.dino", checkpoint=tmp_path / "w.safetensors", device="cpu")


@pytest.mark.parametrize("name", ["hf-hub:no-slash", "hf-hub:a/b/c", "hf-hub:../etc/passwd", "hf-hub:a/b c"])
def test_malformed_hub_names_are_refused(name):
    with pytest.raises(ModelLoadError, match="not a valid model name"):
        load_model(name, device="cpu")


def test_hub_weights_download_with_progress_then_load_offline(local_hub, monkeypatch):
    """The whole hub path, download included, against a local server: progress is reported, timm finds the file."""
    import huggingface_hub.constants as constants
    import tqdm

    from vit_core.models.loading import download_hub_weights, hub_weights_cached

    name = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    torch.manual_seed(12)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    weights = safetensors.torch.save(model.state_dict())
    local_hub.files["model.safetensors"] = weights
    progress: list[tuple[int, int]] = []

    class Recording(tqdm.tqdm):
        def update(self, n=1):
            shown = super().update(n)
            progress.append((self.n, self.total))
            return shown

    assert hub_weights_cached(name) is False
    path = download_hub_weights(name, tqdm_class=Recording)
    assert Path(path).read_bytes() == weights
    assert progress and progress[-1] == (len(weights), len(weights))
    assert hub_weights_cached(name) is True
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what load_model needs is cached now
    loaded = load_model(name, device="cpu")
    assert torch.equal(loaded.model.state_dict()["head.weight"], model.state_dict()["head.weight"])
    assert download_hub_weights(DEMO_MODEL_NAME) is None  # the bundled model: nothing to fetch


def test_hub_weights_download_refuses_what_loading_refuses_before_any_request(local_hub, monkeypatch):
    import vit_core.models.memory as memory
    from vit_core.models.loading import download_hub_weights

    local_hub.files["model.safetensors"] = b"never fetched"
    with pytest.raises(UnsupportedModelError, match="not a Vision Transformer"):
        download_hub_weights("resnet18.a1_in1k")
    monkeypatch.setattr(memory, "available_memory_bytes", lambda device: 2**20)
    with pytest.raises(ModelLoadError, match="needs about .* of memory"):
        download_hub_weights("vit_tiny_patch16_224.augreg_in21k_ft_in1k", device="cpu")
    assert not [r for r in local_hub.requests if "/resolve/" in r]


def test_hub_weights_download_tries_timms_other_file_names(local_hub):
    from vit_core.models.loading import download_hub_weights

    config = _timm_config("vit_tiny_patch16_224", 3, ["a", "b", "c"])  # read first: is it a ViT, does it fit
    local_hub.files.update({"config.json": config, "pytorch_model.bin": b"weights as a PyTorch file"})
    path = download_hub_weights("hf-hub:someone/some-vit")
    assert Path(path).name == "pytorch_model.bin" and Path(path).read_bytes() == b"weights as a PyTorch file"
    assert any(r.startswith("HEAD") and r.endswith("/model.safetensors") for r in local_hub.requests)
    del local_hub.files["pytorch_model.bin"]
    with pytest.raises(ModelLoadError, match="holds none of model.safetensors"):
        download_hub_weights("hf-hub:someone/another-vit")


def _seeded_init(architecture: str, **kwargs) -> dict[str, torch.Tensor]:
    """The reference: timm's own initialisation of `architecture` drawn right after seeding with RANDOM_SEED."""
    from vit_core.models.loading import RANDOM_SEED

    torch.manual_seed(RANDOM_SEED)
    return timm.create_model(architecture, pretrained=False, **kwargs).state_dict()


def _assert_random_control(loaded, trained: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> None:
    from vit_core.models.loading import RANDOM_SEED

    state = loaded.model.state_dict()
    assert loaded.source == "random" and loaded.seed == RANDOM_SEED
    assert state.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(state[key], value), key
    weights = [k for k in trained if k.endswith("qkv.weight") or k == "head.weight"]
    assert weights and all(not torch.equal(state[k], trained[k]) for k in weights)


@pytest.mark.parametrize("filename", ["weights.safetensors", "weights.pth"])
def test_random_weights_for_a_checkpoint_are_the_seeded_init_not_the_checkpoint(trained_like, filename):
    model, folder = trained_like
    loaded = load_model("test_vit", folder / filename, device="cpu", pretrained=False)
    assert loaded.model.num_classes == 7  # the class count still follows the checkpoint's head
    _assert_random_control(loaded, model.state_dict(), _seeded_init("test_vit", num_classes=7))


def test_random_weights_for_the_bundled_model_and_a_hub_name_are_the_seeded_init():
    trained = load_model(DEMO_MODEL_NAME, device="cpu").model.state_dict()
    loaded = load_model(DEMO_MODEL_NAME, device="cpu", pretrained=False)
    _assert_random_control(loaded, trained, _seeded_init(DEMO_MODEL_NAME))
    name = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"  # no download: random weights never touch the hub
    torch.manual_seed(99)
    other = timm.create_model("vit_tiny_patch16_224", pretrained=False).state_dict()
    _assert_random_control(load_model(name, device="cpu", pretrained=False), other, _seeded_init(name))


def test_random_weights_for_a_hub_repository_are_the_seeded_init_of_its_config(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    torch.manual_seed(4)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3)
    _hub_cache_entry(tmp_path, "someone/tiny-shapes-vit", {
        "config.json": _timm_config("vit_tiny_patch16_224", 3, ["cat", "dog", "owl"]),
        "model.safetensors": safetensors.torch.save(model.state_dict()),
    })
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    loaded = load_model("hf-hub:someone/tiny-shapes-vit", device="cpu", pretrained=False)
    _assert_random_control(loaded, model.state_dict(), _seeded_init("vit_tiny_patch16_224", num_classes=3))
