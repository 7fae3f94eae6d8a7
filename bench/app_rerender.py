"""Server time of a view-control change in the app, with ViT-B/16-sized results cached (measured through AppTest).

The app runs on random-weight ``vit_base_patch16_224`` (same shapes as the paper's ViT-B/16: 12 layers,
12 heads, 197 tokens). After the one forward pass for the image, each view control is changed several
times and each rerun is timed; the forward-pass counter proves none of them ran the model.

    python bench/app_rerender.py --out bench/out/app.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from streamlit.testing.v1 import AppTest  # noqa: E402

from viz_app import resources, state  # noqa: E402


def timed(at: AppTest) -> float:
    begun = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - begun
    assert not at.exception, [e.value for e in at.exception]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_base_patch16_224")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    at.run()
    at.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM).run()
    at.text_input(key=state.MODEL_NAME).set_value(args.model).run()  # offline: says it cannot download
    at.toggle(key=state.RANDOM_WEIGHTS).set_value(True)
    first = timed(at)
    forwards = resources.forward_count()

    # (page, widget kind, key, values to cycle through)
    controls = [
        ("class_token", "slider", state.CLS_LAYER, [3, 7, 11, 5]),
        ("query", "number_input", state.QUERY_ROW, [3, 7, 11, 5]),
        ("query", "selectbox", state.QUERY_LAYER, None),
        ("rollout", "slider", state.OPACITY, [0.3, 0.6, 0.9, 0.5]),
        ("rollout", "selectbox", state.FUSION, None),
        ("rollout", "slider", state.DISCARD, [0.5, 0.9, 0.0, 0.7]),
    ]
    rows = []
    for page, kind, key, values in controls:
        at.switch_page(f"viz_app/pages/{page}.py").run()
        widget = getattr(at, kind)(key=key)
        options = values or list(getattr(widget, "options", []))
        times = []
        for i in range(args.repeats):
            widget = getattr(at, kind)(key=key)
            if kind == "selectbox" and not values:
                widget.select_index((widget.index + 1) % len(options))
            else:
                widget.set_value(options[i % len(options)])
            times.append(timed(at))
        rows.append((page, key, statistics.median(times) * 1000, max(times) * 1000))
    extra_forwards = resources.forward_count() - forwards

    lines = [
        f"Command: `python {' '.join(sys.argv)}`", "",
        f"Model {args.model} (random weights), first load and analysis {first:.1f} s; "
        f"forward passes run by the view changes below: {extra_forwards}; load average {os.getloadavg()}", "",
        "| page | control | median ms | max ms |", "|---|---|---|---|",
        *[f"| {p} | {k} | {m:.0f} | {x:.0f} |" for p, k, m, x in rows],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
