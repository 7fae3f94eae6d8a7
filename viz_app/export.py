"""Export helpers: the overlay as a PNG and a figure as standalone HTML. No streamlit, no torch."""

from __future__ import annotations

import html
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import get_colorscale, sample_colorscale

from .figures import normalise_maps

__all__ = ["overlay_png", "figure_html"]


def overlay_png(image: np.ndarray, heat: np.ndarray, *, opacity: float = 0.6, colorscale: str = "Inferno",
                smooth: bool = False) -> bytes:
    """PNG bytes of a per-patch map ``[gh, gw]`` blended over ``image`` ``[h, w, 3]`` uint8 (the model's view).

    Each patch is coloured as one block (or interpolated when `smooth`), like the on-screen overlay.
    """
    image = np.asarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    scaled = normalise_maps(np.asarray(heat, dtype=np.float32))
    lut = sample_colorscale(get_colorscale(colorscale), np.linspace(0.0, 1.0, 256), colortype="tuple")
    lut = np.asarray(lut, dtype=np.float32) * 255.0  # [256, 3], tuples come in [0, 1]
    small = Image.fromarray((scaled * 255).round().astype(np.uint8), mode="L")
    big = np.asarray(small.resize((w, h), Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST))
    colours = lut[big]
    blended = (1.0 - opacity) * image.astype(np.float32) + opacity * colours
    buffer = io.BytesIO()
    Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def figure_html(fig: go.Figure, title: str) -> str:
    """A standalone HTML page for one figure, with plotly.js inlined so it opens offline.

    `title` (it holds the image's file name) is escaped: it is shown as text, never read as markup.
    """
    return fig.to_html(include_plotlyjs=True, full_html=True, div_id="figure", default_width="100%",
                       config={"displaylogo": False}).replace("<head>", f"<head><title>{html.escape(title)}</title>", 1)
