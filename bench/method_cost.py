"""What each explanation method costs beside the others: time and peak memory of one map, every method in the
registry (``vit_core.methods.registry.REGISTRY``: a new method gets its row without an edit here).

    python bench/method_cost.py [--model vit_base_patch16_224] [--size 224] [--repeats 3] [--skip flow] [--json F]

Each method runs in its own child process (peak RSS from the child's ``ru_maxrss``, os.wait4): random weights,
batch 1, float32, ``explanation_maps(model, x, [method], target=1)`` once to warm up, then ``--repeats`` timed
calls (the median is printed). The first row is a plain fused forward without gradients, for scale. Times mean
something only on a quiet machine: the script prints the load average it started under.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, statistics, sys, time
import timm, torch
from vit_core.methods.registry import explanation_maps
torch.manual_seed(0)
model = timm.create_model({model!r}, pretrained=False, img_size={size}).eval()
x = torch.randn(1, 3, {size}, {size})
target = torch.tensor([1])
def once():
    if {method!r} == "forward":
        with torch.no_grad():
            model(x)
    else:
        explanation_maps(model, x, [{method!r}], target=target)
once()
times = []
for _ in range({repeats}):
    start = time.perf_counter(); once(); times.append(time.perf_counter() - start)
print(json.dumps({{"seconds": statistics.median(times)}}))
"""


def run(method: str, args) -> dict:
    code = CHILD.format(model=args.model, size=args.size, method=method, repeats=args.repeats)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{method} failed with status {status}")
    return {"method": method, "peak_rss_mb": usage.ru_maxrss / 1024, **json.loads(out.strip().splitlines()[-1])}


def main() -> None:
    from vit_core.methods.registry import REGISTRY

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_base_patch16_224")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", default="flow", help="comma-separated methods to leave out (default: flow, minutes)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    methods = ["forward", *(name for name, spec in REGISTRY.items() if not spec.baseline and name not in skip)]
    print(f"{args.model} at {args.size} px, batch 1, float32, {os.cpu_count()} CPUs, "
          f"load average at start {os.getloadavg()[0]:.2f}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    rows = []
    for method in methods:
        row = run(method, args)
        rows.append(row)
        base = rows[0]
        print(f"| {method} | {row['seconds']:.3f} s | {row['seconds'] / base['seconds']:.1f}x | "
              f"{row['peak_rss_mb']:,.0f} MB | {row['peak_rss_mb'] - base['peak_rss_mb']:+,.0f} MB |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "size": args.size, "rows": rows,
                                         "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, indent=1))


if __name__ == "__main__":
    main()
