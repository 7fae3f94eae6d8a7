"""One Triton kernel per layer: softmax(q k^T * scale) reduced to what the analysis keeps, on a GPU.

The rebuild-then-reduce path (capture rebuilds ``[batch, head, query, key]`` probabilities, the analysis
sink reduces them) writes and re-reads that tensor about ten times per layer; at batch 64 that was most of
the analysis' cost on a GPU. This kernel reads q and k once and writes only:

- the head-fused attention ``[batch, query, key]`` for rollout (mean, max or min over heads), or, when no
  discarding is asked for, the finished rollout factor ``B = rownorm((1 - a) F + a I)``;
- each query row's entropy ``[batch, head, query]`` (``H = m + log l - sum_k p_k s_k`` from the row's
  max ``m`` and normaliser ``l``);
- each patch query row's attention-weighted patch distance ``[batch, head, patch]`` (renormalised over the
  patch keys, as :func:`vit_core.methods.distance.mean_attention_distance`);
- the class token's row ``[batch, head, key]``.

One program handles ``BLOCK_M`` query rows of one image and loops over the heads, so the head fusion stays
in registers. The same function runs on CPU tensors through Triton's interpreter (slow; what the tests on
a machine without a GPU use). Callers fall back to the rebuild path where :func:`available` says no.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

# Imported on first use (a tenth of a second): only CUDA builds of torch bring Triton, and only a GPU needs it.
triton = tl = None

__all__ = ["FusedStats", "available", "interpreting", "fused_attention_stats"]

_FUSIONS = {"mean": 0, "max": 1, "min": 2}


@functools.cache
def _load_triton() -> bool:
    """Import Triton into this module's globals (where the kernel's body finds ``tl``); False if absent."""
    global triton, tl
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return False
    return True


def available(q: torch.Tensor) -> bool:
    """Whether the kernel can run for these queries: q is on a CUDA device and Triton is installed."""
    return q.is_cuda and _load_triton()


def interpreting() -> bool:
    """Whether Triton runs kernels in its interpreter on CPU tensors (TRITON_INTERPRET=1 before import)."""
    return _load_triton() and bool(triton.knobs.runtime.interpret)


@dataclass(frozen=True)
class FusedStats:
    """What one layer's kernel wrote (float32, on q's device).

    Attributes:
        fused: ``[batch, query, key]`` head-fused attention, or the rollout factor when ``is_factor``.
        is_factor: ``fused`` already has the residual mixed in and rows normalised.
        entropy_rows: ``[batch, head, query]`` entropy of each query row in nats.
        distance_rows: ``[batch, head, patch]`` attention-weighted distance of each patch query in pixels.
        cls_row: ``[batch, head, key]`` the class token's attention, or None.
    """

    fused: torch.Tensor
    is_factor: bool
    entropy_rows: torch.Tensor
    distance_rows: torch.Tensor
    cls_row: torch.Tensor | None


def fused_attention_stats(
    q: torch.Tensor,
    k: torch.Tensor,
    scale: float,
    distances: torch.Tensor,
    *,
    num_prefix_tokens: int,
    cls_index: int | None,
    head_fusion: str = "mean",
    residual_weight: float | None = None,
) -> FusedStats:
    """Reduce one layer's attention without writing its probabilities.

    Args:
        q, k: ``[batch, head, token, head_dim]`` after ``q_norm``/``k_norm`` (any strides; float32, float16
            or bfloat16; products are summed in float32, float32 inputs without TF32).
        scale: the scale of the logits (what the fused kernel used).
        distances: ``[patch, patch]`` float32 distances between patch centres in pixels, on q's device.
        num_prefix_tokens: leading prefix tokens (class, distillation, registers).
        cls_index: sequence index of the class token, or None for models without one.
        head_fusion: "mean", "max" or "min".
        residual_weight: when given, write the rollout factor ``rownorm((1 - a) F + a I)`` instead of F.

    Returns:
        :class:`FusedStats`.
    """
    if not (available(q) or interpreting()):
        raise RuntimeError("the fused attention kernel needs Triton and a CUDA device; use the rebuild path instead.")
    batch, heads, tokens, head_dim = q.shape
    patches = tokens - num_prefix_tokens
    if k.shape != q.shape or distances.shape != (patches, patches):
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)} and distances {tuple(distances.shape)} do not match.")
    device = q.device
    fused = torch.empty(batch, tokens, tokens, device=device, dtype=torch.float32)
    entropy_rows = torch.empty(batch, heads, tokens, device=device, dtype=torch.float32)
    distance_rows = torch.empty(batch, heads, max(patches, 1), device=device, dtype=torch.float32)
    cls_row = torch.empty(batch, heads, tokens, device=device, dtype=torch.float32) if cls_index is not None else fused
    distances = distances.to(device=device, dtype=torch.float32).contiguous()

    # Whole key rows live in registers: about 32 float32 per thread for each [BLOCK_M, BLOCK_N] tile.
    block_n = max(16, _next_power_of_two(tokens))
    block_m = max(16, min(32, 8192 // block_n))
    block_d = max(16, _next_power_of_two(head_dim))
    num_warps = max(4, min(16, block_m * block_n // 1024))
    grid = (triton_cdiv(tokens, block_m), batch)
    _kernel()[grid](
        q, k, distances, fused, entropy_rows, distance_rows, cls_row,
        *q.stride(), *k.stride(),
        tokens, head_dim, heads, num_prefix_tokens, -1 if cls_index is None else cls_index, max(patches, 1),
        float(scale), 0.0 if residual_weight is None else float(residual_weight),
        FUSION=_FUSIONS[head_fusion],
        MAKE_FACTOR=residual_weight is not None,
        IEEE=q.dtype == torch.float32,
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d,
        num_warps=num_warps,
    )  # fmt: skip
    return FusedStats(
        fused=fused,
        is_factor=residual_weight is not None,
        entropy_rows=entropy_rows,
        distance_rows=distance_rows[..., :patches],
        cls_row=cls_row if cls_index is not None else None,
    )


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


@functools.cache
def _kernel():
    """The kernel: compiled for a GPU, or, when TRITON_INTERPRET=1 was set before Triton was imported,
    Triton's interpreter running it on CPU tensors (how the tests check it on a machine without a GPU)."""
    return triton.jit(_attention_stats)


