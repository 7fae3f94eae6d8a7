"""Peak memory, wall time and file size of ``python -m vit_core analyze`` against tokens, old design beside new.

Each case runs in its own process, as a user runs it (random weights, CPU, one image), next to a plain timm
forward of the same model in its own process; peak RSS is the child's ``ru_maxrss`` (os.wait4). The old
design is any earlier checkout (``--old-tree``), run at the model's own size only (its CLI had no
``--image-size``), and only where its full attention fits this machine.

    git worktree add /tmp/vit-old 9e70b82      # the last commit before the bounded-memory store
    python bench/scale.py --old-tree /tmp/vit-old

Prints a Markdown table and writes bench/scale.json and bench/scale.svg (log-log: peak memory and time
against tokens). The targets (issue 28) are printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model, machine_line  # bench/machine.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "assets" / "samples" / "chelsea.png"

# (label, timm model, image side, the model's own side)
CASES = [
    ("ViT-B/16", "vit_base_patch16_224", 224, 224),
    ("ViT-S/14-reg4", "vit_small_patch14_reg4_dinov2", 224, 518),
    ("ViT-S/14-reg4", "vit_small_patch14_reg4_dinov2", 518, 518),
    ("ViT-B/14-reg4", "vit_base_patch14_reg4_dinov2", 518, 518),
    ("ViT-S/14-reg4", "vit_small_patch14_reg4_dinov2", 1022, 518),
]
# (model, side) -> (peak RSS MB, time vs plain, .npz MB): issue 28's targets
TARGETS = {
    ("vit_base_patch14_reg4_dinov2", 518): (1536, 4.0, 200),
    ("vit_small_patch14_reg4_dinov2", 518): (1024, 4.0, 100),
    ("vit_small_patch14_reg4_dinov2", 1022): (2560, 5.0, None),
}
OLD_LIMIT_BYTES = 12 << 30  # the old design keeps L x H x N^2 float32 twice (attention and its gradient)

PLAIN = """
import sys, time, torch, timm
torch.set_num_threads({threads})
sys.path.insert(0, {tree!r})
try:
    from vit_core.models.images import load_image, preprocess_batch
    from vit_core.models.loading import load_model
except ModuleNotFoundError:  # an old tree, before vit_core was laid out in rooms
    from vit_core.images import load_image, preprocess_batch
    from vit_core.loading import load_model
kwargs = {{"img_size": {side}}} if {side} != {native} else {{}}
loaded = load_model({model!r}, pretrained=False, device="cpu", **kwargs)
x, _ = preprocess_batch([load_image({image!r})], loaded.data_config)
with torch.no_grad():
    loaded.model(x)  # warm-up: the first call pays one-time costs
    start = time.perf_counter()
    loaded.model(x)
print("FORWARD", time.perf_counter() - start)
"""


def run(command: list[str], cwd: Path, threads: int) -> dict:
    """Wall seconds, peak RSS (MB) and stdout of one child process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(cwd)}
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    out, err = child.stdout.read(), child.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {err.strip().splitlines()[-1:]}")
    return {"wall_s": wall, "peak_mb": usage.ru_maxrss / 1024, "stdout": out}


def tokens_of(model: str, side: int) -> tuple[int, int, int, int]:
    """(tokens, depth, heads, head_dim) without building the model."""
    import timm
    import torch

    with torch.device("meta"):
        m = timm.create_model(model, pretrained=False, img_size=side)
    grid = side // m.patch_embed.patch_size[0]
    blk = m.blocks[0].attn
    return grid * grid + m.num_prefix_tokens, len(m.blocks), blk.num_heads, blk.head_dim


