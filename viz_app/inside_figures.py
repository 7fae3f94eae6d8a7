"""Figures of the "Token norms & sinks" page: a per-patch value on the image grid, the norm histogram with its
cut, and shares over depth. Pure: numpy arrays in, plotly figures out (no streamlit, torch or vit_core)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .catalogue import t
from .figures import _image_axes, picture_trace
from .rendering import colour_stops

__all__ = ["grid_value_figure", "norm_histogram_figure", "depth_share_figure"]

_COLOURS = "Viridis"
_OUTLIER = "#ff2d55"


def grid_value_figure(
    image: np.ndarray,
    values: np.ndarray,
    patch_size: tuple[int, int],
    *,
    marked: Sequence[tuple[int, int]] = (),
    title: str | None = None,
    colorbar_title: str | None = None,
    height: int | None = None,
) -> go.Figure:
    """``values`` ``[gh, gw]`` (in their own units, not rescaled) over the image, `marked` patches ringed.

    Traces: the image, a half-transparent heatmap of the values (its colour bar in explicit ``rgb()`` stops),
    and one ring per marked (row, col).
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"values must be [gh, gw], got {values.shape}")
    ph, pw = patch_size
    fig = go.Figure(picture_trace(np.asarray(image, dtype=np.uint8)))
    fig.add_trace(go.Heatmap(
        z=values, x0=pw / 2, dx=pw, y0=ph / 2, dy=ph, opacity=0.65, colorscale=colour_stops(_COLOURS),
        colorbar={"title": {"text": colorbar_title or "", "side": "right"}, "thickness": 12}, name="values",
        hovertemplate="%{z:.3g}<extra></extra>",
    ))
    if marked:
        rows, cols = zip(*marked, strict=True)
        fig.add_trace(go.Scatter(
            x=[(c + 0.5) * pw for c in cols], y=[(r + 0.5) * ph for r in rows], mode="markers", name="outliers",
            marker={"symbol": "circle-open", "size": 16, "line": {"width": 3}, "color": _OUTLIER}, hoverinfo="skip",
        ))
    fig = _image_axes(fig, height, title, [0, values.shape[1] * pw], [values.shape[0] * ph, 0])
    return fig


def norm_histogram_figure(
    patch_norms: np.ndarray,
    cut: float,
    *,
    prefix_norms: Mapping[str, float] | None = None,
    title: str | None = None,
    height: int | None = None,
) -> go.Figure:
    """The histogram of one layer's patch norms, the outlier cut as a vertical line, prefix tokens as triangles on the
    axis (named on hover)."""
    norms = np.asarray(patch_norms, dtype=np.float32).ravel()
    fig = go.Figure(go.Histogram(x=norms, nbinsx=40, name="patches", marker={"color": "#4c78a8"},
                                 hovertemplate=t("inside.hover_bin", norm="%{x}", count="%{y}") + "<extra></extra>"))
    fig.add_vline(x=float(cut), line={"color": _OUTLIER, "width": 2, "dash": "dash"}, annotation_position="top left",
                  annotation={"text": t("inside.cut_label", cut=f"{cut:.3g}"), "font": {"color": _OUTLIER}})
    if prefix_norms:
        fig.add_trace(go.Scatter(
            x=list(prefix_norms.values()), y=[0] * len(prefix_norms), mode="markers", name="prefix",
            text=list(prefix_norms), marker={"symbol": "triangle-up", "size": 12, "color": "#f58518"}, cliponaxis=False,
            hovertemplate="%{text}: %{x:.3g}<extra></extra>",
        ))
    top = max(float(norms.max(initial=0.0)), float(cut), *(prefix_norms or {0: 0.0}).values())
    fig.update_layout(
        title=title, height=height, showlegend=False, bargap=0.05, margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        xaxis={"title": t("inside.norm_axis"), "range": [0, 1.08 * top if top > 0 else 1]},
        yaxis={"title": t("inside.count_axis")},
    )
    return fig


def depth_share_figure(
    shares: Mapping[str, np.ndarray], *, y_title: str, title: str | None = None, height: int | None = None
) -> go.Figure:
    """One line per named share ``[layer]`` (0..1) against depth."""
    fig = go.Figure()
    for name, values in shares.items():
        values = np.asarray(values, dtype=np.float32)
        fig.add_trace(go.Scatter(x=np.arange(len(values)), y=values, mode="lines+markers", name=name,
                                 hovertemplate=t("inside.hover_share", name=name, layer="%{x}", share="%{y:.1%}")
                                 + "<extra></extra>"))
    fig.update_layout(
        title=title, height=height, margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        xaxis={"title": t("fig.depth"), "dtick": 1}, yaxis={"title": y_title, "range": [0, 1], "tickformat": ".0%"},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
