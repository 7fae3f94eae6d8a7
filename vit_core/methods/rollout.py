"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers", arXiv 2005.00928, section 3).

Per layer l the heads are fused (mean as in the paper, or max / min), optionally the lowest fraction r of
each query row's weights to *patch* keys is zeroed (prefix keys are never dropped), the residual identity
is mixed in, ``B_l = (1 - a) F_l + a I``, and every row is divided by its own sum. The rollout is the
product ``R = B_L ... B_s`` from the start layer s to the last layer; row q of R says how much of each input
token flows into output token q.

Two forms that give the same R: :func:`attention_rollout` over a stored ``[batch, layer, head, query, key]``
tensor, and :class:`RolloutSink`, a capture sink that updates R layer by layer on the device so the full
attention tensor never has to exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch

from ..errors import CaptureError, SettingsError

__all__ = [
    "HeadFusion",
    "HEAD_FUSIONS",
    "RolloutSettings",
    "fuse_heads",
    "discard_lowest",
    "rollout_layer_matrix",
    "rollout_factor_of_fused",
    "attention_rollout",
    "RolloutSink",
]

HeadFusion = Literal["mean", "max", "min"]
HEAD_FUSIONS: tuple[HeadFusion, ...] = get_args(HeadFusion)  # the one list of fusion names (CLI, app, kernel)
_CHOOSE_FUSION = "choose " + ", ".join(repr(f) for f in HEAD_FUSIONS[:-1]) + f" or {HEAD_FUSIONS[-1]!r}"


@dataclass(frozen=True)
class RolloutSettings:
    """How attention rollout combines heads and layers.

    Attributes:
        head_fusion: how the heads of one layer are combined: "mean" (the paper), "max" or "min".
        discard_ratio: fraction in [0, 1) of each query row's patch-key weights (the lowest) set to zero.
        residual_weight: weight a in [0, 1] of the identity in ``(1 - a) F + a I``; 0.5 in the paper.
        start_layer: first layer (0-based) that enters the product.
    """

    head_fusion: HeadFusion = "mean"
    discard_ratio: float = 0.0
    residual_weight: float = 0.5
    start_layer: int = 0

    def __post_init__(self) -> None:
        if self.head_fusion not in HEAD_FUSIONS:
            raise SettingsError(f"head fusion {self.head_fusion!r} is unknown; {_CHOOSE_FUSION}.")
        if not 0.0 <= float(self.discard_ratio) < 1.0:
            raise SettingsError(f"discard ratio {self.discard_ratio} is outside [0, 1); choose a value such as 0.9.")
        if not 0.0 <= float(self.residual_weight) <= 1.0:
            raise SettingsError(f"residual weight {self.residual_weight} is outside [0, 1]; 0.5 is the paper's value.")
        if isinstance(self.start_layer, bool) or int(self.start_layer) != self.start_layer or self.start_layer < 0:
            raise SettingsError(f"start layer {self.start_layer} is not a layer index; use 0 for the first layer.")

    def check_depth(self, depth: int) -> None:
        """Raise SettingsError unless the start layer exists in a model of `depth` layers."""
        if self.start_layer >= depth:
            raise SettingsError(
                f"start layer {self.start_layer} is beyond this model's {depth} layers; choose 0 to {depth - 1}."
            )


def fuse_heads(attention: torch.Tensor, fusion: HeadFusion = "mean") -> torch.Tensor:
    """Combine the heads of attention ``[..., head, query, key]`` into ``[..., query, key]`` (float32)."""
    attention = attention.float()
    if fusion == "mean":
        return attention.mean(dim=-3)
    if fusion == "max":
        return attention.amax(dim=-3)
    if fusion == "min":
        return attention.amin(dim=-3)
    raise SettingsError(f"head fusion {fusion!r} is unknown; {_CHOOSE_FUSION}.")


