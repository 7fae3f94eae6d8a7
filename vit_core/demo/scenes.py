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

from .drawing import Warp, inside_polygon, linear_ramp, polygon_edge_distance, sample_grid, smooth_field

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


_inside_polygon = inside_polygon  # even-odd test, vectorised over points and edges


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


def _contrasting_colour(
    rng: np.random.Generator, avoid: np.ndarray, min_dist: float = 0.45, lo: float = 0.0, hi: float = 1.0
) -> np.ndarray:
    """A random RGB colour (channels in lo..hi) at least `min_dist` (Euclidean, 0..1 scale) from every row of
    `avoid`; the farthest of 64 tries when none is."""
    best, best_d = None, -1.0
    for _ in range(64):
        c = rng.uniform(lo, hi, 3)
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


# -- rendering styles (the second version's data) ------------------------------------------------------

STYLES: tuple[str, ...] = ("classic", "filled", "outline", "paper", "chalk", "mixed")
TRAIN_STYLES: tuple[str, ...] = ("classic", "filled", "outline")  # what "mixed" draws from, scene by scene
MIXED_WEIGHTS: tuple[float, ...] = (0.2, 0.45, 0.35)
HELD_OUT_STYLE = "chalk"  # never drawn by "mixed": no outline shape on a dark background is ever trained on
_STYLE_CODE = {name: i for i, name in enumerate(STYLES)}  # part of a styled scene's seed: append, never renumber
_BACKGROUNDS = ("gradient", "flat", "textured", "paper", "dark")
_FILLS = ("flat", "gradient", "textured")
WOBBLE_MAX = 2.0  # px on the 224 canvas: the largest displacement of a hand-drawn outline
STROKE_RANGE = (2.0, 8.0)  # px on the 224 canvas: an outline's nominal stroke width
# Proportions, varied around the nominal values of the classic drawing (0.34, 0.45, 0.6) and of the
# written spec (0.33, 0.45, 0.55); every value still reads as its class.
CROSS_ARM_RANGE = (0.25, 0.42)  # half-width of an arm / radius
STAR_INNER_RANGE = (0.36, 0.55)  # inner radius / outer radius
STAR_POINTS = (5, 5, 6)  # drawn uniformly: a five-pointed star twice as often as a six-pointed one
RING_HOLE_RANGE = (0.45, 0.7)  # hole radius / outer radius


@dataclass(frozen=True)
class Look:
    """How one styled scene is drawn (its sizes in 224-canvas px)."""

    outline: bool  # outline-only strokes (True) or filled shapes
    antialias: bool  # 3 x 3 supersampled edges (True) or hard, one sample per pixel
    background: str  # gradient, flat, textured, paper (near-white), white (pure), dark, board (dark, chalk)
    fill: str  # flat, gradient or textured (filled shapes)
    ink: str  # colour family of the objects: any (contrasting), dark or light
    stroke: float  # outline stroke width
    wobble: float  # outline displacement amplitude


def draw_look(rng: np.random.Generator, style: str) -> Look:
    """The rendering choices of one scene of a (non-classic, non-mixed) style."""
    aa = bool(rng.random() < 0.6)
    background = str(rng.choice(_BACKGROUNDS))
    fill = str(rng.choice(_FILLS))
    stroke = float(rng.uniform(*STROKE_RANGE))
    wobble = float(rng.uniform(0.3, WOBBLE_MAX))
    if style == "filled":
        return Look(False, aa, background, fill, "any", 0.0, 0.0)
    if style == "outline":  # light grounds only (the dark ones are the held-out style's)
        light = str(rng.choice(("paper", "white", "gradient", "flat", "textured")))
        return Look(True, aa, light, "flat", "dark" if rng.random() < 0.6 else "any", stroke, wobble)
    if style == "paper":  # the "outline shapes drawn as strokes on white"
        return Look(True, True, "white", "flat", "dark", stroke, wobble)
    if style == "chalk":
        return Look(True, True, "board", "flat", "light", max(stroke, 3.0), wobble)
    raise ValueError(f"style {style!r} has no look; choose one of {', '.join(STYLES[1:-1])}.")


def _family_colour(rng: np.random.Generator, family: str, avoid: np.ndarray, min_dist: float = 0.45) -> np.ndarray:
    """A colour of `family` (any, dark, light) at least `min_dist` from every row of `avoid`, else the farthest of 64."""
    lo, hi = {"any": (0.0, 1.0), "dark": (0.0, 0.35), "light": (0.72, 1.0)}[family]
    return _contrasting_colour(rng, avoid, min_dist, lo, hi)


