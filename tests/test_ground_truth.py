"""Ground truth of the sample scenes: boxes moved into the model's view, and the peak-on-object check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vit_core.demo.scenes import CLASSES, render_scene
from vit_core.models.images import PixelMapping, preprocess
from viz_app.ground_truth import SceneObject, object_at_peak, objects_in_view, peak_patch

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"
IDENTITY = PixelMapping(input_size=(64, 64), original_size=(64, 64), scale=(1.0, 1.0), offset=(0.0, 0.0))


def test_boxes_follow_the_resize_and_crop():
    # the model sees a centre crop of a 2x-downscaled image: original = offset + 2 * view
    mapping = PixelMapping(input_size=(64, 64), original_size=(200, 160), scale=(2.0, 2.0), offset=(36.0, 16.0))
    [obj] = objects_in_view({"classes": ["star"], "boxes_xyxy": [[48, 68, 80, 100]]}, mapping)
    assert obj == SceneObject("star", (16.0, 16.0, 32.0, 32.0))
    # and back: the view box's corners land on the original box through the mapping itself
    assert mapping.to_original(16.0, 16.0) == (68.0, 48.0) and mapping.to_original(32.0, 32.0) == (100.0, 80.0)
    assert mapping.to_input(*mapping.to_original(5.0, 7.0)) == (5.0, 7.0)


def test_boxes_of_a_real_preprocessing_mapping():
    """With a mapping from timm's own eval transform (resize 256 + centre crop 224), a box over the whole
    original maps onto a box that covers the whole view."""
    config = {"input_size": (3, 224, 224), "interpolation": "bicubic", "mean": (0.5,) * 3, "std": (0.5,) * 3,
              "crop_pct": 0.875, "crop_mode": "center"}
    image = Image.new("RGB", (300, 200))
    _, mapping = preprocess(image, config)
    [obj] = objects_in_view({"classes": ["ring"], "boxes_xyxy": [[0, 0, 300, 200]]}, mapping)
    x0, y0, x1, y1 = obj.box
    assert x0 <= 0 and y0 <= 0 and x1 >= 224 and y1 >= 224


def test_peak_on_the_object_in_its_grown_box_or_on_the_background():
    objects = [SceneObject("circle", (16, 16, 48, 48))]  # patches (1, 1) to (2, 2) of a 4 x 4 grid of 16 px
    heat = np.zeros((4, 4))
    heat[1, 2] = 1.0
    assert peak_patch(heat) == (1, 2)
    assert object_at_peak(heat, (16, 16), objects) == objects[0]
    heat[0, 0] = 2.0  # centre (8, 8): outside the box, inside it grown by 8 px
    assert object_at_peak(heat, (16, 16), objects) == objects[0]
    assert object_at_peak(heat, (16, 16), objects, grow=7) is None
    heat[3, 3] = 3.0  # centre (56, 56): exactly on the grown box's far edge, which is excluded
    assert object_at_peak(heat, (16, 16), objects) is None


def test_overlapping_grown_boxes_prefer_the_object_that_holds_the_peak():
    near, holder = SceneObject("square", (0, 0, 20, 64)), SceneObject("cross", (26, 0, 64, 64))
    heat = np.zeros((4, 4))
    heat[0, 1] = 1.0  # centre x = 24: in both grown boxes (x < 28, x >= 18), in neither box: the first listed
    assert object_at_peak(heat, (16, 16), [near, holder]) == near
    assert object_at_peak(heat, (16, 16), [holder, near]) == holder
    heat[0, 2] = 2.0  # centre x = 40: in the cross's own box
    assert object_at_peak(heat, (16, 16), [near, holder]) == holder
    heat[1, 1] = 3.0  # centre x = 24 again, now with a square that reaches it: its own box wins over the grown one
    wide = SceneObject("square", (0, 0, 25, 64))
    assert object_at_peak(heat, (16, 16), [holder, wide]) == wide


@pytest.mark.parametrize("name", sorted(json.loads((SAMPLES / "scenes.json").read_text())))
def test_every_sample_scene_is_its_generated_scene_with_its_masks_boxes(name):
    """scenes.json matches the generator: the same pixels from (seed, index), and each box is the bounding
    box of that object's mask, with its class name."""
    scene = json.loads((SAMPLES / "scenes.json").read_text())[name]
    image, classes, masks = render_scene(scene["seed"], scene["index"], objects=scene["objects"], style=scene.get("style", "classic"))
    np.testing.assert_array_equal(np.asarray(Image.open(SAMPLES / name).convert("RGB")), image)
    assert scene["classes"] == [CLASSES[c] for c in classes]
    for mask, box in zip(masks, scene["boxes_xyxy"], strict=True):
        ys, xs = np.nonzero(mask)
        assert box == [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
