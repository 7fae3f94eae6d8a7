"""The classroom mode in a real Chromium: a deep link opens the named page, layer, head and patch; the lesson
goes Next/Back and reveals its figure once a question is answered; Korean and back, on the lesson and the
rollout page; projector mode makes the per-head maps and colour-bar labels large; a drawing made with mouse
events is analysed."""

from __future__ import annotations

import math
import re

import pytest
from e2e_support import LOAD_TIMEOUT_MS, SHOTS

from viz_app.lesson import STEPS

LAST = len(STEPS)  # the lesson's step count, read from the lesson (a ninth step came with registers)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# per-head map width in px and colour-bar label size of the "Every head" figure on the query page
HEAD_SIZES = """gd => {
    const xa = gd._fullLayout.xaxis, gw = 14;  // the demo model's 14 x 14 patch grid
    const tick = gd.querySelector('.colorbar .cbaxis text, .colorbar text');
    return [xa._length / (xa.range[1] - xa.range[0]) * gw, tick ? parseFloat(getComputedStyle(tick).fontSize) : 0];
}"""


def _open(browser, url: str, width: int = 1440, height: int = 900):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    page.goto(url)
    page.locator("[data-testid=stMain] .js-plotly-plot").first.wait_for()
    assert page.locator("[data-testid=stException]").count() == 0
    return page


def test_deep_link_opens_page_layer_head_and_patch(app_url, browser):
    page = _open(browser, f"{app_url}/?page=query&layer=2&head=1&row=3&col=5")
    page.get_by_role("heading", name="Query a patch").first.wait_for()
    page.get_by_role("heading", name="Where patch (3, 5) attends").wait_for()
    page.get_by_text("layer 2, head 1. Click any patch").wait_for()
    chart = page.locator(".st-key-query_chart .js-plotly-plot").first
    outline = chart.evaluate("gd => gd._fullLayout.shapes.map(s => [s.x0, s.y0])")
    patch = chart.evaluate("gd => gd._fullData[1].dx")
    assert outline == [[5 * patch, 3 * patch]], "the link's patch is outlined"
    assert "layer=2" in page.url and "row=3" in page.url  # the URL keeps the view
    page.get_by_text("Copy link to this view").click()
    link = page.locator("[data-testid=stCode] code").last.inner_text()
    assert "page=query" in link and "col=5" in link
    page.close()


def test_lesson_next_back_answer_and_korean(app_url, browser):
    page = _open(browser, f"{app_url}/lesson")
    page.get_by_text(f"Step 1 of {LAST}").wait_for()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "lesson-first-step.png"))
    for _ in range(2):
        page.get_by_role("button", name="Next").click()
    page.get_by_text(f"Step 3 of {LAST}").wait_for()
    page.get_by_role("button", name="Back").click()
    page.get_by_text(f"Step 2 of {LAST}: Linear embedding").wait_for()
    assert page.locator(".st-key-lesson_figure").count() == 0  # hidden until answered
    # the step's own question: while a run ends, the page may still show the previous step's radio beside it
    question = page.get_by_role("radiogroup", name=re.compile("How many numbers does one patch hold"))
    question.locator("label", has_text="768").click()  # 3 x 16 x 16 for the demo model
    page.get_by_text("Right: the figure below shows why.").wait_for()
    page.locator(".st-key-lesson_figure .js-plotly-plot").wait_for()
    page.locator("[data-testid=stSidebar] button", has_text="한국어").click()
    page.get_by_text(f"{LAST}단계 중 2단계").wait_for()
    page.screenshot(path=str(SHOTS / "lesson-korean.png"))
    page.wait_for_url(lambda url: "lang=ko" in url)  # the URL follows once the run ends
    page.locator("[data-testid=stSidebar] button", has_text="English").click()
    page.get_by_text(f"Step 2 of {LAST}").wait_for()
    page.wait_for_timeout(1500)
    checked = page.locator(".st-key-image_source input[type=radio]").evaluate_all("es => es.map(e => e.checked)")
    assert checked == [True, False, False, False], "the image source still shows Sample after the switches"
    page.close()


def test_rollout_page_in_korean_and_back(app_url, browser):
    """A page other than the lesson in Korean: its title, headings, controls and sidebar; English again after the
    switch, with the chosen residual weight kept. Its screenshot (out/) is the one in docs/korean-rollout.png."""
    page = _open(browser, f"{app_url}/?page=rollout&lang=ko&residual=0.3")
    main = page.locator("[data-testid=stMain]")
    page.get_by_role("heading", name="어텐션 롤아웃").first.wait_for()
    page.get_by_role("heading", name="클래스별 관련도").wait_for()
    page.locator("[data-testid=stSidebar]", has_text="이미지와 패치").wait_for()  # the navigation
    page.locator("label", has_text="잔차 가중치").first.wait_for()
    page.wait_for_timeout(1500)  # the figures settle
    headings = main.locator("h1, h2, h3").all_inner_texts()
    assert headings and all(re.search("[\uac00-\ud7a3]", h) for h in headings), headings
    assert page.title() == "ViT 어텐션 탐색기"  # the browser tab too, on a link's first run
    page.screenshot(path=str(SHOTS / "korean-rollout.png"))
    page.locator("[data-testid=stSidebar] button", has_text="English").click()
    page.get_by_role("heading", name="Class-specific relevance").wait_for()
    page.wait_for_url(lambda url: "lang=en" in url and "residual=0.3" in url)
    assert page.locator("[data-testid=stException]").count() == 0
    page.close()


