"""The synthetic scene generator: geometry, masks, clutter, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from vit_core.demo import scenes
from vit_core.demo.scenes import BBOX_MAX, BBOX_MIN, CLASSES, generate, generate_parallel, patch_fractions


@pytest.fixture(scope="module")
def single():
    return generate(24, seed=123)


@pytest.fixture(scope="module")
def pairs():
    return generate(12, seed=321, objects=2)


def test_six_classes_in_order():
    assert CLASSES == ("circle", "square", "triangle", "star", "cross", "ring")


def test_shapes_and_dtypes(single):
    assert single.images.shape == (24, 224, 224, 3) and single.images.dtype == np.uint8
    assert single.labels.shape == (24, 1) and single.masks.shape == (24, 1, 224, 224)
    assert single.boxes.shape == (24, 1, 4)
    assert set(np.unique(single.labels)) <= set(range(6))


def test_bounding_boxes_in_range_and_inside(single, pairs):
    for batch in (single, pairs):
        b = batch.boxes.reshape(-1, 4)
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        assert w.min() >= BBOX_MIN and h.min() >= BBOX_MIN
        assert w.max() <= BBOX_MAX and h.max() <= BBOX_MAX
        assert b[:, :2].min() >= 1 and b[:, 2:].max() <= 223  # fully inside, not touching the border


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def test_masks_are_the_object_pixels(single):
    """The mask is exactly the region drawn in the object's colour: uniform inside, different just outside."""
    for img, mask, box in zip(single.images, single.masks[:, 0], single.boxes[:, 0], strict=True):
        inside = img[mask].astype(float)
        assert inside.std(0).max() < 12  # one colour plus faint noise
        band = _dilate(mask, 2) & ~mask
        far = np.linalg.norm(img[band].astype(float) - inside.mean(0), axis=1)
        assert np.median(far) > 40  # the surroundings do not share the object's colour
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(box)


def test_every_class_occurs_and_masks_differ_by_shape():
    batch = generate(48, seed=5, size=112)
    assert set(batch.labels[:, 0]) == set(range(6))
    fill = batch.masks[:, 0].sum((1, 2)) / np.prod(batch.boxes[:, 0, 2:] - batch.boxes[:, 0, :2], axis=1)
    by_class = {c: fill[batch.labels[:, 0] == c].mean() for c in range(6)}
    assert by_class[CLASSES.index("square")] > by_class[CLASSES.index("star")]  # a star fills less of its box
    assert by_class[CLASSES.index("circle")] > by_class[CLASSES.index("ring")]  # a ring has a hole


def test_deterministic_from_seed_and_index():
    a, b = generate(4, seed=9), generate(4, seed=9)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, generate(4, seed=10).images)
    tail = generate(2, seed=9, start=2)  # any slice regenerates alone
    assert np.array_equal(tail.images, a.images[2:])


def test_parallel_equals_serial():
    serial = generate(16, seed=4, size=112, scale=1.0)
    parallel = generate_parallel(16, seed=4, size=112, scale=1.0, workers=2)
    assert np.array_equal(serial.images, parallel.images) and np.array_equal(serial.labels, parallel.labels)


def test_clutter_count_and_size(monkeypatch):
    counts = []
    real = scenes._clutter

    def spy(*args, **kwargs):
        counts.append(real(*args, **kwargs))
        return counts[-1]

    monkeypatch.setattr(scenes, "_clutter", spy)
    generate(10, seed=77)
    assert len(counts) == 10 and min(counts) >= scenes.MIN_CLUTTER


def test_clutter_marks_are_small(monkeypatch):
    """Each mark, drawn alone on an empty canvas, spans at most MAX_CLUTTER_SIZE px either way."""
    monkeypatch.setattr(scenes, "MIN_CLUTTER", 1)
    monkeypatch.setattr(scenes, "MAX_CLUTTER", 1)
    avoid = np.zeros((1, 3))
    for i in range(200):
        canvas = np.full((224, 224, 3), -1.0, np.float32)
        assert scenes._clutter(np.random.default_rng(i), canvas, 224, avoid, 1.0) == 1
        ys, xs = np.nonzero((canvas >= 0).any(-1))
        assert 0 < len(ys)
        assert ys.max() - ys.min() + 1 <= scenes.MAX_CLUTTER_SIZE and xs.max() - xs.min() + 1 <= scenes.MAX_CLUTTER_SIZE


def test_two_object_scenes(pairs):
    assert pairs.labels.shape == (12, 2) and pairs.masks.shape == (12, 2, 224, 224)
    assert (pairs.labels[:, 0] != pairs.labels[:, 1]).all()
    assert not (pairs.masks[:, 0] & pairs.masks[:, 1]).any()
    b = pairs.boxes
    apart = (b[:, 0, 2] <= b[:, 1, 0]) | (b[:, 1, 2] <= b[:, 0, 0]) | (b[:, 0, 3] <= b[:, 1, 1]) | (b[:, 1, 3] <= b[:, 0, 1])
    assert apart.all()


def test_patch_fractions():
    masks = np.zeros((1, 32, 32), bool)
    masks[0, :16, :8] = True
    frac = patch_fractions(masks, 16)
    assert frac.shape == (1, 2, 2) and frac[0, 0, 0] == 0.5 and frac[0, 1, 1] == 0.0
