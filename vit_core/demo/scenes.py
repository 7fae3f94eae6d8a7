"""Synthetic "shapes" scenes with exact object masks: the demo model's data and its ground truth.

One scene: a smooth random colour gradient with pixel noise, at least five small clutter marks (dots and
short strokes, at most 10 px) that belong to no class, and one target object (or two, of different
classes) of a random colour and rotation whose bounding box is 40 to 100 px on a 224 px canvas, fully
inside the image. Every scene is a pure function of ``(seed, index)``, so any slice of a data set can be
regenerated alone, in any process, with identical pixels.

Example:
    >>> batch = generate(8, seed=0)
    >>> batch.images.shape, batch.labels.shape, batch.masks.shape
    ((8, 224, 224, 3), (8, 1), (8, 1, 224, 224))
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CLASSES",
    "BBOX_MIN",
    "BBOX_MAX",
    "MIN_CLUTTER",
    "MAX_CLUTTER_SIZE",
    "SceneBatch",
    "render_scene",
    "generate",
    "generate_parallel",
    "patch_fractions",
]

CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring")
BBOX_MIN = 40  # px on the 224 canvas: the smallest object bounding-box side
BBOX_MAX = 100  # px on the 224 canvas: the largest object bounding-box side
MIN_CLUTTER = 5
MAX_CLUTTER = 10
MAX_CLUTTER_SIZE = 10  # px on the 224 canvas: a clutter mark's largest extent
BASE = 224
RING_INNER = 0.6  # inner radius / outer radius of a ring


def _regular(n: int, radius: float = 1.0, phase: float = math.pi / 2) -> np.ndarray:
    a = phase + 2 * math.pi * np.arange(n) / n
    return np.stack([np.cos(a), np.sin(a)], axis=1) * radius


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    a = math.pi / 2 + math.pi * np.arange(2 * points) / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([np.cos(a) * r, np.sin(a) * r], axis=1)


def _cross(arm: float = 0.34) -> np.ndarray:
    w, e = arm, 1.0
    return np.array(
        [(w, e), (w, w), (e, w), (e, -w), (w, -w), (w, -e), (-w, -e), (-w, -w), (-e, -w), (-e, w), (-w, w), (-w, e)],
        dtype=np.float64,
    )


# Unit outlines (None: round shapes drawn analytically).
_POLYGONS: dict[str, np.ndarray | None] = {
    "circle": None,
    "square": np.array([(1.0, 1.0), (1.0, -1.0), (-1.0, -1.0), (-1.0, 1.0)]),
    "triangle": _regular(3),
    "star": _star(),
    "cross": _cross(),
    "ring": None,
}


@dataclass
class SceneBatch:
    """Scenes with their ground truth.

    Attributes:
        images: [n, size, size, 3] uint8 RGB.
        labels: [n, k] int64 class indices into ``CLASSES`` (k = objects per scene, 1 or 2).
        masks: [n, k, size, size] bool, one mask per object (the object's own pixels, clutter excluded).
        boxes: [n, k, 4] int64 (x0, y0, x1, y1) of each mask, x1/y1 exclusive.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def _rot(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def _outline(cls: str, theta: float) -> np.ndarray | None:
    poly = _POLYGONS[cls]
    return None if poly is None else poly @ _rot(theta).T


def _extent(cls: str, theta: float) -> tuple[float, float]:
    """Half-width and half-height of the unit shape rotated by theta."""
    poly = _outline(cls, theta)
    if poly is None:
        return 1.0, 1.0
    return float(np.abs(poly[:, 0]).max()), float(np.abs(poly[:, 1]).max())


def _inside_polygon(px: np.ndarray, py: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over points (any shape) and edges."""
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    px_, py_ = px[..., None], py[..., None]
    crosses = (y0 > py_) != (y1 > py_)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = x0 + (py_ - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (px_ < xint)).sum(-1) % 2 == 1


def _shape_mask(cls: str, theta: float, scale: float, cx: float, cy: float, size: int) -> np.ndarray:
    """Boolean [size, size] mask of one object, computed on its bounding crop only."""
    hw, hh = _extent(cls, theta)
    x0, x1 = max(int(math.floor(cx - hw * scale)) - 1, 0), min(int(math.ceil(cx + hw * scale)) + 1, size)
    y0, y1 = max(int(math.floor(cy - hh * scale)) - 1, 0), min(int(math.ceil(cy + hh * scale)) + 1, size)
    xs = (np.arange(x0, x1) + 0.5 - cx) / scale
    ys = (np.arange(y0, y1) + 0.5 - cy) / scale
    px, py = np.meshgrid(xs, ys)
    poly = _outline(cls, theta)
    if poly is None:
        r2 = px * px + py * py
        local = r2 <= 1.0
        if cls == "ring":
            local &= r2 >= RING_INNER**2
    else:
        local = _inside_polygon(px, py, poly)
    mask = np.zeros((size, size), dtype=bool)
    mask[y0:y1, x0:x1] = local
    return mask


def _box(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.int64)


def _background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth two-colour linear gradient plus pixel noise: ([size, size, 3] float32 in 0..1, end colours)."""
    c0 = rng.uniform(0.05, 0.95, 3)
    c1 = np.clip(c0 + rng.uniform(-0.3, 0.3, 3), 0.0, 1.0)
    angle = rng.uniform(0, 2 * math.pi)
    t = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    ramp = (math.cos(angle) * t[None, :] + math.sin(angle) * t[:, None]) / math.sqrt(2) + 0.5
    img = c0.astype(np.float32) + ramp[..., None] * (c1 - c0).astype(np.float32)
    noise = rng.standard_normal((size, size, 3), dtype=np.float32) * np.float32(rng.uniform(0.02, 0.06))
    return img + noise, np.stack([c0, c1])


def _contrasting_colour(rng: np.random.Generator, avoid: np.ndarray, min_dist: float = 0.45) -> np.ndarray:
    """A random RGB colour at least `min_dist` (Euclidean, 0..1 scale) from every row of `avoid`."""
    best, best_d = None, -1.0
    for _ in range(64):
        c = rng.uniform(0.0, 1.0, 3)
        d = float(np.linalg.norm(avoid - c, axis=1).min())
        if d >= min_dist:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


def _clutter(rng: np.random.Generator, img: np.ndarray, size: int, avoid: np.ndarray, k: float) -> int:
    """Draw 5-10 dots and short strokes (each at most MAX_CLUTTER_SIZE * k px) in place; returns the count."""
    count = int(rng.integers(MIN_CLUTTER, MAX_CLUTTER + 1))
    for _ in range(count):
        colour = _contrasting_colour(rng, avoid, 0.3).astype(np.float32)
        cx, cy = rng.uniform(6 * k, size - 6 * k, 2)
        if rng.random() < 0.4:  # dot, diameter 3..7 px
            r = rng.uniform(1.5, 3.5) * k
            x0, x1 = int(cx - r), int(math.ceil(cx + r)) + 1
            y0, y1 = int(cy - r), int(math.ceil(cy + r)) + 1
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
            yy, xx = np.mgrid[y0:y1, x0:x1]
            sel = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r
        else:  # stroke, length 4..8 px, width ~1.5 px: its extent stays within 10 px
            half = rng.uniform(2.0, 4.0) * k
            a = rng.uniform(0, math.pi)
            dx, dy = math.cos(a), math.sin(a)
            w = 0.8 * max(k, 0.5)
            x0, x1 = int(cx - half - 2), int(cx + half + 3)
            y0, y1 = int(cy - half - 2), int(cy + half + 3)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
            yy, xx = np.mgrid[y0:y1, x0:x1]
            ux, uy = xx + 0.5 - cx, yy + 0.5 - cy
            along = ux * dx + uy * dy
            across = -ux * dy + uy * dx
            sel = (np.abs(along) <= half) & (np.abs(across) <= w)
        img[y0:y1, x0:x1][sel] = colour
    return count


def render_scene(
    seed: int, index: int, objects: int = 1, size: int = BASE, scale: float | None = None
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Render scene `index` of the stream `seed`.

    Args:
        seed: data-set seed.
        index: scene index within the stream; (seed, index, objects, size) fixes every pixel.
        objects: 1 (single-object scene) or 2 (two objects of different classes, boxes apart).
        size: canvas side in px.
        scale: px per 224-canvas px for objects and clutter; default size / 224 (the same scene, smaller).
            ``size=112, scale=1`` gives full-size objects on a small canvas (the training curriculum).

    Returns:
        (image [size, size, 3] uint8, class indices, masks [objects, size, size] bool).
    """
    if objects not in (1, 2):
        raise ValueError(f"objects must be 1 or 2, got {objects}; use 2 for class-specific scenes.")
    rng = np.random.default_rng([seed, index, objects, 7])
    k = size / BASE if scale is None else float(scale)
    img, ends = _background(rng, size)
    _clutter(rng, img, size, ends, k)
    classes = [int(c) for c in rng.choice(len(CLASSES), size=objects, replace=False)]
    hi = BBOX_MAX - 2 if objects == 1 else 88
    masks, placed = [], []
    for cls_index in classes:
        name = CLASSES[cls_index]
        for _attempt in range(200):
            theta = rng.uniform(0, 2 * math.pi)
            side = rng.uniform(52, hi) * k  # larger bbox side; the smaller one is >= 0.866 of it (triangle)
            hw, hh = _extent(name, theta)
            scale = side / (2 * max(hw, hh))
            mx, my = hw * scale + 2 * k, hh * scale + 2 * k
            cx, cy = rng.uniform(mx, size - mx), rng.uniform(my, size - my)
            box = (cx - hw * scale, cy - hh * scale, cx + hw * scale, cy + hh * scale)
            gap = 8 * k
            if all(box[0] > b[2] + gap or b[0] > box[2] + gap or box[1] > b[3] + gap or b[1] > box[3] + gap for b in placed):
                break
        else:  # pragma: no cover - 200 misses for two <=88 px boxes on a 224 canvas does not happen in practice
            raise RuntimeError("could not place the objects apart; lower the object size.")
        placed.append(box)
        mask = _shape_mask(name, theta, scale, cx, cy, size)
        colour = _contrasting_colour(rng, ends).astype(np.float32)
        img[mask] = colour + rng.standard_normal((int(mask.sum()), 3), dtype=np.float32) * np.float32(0.02)
        masks.append(mask)
    image = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return image, classes, np.stack(masks)


def generate(
    n: int, seed: int, objects: int = 1, size: int = BASE, start: int = 0, scale: float | None = None
) -> SceneBatch:
    """Scenes ``start .. start + n - 1`` of stream `seed` (see `render_scene`)."""
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.empty((n, objects), np.int64)
    masks = np.empty((n, objects, size, size), bool)
    for i in range(n):
        images[i], cls, masks[i] = render_scene(seed, start + i, objects, size, scale)
        labels[i] = cls
    boxes = np.array([[_box(m) for m in scene] for scene in masks], dtype=np.int64).reshape(n, objects, 4)
    return SceneBatch(images=images, labels=labels, masks=masks, boxes=boxes)


def _chunk(args: tuple) -> SceneBatch:
    n, seed, objects, size, start, scale = args
    return generate(n, seed, objects, size, start, scale)


def generate_parallel(
    n: int, seed: int, objects: int = 1, size: int = BASE, workers: int = 2, scale: float | None = None
) -> SceneBatch:
    """`generate` split over `workers` processes; the result is identical to ``generate(n, seed, ...)``."""
    if workers <= 1 or n < 2 * workers:
        return generate(n, seed, objects, size, scale=scale)
    step = -(-n // (workers * 4))
    jobs = [(min(step, n - s), seed, objects, size, s, scale) for s in range(0, n, step)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_chunk, jobs))
    return SceneBatch(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("images", "labels", "masks", "boxes")))


def patch_fractions(masks: np.ndarray, patch: int) -> np.ndarray:
    """Fraction of each patch covered by each mask: [..., size, size] bool -> [..., size/patch, size/patch] float32."""
    *lead, h, w = masks.shape
    m = masks.reshape(*lead, h // patch, patch, w // patch, patch)
    return m.mean(axis=(-3, -1), dtype=np.float32)
