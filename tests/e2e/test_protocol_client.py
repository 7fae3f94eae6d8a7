"""What bench/classroom_load.py counts as 'done' is what a person sees: a protocol session and a Chromium tab open
the lesson link on one server and press Next; when the protocol client has its run's script_finished, the tab
shows the same step's heading and as many figures as the client was sent."""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from e2e_support import ROOT, SHOTS

sys.path.insert(0, str(ROOT / "bench"))

import classroom_load  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT_MS = 120_000
FIGURES = "[data-testid=stMain] .js-plotly-plot"


def _idle(page, figures: int) -> None:
    """Until Streamlit's 'running' indicator is gone (the tab's own 'done') and `figures` plotly figures are drawn
    (plotly draws a moment after the run: its script loads lazily)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=WAIT_MS)
    page.wait_for_function(f"n => document.querySelectorAll('{FIGURES}').length >= n", arg=figures, timeout=WAIT_MS)
    page.wait_for_timeout(500)  # nothing more comes


def test_protocol_done_is_what_the_browser_shows(app_url, browser):
    link = f"{app_url}/lesson?lang=en"

    async def student():
        s = classroom_load.Session(link, 0, 120.0)
        await s.open()
        opened = (list(s.texts), s.kinds.count("plotly_chart"))
        await s.change("next")
        stepped = (list(s.texts), s.kinds.count("plotly_chart"))
        await s.close()
        return s, opened, stepped

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        s, (open_texts, open_figures), (next_texts, next_figures) = pool.submit(asyncio.run, student()).result()
    assert not s.errors, s.errors
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(WAIT_MS)
    page.goto(link)
    title = next(t for t in open_texts if t.startswith("Patches"))
    page.get_by_role("heading", name=title).first.wait_for()
    _idle(page, open_figures)
    assert page.locator(FIGURES).count() == open_figures == 1
    page.get_by_role("button", name="Next").click()
    heading = next(t for t in next_texts if t == "Linear embedding and its filters")
    page.get_by_role("heading", name=heading).first.wait_for()
    _idle(page, next_figures)
    assert page.locator(FIGURES).count() == next_figures  # the fragment's figures, as the client was sent them
    assert page.locator("[data-testid=stException]").count() == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "protocol-client-next.png"))
    page.close()
