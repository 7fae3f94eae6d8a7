"""The attention logits ``q k^T * scale + mask`` exactly as the capture rebuilds them (one home: the capture, the
attention store and every rebuilt slice call this, so a rebuilt slice equals the captured one)."""

from __future__ import annotations

import math

import torch

__all__ = ["attention_logits"]


def attention_logits(q: torch.Tensor, k: torch.Tensor, scale: float, mask: torch.Tensor | None) -> torch.Tensor:
    """q k^T * scale + mask in float32, masked entries at float32's lowest value (softmax gives them exactly 0).

    q: ``[batch, head, query, head_dim]`` (any number of query rows), k: ``[batch, head, key, head_dim]``;
    returns ``[batch, head, query, key]``. Half-precision q and k on a GPU are multiplied as they are, with
    float32 accumulation and a float32 result (the products the fused kernel summed, never rounded to half);
    the scale is applied in float32 afterwards, as flash attention does.
    """
    exact_prescale = math.frexp(scale)[0] == 0.5  # a power of two scales q without rounding, even in half
    if exact_prescale:
        q = q * scale  # small [batch, head, rows, head_dim]: spares a pass over the [query, key] logits
    logits = _half_matmul_float32(q, k) if q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) else None
    if logits is None:
        logits = q.float() @ k.float().transpose(-2, -1)
    if not exact_prescale:
        logits.mul_(scale)
    if mask is not None:
        lowest = torch.finfo(torch.float32).min
        if mask.dtype == torch.bool:
            logits = logits.masked_fill(~mask, lowest)
        else:
            logits = (logits + mask.float()).clamp_min(lowest)
    return logits


_HALF_MATMUL = {"float32_out": True}  # set to False once this torch build refuses bmm(..., out_dtype=float32)


def _half_matmul_float32(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor | None:
    """q k^T of half-precision [batch, head, rows, head_dim] tensors as float32, or None where unsupported."""
    if not _HALF_MATMUL["float32_out"]:
        return None
    batch, heads, rows, dim = q.shape
    try:
        out = torch.bmm(
            q.reshape(batch * heads, rows, dim), k.reshape(batch * heads, -1, dim).transpose(1, 2), out_dtype=torch.float32
        )
    except (RuntimeError, NotImplementedError, TypeError):
        _HALF_MATMUL["float32_out"] = False
        return None
    return out.view(batch, heads, rows, -1)
