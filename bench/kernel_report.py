"""Registers, spills and shared memory of the fused attention kernel per launch configuration, without a GPU.

Compiles ``vit_core.attention.fused_stats``' kernel for a GPU architecture (Triton brings ptxas) with the configuration
``launch_config`` picks, and prints ptxas' report: what chose the block sizes. Timing needs a GPU (benchmark.py).

    python bench/kernel_report.py [--arch 90] [--tokens 197 577] [--dtypes bf16 fp32]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vit_core.attention import fused_stats  # noqa: E402


def ptxas_report(ptx: str, arch: int) -> str:
    from triton.backends.nvidia.compiler import get_ptxas

    tool = get_ptxas(arch)
    with tempfile.NamedTemporaryFile("w", suffix=".ptx") as source:
        source.write(ptx)
        source.flush()
        suffix = "a" if arch >= 90 else ""
        result = subprocess.run(
            [getattr(tool, "path", tool), "-v", f"--gpu-name=sm_{arch}{suffix}", source.name, "-o", "/dev/null"],
            capture_output=True,
            text=True,
        )
    lines = (result.stdout + result.stderr).splitlines()
    return " | ".join(line.split(":", 1)[-1].strip() for line in lines if "registers" in line or "spill" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90)
    parser.add_argument("--tokens", type=int, nargs="+", default=[197, 577])
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--dtypes", nargs="+", default=["bf16", "fp16", "fp32"])
    args = parser.parse_args()
    for dtype in args.dtypes:
        for tokens in args.tokens:
            config = fused_stats.launch_config(tokens, args.head_dim, 4 if dtype == "fp32" else 2)
            compiled = fused_stats.compile_for(args.arch, dtype, tokens, args.head_dim)
            print(f"{dtype} tokens {tokens}: BLOCK_M, BLOCK_N, BLOCK_D, warps = {config}; "
                  f"shared {compiled.metadata.shared} B; {ptxas_report(compiled.asm['ptx'], args.arch)}", flush=True)


if __name__ == "__main__":
    main()
