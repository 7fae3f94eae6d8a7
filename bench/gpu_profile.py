"""Where (b)'s GPU time goes: three ``analyze`` calls (as the benchmark's (b) runs them) by CUDA kernel.

    python bench/gpu_profile.py [--model vit_base_patch16_224] [--batch 64] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vit_core.models.loading import load_model  # noqa: E402
from vit_core.runs.analysis import analyze  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_base_patch16_224")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    loaded = load_model(args.model, pretrained=False, device="cuda", dtype=args.dtype)
    h, w = loaded.geometry.img_size
    x = torch.randn(args.batch, 3, h, w, device="cuda", dtype=loaded.dtype)

    def run() -> None:
        analyze(loaded.model, x, relevance=False, attention="none", model_views=False, keep_pixels=False)

    for _ in range(3):
        run()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            run()
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=70))


if __name__ == "__main__":
    main()