def test_projector_mode_enlarges_figures(app_url, browser):
    page = _open(browser, f"{app_url}/?page=query", width=1280, height=720)
    heads = page.locator("[data-testid=stMain] .js-plotly-plot").nth(1)
    heads.wait_for()
    before_px, before_font = heads.evaluate(HEAD_SIZES)
    page.locator("[data-testid=stSidebar] label", has_text="Projector").click()
    page.wait_for_function("() => getComputedStyle(document.documentElement).fontSize === '22px'")
    page.wait_for_timeout(3000)
    heads = page.locator("[data-testid=stMain] .js-plotly-plot").nth(1)
    after_px, after_font = heads.evaluate(HEAD_SIZES)
    main = page.locator(".st-key-query_chart .js-plotly-plot").first.bounding_box()
    page.screenshot(path=str(SHOTS / "projector-mode.png"))
    print(f"per-head map {before_px:.0f} -> {after_px:.0f} px; colour-bar labels {before_font} -> {after_font} px; "
          f"main figure top {main['y']:.0f} px, bottom {main['y'] + main['height']:.0f} px of 720")
    assert before_px < 200 <= after_px
    assert after_font >= 16 > before_font
    assert 0 <= main["y"] and main["y"] + main["height"] <= 720  # the clicked patch's map whole, without scrolling
    assert page.locator(".st-key-query_colormap").is_hidden()  # a secondary control
    page.close()


def test_a_drawing_is_analysed(app_url, browser):
    page = _open(browser, app_url)
    page.locator("[data-testid=stSidebar] label", has_text="Draw").first.click()
    canvas = page.locator(".st-key-image_canvas canvas").last
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()  # below the fold of the sidebar: mouse events must land on it
    page.wait_for_timeout(1000)
    box = canvas.bounding_box()
    x0, y0 = box["x"] + 60, box["y"] + 60
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 25):  # a ring-ish closed stroke
        page.mouse.move(x0 + 50 + 50 * math.cos(i / 24 * 6.283 + 3.1416),
                        y0 + 50 * math.sin(i / 24 * 6.283 + 3.1416), steps=2)
    page.mouse.up()
    page.get_by_text("drawing.png, resized and cropped").wait_for()
    page.locator("[data-testid=stMain] .js-plotly-plot").first.wait_for()
    assert page.locator("[data-testid=stException]").count() == 0
    page.close()


def test_first_screen_names_the_app_model_and_shows_the_picker(app_url, browser):
    page = _open(browser, app_url, width=1440, height=900)
    page.get_by_role("heading", name="ViT Attention Explorer").wait_for()
    page.get_by_text("Loaded:").wait_for()
    picker = page.locator(".st-key-sample_image").bounding_box()
    assert picker["y"] + picker["height"] <= 900, f"the sample picker ends at {picker['y'] + picker['height']} px"
    page.close()


def test_a_camera_photo_is_analysed(app_url, browser):
    """Chromium's fake camera (a generated test pattern) stands in for a webcam; the photo goes the upload's way.

    A second Chromium with the fake-camera flags, launched by the same Playwright as the `browser` fixture
    (a second sync Playwright cannot start inside the first).
    """
    from e2e_support import CHROMIUM, FLAGS

    camera_browser = browser.browser_type.launch(executable_path=CHROMIUM, args=[
        *FLAGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    try:
        context = camera_browser.new_context(viewport={"width": 1440, "height": 1200}, permissions=["camera"])
        page = context.new_page()
        page.set_default_timeout(LOAD_TIMEOUT_MS)
        page.goto(app_url)
        page.locator("[data-testid=stMain] .js-plotly-plot").first.wait_for()
        page.locator("[data-testid=stSidebar] label", has_text="Camera").first.click()
        page.wait_for_function(  # a click before the stream plays takes no photo
            "() => { const v = document.querySelector('[data-testid=stCameraInput] video');"
            " return v !== null && v.readyState >= 2 && v.videoWidth > 0; }")
        page.wait_for_timeout(1000)
        page.get_by_role("button", name="Take Photo").click()
        page.get_by_text("camera.jpg, resized and cropped").wait_for()
        assert page.locator("[data-testid=stException]").count() == 0
    finally:
        camera_browser.close()
