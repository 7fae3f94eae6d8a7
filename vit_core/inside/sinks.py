"""Attention sinks: how much attention each key token receives, the mean over the queries, per layer and head.

``sink_mass[b, l, h, k] = (1 / N) * sum_q A[b, l, h, q, k]`` (each row of A sums to 1, so each ``[b, l, h]``
sums to 1). It is read from the analysis' bounded-memory store (:mod:`vit_core.attention.store`): block by block
of query rows (:func:`~vit_core.attention.store.query_blocks`, at most one block's probabilities held), whether
the result keeps the full attention or each layer's q and k, never a layer's ``[head, query, key]`` rebuilt.
"""

from __future__ import annotations

import numpy as np

from ..attention.store import query_blocks
from ..results.result import AnalysisResult

__all__ = ["sink_mass", "top_sinks", "share_of"]


def sink_mass(result: AnalysisResult, budget: int | None = None) -> np.ndarray:
    """``[B, L, H, N]`` float32: the mean over queries of the attention each key token receives.

    Args:
        result: an analysis that kept the attention (``attention="full"`` or ``"qk"``).
        budget: bytes of one block of probabilities (default :data:`vit_core.attention.store.BLOCK_BYTES`).
    """
    batch, layers, heads, tokens, _ = result.attention_shape  # refuses a result that keeps no attention
    out = np.zeros((batch, layers, heads, tokens), dtype=np.float32)
    for image in range(batch):
        for layer in range(layers):
            total = np.zeros((heads, tokens), dtype=np.float64)
            for rows in query_blocks(1, heads, tokens, budget):
                total += result.attention_slice(layer, rows=rows, image=image).sum(axis=-2, dtype=np.float64)
            out[image, layer] = total / tokens
    return out


def top_sinks(mass: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The `k` key tokens that receive most, per image, layer and head: (indices ``[B, L, H, k]`` int64, their
    mass ``[B, L, H, k]`` float32), largest first."""
    k = min(k, mass.shape[-1])
    order = np.argsort(-mass, axis=-1, kind="stable")[..., :k]
    return order.astype(np.int64), np.take_along_axis(mass, order, axis=-1).astype(np.float32)


def share_of(mass: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """``[B, L, H]`` the mass that goes to a set of tokens: `tokens` ``[B, N]`` bool, per image."""
    return np.einsum("blhn,bn->blh", mass, tokens.astype(mass.dtype))
