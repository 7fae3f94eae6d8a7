"""Rollout rows for any query token and any settings from one image's head-fused attention, never R itself.

A view that changes the rollout's residual weight, discard ratio or start layer, or asks for the rolled-out row
of a clicked patch, needs ``e_q B_L ... B_s``: a row pushed through the layers' factors. Each factor is built
from the layer's head-fused attention ``F_l`` (:func:`vit_core.methods.rollout.rollout_factor_of_fused`, the
arithmetic of :func:`~vit_core.methods.rollout.attention_rollout`), so :class:`FusedLayers` keeps ``F_l`` of
every layer for one fusion (``[layer, query, key]``: 90 MB for ViT-B/14 at 518 px) and builds each factor as a
row passes. ``F_l`` comes from the full attention when the result keeps it, else block by block from q and k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..attention.store import attention_rows, query_blocks
from ..errors import SettingsError
from ..methods.rollout import HeadFusion, RolloutSettings, fuse_heads, rollout_factor_of_fused
from .result import AnalysisResult

__all__ = ["FusedLayers", "fused_layers"]


@dataclass(frozen=True)
class FusedLayers:
    """Every layer's head-fused attention of one image, for one fusion.

    Attributes:
        fused: ``[layer, query, key]`` float32, ``fuse_heads(A_l, head_fusion)`` of each layer.
        head_fusion: the fusion it holds.
        num_prefix_tokens: leading prefix tokens (never discarded).
    """

    fused: torch.Tensor
    head_fusion: HeadFusion
    num_prefix_tokens: int

    @property
    def nbytes(self) -> int:
        return self.fused.numel() * self.fused.element_size()

    def _check(self, settings: RolloutSettings) -> None:
        if settings.head_fusion != self.head_fusion:
            raise SettingsError(
                f"these layers hold {self.head_fusion!r} fusion, not {settings.head_fusion!r}; build them for it."
            )
        settings.check_depth(self.fused.shape[0])

    def factor(self, layer: int, settings: RolloutSettings) -> torch.Tensor:
        """B_l ``[query, key]`` of one layer."""
        return rollout_factor_of_fused(self.fused[layer], settings, num_prefix_tokens=self.num_prefix_tokens)

    def push(self, rows: torch.Tensor, settings: RolloutSettings) -> torch.Tensor:
        """``rows @ B_L ... B_s`` for rows ``[n, token]`` (readout weights or one-hot queries) -> ``[n, token]``."""
        self._check(settings)
        out = rows.float()
        for layer in reversed(range(settings.start_layer, self.fused.shape[0])):
            out = out @ self.factor(layer, settings)
        return out

    def token_rows(self, tokens: list[int] | np.ndarray, settings: RolloutSettings) -> np.ndarray:
        """Rows of R = B_L ... B_s for the query `tokens` ``[n, key]`` float32, without forming R."""
        one_hot = torch.zeros(len(tokens), self.fused.shape[-1])
        one_hot[torch.arange(len(tokens)), torch.as_tensor(np.asarray(tokens), dtype=torch.long)] = 1.0
        return self.push(one_hot, settings).numpy()

    def running_rows(self, token: int, settings: RolloutSettings) -> np.ndarray:
        """Row `token` of every running product ``R_l = B_l ... B_s`` (l = s .. L-1) ``[l - s, key]``, one factor
        built per layer (the rows of all the products travel together)."""
        self._check(settings)
        depth = self.fused.shape[0]
        start = settings.start_layer
        rows = torch.zeros(depth - start, self.fused.shape[-1])  # row i is R_{start + i}'s; joins at its layer
        for layer in reversed(range(start, depth)):
            i = layer - start
            rows[i, token] = 1.0
            rows[i:] = rows[i:] @ self.factor(layer, settings)
        return rows.numpy()


def fused_layers(result: AnalysisResult, head_fusion: HeadFusion, *, image: int = 0,
                 budget: int | None = None) -> FusedLayers:
    """Each layer's head-fused attention of `image` from either store of `result` (full, or q and k in blocks
    of query rows: one block of ``[head, rows, key]`` probabilities held at a time)."""
    if not result.has_attention:
        raise SettingsError("this analysis keeps no attention; analyse again with the attention kept.")
    _, depth, heads, tokens, _ = result.attention_shape
    fused = torch.empty(depth, tokens, tokens)
    for layer in range(depth):
        if result.attention is not None:
            fused[layer] = fuse_heads(torch.from_numpy(np.asarray(result.attention[image, layer])), head_fusion)
            continue
        q = torch.from_numpy(np.ascontiguousarray(result.attention_q[image, layer]))[None]  # [1, head, token, dim]
        k = torch.from_numpy(np.ascontiguousarray(result.attention_k[image, layer]))[None]
        scale = float(result.attention_scale[layer])
        for rows in query_blocks(1, heads, tokens, budget):
            _, probs = attention_rows(q, k, scale, rows)  # [1, head, rows, key]
            fused[layer, rows] = fuse_heads(probs[0], head_fusion)
            del probs
    return FusedLayers(fused, head_fusion, int(result.num_prefix_tokens))
