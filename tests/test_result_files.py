"""Result files: the typed analysis result round-trips through .npz, provenance reads with numpy alone and typed
through one function, and the streamed consolidation equals concatenating the shards in memory."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
import safetensors.torch
import timm
import torch

from vit_core.errors import ResultFileError
from vit_core.models.loading import load_model
from vit_core.results.files import ResultStore, read_provenance
from vit_core.results.provenance import Provenance, provenance_of
from vit_core.runs.analysis import AnalysisResult, RolloutSettings, analyze


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    torch.manual_seed(3)
    model = timm.create_model("test_vit", pretrained=False, num_classes=10)
    path = tmp_path_factory.mktemp("ckpt") / "weights.safetensors"
    safetensors.torch.save_file(model.state_dict(), path)
    return load_model("test_vit", path, device="cpu", num_classes=10)


def test_analysis_result_round_trips_through_npz_with_its_provenance(loaded, tmp_path):
    pixels = torch.randn(2, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    result = analyze(loaded, pixels, rollout=RolloutSettings(discard_ratio=0.5), target_class=4, pcs_k=3)
    assert isinstance(result, AnalysisResult) and result.rollout.shape == (2, 10, 10)
    path = tmp_path / "r.npz"
    result.to_npz(path)
    back = AnalysisResult.from_npz(path)
    for key, value in result.arrays().items():
        np.testing.assert_array_equal(getattr(back, key), value, err_msg=key)
    assert back.arrays().keys() == result.arrays().keys() and back.provenance == result.provenance
    with pytest.raises(AttributeError):  # frozen
        back.rollout = None

    raw = json.loads(str(np.load(path)["provenance"]))  # numpy + json, no vit_core needed
    weights = loaded.weights_file
    assert raw["checkpoint"] == "weights.safetensors"
    assert raw["checkpoint_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert raw["settings"]["discard_ratio"] == 0.5 and raw["settings"]["pcs_k"] == 3
    assert raw["target_class"] == 4 and (result.relevance_target == 4).all()
    assert raw["preprocessing"]["input_size"] == [3, 160, 160]
    assert raw["dtype"] == "float32" and raw["device"] == "cpu"
    assert raw["versions"]["torch"] == torch.__version__ and raw["versions"]["vit_core"] != "unknown"
    typed = read_provenance(path)
    assert isinstance(typed, Provenance) and typed.checkpoint_sha256 == raw["checkpoint_sha256"]

    buffer = io.BytesIO(result.npz_bytes())  # the app's download
    assert AnalysisResult.from_npz(buffer).provenance == result.provenance


def test_a_bare_module_is_described_as_far_as_it_can_be(loaded):
    result = analyze(loaded.model, torch.randn(1, 3, 160, 160), relevance=False, model_views=False)
    assert result.provenance.source == "module" and result.provenance.checkpoint_sha256 is None
    assert result.provenance.model == "test_vit" and result.relevance is None


def test_differences_name_what_decides_the_numbers_only(loaded):
    a = provenance_of(loaded, {"discard_ratio": 0.0}, None, created="2026-01-01T00:00:00+00:00")
    b = provenance_of(loaded, {"discard_ratio": 0.9}, 2, created="2027-01-01T00:00:00+00:00")
    assert a.differences(a) == [] and Provenance.from_json(a.to_json()) == a
    assert b.differences(a) == ["discard_ratio 0.9, not 0.0", "target class 2, not none"]  # the date does not count


def test_from_npz_refuses_a_file_that_is_no_analysis(tmp_path):
    path = tmp_path / "batch.npz"
    np.savez(path, path=np.asarray(["a.png"]), rollout=np.zeros((1, 2, 2)))
    with pytest.raises(ResultFileError, match="not an analysis file"):
        AnalysisResult.from_npz(path)
    with pytest.raises(ResultFileError, match="not a readable"):
        AnalysisResult.from_npz(tmp_path / "missing.npz")


def test_streamed_consolidation_equals_the_shards_concatenated(loaded, tmp_path):
    provenance = provenance_of(loaded, {"relevance": False})
    model = {"num_prefix_tokens": 1, "grid_size": [2, 3], "patch_size": [16, 16], "label_names": ["a", "bb", "ccc"]}
    store = ResultStore(tmp_path / "c.npz", provenance, model)
    rng = np.random.default_rng(0)
    shards, first = [], 0
    for rows in (3, 1, 4):
        arrays = {"rollout": rng.random((rows, 2, 3), dtype=np.float32), "top5_index": rng.integers(0, 3, (rows, 2))}
        paths = [f"dir/image_{first + i}{'x' * i}.png" for i in range(rows)]  # paths of different lengths
        store.append(first, paths, arrays, {f"bad{first}.png": "unreadable"})
        shards.append((paths, arrays))
        first += rows
    store.consolidate()
    result = np.load(tmp_path / "c.npz")
    assert result["path"].tolist() == [p for paths, _ in shards for p in paths]
    np.testing.assert_array_equal(result["rollout"], np.concatenate([a["rollout"] for _, a in shards]))
    index = np.concatenate([a["top5_index"] for _, a in shards])
    assert result["top5_label"].tolist() == np.asarray(model["label_names"])[index].tolist()
    assert result["failed_path"].tolist() == ["bad0.png", "bad3.png", "bad4.png"]
    assert result["grid_size"].tolist() == [2, 3] and read_provenance(tmp_path / "c.npz") == provenance
    assert store.finished_paths() == set(result["path"]) | set(result["failed_path"])
