"""Peak memory of ``python -m vit_core inspect`` (token norms, outliers, sink mass) on ViT-B/14 with four
registers at 518 px (1,374 tokens), random weights, CPU, one image, next to a plain timm forward of the same
model; each in its own process, peak RSS from the child's ``ru_maxrss`` (os.wait4).

    python bench/inside_memory.py

Prints one line per run: peak RSS, wall time (meaningless on a loaded machine; memory is not), .npz size, and
what the full [L, H, N, N] attention of that forward would take.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "assets" / "samples" / "chelsea.png"
MODEL, SIDE = "vit_base_patch14_reg4_dinov2", 518

PLAIN = f"""
import timm, torch
model = timm.create_model({MODEL!r}, pretrained=False, img_size={SIDE}).eval()
with torch.no_grad():
    model(torch.randn(1, 3, {SIDE}, {SIDE}))
"""


def run(command: list[str]) -> tuple[float, float]:
    """(peak RSS MB, seconds) of a child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{command[:4]} failed with status {status}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main() -> None:
    tokens = (SIDE // 14) ** 2 + 5
    full = 12 * 12 * tokens**2 * 4
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "inside.npz"
        plain_rss, plain_s = run([sys.executable, "-c", PLAIN])
        rss, seconds = run([sys.executable, "-m", "vit_core", "inspect", str(IMAGE), "--model", MODEL, "--random-weights",
                            "--device", "cpu", "--image-size", str(SIDE), "--out", str(out)])
        size = out.stat().st_size
    print(f"{MODEL} at {SIDE} px, {tokens} tokens; the full attention would be {full / 2**20:,.0f} MB")
    print(f"plain timm forward: peak RSS {plain_rss:,.0f} MB, {plain_s:.1f} s")
    print(f"vit_core inspect:   peak RSS {rss:,.0f} MB, {seconds:.1f} s, .npz {size / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
