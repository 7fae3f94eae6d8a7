"""Projector mode at 1280 x 720 (issue 33.7): each page's main figure is fully visible without scrolling, and
every per-head map keeps its own label."""

from __future__ import annotations

import pytest
from e2e_support import LOAD_TIMEOUT_MS, SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _idle(page) -> None:
    for _ in range(2):
        page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')")
        page.wait_for_timeout(1000)


def test_main_figures_fit_the_window_in_projector_mode(app_url, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    page.goto(app_url)
    page.locator(".js-plotly-plot").first.wait_for()
    page.locator("[data-testid=stSidebar] label", has_text="Projector").first.click()
    _idle(page)
    boxes = {}
    for title in ("Attention rollout", "Class-token attention"):
        page.locator("[data-testid=stSidebarNav] a", has_text=title).first.click()
        page.locator("[data-testid=stMain] .js-plotly-plot").first.wait_for()
        _idle(page)
        page.screenshot(path=str(SHOTS / f"projector-{title.split()[0].lower()}.png"))
        boxes[title] = page.locator("[data-testid=stMain] .js-plotly-plot").first.evaluate(
            "e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; }")
        if title == "Class-token attention":
            labels = page.locator("[data-testid=stMain] .js-plotly-plot").first.evaluate(
                "gd => gd._fullLayout.annotations.map(a => a.text)")
    page.close()
    for title, (top, bottom) in boxes.items():
        assert 0 <= top and bottom <= 720, f"{title}: main figure from {top:.0f} to {bottom:.0f} px"
    assert labels == [f"head {h}" for h in range(len(labels))] and len(labels) >= 2, labels


def test_the_lessons_back_and_next_keep_their_words_in_projector_mode(app_url, browser):
    """The projector's large text once cut the lesson's buttons to "B" and "N": each label fits its button."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    page.goto(app_url.rstrip("/") + "/lesson")
    page.locator(".js-plotly-plot").first.wait_for()
    page.locator("[data-testid=stSidebar] label", has_text="Projector").first.click()
    _idle(page)
    fits = {}
    for word in ("Back", "Next"):
        # Streamlit clips a button's label with an ellipsis in its markdown container: scrollWidth > clientWidth
        label = page.locator("[data-testid=stMain] button", has_text=word).first.locator(
            "[data-testid=stMarkdownContainer]").first
        fits[word] = label.evaluate("e => [e.scrollWidth, e.clientWidth, e.textContent]")
    page.close()
    for word, (needed, shown, text) in fits.items():
        assert text == word and needed <= shown, f"{word}: its label needs {needed} px and has {shown}"
