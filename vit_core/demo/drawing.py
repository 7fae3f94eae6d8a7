"""Drawing primitives for the styled scenes: region tests, stroke distances, coverage, fills and backgrounds.

Everything works in pixel coordinates of one canvas and is a pure function of its arguments and the
``numpy`` generator it is given, so a scene stays a pure function of its seed. Images are float32 RGB in
0..1, ``[height, width, 3]``; sample coordinates are pixel centres at ``i + 0.5``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "inside_polygon",
    "polygon_edge_distance",
    "smooth_field",
    "Warp",
    "sample_grid",
    "linear_ramp",
    "luminance",
]


def inside_polygon(px: np.ndarray, py: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over points (any shape) and the edges of `poly` [edges, 2]."""
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    px_, py_ = px[..., None], py[..., None]
    crosses = (y0 > py_) != (y1 > py_)
    with np.errstate(divide="ignore", invalid="ignore"):
        xint = x0 + (py_ - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (px_ < xint)).sum(-1) % 2 == 1


def polygon_edge_distance(px: np.ndarray, py: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Euclidean distance from each point (any shape) to the closed outline `poly` [edges, 2], same units."""
    ax, ay = poly[:, 0], poly[:, 1]
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    ex, ey = bx - ax, by - ay  # [edges]
    length2 = ex * ex + ey * ey
    dx, dy = px[..., None] - ax, py[..., None] - ay  # [..., edges]
    t = np.clip((dx * ex + dy * ey) / length2, 0.0, 1.0)
    return np.sqrt((dx - t * ex) ** 2 + (dy - t * ey) ** 2).min(-1)


def smooth_field(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Value noise: a random (cells + 1)^2 lattice in 0..1, bilinearly interpolated to [height, width] float32."""
    lattice = rng.random((cells + 1, cells + 1)).astype(np.float32)
    ys = (np.arange(height, dtype=np.float32) + 0.5) * cells / height
    xs = (np.arange(width, dtype=np.float32) + 0.5) * cells / width
    y0, x0 = np.minimum(ys.astype(int), cells - 1), np.minimum(xs.astype(int), cells - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b = lattice[y0][:, x0], lattice[y0][:, x0 + 1]
    c, d = lattice[y0 + 1][:, x0], lattice[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


class Warp:
    """A smooth random displacement of the plane (a hand's wobble): two sinusoids per axis, `amplitude` px at most."""

    def __init__(self, rng: np.random.Generator, amplitude: float, wavelength: float):
        self.amplitude = float(amplitude)
        angles = rng.uniform(0, 2 * math.pi, 4)
        self.freq = (2 * math.pi / wavelength) * rng.uniform(0.6, 1.4, 4)
        self.dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # [4, 2]
        self.phase = rng.uniform(0, 2 * math.pi, 4)

    def _wave(self, i: int, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        return np.sin(self.freq[i] * (self.dirs[i, 0] * px + self.dirs[i, 1] * py) + self.phase[i])

    def __call__(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.amplitude == 0.0:
            return px, py
        half = self.amplitude / 2
        return px + half * (self._wave(0, px, py) + self._wave(1, px, py)), py + half * (self._wave(2, px, py) + self._wave(3, px, py))

    def field(self, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """A smooth scalar field in -1..1 from the same waves (a stroke's varying width), independent of amplitude."""
        return (self._wave(0, px, py) + self._wave(2, px, py)) / 2


def sample_grid(x0: int, x1: int, y0: int, y1: int, per_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample points of the pixels [y0:y1, x0:x1]: ``per_side``^2 stratified points per pixel (1: its centre).

    Returns (px, py), each [y1 - y0, x1 - x0, per_side * per_side].
    """
    offsets = (np.arange(per_side) + 0.5) / per_side
    oy, ox = np.meshgrid(offsets, offsets, indexing="ij")
    px = np.arange(x0, x1)[None, :, None] + ox.reshape(1, 1, -1)
    py = np.arange(y0, y1)[:, None, None] + oy.reshape(1, 1, -1)
    return np.broadcast_to(px, (y1 - y0, x1 - x0, per_side**2)), np.broadcast_to(py, (y1 - y0, x1 - x0, per_side**2))


def linear_ramp(height: int, width: int, angle: float) -> np.ndarray:
    """A 0..1 ramp across [height, width] along direction `angle`, float32."""
    ty = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    tx = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    return (math.cos(angle) * tx + math.sin(angle) * ty) / math.sqrt(2) + 0.5


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 relative luminance of RGB in 0..1 (last axis)."""
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722
