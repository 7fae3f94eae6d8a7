"""`python -m vit_core batch`: reduced results equal per-image analysis, resume after a kill, refusal to mix runs,
--target-class, OOM splitting, Ray (same rules, same files)."""

from __future__ import annotations

import hashlib
import json
import os
import random
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

from vit_core.cli import main
from vit_core.errors import ResultFileError
from vit_core.models.images import load_image, preprocess
from vit_core.models.loading import load_model
from vit_core.results.files import dataset_dir, read_provenance
from vit_core.runs.analysis import analyze
from vit_core.runs.batch import (
    PER_IMAGE_KEYS,
    BatchOptions,
    analyze_reduced,
    find_images,
    run_batch,
    split_on_out_of_memory,
)

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


def per_image_reference(loaded, paths, target_class=None):
    """The same arrays from `analyze` run on one image at a time."""
    rows = []
    for path in paths:
        pixels, _ = preprocess(load_image(path), loaded.data_config)
        rows.append(analyze(loaded.model, pixels[None], attention="none", target_class=target_class))
    return {key: np.concatenate([getattr(r, key) for r in rows]) for key in FLOAT_KEYS}


def test_batch_equals_per_image_analysis_and_reports_bad_files(folder, checkpoint, tmp_path):
    loaded = load_model("test_vit", checkpoint, device="cpu", num_classes=10)
    out = tmp_path / "result.npz"
    report = run_batch(loaded, find_images(folder), out, BatchOptions(batch_size=3), workers=2, progress=False)
    assert report.done == 7 and list(report.failed) == [str(folder / "broken.png")]
    result = np.load(out)
    assert result["path"].tolist() == [str(folder / f"img{i}.png") for i in range(7)]
    assert "attention" not in result  # reduced results only
    expected = per_image_reference(loaded, result["path"])
    for key in FLOAT_KEYS:
        np.testing.assert_allclose(result[key], expected[key], atol=2e-5, rtol=1e-4, err_msg=key)
    assert result["top5_index"].shape == (7, 5)
    assert "top5_label" not in result  # a 10-class checkpoint has no label names
    provenance = json.loads(str(result["provenance"]))  # numpy and json alone read what produced the file
    assert provenance["checkpoint"] == "w.safetensors"
    assert provenance["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert provenance["settings"]["relevance"] is True and provenance["settings"]["discard_ratio"] == 0.0
    assert provenance["target_class"] is None and provenance["versions"]["timm"] == timm.__version__
    assert read_provenance(out).checkpoint_sha256 == provenance["checkpoint_sha256"]


@pytest.mark.parametrize("class_output", ["softmax", "sigmoid"])
def test_top5_probabilities_read_the_logits_as_the_model_says_and_say_how(folder, checkpoint, tmp_path, class_output):
    import dataclasses

    loaded = dataclasses.replace(load_model("test_vit", checkpoint, device="cpu", num_classes=10), class_output=class_output)
    out = tmp_path / "result.npz"
    run_batch(loaded, find_images(folder), out, BatchOptions(batch_size=4), workers=0, progress=False)
    result = np.load(out)
    assert str(result["class_output"]) == class_output
    pixels = torch.stack([preprocess(load_image(p), loaded.data_config)[0] for p in result["path"]])
    with torch.no_grad():
        logits = loaded.model(pixels)
    probs = logits.softmax(-1) if class_output == "softmax" else logits.sigmoid()
    np.testing.assert_allclose(result["top5_probability"], probs.topk(5).values.numpy(), atol=1e-5)


def test_the_streamed_dataset_reads_without_this_package(folder, checkpoint, tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq

    loaded = load_model("test_vit", checkpoint, device="cpu", num_classes=10)
    out = tmp_path / "dataset"  # no .npz: the Parquet dataset alone
    run_batch(loaded, find_images(folder), out, BatchOptions(batch_size=3), workers=0, progress=False)
    assert not out.with_suffix(".npz").exists()
    frame = pd.read_parquet(out / "analysed")
    assert sorted(frame["path"]) == [str(folder / f"img{i}.png") for i in range(7)]
    table = pq.read_table(out / "analysed")
    rollout = table.column("rollout").combine_chunks().to_numpy_ndarray()  # [image, gh, gw]
    order = np.argsort(table.column("path").to_pylist())
    expected = per_image_reference(loaded, sorted(frame["path"]))
    np.testing.assert_allclose(rollout[order], expected["rollout"], atol=2e-5, rtol=1e-4)
    assert pq.read_table(out / "failed").column("path").to_pylist() == [str(folder / "broken.png")]
    assert json.loads((out / "metadata.json").read_text())["provenance"]["model"] == "test_vit"

def test_split_on_out_of_memory_gives_the_unsplit_result(checkpoint):
    loaded = load_model("test_vit", checkpoint, device="cpu", num_classes=10)
    pixels = torch.randn(5, 3, 160, 160, generator=torch.Generator().manual_seed(3))
    def run(x):
        return analyze_reduced(loaded.model, x, BatchOptions())

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


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("many")
    for index in range(14):
        array = np.random.default_rng(100 + index).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"m{index:02d}.png")
    return folder


def _same_results(a: Path, b: Path) -> None:
    x, y = np.load(a), np.load(b)
    assert sorted(x.files) == sorted(y.files)
    for key in x.files:
        if key != "provenance":  # its date differs
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)
    px, py = json.loads(str(x["provenance"])), json.loads(str(y["provenance"]))
    assert {k: v for k, v in px.items() if k != "created"} == {k: v for k, v in py.items() if k != "created"}


