"""Ground truth of the generated sample scenes: where the objects are, and whether a map's peak is on one.

The bundled scenes (``assets/samples/scenes.json``) come with each object's class and bounding box, so the
app can say, as the demo model's card measures it, whether the peak of rollout or of class-specific
relevance lies on the object: the pointing game of ``vit_core.demo.evaluate`` (peak patch centre inside the
box grown by ``GROW`` px), here for the one image on screen. No Streamlit: pure functions of arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vit_core.demo.evaluate import GROW, hits
from vit_core.images import PixelMapping

__all__ = ["GROW", "SceneObject", "objects_in_view", "peak_patch", "object_at_peak"]


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
