"""Ground truth of the generated sample scenes: where the objects are, and whether a map's peak is on one.

The bundled scenes (``assets/samples/scenes.json``) come with each object's class and bounding box, so the
app can say, as the demo model's card measures it, whether the peak of rollout or of class-specific
relevance lies on the object: the pointing game of ``vit_core.demo.evaluate`` (peak patch centre inside the
box grown by ``GROW`` px), here for the one image on screen. No Streamlit: pure functions of arrays.

A peak is a claim only when it wins by a margin: :func:`read_peak` compares the best patch of the region holding
the peak (an object, or the background) with the best patch of every other region, on the colour bar's min-max
scale. Below ``CLEAR_MARGIN`` (0.10 of the map's range) the app says "no clear winner" (the ring's relevance once
peaked "on the ring" by 1.000 against 0.997 on the star).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vit_core.demo.evaluate import GROW, hits
from vit_core.models.images import PixelMapping

from .catalogue import t

__all__ = ["GROW", "CLEAR_MARGIN", "SceneObject", "PeakReading", "objects_in_view", "peak_patch", "object_at_peak",
           "read_peak", "describe_peak", "own_objects_clear"]

CLEAR_MARGIN = 0.10  # a peak wins clearly when its region's best patch beats every other region's by this much


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene: its class name and its box in the model's view, (x0, y0, x1, y1) pixels."""

    label: str
    box: tuple[float, float, float, float]


def objects_in_view(scene: Mapping, mapping: PixelMapping) -> list[SceneObject]:
    """The scene's objects with their boxes moved from the original image into the model's view.

    Args:
        scene: one entry of ``scenes.json``: ``classes`` and ``boxes_xyxy`` in original-image pixels.
        mapping: how the model's input pixels map back to the original image (resize and crop).
    """
    objects = []
    for label, (x0, y0, x1, y1) in zip(scene["classes"], scene["boxes_xyxy"], strict=True):
        top, left = mapping.to_input(y0, x0)
        bottom, right = mapping.to_input(y1, x1)
        objects.append(SceneObject(str(label), (left, top, right, bottom)))
    return objects


def peak_patch(heat: np.ndarray) -> tuple[int, int]:
    """(row, col) of the largest value of a ``[gh, gw]`` map (the first one on ties, as argmax)."""
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return int(row), int(col)


def object_at_peak(
    heat: np.ndarray, patch_size: tuple[int, int], objects: Sequence[SceneObject], grow: int = GROW
) -> SceneObject | None:
    """The object whose box, grown by `grow` px, holds the centre of the map's peak patch; None: background.

    Where grown boxes overlap, the one whose own (ungrown) box holds the centre wins, else the first.
    """
    row, col = peak_patch(heat)
    ph, pw = patch_size
    point = np.array([[(col + 0.5) * pw, (row + 0.5) * ph]])
    inside = [o for o in objects if hits(point, np.array([o.box]), grow)[0]]
    strictly = [o for o in inside if hits(point, np.array([o.box]), 0)[0]]
    return (strictly or inside or [None])[0]


@dataclass(frozen=True)
class PeakReading:
    """Where a map peaks among a scene's regions, and by how much, on the min-max scale of its colour bar.

    Attributes:
        winner: the object under the peak (:func:`object_at_peak`), None for the background.
        best: the peak's value (1.0 on the min-max scale).
        runner_up: the region with the next best patch: an object, None for the background.
        runner_value: that region's best patch.
    """

    winner: SceneObject | None
    best: float
    runner_up: SceneObject | None
    runner_value: float

    @property
    def margin(self) -> float:
        return self.best - self.runner_value

    @property
    def clear(self) -> bool:
        return self.margin >= CLEAR_MARGIN


def _centres(shape: tuple[int, int], patch_size: tuple[int, int]) -> np.ndarray:
    rows, cols = np.indices(shape)
    ph, pw = patch_size
    return np.stack([(cols.ravel() + 0.5) * pw, (rows.ravel() + 0.5) * ph], axis=1)  # [patch, (x, y)]


def read_peak(
    heat: np.ndarray, patch_size: tuple[int, int], objects: Sequence[SceneObject], grow: int = GROW
) -> PeakReading:
    """The peak's region and the best patch of the strongest other region (each object's grown box; the background
    is every patch in no grown box), values min-max scaled as on the colour bar."""
    heat = np.asarray(heat, dtype=np.float64)
    low, high = float(heat.min()), float(heat.max())
    scaled = ((heat - low) / (high - low) if high > low else np.zeros_like(heat)).ravel()
    centres = _centres(heat.shape, patch_size)
    inside = {id(o): hits(centres, np.array([o.box]), grow) for o in objects}  # [patch] bool per object
    winner = object_at_peak(heat, patch_size, objects, grow)
    regions: list[tuple[SceneObject | None, np.ndarray]] = [(o, inside[id(o)]) for o in objects if o is not winner]
    background = ~np.any(np.stack(list(inside.values())), axis=0) if objects else np.ones(scaled.shape, bool)
    if winner is not None:
        regions.append((None, background))
    others = [(o, float(scaled[m].max())) for o, m in regions if m.any()]
    best = float(scaled[np.argmax(heat.ravel())])
    if not others:
        return PeakReading(winner, best, None, 0.0)
    runner, value = max(others, key=lambda pair: pair[1])
    return PeakReading(winner, best, runner, value)


def _where(found: SceneObject | None) -> str:
    return t("truth.on_object", label=found.label) if found else t("truth.on_background")


def describe_peak(reading: PeakReading, wanted: str | None, labels: Sequence[str]) -> str:
    """The verdict in words: where the peak is and by what margin, ticked when on `wanted` (on any object if None);
    'no clear winner' below CLEAR_MARGIN."""
    where = _where(reading.winner)
    if wanted is not None and wanted not in labels:
        return t("truth.absent", wanted=wanted, where=where)
    other = _where(reading.runner_up)
    if not reading.clear:
        return t("truth.no_clear", where=where, best=f"{reading.best:.3f}", other=other,
                 runner=f"{reading.runner_value:.3f}", threshold=f"{CLEAR_MARGIN:.2f}")
    right = reading.winner is not None and (wanted is None or reading.winner.label == wanted)
    return t("truth.peak", where=where, mark="✓" if right else "✗") + t(
        "truth.margin", margin=f"{reading.margin:.2f}", other=other, best=f"{reading.best:.3f}",
        runner=f"{reading.runner_value:.3f}")


def own_objects_clear(readings: Mapping[str, PeakReading]) -> bool:
    """Whether every class's map (class name -> its reading) peaks on its own object by a clear margin."""
    return bool(readings) and all(r.clear and r.winner is not None and r.winner.label == name
                                  for name, r in readings.items())