def discard_lowest(fused: torch.Tensor, ratio: float, num_prefix_tokens: int) -> torch.Tensor:
    """Zero, in every query row, the lowest ``floor(ratio * patches)`` weights to patch keys.

    Weights to the prefix keys (class, distillation, registers) are never dropped: vit-explain discards over
    the flattened matrix and so protects only the [cls, cls] entry.

    Args:
        fused: ``[..., query, key]`` fused attention.
        ratio: fraction in [0, 1) of the patch keys to drop per row.
        num_prefix_tokens: number of leading prefix tokens.

    Returns:
        A new tensor of the same shape.
    """
    if not 0.0 <= ratio < 1.0:
        raise SettingsError(f"discard ratio {ratio} is outside [0, 1); choose a value such as 0.9.")
    num_patches = fused.shape[-1] - num_prefix_tokens
    drop = int(ratio * num_patches)
    if drop == 0:
        return fused
    patch = fused[..., num_prefix_tokens:]  # [..., query, patch_key]
    # The weights above a cut stay, and of the weights equal to it the last ones in key order until the count: one
    # selection of the fewer side (the drop-th smallest, or the smallest of those kept) and a few passes, never
    # topk's indices (2x dearer at ratio 0.5). Ties at the cut (flat image regions) are resolved row by row.
    keep = num_patches - drop
    if drop > keep:
        cut = patch.topk(keep, dim=-1).values[..., -1:]  # [..., query, 1]: the smallest weight kept
        kept = patch >= cut
        wrong = kept.sum(dim=-1, dtype=torch.int32) > keep  # int32: 3x faster than the default int64
    else:
        cut = patch.kthvalue(drop, dim=-1, keepdim=True).values  # the largest weight dropped
        kept = patch > cut
        wrong = kept.sum(dim=-1, dtype=torch.int32) < keep
    rows_with_ties = wrong.nonzero(as_tuple=True)
    if len(rows_with_ties[0]):
        rows, row_cut = patch[rows_with_ties], cut[rows_with_ties]  # [rows, patch_key], [rows, 1]
        tied = rows == row_cut
        ties_dropped = (rows >= row_cut).sum(dim=-1, keepdim=True) - keep  # the first ones in key order
        kept[rows_with_ties] = (rows > row_cut) | (tied & (tied.cumsum(dim=-1) > ties_dropped))
    out = fused.clone()  # the prefix keys as they are; the patch keys zeroed in place (no concatenation)
    out[..., num_prefix_tokens:].mul_(kept)
    return out


def rollout_layer_matrix(attention: torch.Tensor, settings: RolloutSettings, *, num_prefix_tokens: int) -> torch.Tensor:
    """One layer's rollout factor B_l from its attention ``[..., head, query, key]``; returns ``[..., query, key]``.

    Rows are divided by their own sums (keepdim): ``a / a.sum(-1)`` without keepdim would divide column j by
    row j's sum (vit-explain #16).
    """
    return rollout_factor_of_fused(fuse_heads(attention, settings.head_fusion), settings, num_prefix_tokens=num_prefix_tokens)


def rollout_factor_of_fused(
    fused: torch.Tensor, settings: RolloutSettings, *, num_prefix_tokens: int, first_row: int = 0
) -> torch.Tensor:
    """B_l from head-fused attention ``[..., query, key]``: discard, mix in the residual, normalise rows.

    ``first_row``: the query index of the first row given, when `fused` holds a block of rows (query
    ``first_row + i`` gets the identity at key ``first_row + i``); every step is row by row.
    """
    kept = discard_lowest(fused, float(settings.discard_ratio), num_prefix_tokens)
    a = float(settings.residual_weight)
    # (1 - a) F + a I in a new tensor (discarding made one already: scaled in place), the identity added in place
    mixed = kept.mul_(1.0 - a) if kept is not fused else fused * (1.0 - a)
    mixed.diagonal(offset=first_row, dim1=-2, dim2=-1).add_(a)
    return mixed / mixed.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(mixed.dtype).tiny)


def attention_rollout(
    attention: torch.Tensor,
    settings: RolloutSettings | None = None,
    *,
    num_prefix_tokens: int,
) -> torch.Tensor:
    """Attention rollout ``R = B_L ... B_s`` of a stored attention tensor.

    Args:
        attention: ``[batch, layer, head, query, key]`` post-softmax probabilities of all layers in order.
        settings: fusion, discard ratio, residual weight and start layer; default: the paper's.
        num_prefix_tokens: leading prefix tokens, whose key columns discarding never touches.

    Returns:
        ``[batch, query, key]`` float32; every row sums to 1.

    Example:
        >>> R = attention_rollout(cap.attention, num_prefix_tokens=1)
        >>> R[:, 0, 1:]  # class token's rollout over the patches
    """
    settings = settings or RolloutSettings()
    if attention.dim() != 5 or attention.shape[-1] != attention.shape[-2]:
        raise SettingsError(
            f"attention has shape {tuple(attention.shape)}; pass [batch, layer, head, query, key] with query == key."
        )
    settings.check_depth(attention.shape[1])
    sink = RolloutSink(settings, num_prefix_tokens=num_prefix_tokens)
    for layer in range(attention.shape[1]):
        sink(layer, attention[:, layer])
    return sink.result


