"""Attention kept in memory that grows with the tokens: each layer's q and k, and any slice rebuilt from them.

Every layer's probabilities ``softmax(q k^T * scale)`` are ``[batch, head, query, key]``: L x H x N^2 numbers,
1.1 GB for ViT-B/14 at 518 px (1,374 tokens) and 41 GiB for ViT-L/14 at 1022 px. The q and k the fused
kernel saw are 2 x L x N x D numbers (101 MB at 518 px) and rebuild any row of any layer exactly, so the
analysis keeps them instead and works in blocks of query rows:

- :func:`query_blocks` cuts the queries into blocks whose ``[batch, head, rows, key]`` probabilities fit a
  byte budget (one block for small models: nothing changes for them);
- :func:`attention_rows` rebuilds the probabilities of one block of one layer (the same arithmetic as the
  capture, :func:`attention_logits`, so a rebuilt slice equals the captured one), and
  :func:`attention_gradient_rows` the gradient of a score with respect to them (``(d score / d o) v^T``);
- :func:`row_stats` reduces a block to what the analysis keeps (entropy, distance, class-token rows, the
  rollout factor's rows);
- :func:`push_rollout_row` and :func:`push_relevance_row` carry a readout row vector through the layers, last
  layer first (``r B_L ... B_s`` and ``r (I + Abar_L) ... (I + Abar_1)``), never a token x token product.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from ..methods.distance import attention_entropy
from ..methods.rollout import HeadFusion, RolloutSettings, fuse_heads, rollout_factor_of_fused
from .logits import attention_logits

__all__ = [
    "BLOCK_BYTES",
    "RowStats",
    "attention_logits",
    "attention_gradient_rows",
    "attention_rows",
    "query_blocks",
    "row_stats",
    "push_rollout_row",
    "push_relevance_row",
]

BLOCK_BYTES = 16 << 20  # most bytes of one block's [batch, head, rows, key] float32 probabilities


def query_blocks(batch: int, heads: int, tokens: int, budget: int | None = None) -> Iterator[slice]:
    """Slices of the query rows such that one block's ``[batch, head, rows, key]`` float32 fits `budget` bytes
    (default :data:`BLOCK_BYTES`, read at each call; at least one row per block)."""
    rows = max(1, (budget or BLOCK_BYTES) // max(1, batch * heads * tokens * 4))
    for start in range(0, tokens, rows):
        yield slice(start, min(tokens, start + rows))


def _mask_rows(mask: torch.Tensor | None, rows: slice, tokens: int) -> torch.Tensor | None:
    if mask is None or mask.dim() < 2 or mask.shape[-2] != tokens:
        return mask  # None, or broadcast over the queries
    return mask[..., rows, :]


def attention_rows(
    q: torch.Tensor, k: torch.Tensor, scale: float, rows: slice | None = None, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, probabilities) ``[batch, head, rows, key]`` float32 of the query rows `rows` (None: all).

    q, k: ``[batch, head, token, head_dim]`` of one layer.
    """
    rows = rows if rows is not None else slice(0, q.shape[-2])
    logits = attention_logits(q[..., rows, :], k, scale, _mask_rows(mask, rows, q.shape[-2]))
    return logits, logits.softmax(dim=-1)


def attention_gradient_rows(output_gradient: torch.Tensor, v: torch.Tensor, rows: slice) -> torch.Tensor:
    """d score / dA ``[batch, head, rows, key]`` float32 of the query rows `rows`, exactly, from the gradient of the
    layer's attention output: a head's output is ``o = A v``, so ``dA = (d score / d o) v^T``.

    output_gradient, v: ``[batch, head, token, head_dim]`` of one layer.
    """
    return output_gradient[..., rows, :].float() @ v.float().transpose(-2, -1)


@dataclass(frozen=True)
class RowStats:
    """One layer's attention reduced per query row (float32; the whole layer, blocks joined).

    Attributes:
        entropy_rows: ``[batch, head, query]`` entropy of each query row in nats.
        distance_rows: ``[batch, head, patch]`` attention-weighted patch distance of each patch query in pixels
            (renormalised over the patch keys, as :func:`vit_core.methods.distance.mean_attention_distance`).
        cls_row: ``[batch, head, key]`` the class token's attention, or None.
        factor: ``[batch, query, key]`` the rollout factor B_l, or None when not asked for.
        output: ``[batch, head, query, head_dim]`` the attention output ``A v`` (float32), when values were given.
    """

    entropy_rows: torch.Tensor
    distance_rows: torch.Tensor
    cls_row: torch.Tensor | None
    factor: torch.Tensor | None
    output: torch.Tensor | None = None


