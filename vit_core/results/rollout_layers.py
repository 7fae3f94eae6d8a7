"""Rollout rows for any query token and any settings from one image's head-fused attention, never R itself.

A view that changes the rollout's residual weight, discard ratio or start layer, or asks for the rolled-out row
of a clicked patch, needs ``e_q B_L ... B_s``: a row pushed through the layers' factors. Each factor is built
from the layer's head-fused attention ``F_l`` (:func:`vit_core.methods.rollout.rollout_factor_of_fused`, the
arithmetic of :func:`~vit_core.methods.rollout.attention_rollout`) as a row passes.

:class:`FusedLayers` keeps ``F_l`` of every layer for one fusion (``[layer, query, key]``: 90 MB for ViT-B/14 at
518 px) while that fits :data:`FUSED_BYTES`; above it (ViT-B/14 at 1036 px would keep 1.4 GB) it keeps nothing
and rebuilds ``F_l`` block by block of query rows at each push (from q and k, or from the full attention), so
its memory is one block. Both give the same rows. ``F_l`` comes from the full attention when the result keeps
it, else from q and k.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..attention.store import attention_rows, query_blocks
from ..errors import SettingsError
from ..methods.rollout import HeadFusion, RolloutSettings, fuse_heads, rollout_factor_of_fused
from .result import AnalysisResult

__all__ = ["FUSED_BYTES", "FusedLayers", "fused_layers", "kept_bytes", "layers_bytes"]

FUSED_BYTES = 256 << 20  # most bytes of [layer, query, key] float32 head-fused layers kept (read at each build)


@dataclass(frozen=True)
class FusedLayers:
    """Every layer's head-fused attention of one image, for one fusion: kept, or rebuilt in blocks at each push.

    Attributes:
        head_fusion: the fusion it holds.
        num_prefix_tokens: leading prefix tokens (never discarded).
        depth, tokens: the layers and tokens of the attention.
        fused: ``[layer, query, key]`` float32, ``fuse_heads(A_l, head_fusion)`` of each layer; None when that
            is over :data:`FUSED_BYTES` and each push rebuilds it from `result` block by block.
        result: the analysis rebuilt from when `fused` is None.
        image: the image of `result`.
        budget: bytes of one block of ``[head, rows, key]`` probabilities (None: the store's default).
    """

    head_fusion: HeadFusion
    num_prefix_tokens: int
    depth: int
    tokens: int
    fused: torch.Tensor | None = None
    result: AnalysisResult | None = None
    image: int = 0
    budget: int | None = None

    @property
    def nbytes(self) -> int:
        """Bytes held (0 when every push rebuilds the layers)."""
        return 0 if self.fused is None else self.fused.numel() * self.fused.element_size()

    def _check(self, settings: RolloutSettings) -> None:
        if settings.head_fusion != self.head_fusion:
            raise SettingsError(
                f"these layers hold {self.head_fusion!r} fusion, not {settings.head_fusion!r}; build them for it."
            )
        settings.check_depth(self.depth)

    def _blocks(self, layer: int) -> Iterator[tuple[slice, torch.Tensor]]:
        """(query rows, ``[rows, key]`` head-fused attention) of `layer`: all rows when kept, else in blocks."""
        if self.fused is not None:
            yield slice(0, self.tokens), self.fused[layer]
        else:
            yield from _fused_blocks(self.result, layer, self.head_fusion, self.image, self.budget)

    def _times_factor(self, rows: torch.Tensor, layer: int, settings: RolloutSettings) -> torch.Tensor:
        """``rows @ B_l`` for rows ``[n, token]``, B_l built from the layer's fused rows (a block at a time)."""
        out = None
        for block, fused in self._blocks(layer):
            factor = rollout_factor_of_fused(fused, settings, num_prefix_tokens=self.num_prefix_tokens,
                                             first_row=block.start)  # [rows, key]
            part = rows[:, block] @ factor
            out = part if out is None else out.add_(part)
        return out

    def push(self, rows: torch.Tensor, settings: RolloutSettings) -> torch.Tensor:
        """``rows @ B_L ... B_s`` for rows ``[n, token]`` (readout weights or one-hot queries) -> ``[n, token]``."""
        self._check(settings)
        out = rows.float()
        for layer in reversed(range(settings.start_layer, self.depth)):
            out = self._times_factor(out, layer, settings)
        return out

    def token_rows(self, tokens: list[int] | np.ndarray, settings: RolloutSettings) -> np.ndarray:
        """Rows of R = B_L ... B_s for the query `tokens` ``[n, key]`` float32, without forming R."""
        one_hot = torch.zeros(len(tokens), self.tokens)
        one_hot[torch.arange(len(tokens)), torch.as_tensor(np.asarray(tokens), dtype=torch.long)] = 1.0
        return self.push(one_hot, settings).numpy()

    def running_rows(self, token: int, settings: RolloutSettings) -> np.ndarray:
        """Row `token` of every running product ``R_l = B_l ... B_s`` (l = s .. L-1) ``[l - s, key]``, one factor
        built per layer (the rows of all the products travel together)."""
        self._check(settings)
        start = settings.start_layer
        rows = torch.zeros(self.depth - start, self.tokens)  # row i is R_{start + i}'s; joins at its layer
        for layer in reversed(range(start, self.depth)):
            i = layer - start
            rows[i, token] = 1.0
            rows[i:] = self._times_factor(rows[i:], layer, settings)
        return rows.numpy()


def _fused_blocks(result: AnalysisResult, layer: int, head_fusion: HeadFusion, image: int,
                  budget: int | None) -> Iterator[tuple[slice, torch.Tensor]]:
    """(query rows, ``[rows, key]`` head-fused attention) of one layer of `result`, from either store, one block
    of ``[head, rows, key]`` probabilities at a time."""
    _, _, heads, tokens, _ = result.attention_shape
    if result.attention is not None:
        attention = result.attention[image, layer]  # [head, query, key]
        for rows in query_blocks(1, heads, tokens, budget):
            yield rows, fuse_heads(torch.from_numpy(np.ascontiguousarray(attention[:, rows])), head_fusion)
        return
    q = torch.from_numpy(np.ascontiguousarray(result.attention_q[image, layer]))[None]  # [1, head, token, dim]
    k = torch.from_numpy(np.ascontiguousarray(result.attention_k[image, layer]))[None]
    scale = float(result.attention_scale[layer])
    for rows in query_blocks(1, heads, tokens, budget):
        _, probs = attention_rows(q, k, scale, rows)  # [1, head, rows, key]
        yield rows, fuse_heads(probs[0], head_fusion)
        del probs


def layers_bytes(depth: int, tokens: int, keep_bytes: int | None = None) -> int:
    """Bytes of one image's ``[layer, query, key]`` float32 head-fused layers, or 0 when that is over `keep_bytes`
    (default :data:`FUSED_BYTES`) and they are rebuilt at each push instead."""
    size = depth * tokens * tokens * 4
    return size if size <= (FUSED_BYTES if keep_bytes is None else keep_bytes) else 0


def kept_bytes(result: AnalysisResult, keep_bytes: int | None = None) -> int:
    """Bytes :func:`fused_layers` keeps for `result`: its ``[layer, query, key]`` float32, or 0 over the guard."""
    _, depth, _, tokens, _ = result.attention_shape
    return layers_bytes(depth, tokens, keep_bytes)


def fused_layers(result: AnalysisResult, head_fusion: HeadFusion, *, image: int = 0,
                 budget: int | None = None, keep_bytes: int | None = None) -> FusedLayers:
    """Each layer's head-fused attention of `image` from either store of `result`: kept when its
    ``[layer, query, key]`` float32 fits `keep_bytes` (default :data:`FUSED_BYTES`), else rebuilt in blocks of
    query rows (`budget` bytes of probabilities each) at every push."""
    if not result.has_attention:
        raise SettingsError("this analysis keeps no attention; analyse again with the attention kept.")
    _, depth, _, tokens, _ = result.attention_shape
    own = FusedLayers(head_fusion, int(result.num_prefix_tokens), depth, tokens, result=result, image=image,
                      budget=budget)
    if not kept_bytes(result, keep_bytes):
        return own  # rebuilt at each push: memory of one block, not of every layer
    fused = torch.empty(depth, tokens, tokens)
    for layer in range(depth):
        for rows, block in own._blocks(layer):
            fused[layer, rows] = block
    return FusedLayers(head_fusion, own.num_prefix_tokens, depth, tokens, fused=fused)