class RolloutSink:
    """Streaming rollout: a capture ``sink`` that folds each layer into R as the forward pass runs.

    Only the per-layer factors B_l ``[batch, query, key]`` are kept (head-fused, one matrix per layer), never
    ``[batch, layer, head, query, key]``; R is their product, formed when :attr:`result` is first read, and
    :meth:`left_product` gives rows of R (what a readout needs) without forming it. Layers before
    ``settings.start_layer`` are ignored; layers must arrive in increasing order (the forward order), which a
    forward pass guarantees.

    Args:
        settings: rollout settings; default: the paper's.
        num_prefix_tokens: leading prefix tokens, whose key columns discarding never touches.

    Example:
        >>> sink = RolloutSink(num_prefix_tokens=1)
        >>> capture(model, pixel_values, sink=sink)
        >>> sink.result  # [batch, query, key]
    """

    def __init__(self, settings: RolloutSettings | None = None, *, num_prefix_tokens: int) -> None:
        self.settings = settings or RolloutSettings()
        self.num_prefix_tokens = int(num_prefix_tokens)
        self._factors: list[torch.Tensor] = []  # B_l [batch, query, key], forward order
        self._rollout: torch.Tensor | None = None  # R, once formed
        self._last_layer = -1
        self.layers: list[int] = []

    def __call__(self, layer: int, probs: torch.Tensor) -> None:
        """Fold one layer's probabilities ``[batch, head, query, key]`` into R."""
        self.fold_layers([layer], probs.unsqueeze(1))

    def fold_layers(self, layers: list[int], attention: torch.Tensor) -> None:
        """Fold consecutive layers at once: ``attention`` is ``[batch, layer, head, query, key]`` for `layers`.

        The per-layer factors are computed in one batched call (a few kernel launches for all the layers
        instead of a few per layer).
        """
        self._fold(layers, attention, stage="attention")

    def fold_fused(self, layers: list[int], fused: torch.Tensor, *, is_factor: bool = False) -> None:
        """Fold consecutive layers given as head-fused attention ``[batch, layer, query, key]`` (fused with
        ``settings.head_fusion``), or, with ``is_factor``, as finished factors B_l (what the fused kernel writes)."""
        self._fold(layers, fused, stage="factor" if is_factor else "fused")

    def _fold(self, layers: list[int], per_layer: torch.Tensor, stage: Literal["attention", "fused", "factor"]) -> None:
        """Keep the factors of `layers` (dimension 1 of `per_layer`) from the start layer on, in forward order."""
        if layers[0] <= self._last_layer or any(b <= a for a, b in zip(layers, layers[1:], strict=False)):
            raise CaptureError(
                f"layers {layers} arrived after layer {self._last_layer} or out of order; "
                "use a new RolloutSink for each forward pass."
            )
        self._last_layer = layers[-1]
        keep = [i for i, layer in enumerate(layers) if layer >= self.settings.start_layer]
        if not keep:
            return
        with torch.no_grad():
            chosen = per_layer.detach() if len(keep) == len(layers) else per_layer.detach()[:, keep]
            if stage == "attention":
                factors = rollout_layer_matrix(chosen, self.settings, num_prefix_tokens=self.num_prefix_tokens)
            elif stage == "fused":
                factors = rollout_factor_of_fused(chosen, self.settings, num_prefix_tokens=self.num_prefix_tokens)
            else:
                factors = chosen
        self._factors.extend(factors.unbind(1))
        self._rollout = None
        self.layers.extend(layers[i] for i in keep)

    @property
    def factors(self) -> list[torch.Tensor]:
        """The per-layer factors B_l ``[batch, query, key]`` from the start layer on, in forward order."""
        self._check_seen()
        return list(self._factors)

    def _check_seen(self) -> None:
        if not self._factors:
            raise SettingsError(
                f"no layer at or after start layer {self.settings.start_layer} was seen; "
                "choose a start layer below the model's depth."
            )

    @property
    def result(self) -> torch.Tensor:
        """R = B_L ... B_s ``[batch, query, key]``; raises if no layer from the start layer on was seen."""
        self._check_seen()
        if self._rollout is None:
            with torch.no_grad():
                rollout = self._factors[0]
                for factor in self._factors[1:]:
                    rollout = factor @ rollout
            self._rollout = rollout
        return self._rollout

    def left_product(self, weights: torch.Tensor) -> torch.Tensor:
        """``weights @ R`` for weights ``[batch, query]`` -> ``[batch, key]``, without forming R.

        A vector times each factor, last layer first: L products of a row with a matrix instead of L - 1
        matrix products (what a readout of R costs: one row per image).
        """
        self._check_seen()
        with torch.no_grad():
            row = weights.float().unsqueeze(1)  # [batch, 1, query]
            for factor in reversed(self._factors):
                row = row @ factor
        return row.squeeze(1)
