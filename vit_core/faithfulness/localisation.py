"""Localisation measures on images with object masks: pointing game, energy-based pointing game, mask IoU.

Maps are patch maps ``[method, batch, gh, gw]``; masks are pixel masks ``[batch, h, w]`` (the target's
object). A patch map covers its patch's pixels uniformly (nearest upsampling), so no interpolation choice
changes the figures.

- Pointing game (Zhang et al. 2016), with the demo model card's criterion: the centre of the map's peak
  patch lies in the object's bounding box grown by ``grow`` px (8 by default).
- Energy-based pointing game (Wang et al. 2020, Score-CAM): the fraction of the map's positive mass that
  falls inside the object's bounding box.
- Mask IoU: intersection over union of the top ``top_fraction`` of the patches (by the map) and the mask.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import SettingsError

__all__ = ["GROW", "TOP_FRACTION", "boxes_of", "in_grown_box", "pointing_game", "energy_pointing", "mask_iou"]

GROW = 8  # px added on every side of the bounding box in the pointing game (evaluate, the demo model card, the app)
TOP_FRACTION = 0.1  # the share of patches whose union is compared with the mask


def _as_numpy(maps) -> np.ndarray:
    return maps.detach().float().cpu().numpy() if isinstance(maps, torch.Tensor) else np.asarray(maps, dtype=np.float32)


def _patch(masks: np.ndarray, grid: tuple[int, int]) -> tuple[int, int]:
    h, w = masks.shape[-2:]
    gh, gw = grid
    if h < gh or w < gw:
        raise SettingsError(f"masks of {h} x {w} px are smaller than the {gh} x {gw} grid; pass masks of the input's size.")
    return h // gh, w // gw


def boxes_of(masks: np.ndarray) -> np.ndarray:
    """Bounding boxes ``[batch, 4]`` (x0, y0, x1, y1; x1, y1 exclusive) of pixel masks ``[batch, h, w]``; empty: -1."""
    boxes = np.full((len(masks), 4), -1, dtype=np.int64)
    for i, mask in enumerate(masks):
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        if len(rows):
            boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes


def _box_fractions(boxes: np.ndarray, grid: tuple[int, int], patch: tuple[int, int]) -> np.ndarray:
    """Fraction of each patch inside each box: ``[batch, gh, gw]``."""
    (gh, gw), (ph, pw) = grid, patch
    y0 = np.arange(gh) * ph
    x0 = np.arange(gw) * pw
    over_y = np.clip(np.minimum(y0 + ph, boxes[:, 3:4]) - np.maximum(y0, boxes[:, 1:2]), 0, None) / ph  # [batch, gh]
    over_x = np.clip(np.minimum(x0 + pw, boxes[:, 2:3]) - np.maximum(x0, boxes[:, 0:1]), 0, None) / pw  # [batch, gw]
    return over_y[:, :, None] * over_x[:, None, :]


def in_grown_box(x, y, boxes: np.ndarray, grow: int = GROW) -> np.ndarray:
    """Whether points (x, y) lie in their boxes ``[..., 4]`` (x0, y0, x1, y1; exclusive ends) grown by `grow` px:
    the pointing game's one criterion (broadcast over leading dimensions)."""
    return (x >= boxes[..., 0] - grow) & (x < boxes[..., 2] + grow) & (y >= boxes[..., 1] - grow) & (y < boxes[..., 3] + grow)


def pointing_game(maps, masks: np.ndarray, *, grow: int = GROW) -> np.ndarray:
    """``[method, batch]`` bool: the peak patch's centre inside the mask's bounding box grown by `grow` px."""
    maps = _as_numpy(maps)
    grid = maps.shape[-2:]
    ph, pw = _patch(masks, grid)
    boxes = boxes_of(masks)
    peak = maps.reshape(*maps.shape[:2], -1).argmax(-1)  # [method, batch]
    rows, cols = np.divmod(peak, grid[1])
    x, y = cols * pw + pw / 2, rows * ph + ph / 2
    return in_grown_box(x, y, boxes, grow)


def energy_pointing(maps, masks: np.ndarray) -> np.ndarray:
    """``[method, batch]`` share of each map's positive mass inside the bounding box (NaN for a map with none)."""
    maps = np.clip(_as_numpy(maps), 0, None)
    grid = maps.shape[-2:]
    inside = _box_fractions(boxes_of(masks), grid, _patch(masks, grid))  # [batch, gh, gw]
    total = maps.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (maps * inside).sum(axis=(-2, -1)) / total, np.nan)


def mask_iou(maps, masks: np.ndarray, *, top_fraction: float = TOP_FRACTION) -> np.ndarray:
    """``[method, batch]`` IoU of the pixels of the map's top `top_fraction` patches with the mask."""
    if not 0 < top_fraction <= 1:
        raise SettingsError(f"top fraction {top_fraction} is outside (0, 1]; choose a value such as 0.1.")
    maps = _as_numpy(maps)
    methods, batch, gh, gw = maps.shape
    ph, pw = _patch(masks, (gh, gw))
    k = max(1, int(round(top_fraction * gh * gw)))
    order = np.argsort(-maps.reshape(methods, batch, -1), axis=-1, kind="stable")[..., :k]
    chosen = np.zeros((methods, batch, gh * gw), dtype=bool)
    np.put_along_axis(chosen, order, True, axis=-1)
    region = chosen.reshape(methods, batch, gh, 1, gw, 1)
    region = np.broadcast_to(region, (methods, batch, gh, ph, gw, pw)).reshape(methods, batch, gh * ph, gw * pw)
    mask = masks[:, : gh * ph, : gw * pw].astype(bool)
    inter = (region & mask).sum(axis=(-2, -1))
    union = (region | mask).sum(axis=(-2, -1)) + masks.sum(axis=(-2, -1)) - mask.sum(axis=(-2, -1))
    return inter / np.maximum(union, 1)