def measure(label, model, side, native, tree: Path, design: str, threads: int, work: Path) -> dict:
    tokens, depth, heads, head_dim = tokens_of(model, side)
    plain = run([sys.executable, "-c", PLAIN.format(threads=threads, tree=str(tree), model=model, side=side,
                                                    native=native, image=str(IMAGE))], tree, threads)
    forward = float(plain["stdout"].split("FORWARD")[-1])
    out = work / f"{design}-{model}-{side}.npz"
    command = [sys.executable, "-m", "vit_core", "analyze", str(IMAGE), "--model", model, "--random-weights",
               "--device", "cpu", "--out", str(out)]
    if side != native:
        command += ["--image-size", str(side)]
    analysed = run(command, tree, threads)
    npz_mb = out.stat().st_size / 2**20
    out.unlink()
    start_s = plain["wall_s"] - 2 * forward  # process start, imports, model build (the child ran two forwards)
    return {
        "label": label, "model": model, "image_size": side, "tokens": tokens, "design": design,
        "full_attention_mb": depth * heads * tokens**2 * 4 / 2**20, "qk_mb": 2 * depth * tokens * heads * head_dim * 4 / 2**20,
        "plain_forward_s": forward, "process_start_s": start_s, "plain_peak_mb": plain["peak_mb"],
        "analyze_wall_s": analysed["wall_s"], "analyze_peak_mb": analysed["peak_mb"], "npz_mb": npz_mb,
        "time_vs_plain": (analysed["wall_s"] - start_s) / forward,
        "attention_line": next((line for line in analysed["stdout"].splitlines() if line.startswith("attention:")), ""),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| model | px | tokens | design | plain forward s | analyze wall s | (wall - start) / forward | peak RSS MB "
        "(plain process) | .npz MB | targets (RSS, time, npz) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        target = TARGETS.get((r["model"], r["image_size"]))
        goal = "" if target is None else f"{target[0]} MB, {target[1]}x, " + (f"{target[2]} MB" if target[2] else "-")
        lines.append(
            f"| {r['label']} | {r['image_size']} | {r['tokens']:,} | {r['design']} | {r['plain_forward_s']:.2f} | "
            f"{r['analyze_wall_s']:.1f} | {r['time_vs_plain']:.2f}x | {r['analyze_peak_mb']:,.0f} "
            f"({r['plain_peak_mb']:,.0f}) | {r['npz_mb']:,.0f} | {goal} |"
        )
    return "\n".join(lines)


def svg(rows: list[dict], path: Path) -> None:
    """Two log-log panels (peak RSS MB, analyze wall s against tokens), old and new design, as an SVG file."""
    width, height, pad = 360, 260, 48
    colours = {"old": "#d62728", "new": "#1f77b4"}

    def panel(x0: int, key: str, title: str) -> list[str]:
        values = [r[key] for r in rows]
        xs = [r["tokens"] for r in rows]
        lx0, lx1 = math.log10(min(xs) * 0.8), math.log10(max(xs) * 1.25)
        ly0, ly1 = math.log10(min(values) * 0.7), math.log10(max(values) * 1.4)

        def at(x, y):
            return (x0 + pad + (math.log10(x) - lx0) / (lx1 - lx0) * (width - 1.5 * pad),
                    height - pad - (math.log10(y) - ly0) / (ly1 - ly0) * (height - 1.6 * pad))

        out = [f'<text x="{x0 + width / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>',
               f'<rect x="{x0 + pad}" y="{0.6 * pad}" width="{width - 1.5 * pad}" height="{height - 1.6 * pad}" '
               'fill="none" stroke="#888"/>']
        for tick in sorted({r["tokens"] for r in rows}):
            x, _ = at(tick, values[0])
            out.append(f'<text x="{x}" y="{height - pad + 16}" text-anchor="middle" font-size="10">{tick}</text>')
        for exponent in range(math.floor(ly0), math.ceil(ly1) + 1):
            for mantissa in (1, 3):
                v = mantissa * 10**exponent
                if ly0 <= math.log10(v) <= ly1:
                    _, y = at(xs[0], v)
                    out.append(f'<text x="{x0 + pad - 4}" y="{y + 3}" text-anchor="end" font-size="10">{v:g}</text>')
        for design, colour in colours.items():  # one line per design and model
            for label in dict.fromkeys(r["label"] for r in rows):
                points = sorted((r["tokens"], r[key]) for r in rows if r["design"] == design and r["label"] == label)
                coords = [at(x, y) for x, y in points]
                if len(coords) > 1:
                    path_d = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
                    out.append(f'<polyline points="{path_d}" fill="none" stroke="{colour}" stroke-width="2"/>')
                out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>' for x, y in coords]
                if coords:
                    x, y = coords[-1]
                    out.append(f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" font-size="9" fill="{colour}">{label}</text>')
        out.append(f'<text x="{x0 + width / 2}" y="{height - 8}" text-anchor="middle" font-size="11">tokens</text>')
        return out

    body = panel(0, "analyze_peak_mb", "peak RSS (MB)") + panel(width, "analyze_wall_s", "analyze wall time (s)")
    body += [f'<text x="{2 * width - 120}" y="{40 + 16 * i}" font-size="12" fill="{c}">{d} design</text>'
             for i, (d, c) in enumerate(colours.items())]
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" height="{height}" '
                    f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>\n')


def redraw(json_path: Path, svg_path: Path) -> None:
    """The plot again from a written JSON (no measuring)."""
    svg(json.loads(json_path.read_text())["rows"], svg_path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-tree", type=Path, help="a checkout of the old design to run beside this one")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", help="run only cases whose model name contains this")
    parser.add_argument("--json", type=Path, help="default: bench/scale.json (with --only: bench/out/scale-ONLY.json)")
    parser.add_argument("--svg", type=Path, help="default: bench/scale.svg (with --only: bench/out/scale-ONLY.svg)")
    parser.add_argument("--redraw", action="store_true", help="only draw the plot again from --json")
    args = parser.parse_args()
    # a partial run (--only) never replaces the full table and plot that bench/RESULTS.md shows
    stem = ROOT / "bench" / ("scale" if not args.only else f"out/scale-{args.only}")
    args.json = args.json or stem.with_suffix(".json")
    args.svg = args.svg or stem.with_suffix(".svg")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    if args.redraw:
        redraw(args.json, args.svg)
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for label, model, side, native in CASES:
            if args.only and args.only not in model:
                continue
            designs = [("new", ROOT)]
            if args.old_tree is not None and side == native:
                tokens, depth, heads, _ = tokens_of(model, side)
                if 2 * depth * heads * tokens**2 * 4 <= OLD_LIMIT_BYTES:
                    designs.insert(0, ("old", args.old_tree.resolve()))
            for design, tree in designs:
                row = measure(label, model, side, native, tree, design, args.threads, Path(work))
                print(f"{label} {side}px {design}: {row['analyze_wall_s']:.1f} s, {row['analyze_peak_mb']:.0f} MB, "
                      f"{row['npz_mb']:.0f} MB file", flush=True)
                rows.append(row)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "threads": args.threads, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "image": IMAGE.name, "cpu": cpu_model()}
    import timm
    import torch

    meta |= {"torch": torch.__version__, "timm": timm.__version__}
    args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    if rows:
        svg(rows, args.svg)
    print(machine_line())
    print(table(rows))
    print(f"wrote {args.json} and {args.svg}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
