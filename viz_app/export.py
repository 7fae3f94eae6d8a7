"""Export helpers: a rendered map as a PNG (picture, colour bar, settings caption) and a figure as standalone
HTML. No streamlit, no torch. The PNG's picture comes from ``viz_app.rendering.render``, the same function the
screen's overlay draws with, so a downloaded picture looks like the one on screen."""

from __future__ import annotations

import functools
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from . import rendering
from .rendering import RenderSettings

__all__ = ["overlay_png", "compose_png", "draw_boxes", "BOX_COLOUR", "Box", "figure_html", "caption_language", "wide_font", "WIDE_FONTS", "DEFAULT_WIDTH"]

DEFAULT_WIDTH = 896  # px: four times the 224 px view, sharp on a projector


# System fonts that hold Hangul as well as Latin, tried in order when a caption is not in English (Pillow's bundled
# font has Latin only): Debian/Ubuntu's fonts-nanum and Noto CJK, macOS, Windows. None is bundled (4-20 MB each).
WIDE_FONTS = (
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/AppleSDGothicNeo.ttc",
    "C:/Windows/Fonts/malgun.ttf",
)


@functools.cache
def wide_font() -> str | None:
    """The first of ``WIDE_FONTS`` this machine has and Pillow can open, or None."""
    for path in WIDE_FONTS:
        try:
            if Path(path).is_file() and ImageFont.truetype(path, 10):
                return path
        except OSError:  # unreadable or not a font: try the next
            continue
    return None


def caption_language(lang: str) -> str:
    """The language a PNG caption can be written in: `lang` where a font for it is found, else English."""
    return lang if lang == "en" or wide_font() else "en"


def _font(size: int, lang: str = "en") -> ImageFont.ImageFont:
    if lang != "en" and wide_font():
        return ImageFont.truetype(wide_font(), size)
    return ImageFont.load_default(size=size)


# Pillow's bundled font has no glyphs for these; they would print as boxes in the PNG
_PLAIN = str.maketrans({"×": "x", "÷": "/", "—": "-", "–": "-", "−": "-", "“": '"', "”": '"', "’": "'"})


def _plain(text: str) -> str:
    return text.translate(_PLAIN)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return [*lines, line] if line else lines


BOX_COLOUR = "#7CFC00"  # the true boxes' colour on screen (figures._object_boxes)

Box = tuple[str, tuple[float, float, float, float]]  # (label, (x0, y0, x1, y1)) in the picture's pixels


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], width: int) -> None:
    x0, y0, x1, y1 = box
    dash = 4 * width
    for a, b, fixed, horizontal in ((x0, x1, y0, True), (x0, x1, y1, True), (y0, y1, x0, False), (y0, y1, x1, False)):
        for start in np.arange(a, b, 2 * dash):
            end = min(start + dash, b)
            line = (start, fixed, end, fixed) if horizontal else (fixed, start, fixed, end)
            draw.line(line, fill=BOX_COLOUR, width=width)


