"""`python -m vit_core batch`: reduced results equal per-image analysis, resume after a kill, OOM splitting, Ray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import timm
import torch
from PIL import Image

from vit_core.analysis import RolloutSettings, analyze
from vit_core.batch import PER_IMAGE_KEYS, analyze_reduced, find_images, run_batch, split_on_out_of_memory
from vit_core.images import load_image, preprocess
from vit_core.loading import load_model

ROOT = Path(__file__).resolve().parents[1]
FLOAT_KEYS = ("rollout", "relevance", "cls_attention", "mean_attention_distance", "attention_entropy", "prefix_weights")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for index in range(7):
        size = (100 + 13 * index, 90 + 7 * index)
        array = np.random.default_rng(index).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"img{index}.png")
    (folder / "broken.png").write_bytes(b"not an image at all")
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(7)
    model = timm.create_model("test_vit", pretrained=False, num_classes=10)
    path = tmp_path_factory.mktemp("ckpt") / "w.safetensors"
    safetensors.torch.save_file(model.state_dict(), path)
    return path


def per_image_reference(loaded, paths):
    """The same arrays from `analyze` run on one image at a time."""
    rows = []
    for path in paths:
        pixels, _ = preprocess(load_image(path), loaded.data_config)
        rows.append(analyze(loaded.model, pixels[None], keep_attention=False))
    return {key: np.concatenate([r[key] for r in rows]) for key in FLOAT_KEYS}


def test_batch_equals_per_image_analysis_and_reports_bad_files(folder, checkpoint, tmp_path):
    loaded = load_model("test_vit", checkpoint, device="cpu", num_classes=10)
    out = tmp_path / "result.npz"
    report = run_batch(loaded, find_images(folder), out, batch_size=3, workers=2, progress=False)
    assert report.done == 7 and list(report.failed) == [str(folder / "broken.png")]
    result = np.load(out)
    assert result["path"].tolist() == [str(folder / f"img{i}.png") for i in range(7)]
    assert "attention" not in result  # reduced results only
    expected = per_image_reference(loaded, result["path"])
    for key in FLOAT_KEYS:
        np.testing.assert_allclose(result[key], expected[key], atol=2e-5, rtol=1e-4, err_msg=key)
    assert result["top5_index"].shape == (7, 5)
    assert "top5_label" not in result  # a 10-class checkpoint has no label names


def test_split_on_out_of_memory_gives_the_unsplit_result(checkpoint):
    loaded = load_model("test_vit", checkpoint, device="cpu", num_classes=10)
    pixels = torch.randn(5, 3, 160, 160, generator=torch.Generator().manual_seed(3))
    settings = RolloutSettings()

    def run(x):
        return analyze_reduced(loaded.model, x, settings=settings, relevance=True)

    calls: list[int] = []
    succeeded: list[int] = []

    def tight_memory(x):  # behaves like a GPU that only fits two images
        calls.append(x.shape[0])
        if x.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        succeeded.append(x.shape[0])
        return run(x)

    messages: list[str] = []
    split = split_on_out_of_memory(tight_memory, pixels, notify=messages.append)
    whole = run(pixels)
    assert calls[0] == 5 and sum(succeeded) == 5 and max(succeeded) <= 2 and messages
    for key in PER_IMAGE_KEYS:
        np.testing.assert_allclose(split[key], whole[key], atol=2e-5, rtol=1e-4, err_msg=key)


def test_killed_run_leaves_a_readable_file_and_resumes(folder, checkpoint, tmp_path):
    out = tmp_path / "killed.npz"
    command = [
        sys.executable, "-m", "vit_core", "batch", str(folder), "--model", "test_vit", "--checkpoint", str(checkpoint),
        "--out", str(out), "--batch-size", "1", "--workers", "0", "--device", "cpu",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = out.with_name(out.name + ".parts")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(shards.glob("*.npz"))) < 3 and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = np.load(out)
    done_before = len(partial["path"])
    assert 1 <= done_before < 7, "the kill should land mid-run"
    assert partial["rollout"].shape[0] == done_before

    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert "already done" in finished.stdout
    result = np.load(out)
    assert sorted(result["path"].tolist()) == [str(folder / f"img{i}.png") for i in range(7)]
    loaded = load_model("test_vit", checkpoint, device="cpu", num_classes=10)
    expected = per_image_reference(loaded, result["path"])
    for key in FLOAT_KEYS:
        np.testing.assert_allclose(result[key], expected[key], atol=2e-5, rtol=1e-4, err_msg=key)


@pytest.mark.slow
def test_ray_data_run_writes_the_same_file(folder, checkpoint, tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")
    plain, distributed = tmp_path / "plain.npz", tmp_path / "ray.npz"
    base = ["batch", str(folder), "--model", "test_vit", "--checkpoint", str(checkpoint), "--batch-size", "3"]
    from vit_core.cli import main

    assert main([*base, "--out", str(plain), "--workers", "0"]) == 0
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"PYTHONPATH": str(ROOT)}
    ray_run = subprocess.run(
        [sys.executable, "-m", "vit_core", *base, "--out", str(distributed), "--ray", "--ray-workers", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert ray_run.returncode == 0, ray_run.stderr[-2000:]
    a, b = np.load(plain), np.load(distributed)
    assert a["path"].tolist() == b["path"].tolist() and a["failed_path"].tolist() == b["failed_path"].tolist()
    for key in FLOAT_KEYS:
        np.testing.assert_allclose(b[key], a[key], atol=2e-5, rtol=1e-4, err_msg=key)
    assert (a["top5_index"] == b["top5_index"]).all()
