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


def test_model_card_names_the_model_and_classes():
    card = json.loads((ASSET_DIR / "model_card.json").read_text())
    assert card["name"] == NAME and card["classes"] == list(CLASSES)
    assert card["evaluation"]["accuracy"] >= 0.97


def test_accuracy_smoke_on_fresh_scenes(model):
    batch = generate(64, seed=999_001)
    with torch.no_grad():
        pred = model(to_pixels(batch.images)).argmax(-1).numpy()
    assert (pred == batch.labels[:, 0]).mean() >= 0.9


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
