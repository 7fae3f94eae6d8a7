"""Perturbation curves: token removal (Chefer et al. 2021) and pixel deletion / insertion (Petsiuk et al. 2018).

Every step is one forward pass for all images and all maps together: maps ``[method, batch, gh, gw]`` turn
into ``method * batch`` perturbed inputs per step (split into chunks of at most ``chunk`` sequences only
to bound memory), never a Python loop per image.

Conventions (written into every report by :func:`convention`):

- Token removal (Chefer et al. CVPR 2021, section 5): patch tokens are dropped after the position embedding
  (the sequence gets shorter; prefix tokens stay), most relevant first ("positive": a lower AUC is better)
  or least relevant first ("negative": a higher AUC is better), at removal fractions 0, 0.1, ..., 0.9
  (``round(f * patches)`` tokens). AUC = trapezoid rule over those ten points, x being the fraction (so the
  AUC lies in [0, 0.9]), the 0% step included: ``numpy.trapezoid(y, FRACTIONS)``.
- Pixel deletion and insertion (Petsiuk et al. 2018): the map orders the patches; deletion replaces the
  first ``f`` of them by the fill (blur: Gaussian, kernel 11, sigma 5 as in RISE's code; or mean: each
  image's channel means), insertion starts from the fill and restores them, at f = 0, 0.1, ..., 1.0; AUC by
  the trapezoid rule over those eleven points (in [0, 1]). Lower deletion and higher insertion are better.
- y is the softmax probability of the target class (and, beside it, top-1 agreement with the target).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from torchvision.transforms.v2.functional import gaussian_blur

from ..errors import SettingsError
from ..models.geometry import geometry_of

__all__ = [
    "FRACTIONS",
    "PIXEL_FRACTIONS",
    "Curves",
    "auc",
    "convention",
    "removal_order",
    "forward_kept_patches",
    "token_removal_curves",
    "pixel_curves",
]

FRACTIONS = np.round(np.arange(10) / 10, 2)  # token removal: 0, 0.1, ..., 0.9 (Chefer et al.)
PIXEL_FRACTIONS = np.round(np.arange(11) / 10, 2)  # deletion / insertion: 0, 0.1, ..., 1.0 (Petsiuk et al.)
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0  # RISE's blur for insertion's canvas

Order = Literal["positive", "negative"]
Fill = Literal["blur", "mean"]
Progress = Callable[[], None]  # called once after each forward step


@dataclass(frozen=True)
class Curves:
    """Perturbation curves of several maps over a batch.

    Attributes:
        fractions: ``[step]`` fraction of patches removed (or inserted) at each step.
        probability: ``[method, batch, step]`` softmax probability of the target class.
        top1: ``[method, batch, step]`` whether the top-1 class equals the target.
    """

    fractions: np.ndarray
    probability: np.ndarray
    top1: np.ndarray

    def auc(self) -> np.ndarray:
        """``[method, batch]`` trapezoid AUC of the probability over the fractions."""
        return auc(self.probability, self.fractions)

    def top1_auc(self) -> np.ndarray:
        """``[method, batch]`` trapezoid AUC of top-1 agreement over the fractions."""
        return auc(self.top1.astype(np.float64), self.fractions)


def auc(values: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Trapezoid rule over the last axis against the fractions (the first step included, x not rescaled)."""
    return np.trapezoid(np.asarray(values, dtype=np.float64), np.asarray(fractions, dtype=np.float64), axis=-1)


def convention() -> dict:
    """The measurement conventions, as written into every report."""
    return {
        "token_removal": {
            "protocol": "patch tokens dropped after the position embedding (sequence shortened, prefix tokens kept)",
            "fractions": FRACTIONS.tolist(),
            "tokens_removed": "round(fraction * patches)",
            "positive": "most relevant removed first; lower AUC is better",
            "negative": "least relevant removed first; higher AUC is better",
        },
        "pixel": {
            "protocol": "Petsiuk et al. 2018: patches replaced by the fill (deletion) or restored onto it (insertion)",
            "fractions": PIXEL_FRACTIONS.tolist(),
            "fill": f"blur: Gaussian kernel {BLUR_KERNEL}, sigma {BLUR_SIGMA}; mean: each image's channel means",
            "deletion": "lower AUC is better",
            "insertion": "higher AUC is better",
        },
        "auc": "numpy.trapezoid(y, fractions): trapezoid rule over the fraction, 0% step included, x not rescaled",
        "y": "softmax probability of the target class (top-1 agreement reported beside it)",
        "ties": "patches of equal value are ordered by their row-major index (stable sort)",
    }


