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


# -- rendering styles ------------------------------------------------------------------------------------------

STYLED = [s for s in scenes.STYLES if s != "classic"]


@pytest.fixture(scope="module")
def styled():
    return {style: generate(12, seed=55, style=style) for style in STYLED}


def test_unknown_style_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        generate(1, seed=0, style="watercolour")


@pytest.mark.parametrize("style", STYLED)
def test_styled_scenes_are_a_pure_function_of_seed_index_style(style):
    a = generate(3, seed=9, style=style)
    assert np.array_equal(a.images, generate(3, seed=9, style=style).images)
    assert np.array_equal(generate(1, seed=9, style=style, start=2).masks, a.masks[2:])
    assert not np.array_equal(a.images, generate(3, seed=9).images)  # not the classic drawing


def test_styles_differ_from_each_other_and_parallel_equals_serial():
    images = {style: generate(2, seed=3, style=style).images for style in STYLED}
    assert len({im.tobytes() for im in images.values()}) == len(STYLED)
    serial = generate(8, seed=4, size=112, scale=1.0, style="mixed")
    parallel = generate_parallel(8, seed=4, size=112, scale=1.0, workers=2, style="mixed")
    assert np.array_equal(serial.images, parallel.images) and np.array_equal(serial.masks, parallel.masks)


@pytest.mark.parametrize("style", STYLED)
def test_styled_boxes_in_range_inside_and_equal_to_the_masks(styled, style):
    batch = styled[style]
    b = batch.boxes.reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    assert w.min() >= BBOX_MIN and h.min() >= BBOX_MIN and w.max() <= BBOX_MAX and h.max() <= BBOX_MAX
    assert b[:, :2].min() >= 1 and b[:, 2:].max() <= 223
    for mask, box in zip(batch.masks[:, 0], batch.boxes[:, 0], strict=True):
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(box)


def test_styled_two_object_scenes_keep_their_objects_apart():
    for style in ("filled", "outline", "mixed"):
        pairs = generate(6, seed=8, objects=2, style=style)
        assert (pairs.labels[:, 0] != pairs.labels[:, 1]).all() and not (pairs.masks[:, 0] & pairs.masks[:, 1]).any()


def test_outline_masks_hold_the_enclosed_region(styled):
    """An outline's mask is its stroke plus what it encloses: a circle's fills its box like a disc (pi/4)."""
    batch = styled["paper"]
    fill = batch.masks[:, 0].sum((1, 2)) / np.prod(batch.boxes[:, 0, 2:] - batch.boxes[:, 0, :2], axis=1)
    circles = batch.labels[:, 0] == CLASSES.index("circle")
    squares = batch.labels[:, 0] == CLASSES.index("square")
    assert circles.any() or squares.any()
    assert (fill[circles] > 0.7).all() and (fill[squares] > 0.45).all()  # a rotated square fills >= 1/2 of its box


def test_paper_is_white_and_chalk_is_light_on_dark(styled):
    paper, chalk = styled["paper"].images.reshape(12, -1, 3), styled["chalk"].images.reshape(12, -1, 3)
    assert ((paper == 255).all(-1).mean(1) > 0.8).all()  # the page itself is pure white
    for img, mask in zip(styled["chalk"].images, styled["chalk"].masks[:, 0], strict=True):
        ground = img[~mask].mean()
        assert ground < 0.3 * 255 and img[mask].max() > ground + 100  # light strokes on a dark board
    assert chalk.mean() < paper.mean()


def test_the_held_out_style_never_reaches_training(monkeypatch):
    """`mixed` (the training data) draws only the training styles, and none of their looks is an outline on a
    dark ground, the held-out style's one distinguishing combination."""
    asked = []
    real = scenes.draw_look

    def spy(rng, style):
        asked.append(style)
        return real(rng, style)

    monkeypatch.setattr(scenes, "draw_look", spy)
    generate(150, seed=1, size=112, scale=1.0, style="mixed")
    assert set(asked) == {"filled", "outline"}
    for i in range(500):
        rng = np.random.default_rng(i)
        for style in ("filled", "outline"):
            look = real(rng, style)
            assert not (look.outline and look.background in ("dark", "board"))
    assert scenes.HELD_OUT_STYLE not in scenes.TRAIN_STYLES