def draw_boxes(picture: np.ndarray, boxes: Sequence[Box], lang: str = "en") -> np.ndarray:
    """`picture` ``[H, W, 3]`` uint8 with each true box drawn as on screen: dashed, in ``BOX_COLOUR``, its label
    on a dark band at its top-left corner."""
    if not boxes:
        return picture
    canvas = Image.fromarray(np.asarray(picture, dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    unit = max(12, canvas.width // 56)
    font = _font(int(unit * 1.2), lang)  # about the screen's share of the picture
    for label, box in boxes:
        _dashed_rectangle(draw, box, max(2, canvas.width // 224))
        text = _plain(label)
        left, top, right, bottom = draw.textbbox((box[0], box[1]), text, font=font, anchor="lb")
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0))
        draw.text((box[0], box[1]), text, fill=BOX_COLOUR, font=font, anchor="lb")
    return np.asarray(canvas)


def compose_png(picture: np.ndarray, settings: RenderSettings, caption: Sequence[str] = (),
                vmin: float = 0.0, vmax: float = 1.0, lang: str = "en") -> bytes:
    """PNG bytes of `picture` ``[H, W, 3]`` uint8 with the rendering's colour bar on the right (when it has one)
    and `caption` lines (title, settings, provenance) wrapped underneath and stored as the PNG's "Description" text;
    `caption` and the colour bar's title are in `lang`, which must be ``caption_language(lang)``."""
    if caption_language(lang) != lang:
        raise ValueError(f"no font for {lang!r} captions on this machine; write them in caption_language({lang!r}).")
    h, w = picture.shape[:2]
    unit = max(12, w // 56)  # text size follows the picture: 16 px at 896
    small = _font(max(10, int(unit * 0.85)), lang)
    bar_w = 3 * unit + int(5.5 * unit) if settings.has_colour_bar else 0
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = [wrapped for text in caption for wrapped in _wrap(probe, _plain(text), small, w + bar_w - 2 * unit)]
    caption_h = (len(lines) * int(unit * 1.35) + unit) if lines else 0
    canvas = Image.new("RGB", (w + bar_w, h + caption_h), "white")
    canvas.paste(Image.fromarray(np.asarray(picture, dtype=np.uint8)), (0, 0))
    draw = ImageDraw.Draw(canvas)
    if settings.has_colour_bar:
        x0, x1, top, bottom = w + unit, w + 2 * unit, unit, h - unit
        lut = rendering.colour_lut(settings.colour_bar_scale)
        ramp = lut[np.linspace(255, 0, bottom - top).round().astype(int)].astype(np.uint8)  # top = 1
        canvas.paste(Image.fromarray(np.repeat(ramp[:, None], x1 - x0, axis=1)), (x0, top))
        draw.rectangle((x0, top, x1 - 1, bottom - 1), outline="black")
        for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
            y = bottom - 1 - fraction * (bottom - top - 1)
            draw.line((x1, y, x1 + unit // 3, y), fill="black")
            value = vmin + fraction * (vmax - vmin)
            draw.text((x1 + unit // 2, y), f"{value:g}", fill="black", font=small, anchor="lm")
        title = Image.new("RGBA", (bottom - top, int(unit * 1.4)), (255, 255, 255, 0))
        ImageDraw.Draw(title).text(((bottom - top) / 2, unit * 0.7), _plain(settings.colour_bar_title(lang)), fill="black",
                                   font=small, anchor="mm")
        rotated = title.rotate(90, expand=True)
        canvas.paste(rotated, (w + bar_w - rotated.width - unit // 4, top), rotated)
    y = h + unit // 2
    for line in lines:
        draw.text((unit, y), line, fill="black", font=small)
        y += int(unit * 1.35)
    info = PngImagePlugin.PngInfo()  # the caption as text too, for a program (PNG's "Description" keyword)
    info.add_itxt("Description", "\n".join(caption))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def overlay_png(image: np.ndarray, heat: np.ndarray, settings: RenderSettings | None = None, *,
                width: int = DEFAULT_WIDTH, caption: Sequence[str] = (), lang: str = "en",
                boxes: Sequence[Box] = ()) -> bytes:
    """PNG bytes of a per-patch map ``[gh, gw]`` over ``image`` ``[h, w, 3]`` uint8, rendered as on screen.

    Args:
        settings: the rendering the screen shows (default ``RenderSettings()``).
        width: the picture's width in pixels (its height keeps the image's aspect ratio); the map is
            upsampled straight to it, not the 224 px picture enlarged.
        caption: lines written under the picture (what it shows, the settings, the model), in `lang`
            (``caption_language`` says which languages this machine can write).
        boxes: the true boxes the screen outlines, in `image`'s pixels (scaled here to `width`).
    """
    settings = settings or RenderSettings()
    image = np.asarray(image, dtype=np.uint8)
    if width < 16:
        raise ValueError(f"width must be at least 16 px, got {width}")
    height = max(1, round(width * image.shape[0] / image.shape[1]))
    picture = rendering.render(image, heat, settings, size=(height, int(width)))
    sy, sx = height / image.shape[0], int(width) / image.shape[1]
    scaled = [(label, (x0 * sx, y0 * sy, x1 * sx, y1 * sy)) for label, (x0, y0, x1, y1) in boxes]
    return compose_png(draw_boxes(picture, scaled, lang), settings, caption, lang=lang)


def figure_html(fig: go.Figure, title: str, caption: Sequence[str] = (), width: int | None = None) -> str:
    """A standalone HTML page for one figure, with plotly.js inlined so it opens offline, and `caption` lines (what
    it shows, the settings, the model and provenance) under it.

    `width`: the figure's width in px (default: the window's). An image keeps its aspect ratio, so at the window's
    width its colour bar sat about 280 px from the picture; a picture's page passes the width that fits it.
    `title` and `caption` (they hold the image's file name) are escaped: shown as text, never read as markup.
    """
    page = fig.to_html(include_plotlyjs=True, full_html=True, div_id="figure",
                       default_width=f"{width}px" if width else "100%", config={"displaylogo": False})
    lines = "".join(f'<p class="caption">{html.escape(line)}</p>' for line in caption)
    style = ("<style>body { font-family: sans-serif; margin: 1rem; } "
             ".caption { margin: 0.2rem 0; font-size: 0.9rem; max-width: 60rem; }</style>")
    page = page.replace("<head>", f"<head><title>{html.escape(title)}</title>{style}", 1)
    return page.replace("</body>", f"<div id=\"caption\">{lines}</div></body>", 1) if lines else page
