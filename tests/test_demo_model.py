"""The bundled demo ViT: registered with timm, loads offline from assets/, and classifies fresh scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from timm.models.vision_transformer import VisionTransformer

import vit_core.demo  # noqa: F401  (registers the model)
from vit_core.demo.evaluate import hits, peak_points, to_pixels
from vit_core.demo.registry import ASSET_DIR, NAME, WEIGHTS_FILE
from vit_core.demo.scenes import CLASSES, generate
from vit_core.results.provenance import file_sha256


@pytest.fixture(scope="module")
def model():
    return timm.create_model(NAME, pretrained=True).eval()


def test_registered_with_timm():
    assert NAME in timm.list_models("vit_demo*")
    assert NAME in timm.list_pretrained(f"{NAME}*") or f"{NAME}.synthetic" in timm.list_pretrained(f"{NAME}*")


def test_weights_are_committed_and_small():
    assert WEIGHTS_FILE.is_file(), "the demo weights must be committed in assets/demo_model"
    assert WEIGHTS_FILE.stat().st_size < 25e6


def test_loads_offline_with_classes_and_preprocessing(model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert isinstance(model, VisionTransformer)
    assert model.num_classes == 6 and tuple(model.pretrained_cfg["label_names"]) == CLASSES
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (3, 224, 224) and tuple(cfg["mean"]) == (0.5, 0.5, 0.5)
    assert model.patch_embed.patch_size == (16, 16) and model.patch_embed.grid_size == (14, 14)
    assert model.cls_token is not None and model.pos_embed.requires_grad
    assert len(model.blocks) >= 6 and model.blocks[0].attn.num_heads >= 4


def test_pretrained_weights_differ_from_random(model):
    random = timm.create_model(NAME, pretrained=False)
    assert not torch.equal(random.pos_embed, model.pos_embed)


def test_model_card_names_the_model_and_classes_and_measured_these_weights():
    card = json.loads((ASSET_DIR / "model_card.json").read_text())
    assert card["name"] == NAME and card["classes"] == list(CLASSES)
    evaluation = card["evaluation"]
    assert evaluation["produced_by"]["weights_sha256"] == file_sha256(WEIGHTS_FILE)  # the figures are these weights'
    assert evaluation["accuracy"] > evaluation["accuracy_random_weights"] + 0.5


def test_the_faithfulness_tables_in_readme_and_card_are_the_card_json_of_these_weights():
    """The 200-scene table is typed nowhere: README and MODEL_CARD.md hold ``format_markdown`` of the card's JSON,
    and that JSON measured the bundled weights."""
    from vit_core.runs.evaluate import format_markdown

    faithfulness = json.loads((ASSET_DIR / "model_card.json").read_text())["faithfulness"]
    assert faithfulness["produced_by"]["checkpoint_sha256"] == file_sha256(WEIGHTS_FILE)
    table = format_markdown(faithfulness["methods"])
    for document in (ASSET_DIR.parents[1] / "README.md", ASSET_DIR / "MODEL_CARD.md"):
        assert table in document.read_text(), f"{document.name}: paste the table `evaluate --markdown` wrote"


def _accuracy_on_fresh_scenes(model, style: str = "classic") -> float:
    batch = generate(64, seed=999_001, style=style)
    with torch.no_grad():
        pred = model(to_pixels(batch.images)).argmax(-1).numpy()
    return float((pred == batch.labels[:, 0]).mean())


@pytest.mark.parametrize("style", ["classic", "paper"])
def test_accuracy_smoke_on_fresh_scenes(model, style):
    """Far above chance (1/6) on classic scenes and on outline drawings on white (the card: 95.1% and 92.3%)."""
    assert _accuracy_on_fresh_scenes(model, style) >= 0.7


def test_pointing_helpers():
    heat = torch.zeros(2, 14, 14)
    heat[0, 2, 3] = 1
    heat[1, 13, 0] = 1
    pts = peak_points(heat, 16)
    assert np.array_equal(pts, [[56, 40], [8, 216]])
    boxes = np.array([[50, 30, 60, 45], [100, 100, 150, 150]])
    assert hits(pts, boxes).tolist() == [True, False]
    assert hits(pts, np.array([[65, 49, 80, 60], [0, 0, 1, 1]]), grow=8).tolist() == [False, False]
    assert hits(pts, np.array([[63, 47, 80, 60], [0, 0, 1, 1]]), grow=8).tolist() == [True, False]


# -- the second version's measures (Figure 7 and the samples they use) ------------------------------------------


def _centre_reference(table: np.ndarray) -> tuple[float, float]:
    """Median off-diagonal cosine and neighbour fraction of a [gh, gw, dim] table, by plain loops."""
    gh, gw, _ = table.shape
    flat = table.reshape(gh * gw, -1)
    cos = [[float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) for b in flat] for a in flat]
    off, near = [], 0
    for i in range(gh * gw):
        others = [(cos[i][j], j) for j in range(gh * gw) if j != i]
        off += [c for c, _ in others]
        j = max(others)[1]
        near += abs(i // gw - j // gw) <= 1 and abs(i % gw - j % gw) <= 1
    return float(np.median(off)), near / (gh * gw)


def test_figure7_centre_matches_a_loop_reference():
    from vit_core.demo.evaluate import figure7_centre

    torch.manual_seed(1)
    m = VisionTransformer(img_size=64, patch_size=16, embed_dim=16, depth=1, num_heads=2, num_classes=6)
    yy, xx = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    smooth = torch.stack([torch.cos(xx * 0.9 + k) * torch.cos(yy * 0.7 - k) for k in range(16)], -1)  # [4, 4, 16]
    for table in (smooth, smooth.reshape(16, 16)[torch.randperm(16)].reshape(4, 4, 16)):
        with torch.no_grad():
            m.pos_embed[0, 1:] = table.reshape(16, 16)
        got = figure7_centre(m)
        median, near = _centre_reference(table.numpy().astype(np.float64))
        assert got["median_off_diagonal_cosine"] == pytest.approx(median, abs=1e-4)
        assert got["nearest_is_grid_neighbour"] == pytest.approx(near, abs=1e-4)
        assert got["met"] == (median < 0.3 and near >= 0.9)


def test_figure7_right_criterion():
    from vit_core.demo.evaluate import figure7_right

    d = torch.full((6, 4), 100.0)
    assert not figure7_right(d)["met"]
    d[1, 2] = 50.0
    got = figure7_right(d)
    assert got["met"] and got["smallest_in_layers_0_1_px"] == 50.0 and got["ratio"] == 0.5
    d[1, 2], d[2, 0] = 60.0, 10.0  # a local head in layer 2 does not count
    assert not figure7_right(d)["met"]


def test_attention_distances_of_the_samples_against_a_per_image_reference(model):
    """Averaged over the bundled samples; each image's figure is mean_q sum_k A[q,k] |p_q - p_k| from its own
    attention, computed here with explicit distances."""
    from vit_core.attention.capture import capture
    from vit_core.demo.evaluate import attention_distances, sample_pixels

    pixels, names = sample_pixels(model)
    assert pixels.shape[1:] == (3, 224, 224) and any(n.startswith("scene_") for n in names)
    got = attention_distances(model, pixels[:3], bs=2)  # [layer, head]
    yx = torch.stack(torch.meshgrid(torch.arange(14.0), torch.arange(14.0), indexing="ij"), -1).reshape(196, 2) * 16
    dist = torch.cdist(yx, yx)
    ref = torch.zeros_like(got)
    for i in range(3):
        att = capture(model, pixels[i : i + 1]).attention[0, :, :, 1:, 1:]  # [layer, head, query, key]
        att = att / att.sum(-1, keepdim=True)
        ref += (att * dist).sum(-1).mean(-1) / 3
    assert torch.allclose(got, ref, atol=1e-3)


def test_the_first_version_stays_loadable_by_its_tag_with_its_own_card(model):
    """``vit_demo_shapes.first_version``: the classic-only weights (stronger two-object relevance), offline too."""
    from vit_core.demo.registry import FIRST_VERSION_FILE, FIRST_VERSION_TAG
    from vit_core.models.loading import load_model

    first = load_model(f"{NAME}.{FIRST_VERSION_TAG}")
    assert first.weights_file == FIRST_VERSION_FILE and load_model(NAME).weights_file == WEIGHTS_FILE
    assert not torch.equal(first.model.pos_embed, model.pos_embed)
    card = json.loads((FIRST_VERSION_FILE.parent / "model_card.json").read_text())
    assert card["evaluation"]["produced_by"]["weights_sha256"] == file_sha256(FIRST_VERSION_FILE)
    assert _accuracy_on_fresh_scenes(first.model) >= 0.9  # its card: 97.9% on classic scenes