def test_proportions_vary_within_their_ranges():
    rng = np.random.default_rng(0)
    stars = [scenes._proportions(rng, "star")[0] for _ in range(200)]
    inner = [np.linalg.norm(s, axis=1).min() for s in stars]
    assert {len(s) // 2 for s in stars} == {5, 6}
    assert min(inner) >= scenes.STAR_INNER_RANGE[0] - 1e-9 and max(inner) <= scenes.STAR_INNER_RANGE[1] + 1e-9
    assert np.std(inner) > 0.03
    arms = [np.abs(scenes._proportions(rng, "cross")[0]).min() for _ in range(200)]
    assert min(arms) >= scenes.CROSS_ARM_RANGE[0] and max(arms) <= scenes.CROSS_ARM_RANGE[1] and np.std(arms) > 0.03
    holes = [scenes._proportions(rng, "ring")[1] for _ in range(200)]
    assert min(holes) >= scenes.RING_HOLE_RANGE[0] and max(holes) <= scenes.RING_HOLE_RANGE[1]


def _object(look, name="circle", outline=None, hole=0.0, radius=30.0, centre=(100.3, 90.7), stroke=0.0, wobble=0.0):
    return scenes._styled_object(np.random.default_rng(0), look, name, outline, hole, radius, centre, stroke, wobble, 224)


def _radius_map(centre=(100.3, 90.7)):
    yy, xx = np.mgrid[0:224, 0:224]
    return np.hypot(xx + 0.5 - centre[0], yy + 0.5 - centre[1])


def test_filled_masks_match_an_analytic_disc_and_square():
    hard = scenes.Look(False, False, "flat", "flat", "any", 0.0, 0.0)
    mask, coverage, (y0, y1, x0, x1) = _object(hard)
    assert np.array_equal(mask, _radius_map() <= 30.0)
    assert np.array_equal(coverage > 0, mask[y0:y1, x0:x1])  # hard edges: painted pixels are the mask
    square = np.array([(1.0, 1.0), (1.0, -1.0), (-1.0, -1.0), (-1.0, 1.0)]) * 20 + [60.0, 70.0]
    mask, _, _ = _object(hard, "square", square, radius=20.0, centre=(60.0, 70.0))
    yy, xx = np.mgrid[0:224, 0:224]
    assert np.array_equal(mask, (np.abs(xx + 0.5 - 60) < 20) & (np.abs(yy + 0.5 - 70) < 20))


def test_antialiased_coverage_integrates_to_the_area_and_keeps_the_mask():
    soft = scenes.Look(False, True, "flat", "flat", "any", 0.0, 0.0)
    mask, coverage, (y0, y1, x0, x1) = _object(soft)
    assert np.array_equal(mask, _radius_map() <= 30.0)  # the mask is the pixel-centre rule, edges or not
    assert abs(coverage.sum() - np.pi * 30.0**2) < 0.002 * np.pi * 30.0**2
    fractional = (coverage > 0) & (coverage < 1)
    r = _radius_map()[y0:y1, x0:x1]
    assert fractional.any() and (np.abs(r[fractional] - 30.0) < 1.0).all()  # only at the edge


def test_outline_stroke_and_mask_lie_where_the_stroke_width_says():
    pen = scenes.Look(True, True, "white", "flat", "dark", 6.0, 0.0)
    for name, hole in (("circle", 0.0), ("ring", 0.5)):
        mask, coverage, (y0, y1, x0, x1) = _object(pen, name, hole=hole, stroke=6.0)
        r = _radius_map()
        inner = hole * 30.0
        lo, hi = 3.0 * 0.7, 3.0 * 1.3  # half-width varies by 30% along the stroke
        assert ((r >= inner - lo) & (r <= 30.0 + lo) <= mask).all()  # stroke plus the enclosed band, at least
        assert (mask <= ((r >= inner - hi) & (r <= 30.0 + hi))).all()
        rc = r[y0:y1, x0:x1]
        ink_r = rc[coverage > 0]
        assert (np.minimum(np.abs(ink_r - 30.0), np.abs(ink_r - inner) if hole else np.inf) <= hi + 1.0).all()
        assert (coverage[np.abs(rc - 30.0) < lo - 1.0] == 1).all()  # the middle of the stroke is solid ink
        if hole == 0.0:
            assert (coverage[rc < 30.0 - hi - 1.0] == 0).all()  # an outline circle is not filled


def test_wobble_moves_the_outline_by_at_most_its_amplitude():
    still = scenes.Look(True, False, "white", "flat", "dark", 4.0, 0.0)
    shaky = scenes.Look(True, False, "white", "flat", "dark", 4.0, 2.0)
    a, _, _ = _object(still, stroke=4.0)
    b, _, _ = _object(shaky, stroke=4.0, wobble=2.0)
    assert not np.array_equal(a, b)
    r = _radius_map()
    assert (b <= (r <= 30.0 + 2.0 * 1.3 + 2.0 + 0.01)).all() and ((r <= 30.0 - 2.0 - 0.01) <= b).all()


def test_the_samples_tool_rewrites_the_bundled_scenes_and_adds_drawings(tmp_path):
    """`python -m vit_core.demo.samples` is where the bundled scenes come from: it reproduces the committed
    PNGs and scenes.json, and its outline drawings come with the boxes of their masks."""
    import json

    from PIL import Image

    from vit_core.demo.registry import SAMPLES_DIR
    from vit_core.demo.samples import DRAWN, SCENES, write_samples

    committed = json.loads((SAMPLES_DIR / "scenes.json").read_text())
    written = json.loads(write_samples(tmp_path, SCENES).read_text())
    assert written == {name: committed[name] for name in SCENES}
    for name in SCENES:
        assert np.array_equal(np.asarray(Image.open(tmp_path / name)), np.asarray(Image.open(SAMPLES_DIR / name).convert("RGB")))
    drawn = json.loads(write_samples(tmp_path, DRAWN).read_text())
    assert set(drawn) == set(SCENES) | set(DRAWN)  # merged, the earlier entries kept
    for name, (seed, index, objects, style) in DRAWN.items():
        image, classes, masks = scenes.render_scene(seed, index, objects, style=style)
        assert drawn[name]["style"] == style and drawn[name]["classes"] == [CLASSES[c] for c in classes]
        assert np.array_equal(np.asarray(Image.open(tmp_path / name)), image)
        for mask, box in zip(masks, drawn[name]["boxes_xyxy"], strict=True):
            ys, xs = np.nonzero(mask)
            assert box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
