"""p95 open and change latency against sessions, from bench/classroom_load.py's --json files, as an SVG (no
plotting library needed).

    python bench/classroom_plot.py before.json after.json --out bench/classroom_p95.svg

Each file is one series (its name is the file's stem); a run's points are joined in order of sessions, repeated
counts drawn as separate points. The issue's targets (30: open 3 s, change 1.5 s; 100: 8 s, 3 s) are marked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

W, H, LEFT, BOTTOM, TOP, RIGHT = 760, 420, 60, 50, 30, 220
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
TARGETS = {30: (3.0, 1.5), 100: (8.0, 3.0)}


def svg(series: dict[str, list[dict]]) -> str:
    points = [r for runs in series.values() for r in runs]
    x_max = max(r["sessions"] for r in points) * 1.05
    y_max = max(max(r["open_s"]["p95"] or 0, r["change_s"]["p95"] or 0) for r in points) * 1.1 or 1

    def x(v: float) -> float:
        return LEFT + v / x_max * (W - LEFT - RIGHT)

    def y(v: float) -> float:
        return H - BOTTOM - v / y_max * (H - BOTTOM - TOP)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
           f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
           f'<line x1="{LEFT}" y1="{y(0)}" x2="{W - RIGHT}" y2="{y(0)}" stroke="black"/>',
           f'<line x1="{LEFT}" y1="{y(0)}" x2="{LEFT}" y2="{TOP}" stroke="black"/>',
           f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 12}" text-anchor="middle">sessions opened at once</text>',
           f'<text x="14" y="{(TOP + H - BOTTOM) / 2}" transform="rotate(-90 14 {(TOP + H - BOTTOM) / 2})" '
           f'text-anchor="middle">p95 latency, s</text>']
    step = 10 ** len(str(int(y_max))) / 10 if y_max >= 10 else (1 if y_max > 4 else 0.5)
    tick = 0.0
    while tick <= y_max:
        out.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4}" text-anchor="end">{tick:g}</text>'
                   f'<line x1="{LEFT}" y1="{y(tick)}" x2="{W - RIGHT}" y2="{y(tick)}" stroke="#eee"/>')
        tick += step
    for n in sorted({r["sessions"] for r in points}):
        out.append(f'<text x="{x(n)}" y="{y(0) + 16}" text-anchor="middle">{n}</text>')
    for n, (open_t, change_t) in TARGETS.items():
        for value, dash in ((open_t, "6,3"), (change_t, "2,2")):
            if value <= y_max:
                out.append(f'<line x1="{x(n) - 12}" y1="{y(value)}" x2="{x(n) + 12}" y2="{y(value)}" '
                           f'stroke="black" stroke-dasharray="{dash}"/>')
    legend = TOP
    for index, (name, runs) in enumerate(series.items()):
        for metric, dash in (("open_s", ""), ("change_s", "5,3")):
            colour = COLOURS[index % len(COLOURS)]
            pts = sorted((r["sessions"], r[metric]["p95"]) for r in runs if r[metric]["p95"] is not None)
            path = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                       f'stroke-dasharray="{dash}"/>')
            out += [f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>' for n, v in pts]
            label = f"{name}: {'open' if metric == 'open_s' else 'change'}"
            out.append(f'<line x1="{W - RIGHT + 10}" y1="{legend}" x2="{W - RIGHT + 34}" y2="{legend}" '
                       f'stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>'
                       f'<text x="{W - RIGHT + 40}" y="{legend + 4}">{label}</text>')
            legend += 18
    out.append(f'<text x="{W - RIGHT + 10}" y="{legend + 8}">black dashes: targets</text>')
    out.append(f'<text x="{W - RIGHT + 10}" y="{legend + 24}">(open long, change short)</text>')
    out.append("</svg>")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="p95 latency against sessions, as an SVG")
    parser.add_argument("runs", type=Path, nargs="+", help="--json files of bench/classroom_load.py")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("classroom_p95.svg"))
    args = parser.parse_args(argv)
    series = {path.stem: json.loads(path.read_text()) for path in args.runs}
    args.out.write_text(svg(series))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
