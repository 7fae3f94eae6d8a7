"""A view, its controls, its caption and its link state the same settings (issue 33), in Chromium at 1280 x 720.

- After an upload the rollout page's controls, its map's colour scale, its caption and its URL agree.
- Every control of a page goes into its link: the link opened in a fresh browser session shows every control
  as it was.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from e2e_support import LOAD_TIMEOUT_MS, SHOTS
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _idle(page) -> None:
    for _ in range(2):
        page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')")
        page.wait_for_timeout(400)


def _select(page, label: str, option: str) -> None:
    page.locator("[data-testid=stMain] [data-testid=stSelectbox]", has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    _idle(page)


def _slide(page, label: str, steps: int) -> None:
    """Move a slider `steps` keyboard steps from where it is, then press Apply where the page has one (the rollout's
    sliders apply together)."""
    thumb = page.locator("[data-testid=stMain] [data-testid=stSlider]", has_text=label).first.get_by_role("slider")
    thumb.focus()
    for _ in range(abs(steps)):
        page.keyboard.press("ArrowRight" if steps > 0 else "ArrowLeft")
        page.wait_for_timeout(50)
    apply = page.locator("[data-testid=stMain] .st-key-rollout_apply button")
    if apply.count():
        apply.first.click()
    _idle(page)


def _shown(page, label: str) -> str:
    """What a control shows: a menu's chosen option or a slider's value."""
    box = page.locator("[data-testid=stMain] :is([data-testid=stSelectbox], [data-testid=stSlider])",
                       has_text=label).first
    slider = box.get_by_role("slider")
    if slider.count():
        return box.locator("[data-testid=stSliderThumbValue]").first.inner_text(timeout=10_000).strip()
    return box.get_by_role("combobox").first.input_value(timeout=10_000).strip()


def _scale_top(page) -> str:
    """The last stop of the rollout map's colour scale, as plotly drew it."""
    return page.locator(".st-key-rollout_chart .js-plotly-plot").first.evaluate(
        "gd => gd._fullData.find(t => t.type === 'heatmap').colorscale.slice(-1)[0][1]")


def _query(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def test_after_an_upload_the_rollout_map_caption_and_link_follow_the_controls(app_url, browser, tmp_path):
    from vit_core.demo.scenes import render_scene

    image, _, _ = render_scene(seed=5, index=3)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(photo)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    page.goto(f"{app_url}/rollout")
    page.locator(".st-key-rollout_chart .js-plotly-plot").first.wait_for()
    _idle(page)
    _select(page, "Head fusion", "max")
    _slide(page, "Discard ratio", 18)
    _slide(page, "Start layer", 2)
    _select(page, "Colour map", "Inferno")
    assert _scale_top(page) == "rgb(252, 255, 164)"  # Inferno's top
    page.locator("[data-testid=stSidebar] label", has_text="Upload").first.click()
    _idle(page)
    page.locator("[data-testid=stSidebar] input[type=file]").last.set_input_files(str(photo))
    page.get_by_text("photo.png").first.wait_for()
    page.locator(".st-key-rollout_chart .js-plotly-plot").first.wait_for()
    _idle(page)
    page.screenshot(path=str(SHOTS / "after-upload-rollout.png"))
    shown = {label: _shown(page, label) for label in ("Head fusion", "Discard ratio", "Start layer", "Colour map")}
    query = _query(page)
    caption = page.locator("[data-testid=stMain] [data-testid=stCaptionContainer]",
                           has_text="Heat blend").first.inner_text()
    top = _scale_top(page)
    page.close()
    scale = shown["Colour map"]
    drawn = {"Inferno": "rgb(252, 255, 164)", "Turbo": "rgb(122, 4, 2)"}[scale]
    assert top == drawn, f"the controls say {scale}, the map's scale ends at {top}"
    assert f"Heat blend: {scale}" in caption or scale in caption, caption
    assert query.get("fusion") == shown["Head fusion"], (query, shown)
    assert float(query.get("discard", "nan")) == pytest.approx(float(shown["Discard ratio"])), (query, shown)
    assert query.get("start") == shown["Start layer"], (query, shown)
    assert query.get("colormap", "Turbo") == scale, (query, shown)
