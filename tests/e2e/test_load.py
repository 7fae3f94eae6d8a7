"""The app under load: 8 simultaneous browser sessions on one server, switching images and pages.

Each session is a real Streamlit session (its own websocket) in one headless Chromium. Work is started on every
session before any is waited for, so the server runs them side by side on its one shared model. Bounded: 8
sessions, 2 rounds, a fixed timeout per wait. Checks: no error or traceback in any session, and the server's
memory stays bounded (its caches have limits).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import ROOT, SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SESSIONS, ROUNDS = 8, 2
PAGES = ("Attention rollout", "Class-token attention", "Image & patches")
WAIT_MS = 120_000
GROWTH_LIMIT_MIB = 600  # the analysis cache is bounded by bytes; sessions keep only widget state


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def samples() -> list[Path]:
    folder = ROOT / "assets" / "samples"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def wait_ready(page) -> None:
    page.locator("[data-testid=stMain] :is(.js-plotly-plot, [data-testid=stAlertContentError])").first.wait_for()
    errors = page.locator("[data-testid=stAlertContentError]")
    assert errors.count() == 0, f"a session shows an error: {errors.first.inner_text()}"
    assert page.locator("[data-testid=stException]").count() == 0, "a session shows a traceback"


def upload(page, path: Path) -> None:
    page.locator("[data-testid=stSidebar] input[type=file]").last.set_input_files(str(path))


def test_eight_sessions_switching_images_and_pages(app_server, browser):
    names = samples()
    assert len(names) >= 3
    pages = []
    for _ in range(SESSIONS):
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(WAIT_MS)
        pages.append(page)
    pages[0].goto(app_server.url)
    wait_ready(pages[0])  # the model is loaded and the first analysis cached
    before = rss_mib(app_server.pid)

    for page in pages[1:]:
        page.goto(app_server.url, wait_until="commit")
    for page in pages:
        wait_ready(page)
        page.locator("[data-testid=stSidebar] label", has_text="Upload").first.click()
    for round_ in range(ROUNDS):
        chosen = [names[(index + round_ * SESSIONS) % len(names)] for index in range(SESSIONS)]
        for page, path in zip(pages, chosen, strict=True):
            upload(page, path)
        for page, path in zip(pages, chosen, strict=True):
            page.get_by_text(f"{path.name}, resized").first.wait_for()
            wait_ready(page)
        for title in PAGES:
            for page in pages:
                page.locator("[data-testid=stSidebarNav] a", has_text=title).first.click()
            for page in pages:
                page.get_by_role("heading", name=title).first.wait_for()
                wait_ready(page)
    after = rss_mib(app_server.pid)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "load-memory.txt").write_text(
        f"{SESSIONS} sessions x {ROUNDS} rounds: server RSS {before:.0f} MiB after the first session, "
        f"{after:.0f} MiB at the end (+{after - before:.0f} MiB)\n"
    )
    pages[-1].screenshot(path=str(SHOTS / "load-last-session.png"), full_page=True)
    for page in pages:
        page.close()
    assert after - before < GROWTH_LIMIT_MIB, f"server memory grew by {after - before:.0f} MiB"
