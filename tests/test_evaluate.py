"""`python -m vit_core evaluate` and `analyze --methods`: the report, its conventions, masks found alone."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from vit_core.cli import main
from vit_core.demo.registry import WEIGHTS_FILE
from vit_core.demo.scene_files import scene_mask, write_scenes
from vit_core.demo.scenes import render_scene
from vit_core.errors import SettingsError
from vit_core.faithfulness import FRACTIONS, PIXEL_FRACTIONS, auc
from vit_core.runs.evaluate import MEASURES, format_markdown, format_table, summarise

FAST = "raw,relevance,lrp,random,centre"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    write_scenes(folder, 4, seed=7)
    return folder


def test_scene_files_regenerate_their_masks(scenes):
    path = sorted(scenes.iterdir())[2]
    image, _, masks = render_scene(7, 2, objects=1)
    assert np.array_equal(np.asarray(Image.open(path)), image)  # lossless: the file is the scene
    assert np.array_equal(scene_mask(path), masks[0])
    assert scene_mask(scenes / "holiday.png") is None


def test_evaluate_writes_report_and_curves(scenes, tmp_path, capsys):
    out, curves = tmp_path / "report.json", tmp_path / "curves.npz"
    code = main(["evaluate", str(scenes), "--methods", FAST, "--out", str(out), "--curves", str(curves),
                 "--batch-size", "3", "--device", "cpu", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in FAST.split(","))
    report = json.loads(out.read_text())
    assert report["images"] == 4 and report["images_with_masks"] == 4  # the demo scenes' masks, found alone
    assert report["convention"]["token_removal"]["fractions"] == FRACTIONS.tolist()
    assert "trapezoid" in report["convention"]["auc"]
    produced_by = report["produced_by"]
    assert produced_by["checkpoint_sha256"] == hashlib.sha256(WEIGHTS_FILE.read_bytes()).hexdigest()
    assert report["produced_by"]["settings"]["lrp_rule"] == "cp"
    for method in FAST.split(","):
        assert set(MEASURES) <= set(report["methods"][method])
    assert "beats_random" in report["methods"]["raw"] and "beats_centre" in report["methods"]["raw"]
    arrays = np.load(curves)
    assert arrays["raw_positive"].shape == (4, len(FRACTIONS))
    assert arrays["lrp_insertion"].shape == (4, len(PIXEL_FRACTIONS))
    # the report's AUCs are the trapezoid of the curves it wrote, 0% step included
    for method in FAST.split(","):
        expected = auc(arrays[f"{method}_positive"], FRACTIONS).mean()
        assert report["methods"][method]["positive_auc"]["mean"] == pytest.approx(expected)
        assert report["methods"][method]["deletion_auc"]["mean"] == pytest.approx(auc(arrays[f"{method}_deletion"], PIXEL_FRACTIONS).mean())
    # the 0% step is the unperturbed image for every method
    np.testing.assert_allclose(arrays["raw_positive"][:, 0], arrays["random_positive"][:, 0])


def test_evaluate_reads_user_masks_and_skips_images_without(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)).save(images / f"{name}.png")
    mask = np.zeros((224, 224), np.uint8)
    mask[50:120, 60:150] = 255
    Image.fromarray(mask).save(masks / "a.png")
    out = tmp_path / "report.json"
    code = main(["evaluate", str(images), "--methods", "raw,centre", "--masks", str(masks), "--out", str(out),
                 "--device", "cpu", "--no-progress"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["images"] == 2 and report["images_with_masks"] == 1
    assert report["methods"]["centre"]["mask_iou"]["images"] == 1
    assert report["methods"]["centre"]["positive_auc"]["images"] == 2


def test_evaluate_refuses_unknown_methods_in_one_sentence(scenes, tmp_path, capsys):
    code = main(["evaluate", str(scenes), "--methods", "raw,saliency", "--out", str(tmp_path / "r.json"), "--device", "cpu"])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "saliency" in error and "choose from" in error
    assert not (tmp_path / "r.json").exists()


def test_summary_compares_with_baselines_in_the_right_direction():
    measures = {
        "good": {"positive_auc": np.array([0.1, 0.2]), "insertion_auc": np.array([0.9, 0.8])},
        "random": {"positive_auc": np.array([0.5, 0.5]), "insertion_auc": np.array([0.5, 0.5])},
        "centre": {"positive_auc": np.array([0.05, 0.05]), "insertion_auc": np.array([0.6, 0.6])},
    }
    summary = summarise(measures)
    assert summary["good"]["beats_random"] == ["positive_auc", "insertion_auc"]
    assert summary["good"]["beats_centre"] == ["insertion_auc"]  # lower positive AUC is better: centre wins there
    table = format_table(summary)
    assert "0.1500 " in table and "0.8500*" in table
    rows = {line.split(" | ")[0].strip("| "): line for line in format_markdown(summary).splitlines()}
    assert rows["method"].startswith("| method | removal, most relevant first ↓ | insertion ↑")
    assert rows["good"] == "| good | 0.150 | **0.850** |" and rows["centre"] == "| centre | 0.050 | 0.600 |"


def test_analyze_writes_the_new_methods(tmp_path):
    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (160, 160, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "r.npz"
    code = main(["analyze", str(image), "--model", "test_vit", "--random-weights", "--device", "cpu", "--out", str(out),
                 "--no-attention", "--methods", "rollout,raw,gradcam,lrp,legrad"])
    assert code == 0
    arrays = np.load(out)
    for key in ("rollout", "raw_attention", "gradcam", "lrp", "legrad"):
        assert arrays[key].shape == (1, 10, 10) and arrays[key].dtype == np.float32
    settings = json.loads(str(arrays["provenance"]))["settings"]  # the file says how its maps were made
    assert settings["methods"][-1] == "legrad" and settings["explain"]["legrad_start_layer"] == -2
    assert "relevance" not in arrays and "attention_flow" not in arrays


def test_target_class_is_the_class_evaluate_explains_under_both_names(scenes, tmp_path):
    """`--target-class K` (shared with analyze and batch) was accepted and ignored; now it is the class every map
    explains and every curve follows, and `--target K` is the same option."""
    reports = {}
    for flag in ("--target-class", "--target"):
        out, curves = tmp_path / f"{flag}.json", tmp_path / f"{flag}.npz"
        assert main(["evaluate", str(scenes), "--methods", "relevance,random", "--out", str(out), "--curves",
                     str(curves), flag, "2", "--device", "cpu", "--no-progress"]) == 0
        reports[flag] = json.loads(out.read_text())
        assert reports[flag]["convention"]["target"] == "class 2"
        assert np.load(curves)["target"].tolist() == [2, 2, 2, 2]
    assert reports["--target-class"]["methods"] == reports["--target"]["methods"]
    predicted = tmp_path / "predicted.json"
    assert main(["evaluate", str(scenes), "--methods", "relevance,random", "--out", str(predicted), "--device", "cpu",
                 "--no-progress"]) == 0
    assert json.loads(predicted.read_text())["methods"] != reports["--target"]["methods"]


def test_evaluate_runs_from_typed_options_and_the_batch_model_request(scenes, tmp_path):
    from vit_core.models.loading import ModelRequest
    from vit_core.runs.evaluate import EvaluateOptions, run_evaluate

    options = EvaluateOptions(source=str(scenes), out=tmp_path / "r.json", methods=("raw", "centre"), target_class=1,
                              progress=False)
    report = run_evaluate(ModelRequest(device="cpu"), options)
    assert json.loads((tmp_path / "r.json").read_text()) == report
    assert report["convention"]["target"] == "class 1" and set(report["methods"]) == {"raw", "centre"}
    with pytest.raises(SettingsError, match="outside 0 to"):
        run_evaluate(ModelRequest(device="cpu"), EvaluateOptions(source=str(scenes), out=tmp_path / "x.json",
                                                                 methods=("raw",), target_class=999, progress=False))


@pytest.mark.parametrize("argv, why", [
    (["analyze", "IMAGE", "--methods", "rollout,raw", "--target-class", "1"], "--methods rollout,raw names none"),
    (["batch", "FOLDER", "--no-relevance", "--target-class", "1"], "--no-relevance leaves none"),
])
def test_target_class_is_refused_where_no_map_explains_a_class(scenes, tmp_path, capsys, argv, why):
    image = sorted(scenes.iterdir())[0]
    argv = [str(image) if a == "IMAGE" else str(scenes) if a == "FOLDER" else a for a in argv]
    out = tmp_path / "r.npz"
    assert main([*argv, "--out", str(out), "--device", "cpu"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and why in error and error.endswith("drop --target-class.")
    assert not out.exists()
