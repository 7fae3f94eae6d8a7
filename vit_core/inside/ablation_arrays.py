"""The ablation arrays of ``python -m vit_core inspect`` (and the same from Python), by their .npz keys.

Keys (B images, L layers, H heads, C classes, gh x gw patches):

- ``head_importance`` ``[B, L, H]``: the target logit minus the same logit with head (l, h) zeroed before the
  attention's output projection; ``head_importance_mean`` ``[B, L, H]``: the same with the head's per-position mean
  output over the reference images instead of zero; ``head_importance_target`` ``[B]``: the class read (the clean
  top-1 unless a target was given); ``head_importance_reference`` ``[]``: how many reference images the means took.
- With heads or tokens switched off (``--ablate``, ``--mean-ablate``, ``--mask-tokens``): ``ablated_logits``
  ``[B, C]``, ``ablated_rollout`` ``[B, gh, gw]``, ``ablated_cls_attention`` ``[B, L, H, gh, gw]`` (when the model has
  a class token), all from :func:`vit_core.runs.analysis.analyze` run under the ablation, and what was switched off:
  ``ablated_zero_heads`` ``[K, 2]``, ``ablated_mean_heads`` ``[K, 2]`` (layer, head), ``ablated_masked_tokens`` ``[T]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack

import numpy as np
import torch
from timm.models.vision_transformer import VisionTransformer

from ..errors import SettingsError
from .ablation import Ablating, head_importance, head_means

__all__ = ["ablation_arrays", "ablated_analysis"]


def _pairs(heads: Sequence[tuple[int, int]]) -> np.ndarray:
    return np.asarray(list(heads), dtype=np.int64).reshape(-1, 2)


def ablation_arrays(
    model: VisionTransformer,
    pixel_values: torch.Tensor,
    reference: torch.Tensor | None,
    *,
    importance: bool = True,
    zero_heads: Sequence[tuple[int, int]] = (),
    mean_heads: Sequence[tuple[int, int]] = (),
    masked_tokens: Sequence[int] = (),
    target: int | None = None,
) -> dict[str, np.ndarray]:
    """The arrays listed in this module's docstring.

    Args:
        reference: ``[images, 3, h, w]`` at the input's size for the mean ablation (e.g.
            :func:`vit_core.inside.ablation.sample_reference`); None when nothing is mean-ablated.
    """
    both = set(map(tuple, zero_heads)) & set(map(tuple, mean_heads))
    if both:
        layer, head = sorted(both)[0]
        raise SettingsError(f"head {layer}:{head} is both zeroed and mean-ablated; name it in one list only.",
                            key="ablation.both_modes", layer=layer, head=head)
    wants_mean = importance or bool(mean_heads)
    if wants_mean and reference is None:
        raise SettingsError("mean ablation needs reference images; give a folder of them or leave it to the bundled samples.",
                            key="ablation.no_reference")
    means = head_means(model, reference) if wants_mean else None
    arrays: dict[str, np.ndarray] = {}
    if importance:
        with torch.no_grad():
            clean = model(pixel_values).float()
        chosen = clean.argmax(-1) if target is None else torch.full_like(clean.argmax(-1), int(target))
        arrays["head_importance"] = head_importance(model, pixel_values, chosen, mode="zero").cpu().numpy()
        arrays["head_importance_mean"] = head_importance(model, pixel_values, chosen, mode="mean", reference=means).cpu().numpy()
        arrays["head_importance_target"] = chosen.cpu().numpy().astype(np.int64)
        arrays["head_importance_reference"] = np.asarray(reference.shape[0], dtype=np.int64)
    if zero_heads or mean_heads or masked_tokens:
        result = ablated_analysis(model, pixel_values, zero_heads, mean_heads, means, masked_tokens)
        arrays["ablated_logits"] = result.logits
        arrays["ablated_rollout"] = result.rollout
        if result.cls_attention is not None:
            arrays["ablated_cls_attention"] = result.cls_attention
        arrays["ablated_zero_heads"] = _pairs(zero_heads)
        arrays["ablated_mean_heads"] = _pairs(mean_heads)
        arrays["ablated_masked_tokens"] = np.asarray(list(masked_tokens), dtype=np.int64)
    return arrays


def ablated_analysis(
    model: VisionTransformer,
    pixel_values: torch.Tensor,
    zero_heads: Sequence[tuple[int, int]] = (),
    mean_heads: Sequence[tuple[int, int]] = (),
    means: torch.Tensor | None = None,
    masked_tokens: Sequence[int] = (),
):
    """The analysis (logits, rollout, class-token attention; no relevance, no attention kept) of the model with
    `zero_heads` zeroed, `mean_heads` replaced by `means` (:func:`~vit_core.inside.ablation.head_means`) and
    `masked_tokens` masked: the project's own maps of the ablated model, for ``inspect`` and the app alike."""
    from ..runs.analysis import analyze

    with ExitStack() as stack:
        if zero_heads or masked_tokens:
            stack.enter_context(Ablating(model, zero_heads, "zero", masked_tokens=masked_tokens))
        if mean_heads:
            stack.enter_context(Ablating(model, mean_heads, "mean", means))
        return analyze(model, pixel_values, relevance=False, attention="none", model_views=False, keep_pixels=False)