def _styled_background(rng: np.random.Generator, kind: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A background of `kind` ([size, size, 3] float32 in 0..1) and the colours objects must contrast with."""
    if kind == "white":
        return np.ones((size, size, 3), np.float32), np.ones((1, 3))
    if kind == "paper":
        c0 = np.clip(rng.uniform(0.9, 1.0) + rng.uniform(-0.03, 0.03, 3), 0.0, 1.0)
        noise = rng.standard_normal((size, size, 3), dtype=np.float32) * np.float32(rng.uniform(0.0, 0.015))
        return c0.astype(np.float32) + noise, c0[None]
    dark = kind in ("dark", "board")
    if kind == "dark":
        kind = str(rng.choice(("gradient", "flat", "textured")))
    elif kind == "board":
        kind = "textured"
    lo, hi = (0.0, 0.22) if dark else (0.05, 0.95)
    c0 = rng.uniform(lo, hi, 3)
    if kind == "gradient":
        c1 = np.clip(c0 + rng.uniform(-0.3, 0.3, 3), lo, hi)
        ramp = linear_ramp(size, size, rng.uniform(0, 2 * math.pi))
        img = c0.astype(np.float32) + ramp[..., None] * (c1 - c0).astype(np.float32)
        ends = np.stack([c0, c1])
    elif kind == "flat":
        img = np.broadcast_to(c0.astype(np.float32), (size, size, 3)).copy()
        ends = c0[None]
    else:  # textured: two octaves of value noise modulating the colour (smudges, paper grain, a board)
        amp = rng.uniform(0.12, 0.3)
        tex = 0.65 * smooth_field(rng, size, size, int(rng.integers(3, 8))) + 0.35 * smooth_field(rng, size, size, 28)
        tint = rng.uniform(0.5, 1.0, 3).astype(np.float32)
        img = np.clip(c0.astype(np.float32) + (tex[..., None] - 0.5) * np.float32(amp) * tint, 0.0, 1.0)
        ends = np.stack([np.clip(c0 - amp / 2, 0, 1), c0, np.clip(c0 + amp / 2, 0, 1)])
    noise = rng.standard_normal((size, size, 3), dtype=np.float32) * np.float32(rng.uniform(0.01, 0.05))
    return img + noise, ends


def _proportions(rng: np.random.Generator, name: str) -> tuple[np.ndarray | None, float]:
    """This object's unit outline (None: round) and ring hole, proportions varied around the nominal ones."""
    arm, inner = rng.uniform(*CROSS_ARM_RANGE), rng.uniform(*STAR_INNER_RANGE)
    points, hole = int(rng.choice(STAR_POINTS)), float(rng.uniform(*RING_HOLE_RANGE))  # drawn for every class
    if name == "star":
        return _star(points, inner), 0.0
    if name == "cross":
        return _cross(arm), 0.0
    return _POLYGONS[name], hole if name == "ring" else 0.0


def _fill_colours(rng: np.random.Generator, look: Look, ends: np.ndarray, h: int, w: int) -> np.ndarray:
    """The object's paint over its [h, w] crop: flat (faint noise), a gradient, or a texture of two colours."""
    c = _family_colour(rng, look.ink, ends).astype(np.float32)
    c2 = _family_colour(rng, look.ink, ends).astype(np.float32)
    pattern = int(rng.integers(3))
    period = float(rng.uniform(5.0, 12.0))
    angle = float(rng.uniform(0, math.pi))
    noise = rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(0.02)
    if look.outline or look.fill == "flat":
        return c + noise
    if look.fill == "gradient":
        return c + linear_ramp(h, w, angle * 2)[..., None] * (c2 - c) + noise
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if pattern == 0:  # stripes
        t = (np.sin(2 * math.pi * (math.cos(angle) * xx + math.sin(angle) * yy) / period) > 0).astype(np.float32)
    elif pattern == 1:  # blotches
        t = (smooth_field(rng, h, w, 4) > 0.5).astype(np.float32)
    else:  # checks
        t = ((xx // period + yy // period) % 2).astype(np.float32)
    return c + t[..., None] * (c2 - c) + noise


def _styled_object(
    rng: np.random.Generator, look: Look, name: str, outline: np.ndarray | None, hole: float,
    radius: float, centre: tuple[float, float], stroke: float, wobble: float, size: int,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """Mask [size, size] bool and ink coverage of the crop (y0, y1, x0, x1) of one styled object.

    The mask holds the pixels whose centre lies in the object: the filled shape, or for an outline the
    stroke plus the region it encloses (a ring's: stroke and the band between its two circles). The ink
    coverage is the fraction of each pixel's samples that are painted (one sample per pixel, at its
    centre, with hard edges: then the painted pixels of a filled shape are exactly its mask).
    """
    cx, cy = centre
    warp = Warp(rng, wobble, float(rng.uniform(25.0, 60.0)) * max(radius / 40.0, 0.5))
    width = Warp(rng, 1.0, float(rng.uniform(20.0, 50.0)))
    reach = radius + stroke / 2 + wobble + 2
    x0, x1 = max(int(math.floor(cx - reach)), 0), min(int(math.ceil(cx + reach)) + 1, size)
    y0, y1 = max(int(math.floor(cy - reach)), 0), min(int(math.ceil(cy + reach)) + 1, size)

    def regions(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(object, ink margin): the ink is where the margin is >= 0; |margin| is about the px to its edge."""
        qx, qy = warp(px, py)
        if outline is None:
            r = np.hypot(qx - cx, qy - cy)
            inside = r <= radius
            edge = np.abs(r - radius)
            if name == "ring":
                inside &= r >= hole * radius
                edge = np.minimum(edge, np.abs(r - hole * radius))
        else:
            inside = inside_polygon(qx, qy, outline)
            edge = polygon_edge_distance(qx, qy, outline)
        if not look.outline:
            return inside, np.where(inside, edge, -edge)
        margin = (stroke / 2) * (1.0 + 0.3 * width.field(px, py)) - edge
        return inside | (margin >= 0), margin

    centre_obj, centre_margin = regions(*sample_grid(x0, x1, y0, y1, 1))
    centre_obj, centre_margin = centre_obj[..., 0], centre_margin[..., 0]
    coverage = (centre_margin >= 0).astype(np.float32)
    if look.antialias:  # supersample only the pixels near an edge: elsewhere all 9 samples agree with the centre
        near = np.abs(centre_margin) < 1.5
        rows, cols = np.nonzero(near)
        px, py = sample_grid(x0, x1, y0, y1, 3)
        coverage[near] = (regions(px[rows, cols], py[rows, cols])[1] >= 0).mean(-1, dtype=np.float32)
    mask = np.zeros((size, size), dtype=bool)
    mask[y0:y1, x0:x1] = centre_obj
    return mask, coverage, (y0, y1, x0, x1)


def _render_styled(seed: int, index: int, objects: int, size: int, scale: float | None, style: str):
    rng = np.random.default_rng([seed, index, objects, 7, _STYLE_CODE[style]])
    k = size / BASE if scale is None else float(scale)
    if style == "mixed":
        style = TRAIN_STYLES[int(rng.choice(len(TRAIN_STYLES), p=MIXED_WEIGHTS))]
        if style == "classic":
            return _render_classic(rng, objects, size, k)
    look = draw_look(rng, style)
    img, ends = _styled_background(rng, look.background, size)
    classes, hi = _clutter_and_classes(rng, img, size, ends, k, objects)
    masks, placed = [], []
    for cls_index in classes:
        name = CLASSES[cls_index]
        unit, hole = _proportions(rng, name)
        for _attempt in range(200):
            theta = rng.uniform(0, 2 * math.pi)
            side = rng.uniform(52, hi) * k  # larger bbox side, stroke and wobble included
            poly = None if unit is None else unit @ _rot(theta).T
            hw, hh = (1.0, 1.0) if poly is None else (float(np.abs(poly[:, 0]).max()), float(np.abs(poly[:, 1]).max()))
            stroke = min(look.stroke * k, max(1.5 * k, 0.12 * side / 2)) if look.outline else 0.0
            pad = stroke / 2 + (look.wobble * k if look.outline else 0.0)
            radius = (side / 2 - pad) / max(hw, hh)
            mx, my = hw * radius + pad + 2 * k, hh * radius + pad + 2 * k
            cx, cy = rng.uniform(mx, size - mx), rng.uniform(my, size - my)
            box = (cx - hw * radius - pad, cy - hh * radius - pad, cx + hw * radius + pad, cy + hh * radius + pad)
            gap = 8 * k
            if all(box[0] > b[2] + gap or b[0] > box[2] + gap or box[1] > b[3] + gap or b[1] > box[3] + gap for b in placed):
                break
        else:  # pragma: no cover - as in the classic drawing
            raise RuntimeError("could not place the objects apart; lower the object size.")
        placed.append(box)
        outline = None if poly is None else poly * radius + np.array([cx, cy])
        wobble = look.wobble * k if look.outline else 0.0
        mask, coverage, (y0, y1, x0, x1) = _styled_object(
            rng, look, name, outline, hole, radius, (cx, cy), stroke, wobble, size
        )
        paint = _fill_colours(rng, look, ends, y1 - y0, x1 - x0)
        alpha = coverage[..., None]
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - alpha) + paint * alpha
        masks.append(mask)
    image = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return image, classes, np.stack(masks)


def _clutter_and_classes(
    rng: np.random.Generator, img: np.ndarray, size: int, ends: np.ndarray, k: float, objects: int
) -> tuple[list[int], int]:
    """Draw the clutter, then pick the objects' classes: (class indices, largest bbox side in 224 px)."""
    _clutter(rng, img, size, ends, k)
    classes = [int(c) for c in rng.choice(len(CLASSES), size=objects, replace=False)]
    return classes, BBOX_MAX - 2 if objects == 1 else 88


def render_scene(
    seed: int, index: int, objects: int = 1, size: int = BASE, scale: float | None = None, style: str = "classic"
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Render scene `index` of the stream `seed`.

    Args:
        seed: data-set seed.
        index: scene index within the stream; (seed, index, objects, size, style) fixes every pixel.
        objects: 1 (single-object scene) or 2 (two objects of different classes, boxes apart).
        size: canvas side in px.
        scale: px per 224-canvas px for objects and clutter; default size / 224 (the same scene, smaller).
            ``size=112, scale=1`` gives full-size objects on a small canvas (the training curriculum).
        style: one of ``STYLES`` (see the module docstring); "classic" is the first version's drawing,
            pixel for pixel.

    Returns:
        (image [size, size, 3] uint8, class indices, masks [objects, size, size] bool).
    """
    if objects not in (1, 2):
        raise ValueError(f"objects must be 1 or 2, got {objects}; use 2 for class-specific scenes.")
    if style not in STYLES:
        raise ValueError(f"unknown scene style {style!r}; choose one of {', '.join(STYLES)}.")
    if style != "classic":
        return _render_styled(seed, index, objects, size, scale, style)
    return _render_classic(np.random.default_rng([seed, index, objects, 7]), objects, size, size / BASE if scale is None else float(scale))


def _render_classic(rng: np.random.Generator, objects: int, size: int, k: float):
    """The first version's drawing: gradient and noise, hard edges, flat filled shapes of nominal proportions."""
    img, ends = _background(rng, size)
    classes, hi = _clutter_and_classes(rng, img, size, ends, k, objects)
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
    n: int, seed: int, objects: int = 1, size: int = BASE, start: int = 0, scale: float | None = None,
    style: str = "classic",
) -> SceneBatch:
    """Scenes ``start .. start + n - 1`` of stream `seed` (see `render_scene`)."""
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.empty((n, objects), np.int64)
    masks = np.empty((n, objects, size, size), bool)
    for i in range(n):
        images[i], cls, masks[i] = render_scene(seed, start + i, objects, size, scale, style)
        labels[i] = cls
    boxes = np.array([[_box(m) for m in scene] for scene in masks], dtype=np.int64).reshape(n, objects, 4)
    return SceneBatch(images=images, labels=labels, masks=masks, boxes=boxes)


def _chunk(args: tuple) -> SceneBatch:
    n, seed, objects, size, start, scale, style = args
    return generate(n, seed, objects, size, start, scale, style)


def generate_parallel(
    n: int, seed: int, objects: int = 1, size: int = BASE, workers: int = 2, scale: float | None = None,
    style: str = "classic",
) -> SceneBatch:
    """`generate` split over `workers` processes; the result is identical to ``generate(n, seed, ...)``."""
    if workers <= 1 or n < 2 * workers:
        return generate(n, seed, objects, size, scale=scale, style=style)
    step = -(-n // (workers * 4))
    jobs = [(min(step, n - s), seed, objects, size, s, scale, style) for s in range(0, n, step)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_chunk, jobs))
    return SceneBatch(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("images", "labels", "masks", "boxes")))


def patch_fractions(masks: np.ndarray, patch: int) -> np.ndarray:
    """Fraction of each patch covered by each mask: [..., size, size] bool -> [..., size/patch, size/patch] float32."""
    *lead, h, w = masks.shape
    m = masks.reshape(*lead, h // patch, patch, w // patch, patch)
    return m.mean(axis=(-3, -1), dtype=np.float32)
