"""Benchmark: attention flow's cost per image (one max-flow problem per patch), demo model and ViT-B/16.

    python bench/flow_cost.py                      # demo model (3 images) and ViT-B/16 at 224, random weights (1 image)
    python bench/flow_cost.py --threads 2 --images 3 --workers 2   # the max-flow problems on two processes

Prints seconds per image, per max-flow problem, graph size and the machine's load (the CPU may be shared:
the figures are wall-clock).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import timm
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import vit_core.demo  # noqa: E402,F401 (registers the demo model)
from vit_core.attention.capture import capture  # noqa: E402
from vit_core.methods.attention_flow import attention_flow, flow_graph  # noqa: E402
from vit_core.methods.rollout import RolloutSink  # noqa: E402


def measure(name: str, pretrained: bool, images: int, workers: int) -> dict:
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=pretrained).eval()
    pixels = torch.randn(images, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    sink = RolloutSink(num_prefix_tokens=model.num_prefix_tokens)
    capture(model, pixels[:1], sink=sink)
    weights = np.zeros(sink.factors[0].shape[-1])
    weights[0] = 1.0
    graph, _ = flow_graph(torch.stack(sink.factors, 1)[0].numpy(), weights)
    start = time.perf_counter()
    result = attention_flow(model, pixels, workers=workers)
    seconds = (time.perf_counter() - start) / images
    problems = result.heatmap[0].numel()
    return {
        "model": name + (" (bundled weights)" if pretrained else " (random weights)"),
        "s_per_image": seconds,
        "ms_per_problem": 1000 * seconds / problems,
        "problems": problems,
        "nodes": graph.shape[0],
        "edges": graph.nnz,
        "flow_range": (float(result.heatmap.min()), float(result.heatmap.max())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=3, help="images for the demo model (ViT-B/16 gets one)")
    parser.add_argument("--workers", type=int, default=1, help="processes for the max-flow problems")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {args.threads}, "
          f"max-flow workers {args.workers}, "
          f"load average before: {os.getloadavg()[0]:.1f}")
    print("| model | s / image | ms / max-flow | problems | nodes | edges | flow range |")
    print("|---|---|---|---|---|---|---|")
    for name, pretrained, images in (("vit_demo_shapes", True, args.images), ("vit_base_patch16_224", False, 1)):
        row = measure(name, pretrained, images, args.workers)
        lo, hi = row["flow_range"]
        print(f"| {row['model']} | {row['s_per_image']:.1f} | {row['ms_per_problem']:.1f} | {row['problems']} | "
              f"{row['nodes']} | {row['edges']} | {lo:.3f} .. {hi:.3f} |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