def test_sigkill_at_a_random_moment_then_resume_equals_an_uninterrupted_run(many, checkpoint, tmp_path):
    base = [sys.executable, "-m", "vit_core", "batch", str(many), "--model", "test_vit", "--checkpoint", str(checkpoint),
            "--batch-size", "2", "--workers", "0", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    whole = tmp_path / "whole.npz"
    assert main(base[3:] + ["--out", str(whole)]) == 0

    out = tmp_path / "killed.npz"
    process = subprocess.Popen([*base, "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    shards = dataset_dir(out) / "analysed"
    # A random moment while work remains: after a random number of the 7 shards (batch size 2) has landed, then a
    # random part of the next batch (under a batch's time even on a fast machine), inside a batch or a shard's write.
    rng = random.Random()
    wanted = rng.randint(1, 6)
    deadline = time.monotonic() + 240
    while (time.monotonic() < deadline and len(list(shards.glob("part-*.parquet"))) < wanted
           and process.poll() is None):
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, 0.02))
    assert process.poll() is None, "the kill should land mid-run"
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = sum(len(pq_paths(p)) for p in shards.glob("part-*.parquet"))
    assert 1 <= done_before < 14 and not out.exists()  # consolidated once, at the end

    finished = subprocess.run([*base, "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"{done_before} already done" in finished.stdout
    _same_results(out, whole)


def pq_paths(shard: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(shard, columns=["path"]).column("path").to_pylist()


def test_reruns_with_another_model_or_settings_refuse_and_overwrite_redoes(folder, checkpoint, tmp_path, capsys):
    out = tmp_path / "r.npz"
    first = ["batch", str(folder), "--model", "test_vit", "--checkpoint", str(checkpoint), "--workers", "0",
             "--out", str(out)]
    assert main(first) == 0
    capsys.readouterr()
    assert main(first) == 0  # the same command resumes: nothing left to do
    assert "0 analysed, 8 already done" in capsys.readouterr().out

    random_control = ["batch", str(folder), "--model", "test_vit", "--random-weights", "--discard-ratio", "0.9",
                      "--workers", "0", "--out", str(out)]
    other_model = ["batch", str(folder), "--model", "vit_tiny_patch16_224", "--random-weights", "--no-relevance",
                   "--workers", "0", "--out", str(out)]
    for rerun, named in ((random_control, ("discard_ratio 0.9, not 0.0", "source random, not checkpoint")),
                         (other_model, ("model vit_tiny_patch16_224, not test_vit",))):
        assert main(rerun) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "another --out" in error and "--overwrite" in error, error
        assert all(text in error for text in named), error
        assert "already done" not in error
    assert read_provenance(out).source == "checkpoint"  # refused reruns left the result alone

    assert main([*random_control, "--overwrite"]) == 0
    assert "7 analysed, 0 already done, 1 failed" in capsys.readouterr().out
    redone = read_provenance(out)
    assert redone.source == "random" and redone.settings["discard_ratio"] == 0.9
    assert len(np.load(out)["path"]) == 7


def test_a_result_without_provenance_is_not_resumed(folder, tmp_path):
    out = tmp_path / "old.npz"
    np.savez(out, path=np.asarray(["x.png"]), rollout=np.zeros((1, 2, 2), np.float32))
    loaded = load_model("test_vit", pretrained=False, device="cpu")
    with pytest.raises(ResultFileError, match="records no model or settings"):
        run_batch(loaded, find_images(folder), out, workers=0, progress=False)


def test_target_class_is_honoured_and_recorded(folder, checkpoint, tmp_path):
    out = tmp_path / "t.npz"
    assert main(["batch", str(folder), "--model", "test_vit", "--checkpoint", str(checkpoint), "--workers", "0",
                 "--target-class", "3", "--out", str(out)]) == 0
    result = np.load(out)
    assert (result["relevance_target"] == 3).all()
    loaded = load_model("test_vit", checkpoint, device="cpu", num_classes=10)
    expected = per_image_reference(loaded, result["path"], target_class=3)
    np.testing.assert_allclose(result["relevance"], expected["relevance"], atol=2e-5, rtol=1e-4)
    assert not np.allclose(result["relevance"], per_image_reference(loaded, result["path"])["relevance"])
    assert json.loads(str(result["provenance"]))["target_class"] == 3


def test_ray_path_refuses_another_runs_result_before_starting_ray(folder, checkpoint, tmp_path, capsys):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")
    out = tmp_path / "r.npz"
    assert main(["batch", str(folder), "--model", "test_vit", "--checkpoint", str(checkpoint), "--workers", "0",
                 "--out", str(out)]) == 0
    assert main(["batch", str(folder), "--model", "test_vit", "--checkpoint", str(checkpoint), "--no-relevance",
                 "--ray", "--out", str(out)]) == 2
    assert "relevance false, not true" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_data_run_resumes_a_plain_run_into_the_same_file(folder, checkpoint, tmp_path):
    """A plain run over 4 images, then Ray (local, 2 workers) over all 8 into the same --out, with
    --target-class: Ray skips the 4, and the result equals a plain run over all 8."""
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")
    plain, distributed = tmp_path / "plain.npz", tmp_path / "ray.npz"
    options = ["--model", "test_vit", "--checkpoint", str(checkpoint), "--batch-size", "2", "--target-class", "1"]
    assert main(["batch", str(folder), *options, "--out", str(plain), "--workers", "0"]) == 0
    assert main(["batch", str(folder / "img[0-3].png"), *options, "--out", str(distributed), "--workers", "0"]) == 0
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"PYTHONPATH": str(ROOT)}
    ray_run = subprocess.run(
        [sys.executable, "-m", "vit_core", "batch", str(folder), *options, "--out", str(distributed), "--ray",
         "--ray-workers", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert ray_run.returncode == 0, ray_run.stderr[-2000:]
    assert "3 analysed, 4 already done, 1 failed" in ray_run.stdout  # img4-6 and broken.png were left
    a, b = np.load(plain), np.load(distributed)
    assert sorted(a["path"].tolist()) == sorted(b["path"].tolist()) and a["failed_path"].tolist() == b["failed_path"].tolist()
    order_a, order_b = np.argsort(a["path"]), np.argsort(b["path"])
    for key in FLOAT_KEYS:
        np.testing.assert_allclose(b[key][order_b], a[key][order_a], atol=2e-5, rtol=1e-4, err_msg=key)
    assert (b["relevance_target"] == 1).all() and (a["top5_index"][order_a] == b["top5_index"][order_b]).all()
    assert read_provenance(distributed).target_class == 1
