"""True colours in a real browser: every colour scale plotly draws is exactly the named scale the page chose.

Streamlit rewrites a figure's JSON before plotly sees it, swapping its theme's placeholder colours (``#000001``
.. ``#000040``) for theme colours (docs/ARCHITECTURE.md, "Front-end facts checked in a real browser"); Inferno's first stop is ``#000004``, so its zero
came out pale pink. This test reads what plotly actually drew (``gd._fullData[*].colorscale`` and the layout's
colour axes) on every page that draws a map and compares each scale, stop by stop in RGB, with plotly's own
definition of the scale it names; on the rollout page it also reads the colour bar's drawn gradient.
"""

from __future__ import annotations

import pytest
from e2e_support import LOAD_TIMEOUT_MS, SHOTS
from plotly.colors import get_colorscale, unlabel_rgb
from plotly.colors import hex_to_rgb as _hex_to_rgb

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# page title in the sidebar -> the scales its maps name by default (plotly names, case-insensitive)
MAP_PAGES = {
    "Attention rollout": {"turbo"},
    "Class-token attention": {"turbo", "blues"},
    "Query a patch": {"turbo"},
    "Position embeddings": {"viridis"},
    "Compare models": {"turbo"},
    "Token norms & sinks": {"viridis"},
}
NAMED = ["Inferno", "Viridis", "Turbo", "Jet", "Hot", "Greys", "Greys_r", "Blues", "RdBu_r", "Cividis"]


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.strip()
    if colour.startswith("#"):
        return tuple(int(v) for v in _hex_to_rgb(colour))
    return tuple(round(float(v)) for v in unlabel_rgb(colour)[:3])


def _stops(scale) -> list[tuple[float, tuple[int, int, int]]]:
    return [(round(float(p), 6), _rgb(c)) for p, c in scale]


REFERENCE = {name.lower(): _stops(get_colorscale(name)) for name in NAMED}


def _drawn_scales(page) -> list[list]:
    """Every colour scale of every figure on the page, as plotly resolved it (traces and colour axes)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=stMain] .js-plotly-plot')].flatMap(gd => {
            const traces = (gd._fullData || []).map(t => t.colorscale || (t.marker && t.marker.showscale
                && t.marker.colorscale)).filter(Boolean);
            const L = gd._fullLayout || {};
            const axes = Object.keys(L).filter(k => k.startsWith('coloraxis')).map(k => L[k].colorscale);
            return [...traces, ...axes.filter(Boolean)];
        })"""
    )


def _name_of(scale) -> str | None:
    stops = _stops(scale)
    return next((name for name, ref in REFERENCE.items() if ref == stops), None)


def _go(page, title: str) -> None:
    page.locator("[data-testid=stSidebarNav] a", has_text=title).first.click()
    page.wait_for_load_state("networkidle")
    page.locator("[data-testid=stMain] .js-plotly-plot").first.wait_for()
    page.wait_for_timeout(2500)  # every chart of the page drawn
    assert page.locator("[data-testid=stException]").count() == 0, "the page shows a traceback"


def test_every_map_draws_the_scale_it_names(app_url, browser):
    page = browser.new_page(viewport={"width": 1500, "height": 1400})
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    page.goto(app_url)
    page.locator(".js-plotly-plot").first.wait_for()
    problems = []
    for title, expected in MAP_PAGES.items():
        _go(page, title)
        scales = _drawn_scales(page)
        names = [_name_of(s) for s in scales]
        if not scales:
            problems.append(f"{title}: no colour scale drawn")
        for scale, name in zip(scales, names, strict=True):
            if name is None:
                problems.append(f"{title}: a drawn scale is no named scale, it starts {scale[:2]}")
        if not expected & {n for n in names if n}:
            problems.append(f"{title}: expected one of {sorted(expected)}, drew {names}")
        page.screenshot(path=str(SHOTS / f"colours-{title.split()[0].lower()}.png"), full_page=True)
    assert not problems, problems
    page.close()


