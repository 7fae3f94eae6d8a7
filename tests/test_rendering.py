"""The renderings (viz_app.rendering), each checked against the same picture computed another way."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from plotly.colors import get_colorscale, hex_to_rgb

from viz_app import export, figures, rendering
from viz_app.rendering import HEAT, MASK, PAPER, PATCHES, RenderSettings

RNG = np.random.default_rng(1)
IMAGE = RNG.integers(0, 256, (224, 224, 3), dtype=np.uint8)


def _grey(pixels: np.ndarray) -> np.ndarray:
    """The dimmed greyscale copy a colour map is blended over, computed by a dot product (not rendering's code)."""
    luma = np.asarray(pixels, np.float64) @ np.array([0.299, 0.587, 0.114])
    return (rendering.GREY_DIM * luma)[..., None] * np.ones(3)


@pytest.mark.parametrize("name", ["Inferno", "Turbo", "Viridis", "Blues", "Greys_r", "RdBu_r"])
def test_colour_stops_are_the_named_scale_in_rgb(name):
    stops = rendering.colour_stops(name)
    reference = get_colorscale(name)
    assert [p for p, _ in stops] == [float(p) for p, _ in reference]
    for (_, mine), (_, theirs) in zip(stops, reference, strict=True):
        assert mine.startswith("rgb(")  # never "#0000xx", the form Streamlit swaps for theme colours
        want = tuple(hex_to_rgb(theirs)) if theirs.startswith("#") else tuple(
            int(v) for v in theirs.strip("rgb()").split(","))
        assert mine == "rgb({}, {}, {})".format(*want)
    if name == "Inferno":
        assert stops[0] == [0.0, "rgb(0, 0, 4)"]


def test_bilinear_upsampling_interpolates_between_patch_centres():
    gh, gw, p = 3, 4, 16
    ramp = np.tile(np.arange(gw, dtype=np.float32), (gh, 1))  # value = column index
    big = rendering.upsample(ramp, (gh * p, gw * p))
    # patch centres at pixel (c + 0.5) * p - 0.5; linear in between, held beyond the first and last centre
    x = np.arange(gw * p)
    expected = np.clip((x + 0.5) / p - 0.5, 0, gw - 1)
    assert np.allclose(big, expected[None, :], atol=1e-5)
    blocks = rendering.upsample(ramp, (gh * p, gw * p), smooth=False)
    assert np.array_equal(blocks, np.repeat(np.repeat(ramp, p, 0), p, 1))


def _mass_mask_by_search(values, mass):
    """The smallest k whose k largest values hold `mass` of the total, found by trying every k."""
    flat = np.clip(values.reshape(-1), 0, None)
    order = np.argsort(-flat, kind="stable")
    for k in range(1, flat.size + 1):
        if flat[order[:k]].sum() >= mass * flat.sum() - 1e-9:
            keep = np.zeros(flat.size, bool)
            keep[order[:k]] = True
            return keep.reshape(values.shape)
    raise AssertionError


@pytest.mark.parametrize("mass", [0.1, 0.6, 0.9, 1.0])
def test_mass_mask_keeps_the_fewest_patches_holding_the_mass(mass):
    values = RNG.random((14, 14)) ** 3
    keep = rendering.mass_mask(values, mass)
    assert np.array_equal(keep, _mass_mask_by_search(values, mass))
    assert values[keep].sum() >= mass * values.sum() - 1e-9
    assert not rendering.mass_mask(np.zeros((2, 2)), 0.6).any()


def test_heat_blend_leaves_the_floor_clear_and_blends_the_peak():
    heat = np.zeros((14, 14), np.float32)
    heat[5:9, 5:9] = 1.0
    out = rendering.render(IMAGE, heat, RenderSettings(style=HEAT, colorscale="Inferno", opacity=0.5, floor=0.1))
    assert np.abs(out[:40, :40] - np.rint(_grey(IMAGE[:40, :40]))).max() <= 1  # below the floor: the grey copy
    top = rendering.colour_lut("Inferno")[255]
    centre = np.rint(0.5 * _grey(IMAGE[112, 112]) + 0.5 * top)
    assert np.abs(out[112, 112] - centre).max() <= 1


@pytest.mark.parametrize("style", [HEAT, PATCHES])
@pytest.mark.parametrize("scale", ["Turbo", "Inferno", "Viridis"])
def test_a_blend_on_a_coloured_image_keeps_the_bar_colours_hue(style, scale):
    """Green background, pink ring (issue 33): a pixel's colour minus its grey is the bar's, times the opacity,
    so it reads back to its value on the colour bar (blended over the image's own colours it read 0.45 everywhere)."""
    scene = np.zeros((224, 224, 3), np.uint8)
    scene[...] = (40, 200, 60)
    scene[60:160, 60:160] = (250, 120, 200)
    heat = np.linspace(0, 1, 196, dtype=np.float32).reshape(14, 14)
    opacity = 0.5
    out = rendering.render(scene, heat, RenderSettings(style=style, colorscale=scale, opacity=opacity, floor=0.01))
    lut = rendering.colour_lut(scale)
    for r, c in [(1, 1), (5, 7), (7, 7), (13, 13)]:  # patch centres (a block's or a bilinear node's own value)
        pixel = out[r * 16 + 8, c * 16 + 8].astype(np.float64)
        value = float((heat[r, c] - heat.min()) / (heat.max() - heat.min()))
        chroma = opacity * (lut - lut.mean(1, keepdims=True))  # [256, 3]: each bar colour's chroma, blended
        read = int(np.argmin(np.abs(chroma - (pixel - pixel.mean())).sum(1))) / 255
        assert abs(read - value) <= 0.03, (scale, (r, c), read, value)


def test_paper_rendering_is_the_image_times_the_max_normalised_map():
    small = RNG.integers(0, 256, (14, 14, 3), dtype=np.uint8)  # one pixel per patch: no interpolation
    heat = RNG.random((14, 14)).astype(np.float32) * 3
    out = rendering.render(small, heat, RenderSettings(style=PAPER))
    expected = np.rint(small * (heat / heat.max())[..., None])
    assert np.abs(out.astype(int) - expected).max() <= 1
    blurred = rendering.render(IMAGE, heat, RenderSettings(style=PAPER, blur_patches=1.0))
    assert blurred.shape == IMAGE.shape and not np.array_equal(blurred, rendering.render(IMAGE, heat,
                                                                                          RenderSettings(style=PAPER)))


def test_gaussian_blur_matches_a_direct_convolution():
    values = np.zeros((31, 31), np.float32)
    values[15, 15] = 1.0
    sigma = 2.0
    out = rendering.gaussian_blur(values, sigma)
    r = np.arange(-15, 16)
    kernel = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    kernel[np.abs(r) > 6] = 0  # the blur's taps stop at 3 sigma
    kernel[:, np.abs(r) > 6] = 0
    assert np.allclose(out, kernel / kernel.sum(), atol=1e-6)


def test_mask_keeps_the_top_mass_patches_and_dims_the_rest():
    heat = np.zeros((14, 14), np.float32)
    heat[2, 3] = 10.0
    heat[10, 10] = 1.0
    out = rendering.render(IMAGE, heat, RenderSettings(style=MASK, mass=0.6))
    inside = (slice(2 * 16 + 4, 3 * 16 - 4), slice(3 * 16 + 4, 4 * 16 - 4))
    assert np.array_equal(out[inside], IMAGE[inside])
    dimmed = np.rint(0.25 * IMAGE[10 * 16 + 8, 10 * 16 + 8].astype(np.float32))
    assert np.array_equal(out[10 * 16 + 8, 10 * 16 + 8], dimmed)  # outside the 60% of mass


def test_patches_rendering_colours_each_patch_as_one_block():
    heat = RNG.random((14, 14)).astype(np.float32)
    out = rendering.render(IMAGE, heat, RenderSettings(style=PATCHES, colorscale="Viridis", opacity=0.6))
    lut = rendering.colour_lut("Viridis")
    scaled = (heat - heat.min()) / (heat.max() - heat.min())
    r, c = 4, 9
    colour = lut[int(np.rint(scaled[r, c] * 255))]
    expected = np.rint(0.4 * _grey(IMAGE[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16]) + 0.6 * colour)
    assert np.abs(out[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] - expected).max() <= 1


def test_head_composite_paints_each_head_its_own_colour():
    maps = np.zeros((2, 14, 14), np.float32)
    maps[0, 1, 1] = 1.0
    maps[1, 12, 12] = 1.0
    out = rendering.head_composite(IMAGE, maps)
    for head, (r, c) in enumerate([(1, 1), (12, 12)]):
        colour = np.asarray(rendering.HEAD_COLOURS[head], np.float32)
        pixel = IMAGE[r * 16 + 8, c * 16 + 8].astype(np.float32)
        assert np.array_equal(out[r * 16 + 8, c * 16 + 8], np.rint(0.45 * pixel + 0.55 * colour))
    assert np.array_equal(out[100, 100], np.rint(0.35 * IMAGE[100, 100].astype(np.float32)))


def test_a_constant_map_is_recognised():
    assert rendering.is_constant(np.full((14, 14), 0.3))
    assert not rendering.is_constant(np.eye(14))


@pytest.mark.parametrize("style", rendering.RENDERINGS)
def test_screen_figure_shows_the_rendered_pixels_with_the_colour_bar_of_its_values(style):
    heat = RNG.random((14, 14)).astype(np.float32)
    settings = RenderSettings(style=style, colorscale="Inferno")
    fig = figures.overlay_figure(IMAGE, heat, (16, 16), settings=settings)
    picture, carrier = fig.data[0], fig.data[1]
    assert np.array_equal(figures.picture_pixels(picture), rendering.render(IMAGE, heat, settings))
    assert carrier.opacity == 0 and (carrier.zmin, carrier.zmax) == (0, 1)
    assert [list(s) for s in carrier.colorscale] == rendering.colour_stops(settings.colour_bar_scale)
    assert carrier.showscale == (style != MASK)
    assert carrier.colorbar.title.text == settings.colour_bar_title()


@pytest.mark.parametrize("style", rendering.RENDERINGS)
def test_png_export_is_the_screen_rendering_at_the_chosen_width(style):
    heat = RNG.random((14, 14)).astype(np.float32)
    settings = RenderSettings(style=style, colorscale="Hot", opacity=0.7, mass=0.4)
    png = export.overlay_png(IMAGE, heat, settings, width=896, caption=["Attention rollout - x.png", "settings"])
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert image.shape[1] >= 896 and image.shape[0] > 896  # the caption sits under the picture
    picture = rendering.render(IMAGE, heat, settings, size=(896, 896))
    assert np.array_equal(image[:896, :896], picture)
    if settings.has_colour_bar:  # the bar's bottom is the scale's 0, its top the scale's 1
        column = image[:896, 896 + 896 // 56 + 4]
        lut = rendering.colour_lut(settings.colour_bar_scale).astype(np.uint8)
        assert (np.abs(column.astype(int) - lut[0]).sum(1) <= 3).any()
        assert (np.abs(column.astype(int) - lut[255]).sum(1) <= 3).any()
    else:
        assert image.shape[1] == 896


def test_heat_blend_fades_in_above_the_floor():
    small = RNG.integers(0, 256, (1, 3, 3), dtype=np.uint8)  # one pixel per patch: no interpolation
    heat = np.array([[0.0, 1.0, 0.15]], np.float32)
    out = rendering.render(small, heat, RenderSettings(style=HEAT, colorscale="Turbo", opacity=0.5, floor=0.1))
    lut = rendering.colour_lut("Turbo")
    alpha = 0.5 * (0.15 - 0.1) / 0.1  # halfway between the floor and twice the floor: half the opacity
    expected = np.rint((1 - alpha) * _grey(small[0, 2]) + alpha * lut[int(np.rint(0.15 * 255))])
    assert np.abs(out[0, 2] - expected).max() <= 1
    assert np.abs(out[0, 0] - np.rint(_grey(small[0, 0]))).max() <= 1


def _caption_strip(caption: str, lang: str) -> np.ndarray:
    png = export.overlay_png(IMAGE, RNG.random((14, 14)), RenderSettings(style=rendering.PATCHES), width=448, caption=[caption],
                             lang=lang)
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"))[448:]


@pytest.mark.skipif(export.wide_font() is None, reason="no system font with Hangul (fonts-nanum or Noto CJK)")
def test_a_korean_caption_is_drawn_in_hangul_not_as_boxes():
    """Two different Hangul words of the same length: missing glyphs would draw both as the same row of boxes."""
    first, second = _caption_strip("어텐션 롤아웃", "ko"), _caption_strip("주의도 보기다", "ko")
    assert (first < 128).sum() > 50 and not np.array_equal(first, second)
    assert export.caption_language("ko") == "ko"


def test_without_a_hangul_font_captions_fall_back_to_english(monkeypatch):
    monkeypatch.setattr(export, "wide_font", lambda: None)
    assert export.caption_language("ko") == "en" and export.caption_language("en") == "en"
    with pytest.raises(ValueError, match="caption_language"):
        _caption_strip("어텐션 롤아웃", "ko")


def test_png_export_draws_the_true_boxes_the_screen_shows():
    """Issue 33.8: the exported PNG dropped the dashed true boxes the page outlines. A box given in the 224 px view's
    pixels is drawn at 4x on the 896 px picture, in the screen's colour, and only there."""
    heat = RNG.random((14, 14)).astype(np.float32)
    settings = RenderSettings(style=HEAT, colorscale="Greys")  # no green in the picture itself
    box = (40.0, 60.0, 150.0, 170.0)
    png = export.overlay_png(IMAGE, heat, settings, width=896, caption=["a", "b"], boxes=[("ring", box)])
    plain = export.overlay_png(IMAGE, heat, settings, width=896, caption=["a", "b"])
    shown = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[:896, :896].astype(int)
    before = np.asarray(Image.open(io.BytesIO(plain)).convert("RGB"))[:896, :896].astype(int)
    green = (np.abs(shown - hex_to_rgb(export.BOX_COLOUR)).sum(-1) <= 6) & (np.abs(before - shown).sum(-1) > 0)
    x0, y0, x1, y1 = (round(4 * v) for v in box)
    ys, xs = np.nonzero(green)
    assert ys.size > 0.3 * 2 * ((x1 - x0) + (y1 - y0))  # dashed: about half of the outline, several px thick
    assert ys.min() >= y0 - 40 and ys.max() <= y1 + 4 and xs.min() >= x0 - 4 and xs.max() <= x1 + 4  # label above
    on_edges = (np.abs(ys - y0) <= 3) | (np.abs(ys - y1) <= 3) | (np.abs(xs - x0) <= 3) | (np.abs(xs - x1) <= 3)
    assert on_edges.mean() > 0.6  # the outline, plus the label's letters above its top-left corner
    description = Image.open(io.BytesIO(png)).text["Description"]
    assert description == "a\nb"  # the caption also as text, for a program
