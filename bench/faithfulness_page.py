"""Benchmark: the Faithfulness page's first view in headless Chromium, bundled demo model, one sample scene.

Starts the app, opens the sample on the overview page first (the model and the image's analysis are then
cached, as when a person arrives from another page), then opens the Faithfulness page and times from the
navigation until every default method's map and the four curve charts are drawn; then once more (cached).

    python bench/faithfulness_page.py [--sample pair_ring_star.png] [--port 8650] [--screenshot docs/faithfulness.png]

Prints seconds and the machine's load average (the CPU may be shared: the figures are wall-clock).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
from app_server import start_app, stop  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
sys.path.insert(0, str(ROOT))
from vit_core.methods.registry import FAITHFULNESS_DEFAULT  # noqa: E402

DEFAULT_METHODS = len(FAITHFULNESS_DEFAULT)  # the page's default: every method but the slow ones
CURVES = 4
TIMEOUT_MS = 600_000


def _time_page(page, url: str) -> float:
    start = time.perf_counter()
    page.goto(url)
    page.get_by_text("AUCs and measures").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {DEFAULT_METHODS + CURVES}",
        timeout=TIMEOUT_MS,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="pair_ring_star.png")
    parser.add_argument("--port", type=int, default=8650)
    parser.add_argument("--screenshot", type=Path, help="also save the page in a 1500 x 3000 window as this PNG")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    server = start_app(args.port, limit=120)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{url}/?sample={args.sample}")
            page.get_by_text("What the model sees").first.wait_for(timeout=TIMEOUT_MS)
            print(f"load average before: {os.getloadavg()[0]:.1f}")
            first = _time_page(page, f"{url}/faithfulness?sample={args.sample}")
            again = _time_page(page, f"{url}/faithfulness?sample={args.sample}")
            if args.screenshot:
                page.set_viewport_size({"width": 1500, "height": 3000})  # Streamlit scrolls an inner block: a tall window
                page.wait_for_timeout(3000)
                page.screenshot(path=str(args.screenshot), full_page=True)
            browser.close()
        print(f"Faithfulness page, {args.sample}, {DEFAULT_METHODS} methods: first view {first:.1f} s, "
              f"again (cached) {again:.1f} s; load average after: {os.getloadavg()[0]:.1f}")
    finally:
        stop(server)


if __name__ == "__main__":
    main()
