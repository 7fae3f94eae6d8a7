"""`python -m vit_core analyze`: the .npz it writes, and failures that leave nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import timm
import torch
from PIL import Image

from vit_core.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for index, size in enumerate([(200, 150), (96, 128)]):
        array = np.random.default_rng(index).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        path = folder / f"image{index}.png"
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths


def test_analyze_writes_every_array_with_named_shapes(images, tmp_path, capsys):
    out = tmp_path / "result.npz"
    code = main(["analyze", *map(str, images), "--model", "test_vit", "--random-weights", "--device", "cpu", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("image") for line in printed) == 2  # one top-5 line per image
    result = np.load(out)
    batch, layers, heads, tokens = 2, 6, 2, 1 + 100
    assert result["pixel_values"].shape == (batch, 3, 160, 160) and result["pixel_values"].dtype == np.float32
    assert result["logits"].shape == (batch, 1000)
    assert result["attention"].shape == (batch, layers, heads, tokens, tokens)
    assert result["attention"].dtype == np.float32
    np.testing.assert_allclose(result["attention"].sum(-1), 1.0, atol=1e-5)
    assert int(result["num_prefix_tokens"]) == 1
    assert result["grid_size"].tolist() == [10, 10] and result["patch_size"].tolist() == [16, 16]
    for key, shape in {
        "rollout": (batch, 10, 10),
        "relevance": (batch, 10, 10),
        "cls_attention": (batch, layers, heads, 10, 10),
        "mean_attention_distance": (batch, layers, heads),
        "pos_embed_similarity": (10, 10, 10, 10),
    }.items():
        assert result[key].shape == shape, key
    assert result["patch_embed_pcs"].shape[1:] == (3, 16, 16)


def test_analyze_with_a_local_checkpoint_matches_that_model(images, tmp_path):
    torch.manual_seed(5)
    model = timm.create_model("test_vit", pretrained=False, num_classes=1000).eval()
    checkpoint = tmp_path / "w.safetensors"
    safetensors.torch.save_file(model.state_dict(), checkpoint)
    out = tmp_path / "r.npz"
    assert main(["analyze", str(images[0]), "--model", "test_vit", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    result = np.load(out)
    with torch.no_grad():
        expected = model(torch.from_numpy(result["pixel_values"]))
    np.testing.assert_allclose(result["logits"], expected.numpy(), atol=1e-5)


def test_bad_image_fails_in_one_line_and_writes_nothing(images, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    out = tmp_path / "never.npz"
    process = subprocess.run(
        [sys.executable, "-m", "vit_core", "analyze", str(images[0]), str(bad), "--model", "test_vit",
         "--random-weights", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert process.returncode != 0
    assert process.stderr.strip().count("\n") == 0 and process.stderr.startswith("error:")
    assert not out.exists() and list(tmp_path.glob("*.npz")) == []


def test_bad_model_fails_in_one_line(images, tmp_path, capsys):
    out = tmp_path / "never.npz"
    assert main(["analyze", str(images[0]), "--model", "resnet18", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "not a Vision Transformer" in error and error.count("\n") == 1
    assert not out.exists()