def removal_order(maps: torch.Tensor) -> torch.Tensor:
    """Patch indices ``[..., patch]`` from the most to the least relevant of maps ``[..., gh, gw]`` (stable)."""
    flat = maps.reshape(*maps.shape[:-2], -1).float()
    return torch.argsort(-flat, dim=-1, stable=True)


def _embedded(model: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """Tokens after the position embedding ``[batch, token, dim]``, prefix first (timm's own code)."""
    return model._pos_embed(model.patch_embed(pixel_values))


def _head(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """The rest of timm's forward from the embedded tokens: logits ``[batch, classes]``."""
    x = model.norm_pre(model.patch_drop(tokens))
    return model.forward_head(model.norm(model.blocks(x)))


def forward_kept_patches(model: nn.Module, embedded: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Logits of sequences that keep the prefix tokens and the patch tokens `keep` only.

    Args:
        embedded: ``[batch, token, dim]`` tokens after the position embedding.
        keep: ``[batch, kept]`` patch indices (0-based among the patches) to keep, any order.
    """
    p = model.num_prefix_tokens
    keep = torch.sort(keep, dim=-1).values + p  # sequence order, as the model saw them
    patches = embedded.gather(1, keep[..., None].expand(-1, -1, embedded.shape[-1]))
    return _head(model, torch.cat([embedded[:, :p], patches], dim=1))


def _chunked(fn: Callable[..., torch.Tensor], total: int, chunk: int | None, *tensors: torch.Tensor) -> torch.Tensor:
    """fn over slices of the leading dimension of `tensors`, ``chunk`` rows at a time (all at once when None)."""
    step = total if not chunk else int(chunk)
    return torch.cat([fn(*(t[i : i + step] for t in tensors)) for i in range(0, total, step)])


def _score(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    probs = logits.float().softmax(dim=-1)
    return probs.gather(1, target[:, None]).squeeze(1), logits.argmax(dim=-1) == target


def _run_steps(
    fractions: np.ndarray,
    shape: tuple[int, int],
    targets: torch.Tensor,
    logits_at: Callable[[float], torch.Tensor],
    progress: Progress | None,
) -> Curves:
    """One forward per fraction (``logits_at`` returns ``[method * batch, classes]``), scored against the targets."""
    methods, batch = shape
    prob = np.zeros((methods * batch, len(fractions)))
    top1 = np.zeros((methods * batch, len(fractions)), dtype=bool)
    for step, fraction in enumerate(fractions):
        p, t = _score(logits_at(float(fraction)), targets)
        prob[:, step], top1[:, step] = p.cpu().numpy(), t.cpu().numpy()
        if progress is not None:
            progress()
    full = (methods, batch, len(fractions))
    return Curves(fractions=np.asarray(fractions, dtype=np.float64), probability=prob.reshape(full), top1=top1.reshape(full))


def _check(maps: torch.Tensor, pixel_values: torch.Tensor, target: torch.Tensor, model: nn.Module):
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    if maps.dim() != 4 or tuple(maps.shape[1:]) != (pixel_values.shape[0], *geometry.grid_size):
        raise SettingsError(
            f"maps have shape {tuple(maps.shape)}; pass [method, {pixel_values.shape[0]}, {geometry.grid_size[0]}, "
            f"{geometry.grid_size[1]}] for this batch and model."
        )
    if target.shape != (pixel_values.shape[0],):
        raise SettingsError(f"pass one target class per image ({pixel_values.shape[0]}), not {tuple(target.shape)}.")
    return geometry


@torch.no_grad()
def token_removal_curves(
    model: nn.Module,
    pixel_values: torch.Tensor,
    maps: torch.Tensor,
    target: torch.Tensor,
    *,
    order: Order = "positive",
    fractions: np.ndarray = FRACTIONS,
    chunk: int | None = None,
    progress: Progress | None = None,
) -> Curves:
    """Token-removal curves of every map (Chefer et al. 2021; see the package docstring).

    Args:
        model: a timm VisionTransformer in eval mode.
        pixel_values: ``[batch, 3, h, w]``.
        maps: ``[method, batch, gh, gw]`` one map per method and image.
        target: ``[batch]`` class whose probability is followed.
        order: "positive" (most relevant removed first) or "negative" (least relevant first).
        fractions: removal fractions, each below 1.
        chunk: most sequences per forward pass (None: all methods and images in one).
        progress: called after each step.
    """
    if order not in ("positive", "negative"):
        raise SettingsError(f"order {order!r} is unknown; choose 'positive' or 'negative'.")
    geometry = _check(maps, pixel_values, target, model)
    methods, batch = maps.shape[:2]
    patches = geometry.num_patches
    ranking = removal_order(maps.to(pixel_values.device))  # [method, batch, patch], most relevant first
    if order == "negative":
        ranking = ranking.flip(-1)
    ranking = ranking.reshape(methods * batch, patches)
    embedded = _embedded(model, pixel_values)  # [batch, token, dim]: embedded once, shared by every method
    repeated = embedded.repeat(methods, 1, 1)  # [method * batch, token, dim], method-major like `ranking`
    targets = target.to(pixel_values.device).repeat(methods)
    def logits_at(fraction: float) -> torch.Tensor:
        removed = int(round(float(fraction) * patches))
        if removed >= patches:
            raise SettingsError(f"removal fraction {fraction} leaves no patch; use fractions below 1.")
        keep = ranking[:, removed:]

        def run(tokens: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
            return forward_kept_patches(model, tokens, kept)

        if removed == 0:  # every method keeps every patch: one forward of the batch serves them all
            return _chunked(run, batch, chunk, embedded, keep[:batch]).repeat(methods, 1)
        return _chunked(run, methods * batch, chunk, repeated, keep)

    return _run_steps(fractions, (methods, batch), targets, logits_at, progress)


def _fill(pixel_values: torch.Tensor, fill: Fill) -> torch.Tensor:
    if fill == "blur":
        return gaussian_blur(pixel_values, kernel_size=[BLUR_KERNEL, BLUR_KERNEL], sigma=[BLUR_SIGMA, BLUR_SIGMA])
    if fill == "mean":
        return pixel_values.mean(dim=(-2, -1), keepdim=True).expand_as(pixel_values)
    raise SettingsError(f"fill {fill!r} is unknown; choose 'blur' or 'mean'.")


@torch.no_grad()
def pixel_curves(
    model: nn.Module,
    pixel_values: torch.Tensor,
    maps: torch.Tensor,
    target: torch.Tensor,
    *,
    mode: Literal["deletion", "insertion"] = "deletion",
    fill: Fill = "blur",
    fractions: np.ndarray = PIXEL_FRACTIONS,
    chunk: int | None = None,
    progress: Progress | None = None,
) -> Curves:
    """Pixel deletion or insertion curves (Petsiuk et al. 2018) of every map, patch by patch in the map's order.

    Args: as :func:`token_removal_curves`, plus ``mode`` ("deletion": the first fraction of the patches is
    replaced by the fill; "insertion": the image starts as the fill and the first fraction is restored) and
    ``fill`` ("blur" or "mean").
    """
    if mode not in ("deletion", "insertion"):
        raise SettingsError(f"mode {mode!r} is unknown; choose 'deletion' or 'insertion'.")
    geometry = _check(maps, pixel_values, target, model)
    methods, batch = maps.shape[:2]
    (gh, gw), (ph, pw) = geometry.grid_size, geometry.patch_size
    patches = geometry.num_patches
    ranking = removal_order(maps.to(pixel_values.device)).reshape(methods * batch, patches)
    rank = torch.empty_like(ranking).scatter_(1, ranking, torch.arange(patches, device=ranking.device).expand_as(ranking))
    images = pixel_values.repeat(methods, 1, 1, 1)  # [method * batch, 3, h, w]
    filled = _fill(pixel_values, fill).repeat(methods, 1, 1, 1)
    targets = target.to(pixel_values.device).repeat(methods)
    h, w = pixel_values.shape[-2:]
    def logits_at(fraction: float) -> torch.Tensor:
        moved = int(round(float(fraction) * patches))
        first = (rank < moved).reshape(-1, 1, gh, gw)  # [method * batch, 1, gh, gw]
        first = first.repeat_interleave(ph, dim=-2).repeat_interleave(pw, dim=-1)
        first = nn.functional.pad(first, (0, w - gw * pw, 0, h - gh * ph))  # pixels beyond the grid: never moved
        chosen = torch.where(first, filled, images) if mode == "deletion" else torch.where(first, images, filled)
        if moved in (0, patches):  # the same input for every method (the image or the fill): one forward serves all
            return _chunked(model, batch, chunk, chosen[:batch]).repeat(methods, 1)
        return _chunked(model, methods * batch, chunk, chosen)

    return _run_steps(fractions, (methods, batch), targets, logits_at, progress)
