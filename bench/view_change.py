"""Benchmark: how long a view-control change takes in headless Chromium, bundled demo model, default scene.

Starts the app, opens the Attention rollout page on the default scene (model and analysis then cached) and
times, from the input to the moment the page's URL states the new value and Streamlit's "running" status is
gone:

- the head-fusion menu (mean -> max -> min -> mean), one change at a time;
- 18 arrow-key steps of the discard slider pressed one after another (0.00 -> 0.90), `--pace` ms apart (0: as
  fast as the browser takes them; 33: a held key's repeat; 250: a person tapping): every step the app redraws
  costs a rerun (where the page has an Apply button, it is pressed after the 18th). Counted on Streamlit's websocket: the rerun requests the browser sent and the runs the server
  finished for the 18 steps (these counts depend on the pace, not on the machine's load).

    python bench/view_change.py [--port 8651] [--repeats 3] [--pace 0 250]

Prints seconds, run counts and the machine's load average (the CPU may be shared: the times are wall-clock).
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


def _apply(page) -> None:
    """Press the sliders' Apply button where the page has one (the sliders then wait for it)."""
    button = page.locator(".st-key-rollout_apply button")
    if button.count():
        button.first.click()


def _quiet(page, runs) -> float:
    """Until every rerun request sent has had its run finish (the server coalesces queued ones: at least one run
    after the last request) and nothing changed for a second with no run in progress; returns when the last change
    was seen (time.perf_counter)."""
    last, changed = (runs.sent, runs.finished), time.perf_counter()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        now = (runs.sent, runs.finished)
        running = page.evaluate("!!document.querySelector('[data-testid=\"stStatusWidget\"]')")
        if now != last or running:
            last, changed = now, time.perf_counter()
        elif time.perf_counter() - changed >= 1.0 and (runs.sent == 0 or runs.finished >= 1):
            break
    return changed


class RunCounter:
    """Counts, on the page's Streamlit websocket, the rerun requests sent and the script runs finished."""

    def __init__(self, page) -> None:
        self.sent = self.finished = 0
        page.on("websocket", lambda ws: (ws.on("framesent", self._sent), ws.on("framereceived", self._received)))

    def _sent(self, payload) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if isinstance(payload, bytes):
            message = BackMsg()
            message.ParseFromString(payload)
            self.sent += message.WhichOneof("type") == "rerun_script"

    def _received(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, bytes):
            message = ForwardMsg()
            message.ParseFromString(payload)
            self.finished += message.WhichOneof("type") == "script_finished"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8651)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pace", type=int, nargs="+", default=[0], help="ms between the slider's key presses")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    server = start_app(args.port, limit=120)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            runs = RunCounter(page)
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
            slider = {}
            for pace in args.pace:
                times, reached, sent, finished = [], [], [], []
                for _ in range(args.repeats):
                    thumb = page.locator("[data-testid='stSlider']").filter(has_text="Discard").get_by_role("slider")
                    runs.sent = runs.finished = 0
                    begun = time.perf_counter()
                    thumb.focus()
                    for _ in range(18):
                        page.keyboard.press("ArrowRight")
                        if pace:
                            page.wait_for_timeout(pace)
                    _apply(page)
                    settled = _quiet(page, runs)
                    times.append(settled - begun - 18 * pace / 1000)
                    sent.append(runs.sent)
                    finished.append(runs.finished)
                    reached.append(parse_qs(urlsplit(page.url).query).get("discard", ["?"])[0])
                    thumb.focus()
                    page.keyboard.press("Home")
                    _apply(page)
                    _settled(page, "discard=0.0")
                slider[pace] = times, reached, sent, finished
            browser.close()
        print(f"fusion menu, one change: median {statistics.median(fusion_times):.2f} s, "
              f"max {max(fusion_times):.2f} s ({len(fusion_times)} changes)")
        for pace, (times, reached, sent, finished) in slider.items():
            print(f"discard slider, 18 arrow-key steps {pace} ms apart: beyond the pressing, median "
                  f"{statistics.median(times):.2f} s, max {max(times):.2f} s ({len(times)} runs); rerun requests sent "
                  f"{sent}, runs finished {finished}; the URL then said discard = {', '.join(reached)} "
                  f"(0.9 when no key press was lost)")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        stop(server)


if __name__ == "__main__":
    main()
