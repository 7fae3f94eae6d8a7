"""Time the fused attention kernel's launch configurations on a GPU, and the rebuild path it replaces.

For one layer of ViT-B/16 (12 heads, 197 tokens, head_dim 64) at the benchmark's two settings, each
(BLOCK_M, BLOCK_D, num_warps, head groups) is checked against the default configuration and timed with
``triton.testing.do_bench``; the table shows what ``vit_core.attention.fused_stats.launch_config`` should pick.

    python bench/kernel_configs.py                 # on a GPU
    TRITON_INTERPRET=1 python bench/kernel_configs.py --smoke   # the script itself, on a CPU, tiny shapes
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vit_core.attention import fused_stats  # noqa: E402
from vit_core.attention.store import attention_logits as _logits  # noqa: E402
from vit_core.methods.distance import attention_entropy, mean_attention_distance, patch_distances  # noqa: E402
from vit_core.methods.rollout import RolloutSettings, rollout_factor_of_fused, rollout_layer_matrix  # noqa: E402
from vit_core.models.types import Geometry  # noqa: E402


def timer(fn, device: torch.device) -> float:
    """Milliseconds per call: triton's do_bench on a GPU, a plain clock otherwise."""
    if device.type == "cuda":
        from triton.testing import do_bench

        return do_bench(fn, warmup=25, rep=100)
    fn()
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def report(batch: int, dtype: torch.dtype, geometry: Geometry, head_dim: int, device: torch.device, smoke: bool) -> None:
    """Print the rebuild path's time and every configuration's, fastest first, for one batch and dtype."""
    tokens, heads = geometry.num_tokens, geometry.num_heads
    distances = fused_stats.token_distances(patch_distances(geometry, device), 1)
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(batch, tokens, heads, head_dim, generator=generator).to(device, dtype).transpose(1, 2)
    k = torch.randn(batch, tokens, heads, head_dim, generator=generator).to(device, dtype).transpose(1, 2)
    scale = head_dim**-0.5

    def kernel(config=None):
        stats = fused_stats.fused_attention_stats(
            q, k, scale, distances, num_prefix_tokens=1, cls_index=0, residual_weight=0.5, config=config
        )
        if stats.is_factor:
            return stats.fused
        return rollout_factor_of_fused(stats.fused, RolloutSettings(), num_prefix_tokens=1)  # what the sink adds

    def rebuild():
        logits = _logits(q, k, scale, None)
        probs = logits.softmax(dim=-1)
        rollout_layer_matrix(probs, RolloutSettings(), num_prefix_tokens=1)
        mean_attention_distance(probs, geometry, distances[1:, 1:])
        attention_entropy(probs, logits)
        return probs[:, :, 0].clone()

    reference = kernel()
    default = fused_stats.launch_config(tokens, head_dim, q.element_size())
    print(f"\nbatch {batch}, {str(dtype).removeprefix('torch.')}: default (BLOCK_M, BLOCK_N, BLOCK_D, warps) = {default}")
    print(f"  rebuild path (logits, softmax, rollout factor, distance, entropy, class row): {timer(rebuild, device):.3f} ms")
    rows = []
    warp_counts = [4, 8] if batch <= 8 else [4, 8, 16]  # fewer compiles where head groups multiply the configs
    sizes = itertools.product([16, 32] if smoke else [16, 32, 64], [16, 32, 64], warp_counts, sorted({1, 4, heads}))
    for block_m, block_d, warps, groups in sizes:
        if block_d > max(16, head_dim) or (groups > 1 and batch > 8):  # head groups are for small batches
            continue
        config = (block_m, block_d, warps, groups)
        try:
            error = (kernel(config) - reference).abs().max().item()
            rows.append((timer(lambda config=config: kernel(config), device), config, error))
        except Exception as failure:  # too much shared memory or too many registers for this GPU
            rows.append((float("inf"), config, type(failure).__name__))
    for ms, config, error in sorted(rows, key=lambda row: row[0]):
        print(
            f"  BLOCK_M {config[0]:3d} BLOCK_D {config[1]:3d} warps {config[2]:3d} head groups {config[3]:3d}: "
            f"{ms:8.3f} ms  (max |diff| {error})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU (with TRITON_INTERPRET=1)")
    args = parser.parse_args()
    device = torch.device("cpu" if args.smoke else "cuda")
    grid, heads, head_dim = ((3, 3), 2, 32) if args.smoke else ((14, 14), 12, 64)
    geometry = Geometry((16, 16), grid, (16 * grid[0], 16 * grid[1]), ("cls",), False, "token", 1, heads, heads * head_dim)
    for batch, dtype in [(2, torch.float32)] if args.smoke else [(64, torch.bfloat16), (1, torch.float32)]:
        report(batch, dtype, geometry, head_dim, device, args.smoke)


if __name__ == "__main__":
    main()
