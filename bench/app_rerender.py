"""Server time of each view-control change in the app after the first analysis, and the app process's memory.

By default the app runs on random-weight ``vit_base_patch16_224`` (the paper's ViT-B/16: 12 layers, 12 heads,
197 tokens), typed into "Other timm ViT name...". ``--curated LABEL`` picks a model from the model menu instead
(offline: its "Random weights" toggle switched on), e.g. DINOv2 ViT-B/14 with registers at its own 518 px
(1,374 tokens), whose analysis keeps q and k instead of the full attention. After the one forward pass for the
image, each view control (layer, head, patch, fusion, discard, ...) is changed several times and each rerun is
timed (every change printed, the first of a kind is a cache miss); the forward-pass counter proves none of them
ran the model. The process's resident memory (``VmRSS``, and its peak ``VmHWM``) is read after the first analysis
and after the view changes: AppTest runs the app's script in this process, so that is the app's memory.

    python bench/app_rerender.py --out bench/out/app.md
    python bench/app_rerender.py --curated "DINOv2 ViT-B/14 with registers (518 px)" --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from machine import cpu_model  # noqa: E402  (bench/machine.py, beside this script)
from streamlit.testing.v1 import AppTest  # noqa: E402

from viz_app import resources, state  # noqa: E402


def timed(at: AppTest) -> float:
    begun = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - begun
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return elapsed


def figures(at: AppTest) -> list[str]:
    return [chart.proto.spec for chart in at.get("plotly_chart")]


def memory_mb() -> tuple[float, float, float]:
    """(resident, peak resident, resident file pages) MB of this process, from /proc/self/status: the file pages
    are mapped libraries (torch's CUDA build maps ~0.5 GB of them here), shared by every process that maps them."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM", "RssFile"))


def open_model(at: AppTest, args: argparse.Namespace) -> None:
    """The model chosen with random weights (the first analysis runs on the last of these runs)."""
    if args.curated:
        at.selectbox(key=state.MODEL_CHOICE).set_value(args.curated).run()  # offline: asks for random weights
    else:
        at.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM).run()
        at.text_input(key=state.MODEL_NAME).set_value(args.model).run()  # offline: says it cannot download
    at.toggle(key=state.RANDOM_WEIGHTS).set_value(True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_base_patch16_224", help="a timm name (Other timm ViT name...)")
    parser.add_argument("--curated", help="a label of the model menu instead, e.g. "
                        "'DINOv2 ViT-B/14 with registers (518 px)'")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=1800)
    at.run()
    open_model(at, args)
    first = timed(at)
    first_rss, first_peak, first_file = memory_mb()
    forwards = resources.forward_count()
    ctx = at.session_state[state.CONTEXT]
    g = ctx.geometry
    store = "full attention" if ctx.analysis.attention is not None else "q and k"
    depth, (gh, gw) = g.depth, g.grid_size
    layers = [depth // 4, depth // 2, depth - 1, 1]
    rows = [gh // 4, gh // 2, gh - 1, 1]

    # (page, widget kind, key, values to cycle through; None: the next option each time), in this order
    controls = [
        ("class_token", "slider", state.CLS_LAYER, layers),
        ("class_token", "selectbox", state.CLS_HEAD, None),
        ("query", "number_input", state.QUERY_ROW, rows),
        ("query", "number_input", state.QUERY_COL, rows),
        ("query", "selectbox", state.QUERY_HEAD, None),
        ("query", "selectbox", state.QUERY_LAYER, None),
        ("query", "selectbox", state.QUERY_LAYER, [state.ROLLED_OUT]),  # then patches of the rolled-out rows
        ("query", "number_input", state.QUERY_ROW, rows[::-1]),
        ("rollout", "slider", state.OPACITY, [0.3, 0.6, 0.9, 0.5]),
        ("rollout", "selectbox", state.FUSION, None),
        ("rollout", "slider", state.DISCARD, [0.5, 0.9, 0.0, 0.7]),
    ]
    table = []
    for page, kind, key, values in controls:
        at.switch_page(f"viz_app/pages/{page}.py").run()
        widget = getattr(at, kind)(key=key)
        options = values or list(getattr(widget, "options", []))
        times, redrawn = [], 0
        for i in range(args.repeats if len(options) > 1 else 1):
            before = figures(at)
            widget = getattr(at, kind)(key=key)
            if kind == "selectbox" and not values:
                widget.select_index((widget.index + 1) % len(options))
            else:
                widget.set_value(options[i % len(options)])
            times.append(timed(at))
            redrawn += figures(at) != before  # a change the app ignored would redraw nothing
        label = "query_layer -> rolled out" if values == [state.ROLLED_OUT] else key
        table.append((page, label, times, redrawn))
    extra_forwards = resources.forward_count() - forwards
    rss, peak, file_pages = memory_mb()

    name = args.curated or args.model
    lines = [
        f"Command: `python {shlex.join(sys.argv)}`", "",
        f"Model {name} (random weights), {g.num_tokens} tokens ({gh} x {gw} patches), analysis keeps {store}; "
        f"first load and analysis {first:.1f} s; forward passes run by the view changes below: {extra_forwards}; "
        f"load average {os.getloadavg()}; {cpu_model()}, {os.cpu_count()} cores", "",
        f"App process memory: after the first analysis {first_rss:,.0f} MB resident (peak so far {first_peak:,.0f} "
        f"MB; {first_file:,.0f} MB of it mapped library files); after the view changes {rss:,.0f} MB (peak "
        f"{peak:,.0f} MB; {file_pages:,.0f} MB library files).", "",
        "| page | control | median ms | max ms | each change ms | figures redrawn |", "|---|---|---|---|---|---|",
        *[f"| {p} | {k} | {statistics.median(ts) * 1000:.0f} | {max(ts) * 1000:.0f} | "
          f"{', '.join(f'{t * 1000:.0f}' for t in ts)} | {r} of {len(ts)} |" for p, k, ts, r in table],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