def row_stats(
    q: torch.Tensor,
    k: torch.Tensor,
    scale: float,
    mask: torch.Tensor | None,
    *,
    num_prefix_tokens: int,
    distances: torch.Tensor,
    cls_index: int | None,
    settings: RolloutSettings | None,
    on_block=None,
    values: torch.Tensor | None = None,
    budget: int | None = None,
    fused_out: torch.Tensor | None = None,
    fusion: HeadFusion = "mean",
) -> RowStats:
    """Reduce one layer's attention block by block, never holding more than one block of probabilities.

    Args:
        q, k: ``[batch, head, token, head_dim]`` as the fused kernel saw them.
        scale: the logits' scale.
        mask: the attention mask the layer used, or None.
        num_prefix_tokens: leading prefix tokens.
        distances: ``[patch, patch]`` distances between patch centres in pixels, on q's device.
        cls_index: the class token's index, or None.
        settings: rollout settings whose factor rows to keep, or None for no factor.
        on_block: called as ``on_block(rows, probs)`` with each block's probabilities (to keep the full
            attention when asked for), or None.
        values: ``[batch, head, token, head_dim]`` v, to compute the layer's output from the same probabilities.
        budget: bytes of probabilities per block.
        fused_out: ``[batch, query, key]`` to receive the layer's head-fused attention, or None.
        fusion: the head fusion written into `fused_out`.
    """
    batch, heads, tokens, _ = q.shape
    p = num_prefix_tokens
    entropy, distance, factor, output = [], [], [], []
    cls_row = None
    for rows in query_blocks(batch, heads, tokens, budget):
        logits, probs = attention_rows(q, k, scale, rows, mask)
        if values is not None:
            output.append(probs @ values.float())  # [batch, head, rows, head_dim]
        if on_block is not None:
            on_block(rows, probs)
        # attention_entropy averages over the query axis: a size-1 axis per row keeps every row's own entropy
        entropy.append(attention_entropy(probs.unsqueeze(-2), logits.unsqueeze(-2)))  # [batch, head, rows]
        first_patch = max(rows.start, p)
        if first_patch < rows.stop:
            patch = probs[..., first_patch - rows.start :, p:]  # [batch, head, patch_rows, patch_key]
            weighted = torch.einsum("bhqk,qk->bhq", patch, distances[first_patch - p : rows.stop - p])
            mass = patch.sum(dim=-1).clamp_min(torch.finfo(torch.float32).tiny)
            distance.append(weighted / mass)
        if cls_index is not None and rows.start <= cls_index < rows.stop:
            cls_row = probs[..., cls_index - rows.start, :].clone()  # [batch, head, key]
        if fused_out is not None:
            fused_out[:, rows] = fuse_heads(probs, fusion)
        if settings is not None:
            fused = fuse_heads(probs, settings.head_fusion)  # [batch, rows, key]
            factor.append(rollout_factor_of_fused(fused, settings, num_prefix_tokens=p, first_row=rows.start))
        del logits, probs
    return RowStats(
        entropy_rows=torch.cat(entropy, dim=-1),
        distance_rows=torch.cat(distance, dim=-1) if distance else q.new_zeros(batch, heads, 0, dtype=torch.float32),
        cls_row=cls_row,
        factor=torch.cat(factor, dim=-2) if factor else None,
        output=None if not output else output[0] if len(output) == 1 else torch.cat(output, dim=-2),
    )


def push_rollout_row(
    row: torch.Tensor,
    qs: Sequence[torch.Tensor],
    ks: Sequence[torch.Tensor],
    scales: Sequence[float],
    settings: RolloutSettings,
    *,
    num_prefix_tokens: int,
    budget: int | None = None,
) -> torch.Tensor:
    """``row @ B_L ... B_s`` for a readout row ``[batch, token]``, each factor rebuilt block by block from q, k.

    Args:
        row: ``[batch, token]`` readout weights over the last layer's tokens.
        qs, ks: per layer (all layers, forward order) ``[batch, head, token, head_dim]``.
        scales: per layer, the logits' scale.
        settings: rollout settings (the start layer s among them).
        num_prefix_tokens: leading prefix tokens, whose keys discarding never drops.

    Returns:
        ``[batch, token]`` float32: the rollout's readout row.
    """
    row = row.float()
    for layer in reversed(range(settings.start_layer, len(qs))):
        q, k = qs[layer], ks[layer]
        batch, heads, tokens, _ = q.shape
        pushed = torch.zeros_like(row)
        for rows in query_blocks(batch, heads, tokens, budget):
            _, probs = attention_rows(q, k, scales[layer], rows)
            fused = fuse_heads(probs, settings.head_fusion)
            del probs
            factor = rollout_factor_of_fused(fused, settings, num_prefix_tokens=num_prefix_tokens, first_row=rows.start)
            pushed += torch.einsum("bq,bqk->bk", row[:, rows], factor)
        row = pushed
    return row


def push_relevance_row(
    row: torch.Tensor,
    qs: Sequence[torch.Tensor],
    ks: Sequence[torch.Tensor],
    vs: Sequence[torch.Tensor],
    output_gradients: Sequence[torch.Tensor | None],
    scales: Sequence[float],
    *,
    budget: int | None = None,
) -> torch.Tensor:
    """``row (I + Abar_L) ... (I + Abar_1)`` with ``Abar_l = mean_h clamp(dy/dA_l * A_l, min=0)`` (Chefer et al.).

    The attention output of a head is ``o = A v``, so ``dy/dA = (dy/do) v^T`` exactly: the gradient of every
    attention row is rebuilt from the gradient of the layer's attention output, block by block, and no
    layer's ``[head, query, key]`` gradient is ever held.

    Args:
        row: ``[batch, token]`` readout weights over the last layer's tokens.
        qs, ks, vs: per layer (forward order) ``[batch, head, token, head_dim]``.
        output_gradients: per layer ``[batch, head, token, head_dim]`` d score / d attention output (None: the
            layer does not reach the score).
        scales: per layer, the logits' scale.

    Returns:
        ``[batch, token]`` float32: the relevance's readout row.
    """
    row = row.float()
    for layer in reversed(range(len(qs))):
        grad = output_gradients[layer]
        if grad is None:
            continue
        q, k, v = qs[layer], ks[layer], vs[layer]
        batch, heads, tokens, _ = q.shape
        pushed = row.clone()
        for rows in query_blocks(batch, heads, tokens, (budget or BLOCK_BYTES) // 2):  # probabilities and gradients: two blocks
            _, probs = attention_rows(q, k, scales[layer], rows)
            weighted = attention_gradient_rows(grad, v, rows).mul_(probs).clamp_(min=0).mean(dim=1)  # [b, rows, key]
            del probs
            pushed += torch.einsum("bq,bqk->bk", row[:, rows], weighted)
        row = pushed
    return row
