"""Benchmark: how long a view-control change takes in headless Chromium, bundled demo model, default scene.

Starts the app, opens the Attention rollout page on the default scene (model and analysis then cached) and
times, from the input to the moment the page's URL states the new value and Streamlit's "running" status is
gone:

- the head-fusion menu (mean -> max -> min -> mean), one change at a time;
- 18 arrow-key steps of the discard slider pressed one after another (0.00 -> 0.90), as a person holding the
  key does: every step the app redraws costs a rerun.

    python bench/view_change.py [--port 8651] [--repeats 3]

Prints seconds and the machine's load average (the CPU may be shared: the figures are wall-clock).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from faithfulness_page import FLAGS, start_app, stop  # the same browser flags and server (bench/ on the path)
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_MS = int(os.environ.get("BENCH_TIMEOUT_MS", 120_000))
SAMPLE = "pair_ring_star.png"


def _settled(page, fragment: str) -> None:
    """Until the URL holds `fragment` and no run is in progress (checked twice, 150 ms apart)."""
    try:
        page.wait_for_function(f"window.location.search.includes({fragment!r})", timeout=TIMEOUT_MS)
    except Exception:
        print(f"waiting for {fragment}: the URL is {page.url}", file=sys.stderr)
        raise
    _idle(page)


def _idle(page) -> None:
    """Until no run is in progress (checked twice, 150 ms apart)."""
    for _ in range(2):
        page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS)
        page.wait_for_timeout(150)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8651)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    server = start_app(args.port, limit=120)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"{url}/rollout?sample={SAMPLE}")
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2",
                                   timeout=TIMEOUT_MS)
            _settled(page, "fusion=mean")
            print(f"load average before: {os.getloadavg()[0]:.1f}")
            fusion_times = []
            for _ in range(args.repeats):
                for label, value in (("max", "max"), ("min", "min"), ("mean", "mean")):
                    begun = time.perf_counter()
                    page.locator("[data-testid='stSelectbox']").filter(has_text="Head fusion").click()
                    page.get_by_role("option", name=label, exact=False).first.click()
                    _settled(page, f"fusion={value}")
                    fusion_times.append(time.perf_counter() - begun)
            slider_times, reached = [], []
            for _ in range(args.repeats):
                thumb = page.locator("[data-testid='stSlider']").filter(has_text="Discard").get_by_role("slider")
                begun = time.perf_counter()
                thumb.focus()
                for _ in range(18):
                    page.keyboard.press("ArrowRight")
                page.wait_for_timeout(300)  # a debounced control commits after its pause
                _idle(page)
                slider_times.append(time.perf_counter() - begun - 0.3)
                reached.append(parse_qs(urlsplit(page.url).query).get("discard", ["?"])[0])
                thumb.focus()
                page.keyboard.press("Home")
                _settled(page, "discard=0.0")
            browser.close()
        print(f"fusion menu, one change: median {statistics.median(fusion_times):.2f} s, "
              f"max {max(fusion_times):.2f} s ({len(fusion_times)} changes)")
        print(f"discard slider, 18 arrow-key steps: median {statistics.median(slider_times):.2f} s, "
              f"max {max(slider_times):.2f} s ({len(slider_times)} runs); the URL then said discard = "
              f"{', '.join(reached)} (0.9 when no key press was lost)")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        stop(server)


if __name__ == "__main__":
    main()