def _attention_stats(
    q_ptr, k_ptr, dist_ptr, fused_ptr, entropy_ptr, distance_ptr, cls_ptr,
    sqb, sqh, sqn, sqd, skb, skh, skn, skd,
    tokens, head_dim, heads, prefix, cls_index, distance_len, scale, residual,
    FUSION: tl.constexpr, MAKE_FACTOR: tl.constexpr, IEEE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    block = tl.program_id(0)
    image = tl.program_id(1).to(tl.int64)
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M)  # query tokens
    cols = tl.arange(0, BLOCK_N)  # key tokens
    dims = tl.arange(0, BLOCK_D)
    row_ok = rows < tokens
    col_ok = cols < tokens
    dim_ok = dims < head_dim
    patches = tokens - prefix
    patch_row = row_ok & (rows >= prefix)
    patch_col = col_ok & (cols >= prefix)
    both = row_ok[:, None] & col_ok[None, :]
    dist = tl.load(
        dist_ptr + (rows - prefix)[:, None] * patches + (cols - prefix)[None, :],
        mask=patch_row[:, None] & patch_col[None, :],
        other=0.0,
    )  # [BLOCK_M, BLOCK_N], 0 outside the patch block
    if FUSION == 1:
        acc = tl.full((BLOCK_M, BLOCK_N), float("-inf"), tl.float32)
    elif FUSION == 2:
        acc = tl.full((BLOCK_M, BLOCK_N), float("inf"), tl.float32)
    else:
        acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    for head in range(heads):
        q_tile = tl.load(
            q_ptr + image * sqb + head * sqh + rows[:, None] * sqn + dims[None, :] * sqd,
            mask=row_ok[:, None] & dim_ok[None, :],
            other=0.0,
        )
        k_tile = tl.load(
            k_ptr + image * skb + head * skh + cols[:, None] * skn + dims[None, :] * skd,
            mask=col_ok[:, None] & dim_ok[None, :],
            other=0.0,
        )
        if IEEE:
            s = tl.dot(q_tile, tl.trans(k_tile), input_precision="ieee")
        else:
            s = tl.dot(q_tile, tl.trans(k_tile))
        s = tl.where(col_ok[None, :], s * scale, float("-inf"))  # [BLOCK_M, BLOCK_N] float32 logits
        row_max = tl.max(s, axis=1)
        e = tl.exp(s - row_max[:, None])
        total = tl.sum(e, axis=1)
        p = e / total[:, None]
        # entropy = log sum exp(s) - sum p s, with the masked keys' -inf replaced by 0 (p = 0 there)
        p_dot_s = tl.sum(p * tl.where(col_ok[None, :], s, 0.0), axis=1)
        entropy = row_max + tl.log(total) - p_dot_s
        tl.store(entropy_ptr + (image * heads + head) * tokens + rows, entropy, mask=row_ok)
        patch_p = tl.where(patch_col[None, :], p, 0.0)
        weighted = tl.sum(patch_p * dist, axis=1)
        mass = tl.maximum(tl.sum(patch_p, axis=1), 1.1754943508222875e-38)
        tl.store(
            distance_ptr + (image * heads + head) * distance_len + (rows - prefix),
            weighted / mass,
            mask=patch_row,
        )
        if cls_index >= 0:
            tl.store(
                cls_ptr + (image * heads + head) * tokens + cols[None, :] + rows[:, None] * 0,
                p,
                mask=(rows == cls_index)[:, None] & col_ok[None, :],
            )
        if FUSION == 1:
            acc = tl.maximum(acc, p)
        elif FUSION == 2:
            acc = tl.minimum(acc, p)
        else:
            acc += p
    if FUSION == 0:
        acc = acc / heads
    acc = tl.where(both, acc, 0.0)
    if MAKE_FACTOR:
        acc = acc * (1.0 - residual) + tl.where(rows[:, None] == cols[None, :], residual, 0.0)
        acc = acc / tl.maximum(tl.sum(acc, axis=1), 1.1754943508222875e-38)[:, None]
    tl.store(fused_ptr + image * tokens * tokens + rows[:, None] * tokens + cols[None, :], acc, mask=both)

