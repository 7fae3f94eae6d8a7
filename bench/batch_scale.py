"""Batch at data-set scale: peak memory and throughput of ``python -m vit_core batch`` for N images.

Renders a pool of distinct demo scenes once, links them under N names (each image is decoded and analysed; the
links only save disk), then runs the real command in a child process with the bundled demo model and prints:

- peak RSS of the command's main process (its ``VmHWM``, read every 0.2 s: the results would pile up here if
  they were held in memory) and of the whole process tree (main + decoding workers, summed, polled);
- throughput: images analysed per second, the command's own timing (model loading excluded), consolidation
  of ``RESULT.npz`` included.

    python bench/batch_scale.py 1000 20000 [--out-format npz|dir] [--batch-size 32] [--no-relevance] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vit_core.demo.scenes import generate  # noqa: E402


def make_images(folder: Path, count: int, pool: int = 64) -> None:
    """`count` PNG names in `folder`, hard links to `pool` distinct rendered scenes (in sub-folders of 1,000)."""
    scenes = folder / "pool"
    scenes.mkdir(parents=True, exist_ok=True)
    batch = generate(pool, seed=14)
    sources = []
    for i, image in enumerate(batch.images):
        path = scenes / f"scene{i:03d}.png"
        Image.fromarray(image).save(path)
        sources.append(path)
    for i in range(count):
        target = folder / "images" / f"{i // 1000:03d}" / f"img{i:06d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(sources[i % pool], target)


def _high_water_mark(pid: int) -> int:
    """Peak resident bytes of process `pid` so far (``VmHWM``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def run(count: int, work: Path, out_format: str, batch_size: int, extra: list[str]) -> dict:
    images = work / f"n{count}"
    if not (images / "images").exists():
        make_images(images, count)
    out = work / (f"result{count}.npz" if out_format == "npz" else f"result{count}")
    command = [sys.executable, "-m", "vit_core", "batch", str(images / "images"), "--out", str(out), "--overwrite",
               "--batch-size", str(batch_size), "--device", "cpu", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watched, tree_peak, main_peak = psutil.Process(process.pid), 0, 0
    while process.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            tree_peak = max(tree_peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            main_peak = max(main_peak, _high_water_mark(process.pid))
        except (psutil.Error, OSError):
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - started
    stdout = process.stdout.read()
    if process.returncode != 0:
        raise SystemExit(f"batch failed ({process.returncode}): {stdout[-2000:]}")
    match = re.search(r"(\d+) analysed.* in ([\d.]+) s", stdout)
    done, seconds = int(match.group(1)), float(match.group(2))
    return {"images": count, "analysed": done, "seconds": seconds, "images_per_s": done / seconds, "wall_s": wall,
            "main_peak_rss_mib": main_peak / 2**20, "tree_peak_rss_mib": tree_peak / 2**20,
            "result_mib": sum(f.stat().st_size for f in out.parent.glob(out.name + "*") if f.is_file()) / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", type=int, nargs="+")
    parser.add_argument("--out-format", choices=["npz", "dir"], default="npz")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    parser.add_argument("--no-relevance", action="store_true", help="pass --no-relevance (half the compute per image)")
    args = parser.parse_args()
    extra = ["--no-relevance"] if args.no_relevance else []
    print(f"# {datetime.now(UTC).isoformat(timespec='seconds')}, {os.cpu_count()} CPUs, load {os.getloadavg()}, "
          f"batch size {args.batch_size}, extra {extra}, out {args.out_format}", flush=True)
    with tempfile.TemporaryDirectory(prefix="batch_scale_") as tmp:
        work = args.keep or Path(tmp)
        for count in args.counts:
            row = run(count, work, args.out_format, args.batch_size, extra)
            print(f"{count:6d} images: {row['images_per_s']:6.1f} img/s ({row['seconds']:.0f} s), peak RSS main "
                  f"{row['main_peak_rss_mib']:.0f} MiB, tree {row['tree_peak_rss_mib']:.0f} MiB, "
                  f"result {row['result_mib']:.0f} MiB, load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