def test_inferno_zero_is_black_on_screen(app_url, browser):
    """The colour bar plotly draws for an Inferno map starts at black (#000004), not at a theme colour."""
    page = browser.new_page(viewport={"width": 1500, "height": 1400})
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    page.goto(app_url)
    page.locator(".js-plotly-plot").first.wait_for()
    _go(page, "Query a patch")
    page.locator("[data-testid=stMain] [data-testid=stSelectbox]", has_text="Colour map").first.click()
    page.get_by_role("option", name="Inferno", exact=True).click()
    page.wait_for_function(  # every map redrawn with the scale just chosen (or the test times out and fails)
        """() => { const plots = [...document.querySelectorAll('[data-testid=stMain] .js-plotly-plot')];
            const scales = plots.flatMap(gd => [...(gd._fullData || []).map(t => t.colorscale),
                ...Object.keys(gd._fullLayout || {}).filter(k => k.startsWith('coloraxis'))
                    .map(k => gd._fullLayout[k].colorscale)]).filter(Boolean);
            return scales.length >= 2 && scales.every(s => s[s.length - 1][1] === 'rgb(252, 255, 164)'); }""",
        timeout=120_000)
    page.wait_for_timeout(500)
    gradients = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=stMain] .js-plotly-plot')].map(gd =>
            [...gd.querySelectorAll('.colorbar linearGradient stop, linearGradient stop')]
                .map(s => [parseFloat(s.getAttribute('offset')), s.getAttribute('stop-color')]))
            .filter(g => g.length)"""
    )
    assert gradients, "no colour bar gradient drawn"
    for stops in gradients:
        ends = sorted(stops)
        low = ends[0][1] if ends[0][0] <= ends[-1][0] else ends[-1][1]
        colours = {_rgb(c) for _, c in stops}
        assert (0, 0, 4) in colours, f"black is missing from the drawn colour bar: {sorted(colours)[:3]} ..."
        assert _rgb(low) in {(0, 0, 4), (252, 255, 164)}, low
    page.close()


def _blend_page(browser, scale: str):
    """A heat blend of a known gradient over a green scene with a pink ring, as plotly draws it in Chromium."""
    import numpy as np

    from viz_app import figures
    from viz_app.rendering import HEAT, RenderSettings

    scene = np.zeros((224, 224, 3), np.uint8)
    scene[...] = (40, 200, 60)  # green background
    scene[60:160, 60:160] = (250, 120, 200)  # pink square (the pink ring)
    heat = np.linspace(0, 1, 196, dtype=np.float32).reshape(14, 14)
    fig = figures.overlay_figure(scene, heat, (16, 16), settings=RenderSettings(style=HEAT, colorscale=scale),
                                 clickable=False, height=480)
    fig.update_layout(width=640, height=480)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_content(fig.to_html(include_plotlyjs=True, full_html=True))
    page.locator(".imagelayer image").first.wait_for(state="attached")
    page.wait_for_timeout(500)
    return page, heat


def _box(page, selector: str) -> dict:
    return page.evaluate(f"() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
                         " return {x: r.x, y: r.y, w: r.width, h: r.height}; }")


@pytest.mark.parametrize("scale", ["Turbo", "Inferno"])
def test_a_heat_blend_on_a_coloured_image_reads_back_on_its_colour_bar(browser, scale):
    """Issue 33: Turbo blended 50/50 over a green background read as 0.45 everywhere. Screen pixels at patch
    centres are read back on the colour bar drawn beside them (the bar colour whose chroma, times the opacity,
    is the pixel's chroma) and must give the patch's value."""
    import io

    import numpy as np
    from PIL import Image

    page, heat = _blend_page(browser, scale)
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(float)
    page.screenshot(path=str(SHOTS / f"colours-blend-{scale.lower()}.png"))
    image, bar = _box(page, ".imagelayer image"), _box(page, ".colorbar .cbfill")
    column = int(bar["x"] + bar["w"] / 2)
    rows = np.arange(int(bar["y"]) + 2, int(bar["y"] + bar["h"]) - 2)
    bar_colours = shot[rows, column]  # top (1) to bottom (0)
    bar_values = 1 - (rows - bar["y"]) / bar["h"]
    chroma = 0.5 * (bar_colours - bar_colours.mean(1, keepdims=True))
    errors = []
    for r, c in [(3, 4), (4, 9), (7, 7), (9, 3), (12, 12), (13, 13)]:
        x = int(image["x"] + (c + 0.5) / 14 * image["w"])
        y = int(image["y"] + (r + 0.5) / 14 * image["h"])
        pixel = shot[y, x]
        read = float(bar_values[np.argmin(np.abs(chroma - (pixel - pixel.mean())).sum(1))])
        errors.append((r, c, round(read, 3), round(float(heat[r, c]), 3)))
    page.close()
    assert all(abs(read - value) <= 0.05 for _, _, read, value in errors), errors
