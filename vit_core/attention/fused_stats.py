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
in registers (optionally over a group of the heads, for more parallel work at small batches). The same function runs on CPU tensors through Triton's interpreter (slow; what the tests on
a machine without a GPU use). Callers fall back to the rebuild path where :func:`available` says no.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import torch

from ..methods.rollout import HEAD_FUSIONS

# Imported on first use (a tenth of a second): only CUDA builds of torch bring Triton, and only a GPU needs it.
triton = tl = None

__all__ = [
    "MAX_TOKENS",
    "FusedStats",
    "available",
    "compile_for",
    "fused_attention_stats",
    "interpreting",
    "launch_config",
    "token_distances",
]

_FUSIONS = {name: code for code, name in enumerate(HEAD_FUSIONS)}  # the kernel's FUSION constant


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


MAX_TOKENS = 2048  # whole key rows live in registers; longer sequences (huge inputs) take the rebuild path


def available(q: torch.Tensor) -> bool:
    """Whether the kernel can run for these queries ``[batch, head, token, head_dim]``: q is on a CUDA device,
    Triton is installed, and there are at most :data:`MAX_TOKENS` tokens."""
    return q.is_cuda and q.shape[-2] <= MAX_TOKENS and _load_triton()


def interpreting() -> bool:
    """Whether Triton runs kernels in its interpreter on CPU tensors (TRITON_INTERPRET=1 before import)."""
    if not _load_triton():
        return False
    knobs = getattr(triton, "knobs", None)  # Triton >= 3.4; before it, the environment variable itself
    return bool(knobs.runtime.interpret) if knobs is not None else os.environ.get("TRITON_INTERPRET") == "1"


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
    config: tuple[int, int, int, int] | None = None,
) -> FusedStats:
    """Reduce one layer's attention without writing its probabilities.

    Args:
        q, k: ``[batch, head, token, head_dim]`` after ``q_norm``/``k_norm`` (any strides; float32, float16
            or bfloat16; products are summed in float32, float32 inputs without TF32).
        scale: the scale of the logits (what the fused kernel used).
        distances: ``[token, token]`` float32 distances between patch centres in pixels, 0 on prefix rows and
            columns (:func:`token_distances`), on q's device.
        num_prefix_tokens: leading prefix tokens (class, distillation, registers).
        cls_index: sequence index of the class token, or None for models without one.
        head_fusion: "mean", "max" or "min".
        residual_weight: when given, write the rollout factor ``rownorm((1 - a) F + a I)`` instead of F (when the
            heads are split over programs, the caller forms it: ``is_factor`` says which).
        config: (BLOCK_M, BLOCK_D, num_warps, head_groups) instead of :func:`launch_config`'s block sizes and one
            head group (``bench/kernel_configs.py``). With g > 1 head groups, g programs share each block of query
            rows (more parallel work for small batches) and their head-fused partials are combined afterwards.

    Returns:
        :class:`FusedStats`.
    """
    if not (available(q) or (interpreting() and q.shape[-2] <= MAX_TOKENS)):
        raise RuntimeError(
            f"the fused attention kernel needs Triton, a CUDA device and at most {MAX_TOKENS} tokens; "
            "use the rebuild path instead."
        )
    batch, heads, tokens, head_dim = q.shape
    patches = tokens - num_prefix_tokens
    if k.shape != q.shape or distances.shape != (tokens, tokens):
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)} and distances {tuple(distances.shape)} do not match.")
    device = q.device
    block_m, block_n, block_d, num_warps = launch_config(tokens, head_dim, q.element_size())
    head_groups = 1
    if config is not None:
        block_m, block_d, num_warps, head_groups = config
    heads_per_group = -(-heads // max(1, min(head_groups, heads)))
    head_groups = -(-heads // heads_per_group)
    make_factor = residual_weight is not None and head_groups == 1
    fused = torch.empty(head_groups, batch, tokens, tokens, device=device, dtype=torch.float32)
    entropy_rows = torch.empty(batch, heads, tokens, device=device, dtype=torch.float32)
    distance_rows = torch.empty(batch, heads, max(patches, 1), device=device, dtype=torch.float32)
    cls_row = torch.empty(batch, heads, tokens, device=device, dtype=torch.float32) if cls_index is not None else fused

    grid = (-(-tokens // block_m), batch, head_groups)
    _kernel()[grid](
        q, k, distances.float().contiguous(), fused, entropy_rows, distance_rows, cls_row,
        *q.stride(), *k.stride(),
        tokens, head_dim, heads, num_prefix_tokens, -1 if cls_index is None else cls_index, max(patches, 1),
        heads_per_group, batch * tokens * tokens,
        float(scale), 0.0 if residual_weight is None else float(residual_weight),
        FUSION=_FUSIONS[head_fusion],
        MAKE_FACTOR=make_factor,
        IEEE=q.dtype == torch.float32,
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d,
        num_warps=num_warps,
    )  # fmt: skip
    if head_groups == 1:
        fused = fused[0]
    elif head_fusion == "mean":
        fused = fused.sum(dim=0)  # each group wrote its heads' sum divided by all heads
    else:
        fused = fused.amax(dim=0) if head_fusion == "max" else fused.amin(dim=0)
    return FusedStats(
        fused=fused,
        is_factor=make_factor,
        entropy_rows=entropy_rows,
        distance_rows=distance_rows[..., :patches],
        cls_row=cls_row if cls_index is not None else None,
    )


def token_distances(patch_distances: torch.Tensor, num_prefix_tokens: int) -> torch.Tensor:
    """``[patch, patch]`` distances -> ``[token, token]`` with zeros on the prefix rows and columns, so the kernel
    reads them with the attention's own indices."""
    return torch.nn.functional.pad(patch_distances.float(), (num_prefix_tokens, 0, num_prefix_tokens, 0))


def launch_config(tokens: int, head_dim: int, element_size: int) -> tuple[int, int, int, int]:
    """(BLOCK_M, BLOCK_N, BLOCK_D, num_warps) for one layer's shape.

    Whole key rows live in registers; k is read in head_dim chunks of 32 or 16 columns so its shared-memory
    copy stays small. Chosen from ptxas' register and spill report for sm_90 (few spills), not yet from timings.
    """
    block_n = max(16, _next_power_of_two(tokens))
    block_m = 32 if element_size <= 2 and block_n <= 256 else 16
    block_d = max(16, min(_next_power_of_two(head_dim), 32 if block_n <= 512 else 16))
    return block_m, block_n, block_d, min(32, max(4, block_m * block_n // 512))


def compile_for(arch: int, dtype: str, tokens: int, head_dim: int = 64, fusion: str = "mean", factor: bool = True):
    """Compile the kernel ahead of time for ``sm_<arch>`` without a GPU (Triton brings ptxas), with the launch
    configuration :func:`fused_attention_stats` would use; for tests and ``bench/kernel_report.py``.

    Args:
        arch: compute capability as one number, e.g. 90 for an H100.
        dtype: Triton's name of q's dtype: "fp32", "fp16" or "bf16".

    Returns:
        Triton's compiled kernel (``.asm["ptx"]``, ``.metadata.shared`` bytes of shared memory, ...).
    """
    if not _load_triton():
        raise RuntimeError("Triton is not installed; install the CUDA build of torch, which brings it.")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    kernel = _kernel()
    block_m, block_n, block_d, num_warps = launch_config(tokens, head_dim, 4 if dtype == "fp32" else 2)
    signature = dict.fromkeys(["q_ptr", "k_ptr"], f"*{dtype}")
    signature |= dict.fromkeys(["dist_ptr", "fused_ptr", "entropy_ptr", "distance_ptr", "cls_ptr"], "*fp32")
    integers = "sqb sqh sqn sqd skb skh skn skd tokens head_dim heads prefix cls_index distance_len".split()
    integers += ["heads_per_group", "group_stride"]
    signature |= dict.fromkeys(integers, "i32") | {"scale": "fp32", "residual": "fp32"}
    constants = {"FUSION": _FUSIONS[fusion], "MAKE_FACTOR": factor, "IEEE": dtype == "fp32"}
    constants |= {"BLOCK_M": block_m, "BLOCK_N": block_n, "BLOCK_D": block_d}
    signature |= dict.fromkeys(constants, "constexpr")
    where = {(kernel.arg_names.index(name),): value for name, value in constants.items()}
    source = ASTSource(fn=kernel, signature=signature, constexprs=where)
    return triton.compile(source, target=GPUTarget("cuda", arch, 32), options={"num_warps": num_warps})


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


@functools.cache
def _kernel():
    """The kernel: compiled for a GPU, or, when TRITON_INTERPRET=1 was set before Triton was imported,
    Triton's interpreter running it on CPU tensors (how the tests check it on a machine without a GPU)."""
    return triton.jit(_attention_stats)


def _attention_stats(
    q_ptr, k_ptr, dist_ptr, fused_ptr, entropy_ptr, distance_ptr, cls_ptr,
    sqb, sqh, sqn, sqd, skb, skh, skn, skd,
    tokens, head_dim, heads, prefix, cls_index, distance_len, heads_per_group, group_stride, scale, residual,
    FUSION: tl.constexpr, MAKE_FACTOR: tl.constexpr, IEEE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    first = tl.program_id(0) * BLOCK_M  # first query row of this program
    image = tl.program_id(1).to(tl.int64)
    rows = first + tl.arange(0, BLOCK_M)  # query tokens
    cols = tl.arange(0, BLOCK_N)  # key tokens
    row_ok = rows < tokens
    col_ok = cols < tokens
    patch_row = row_ok & (rows >= prefix)
    patch_col = col_ok & (cols >= prefix)
    has_cls = (cls_index >= first) & (cls_index < first + BLOCK_M)
    # [BLOCK_M, BLOCK_N] patch distances, 0 on prefix rows and columns, in registers for all heads
    dist = tl.load(dist_ptr + rows[:, None] * tokens + cols[None, :], mask=row_ok[:, None] & col_ok[None, :], other=0.0)
    dims = tl.arange(0, BLOCK_D)
    if FUSION == 1:
        acc = tl.full((BLOCK_M, BLOCK_N), float("-inf"), tl.float32)
    elif FUSION == 2:
        acc = tl.full((BLOCK_M, BLOCK_N), float("inf"), tl.float32)
    else:
        acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    group = tl.program_id(2)
    first_head = group * heads_per_group
    for head in range(first_head, tl.minimum(first_head + heads_per_group, heads)):
        q_head = q_ptr + image * sqb + head * sqh
        k_head = k_ptr + image * skb + head * skh
        s = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
        for start in range(0, head_dim, BLOCK_D):  # head_dim in chunks: the k chunk's shared memory stays small
            d = start + dims
            d_ok = d < head_dim
            q_tile = tl.load(
                q_head + rows[:, None] * sqn + d[None, :] * sqd, mask=row_ok[:, None] & d_ok[None, :], other=0.0
            )
            k_tile = tl.load(
                k_head + cols[:, None] * skn + d[None, :] * skd, mask=col_ok[:, None] & d_ok[None, :], other=0.0
            )
            if IEEE:
                s += tl.dot(q_tile, tl.trans(k_tile), input_precision="ieee")
            else:
                s += tl.dot(q_tile, tl.trans(k_tile))
        s = tl.where(col_ok[None, :], s * scale, float("-inf"))  # [BLOCK_M, BLOCK_N] float32 logits
        row_max = tl.max(s, axis=1)
        e = tl.exp(s - row_max[:, None])
        total = tl.sum(e, axis=1)
        p = e / total[:, None]
        # entropy = log sum exp(s) - sum p s, with the masked keys' -inf replaced by 0 (p = 0 there)
        p_dot_s = tl.sum(p * tl.where(col_ok[None, :], s, 0.0), axis=1)
        entropy = row_max + tl.log(total) - p_dot_s
        row_stats = (image * heads + head) * tokens  # offset of this image and head in [batch, head, token]
        tl.store(entropy_ptr + row_stats + rows, entropy, mask=row_ok)
        patch_p = tl.where(patch_col[None, :], p, 0.0)
        mass = tl.maximum(tl.sum(patch_p, axis=1), 1.1754943508222875e-38)
        tl.store(
            distance_ptr + (image * heads + head) * distance_len + (rows - prefix),
            tl.sum(patch_p * dist, axis=1) / mass,
            mask=patch_row,
        )
        if has_cls:
            tl.store(cls_ptr + row_stats + cols, tl.sum(tl.where((rows == cls_index)[:, None], p, 0.0), axis=0), mask=col_ok)
        if FUSION == 1:
            acc = tl.maximum(acc, p)
        elif FUSION == 2:
            acc = tl.minimum(acc, p)
        else:
            acc += p
    if FUSION == 0:
        acc = acc / heads
    acc = tl.where(row_ok[:, None] & col_ok[None, :], acc, 0.0)
    if MAKE_FACTOR:
        acc = acc * (1.0 - residual) + tl.where(rows[:, None] == cols[None, :], residual, 0.0)
        acc = acc / tl.maximum(tl.sum(acc, axis=1), 1.1754943508222875e-38)[:, None]
    fused_rows = fused_ptr + group.to(tl.int64) * group_stride + image * tokens * tokens + rows[:, None] * tokens + cols[None, :]
    tl.store(fused_rows, acc, mask=row_ok[:, None] & col_ok[None, :])
