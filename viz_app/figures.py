"""Pure figure builders: numpy arrays in, ``plotly.graph_objects.Figure`` out.

No streamlit, no torch: every builder here can be called from a notebook or a test with plain arrays.
Images are ``[h, w, 3]`` uint8 as the model sees them (after resize and crop); maps are per patch,
``[gh, gw]``; token order is timm's (prefix tokens first, then patches row-major).

Clickable figures follow the pattern checked in a real browser
(docs/ARCHITECTURE.md, "Front-end facts checked in a real browser"): a ``go.Image`` of the picture plus a ``go.Scatter`` with one nearly transparent square marker per patch
centre whose ``customdata`` starts with the patch index; a click comes back to the app as that point.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from . import rendering
from .catalogue import t
from .rendering import RenderSettings

__all__ = [
    "head_importance_figure",
    "COLORSCALES",
    "picture_trace",
    "picture_pixels",
    "PREFIX_COLOURS",
    "plain_text",
    "image_figure",
    "overlay_figure",
    "patch_grid_figure",
    "token_sequence_figure",
    "topk_figure",
    "head_grid_figure",
    "side_grid_options",
    "prefix_weights_figure",
    "pos_embed_tiles_figure",
    "pos_embed_tile_figure",
    "head_metric_figure",
    "filters_figure",
    "curves_figure",
    "normalise_maps",
    "mosaic",
]

COLORSCALES: tuple[str, ...] = ("Turbo", "Inferno", "Viridis", "Jet", "Hot", "Greys", "RdBu_r")
PREFIX_COLOURS: dict[str, tuple[int, int, int]] = {
    "cls": (214, 39, 40),
    "dist": (31, 119, 180),
    "reg": (148, 103, 189),
}
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def picture_trace(pixels: np.ndarray, name: str = "image") -> go.Image:
    """``go.Image`` of ``[h, w, 3]`` uint8 pixels as a PNG ``source`` (a data URL): about a tenth of the bytes of
    ``z`` as numbers, and the browser decodes it at once instead of plotly painting each pixel (view changes redraw
    two of these on the rollout page)."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(_as_rgb(pixels)).save(buffer, format="PNG", compress_level=1)
    return go.Image(source="data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), hoverinfo="skip",
                    name=name)


def picture_pixels(trace: go.Image) -> np.ndarray:
    """The ``[h, w, 3]`` uint8 pixels of an image trace (its ``z``, or the PNG of its ``source``)."""
    if trace.z is not None:
        return np.asarray(trace.z, dtype=np.uint8)
    import base64
    import io

    from PIL import Image

    data = base64.b64decode(trace.source.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be [h, w, 3], got {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return image


def _image_axes(fig: go.Figure, height: int | None = None, title: str | None = None,
                x_range: list[float] | None = None, y_range: list[float] | None = None) -> go.Figure:
    """Hidden, square-pixel axes, no drag; `x_range` and `y_range` (y pointing down when it runs from the bottom edge
    to the top) are set with the axes' other settings, one home for what five figures repeated."""
    x_extra = {} if x_range is None else {"range": x_range}
    y_extra = {} if y_range is None else {"range": y_range}
    fig.update_xaxes(visible=False, showgrid=False, zeroline=False, constrain="domain", **x_extra)
    fig.update_yaxes(visible=False, showgrid=False, zeroline=False, scaleanchor="x", scaleratio=1, constrain="domain",
                     **y_extra)
    fig.update_layout(
        margin=_MARGIN,
        title=title,
        height=height,
        dragmode=False,
        clickmode="event+select",
        hovermode="closest",
        hoverdistance=-1,  # a click anywhere picks the nearest patch centre
        showlegend=False,
    )
    return fig


def normalise_maps(maps: np.ndarray) -> np.ndarray:
    """Min-max scale every ``[gh, gw]`` map of ``[..., gh, gw]`` to [0, 1] on its own (for display)."""
    maps = np.asarray(maps, dtype=np.float32)
    low = maps.min(axis=(-2, -1), keepdims=True)
    high = maps.max(axis=(-2, -1), keepdims=True)
    span = np.where(high > low, high - low, 1.0)
    return (maps - low) / span


def _patch_markers(
    grid_size: tuple[int, int],
    patch_size: tuple[int, int],
    num_prefix_tokens: int,
    values: np.ndarray | None = None,
    marker_px: float = 18.0,
) -> go.Scatter:
    """One invisible square marker per patch centre; customdata = [patch index, row, col, token, value]."""
    gh, gw = grid_size
    ph, pw = patch_size
    rows, cols = np.divmod(np.arange(gh * gw), gw)
    vals = np.zeros(gh * gw) if values is None else np.asarray(values, dtype=np.float64).reshape(-1)
    custom = np.stack([np.arange(gh * gw), rows, cols, num_prefix_tokens + np.arange(gh * gw), vals], axis=-1)
    hover = t("fig.hover_patch", row="%{customdata[1]}", col="%{customdata[2]}", token="%{customdata[3]}")
    if values is not None:
        hover += "<br>" + t("fig.hover_value", value="%{customdata[4]:.4f}")
    return go.Scatter(
        x=(cols + 0.5) * pw,
        y=(rows + 0.5) * ph,
        mode="markers",
        # fully transparent colour: overlapping markers must not draw a lattice over the picture
        marker={"symbol": "square", "size": marker_px, "opacity": 0.01, "color": "rgba(255, 255, 255, 0)"},
        customdata=custom.tolist(),  # plain lists: a click returns them as lists, not a typed-array dict
        hovertemplate=hover + "<extra></extra>",
        name="patches",
        showlegend=False,
    )


def _add_layout_items(fig: go.Figure, kind: str, items: Sequence[dict]) -> None:
    """Append many shapes or annotations at once: plotly validates the whole list on every ``add_shape`` /
    ``add_annotation``, so a loop of them costs O(n^2) (28 filter labels took ~90 ms a figure, on every rerun)."""
    fig.layout[kind] = (*fig.layout[kind], *items)


def plain_text(text: str) -> str:
    """`text` escaped for plotly, whose labels, titles and hover text read a subset of HTML: shown as written."""
    return html.escape(str(text), quote=False)


def _object_boxes(fig: go.Figure, boxes: Sequence[tuple[str, tuple[float, float, float, float]]]) -> None:
    """Dashed outlines with a label for ground-truth objects (in image pixels)."""
    for label, (x0, y0, x1, y1) in boxes:
        fig.add_shape(
            type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line={"color": "#7CFC00", "width": 2, "dash": "dash"},
            name=plain_text(label),
        )
        fig.add_annotation(
            x=x0, y=y0, text=plain_text(label), showarrow=False, xanchor="left", yanchor="bottom",
            font={"color": "#7CFC00", "size": 12}, bgcolor="rgba(0,0,0,0.5)",
        )


def _selected_box(fig: go.Figure, selected: tuple[int, int] | None, patch_size: tuple[int, int], colour: str) -> None:
    if selected is None:
        return
    r, c = selected
    ph, pw = patch_size
    fig.add_shape(
        type="rect",
        x0=c * pw,
        x1=(c + 1) * pw,
        y0=r * ph,
        y1=(r + 1) * ph,
        line={"color": colour, "width": 3},
        name="selected patch",
    )


def image_figure(image: np.ndarray, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """The picture alone, pixel-exact and with its aspect ratio (a PNG, as every overlay's picture: a classroom's
    students each receive it, and the raw pixels as numbers were about twice its bytes and encoded at every draw)."""
    image = _as_rgb(image)
    return _image_axes(go.Figure(picture_trace(image)), height, title, [0, image.shape[1]], [image.shape[0], 0])


def overlay_figure(
    image: np.ndarray,
    heat: np.ndarray,
    patch_size: tuple[int, int],
    *,
    settings: RenderSettings | None = None,
    opacity: float | None = None,
    colorscale: str | None = None,
    title: str | None = None,
    num_prefix_tokens: int = 0,
    clickable: bool = True,
    selected: tuple[int, int] | None = None,
    height: int | None = None,
    colorbar_title: str | None = None,
    boxes: Sequence[tuple[str, tuple[float, float, float, float]]] = (),
) -> go.Figure:
    """A per-patch map drawn over the image by :func:`viz_app.rendering.render` (+ clickable patch markers).

    Traces: ``go.Image`` of the rendered picture (the same pixels the PNG export writes), an invisible
    ``go.Heatmap`` of the per-patch values the rendering shows (it carries the colour bar, in explicit
    ``rgb()`` stops, and puts one cell on each patch), and the clickable markers.

    Args:
        image: ``[h, w, 3]`` uint8, the model's view (h = gh * ph, w = gw * pw).
        heat: ``[gh, gw]`` map, one value per patch.
        patch_size: (ph, pw) in pixels.
        settings: the rendering (default: ``RenderSettings()``, a Turbo heat blend); `opacity` and
            `colorscale`, when given, override its fields (the older keyword form).
        num_prefix_tokens: to label patch tokens with their sequence index.
        clickable: add the patch markers a click selects.
        selected: (row, col) to outline.
        colorbar_title: what the colour bar shows (default: the rendering's own description of its values).
        boxes: ground-truth objects to outline, as (label, (x0, y0, x1, y1)) in the image's pixels.
    """
    image = _as_rgb(image)
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"heat must be [gh, gw], got {heat.shape}")
    settings = settings or RenderSettings()
    overrides = {k: v for k, v in (("opacity", opacity), ("colorscale", colorscale)) if v is not None}
    if overrides:
        settings = replace(settings, **overrides)
    ph, pw = patch_size
    fig = go.Figure()
    fig.add_trace(picture_trace(rendering.render(image, heat, settings)))
    fig.add_trace(
        go.Heatmap(
            z=_shown_values(heat, settings),
            x0=pw / 2,
            dx=pw,
            y0=ph / 2,
            dy=ph,
            opacity=0.0,  # the picture is the image trace; this trace carries the colour bar
            colorscale=rendering.colour_stops(settings.colour_bar_scale),
            zmin=0.0,
            zmax=1.0,
            showscale=settings.has_colour_bar,
            hoverinfo="skip",
            colorbar={"title": {"text": colorbar_title or settings.colour_bar_title(), "side": "right"},
                      "thickness": 12},
            name="map",
        )
    )
    if clickable:
        fig.add_trace(_patch_markers(heat.shape, patch_size, num_prefix_tokens, heat, _marker_px(heat.shape)))
    _selected_box(fig, selected, patch_size, "#00e5ff")
    _object_boxes(fig, boxes)
    fig = _image_axes(fig, height, title, [0, image.shape[1]], [image.shape[0], 0])
    return fig


def _shown_values(heat: np.ndarray, settings: RenderSettings) -> np.ndarray:
    """The per-patch numbers the rendering shows, on the colour bar's 0..1 scale."""
    if settings.style == rendering.PAPER:
        return rendering.max_normalise(heat)
    if settings.style == rendering.MASK:
        return rendering.mass_mask(heat, settings.mass).astype(np.float32)
    return rendering.minmax(heat)


def _marker_px(grid_size: tuple[int, int], plot_px: float = 480.0) -> float:
    return float(max(4.0, min(40.0, plot_px / max(grid_size))))


def patch_grid_figure(
    image: np.ndarray,
    grid_size: tuple[int, int],
    patch_size: tuple[int, int],
    num_prefix_tokens: int,
    *,
    show_indices: bool = True,
    selected: tuple[int, int] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The image cut into its patch grid, each patch labelled with its token index (clickable)."""
    image = _as_rgb(image)
    gh, gw = grid_size
    ph, pw = patch_size
    fig = go.Figure(go.Image(z=image, hoverinfo="skip", name="image"))
    line = {"type": "line", "line": {"color": "white", "width": 1}}
    _add_layout_items(fig, "shapes", [*({**line, "x0": 0, "x1": gw * pw, "y0": r * ph, "y1": r * ph} for r in range(gh + 1)),
                                      *({**line, "x0": c * pw, "x1": c * pw, "y0": 0, "y1": gh * ph} for c in range(gw + 1))])
    fig.add_trace(_patch_markers(grid_size, patch_size, num_prefix_tokens, marker_px=_marker_px(grid_size)))
    if show_indices:
        rows, cols = np.divmod(np.arange(gh * gw), gw)
        fig.add_trace(
            go.Scatter(
                x=(cols + 0.5) * pw,
                y=(rows + 0.5) * ph,
                mode="text",
                text=[str(num_prefix_tokens + i) for i in range(gh * gw)],
                textfont={"color": "white", "size": max(7, min(13, int(360 / max(gh, gw) / 2)))},
                hoverinfo="skip",
                name="token index",
            )
        )
    _selected_box(fig, selected, patch_size, "#00e5ff")
    fig = _image_axes(fig, None, title, [0, image.shape[1]], [image.shape[0], 0])
    return fig


def token_sequence_figure(
    image: np.ndarray,
    grid_size: tuple[int, int],
    patch_size: tuple[int, int],
    prefix_labels: Sequence[str],
    *,
    per_row: int | None = None,
    gap: int = 3,
    title: str | None = None,
) -> go.Figure:
    """The flattened token sequence: prefix tokens (coloured, labelled) then every patch, row-major.

    Drawn as one mosaic image that wraps every `per_row` tokens, so a 576-patch model stays one trace.
    """
    image = _as_rgb(image)
    gh, gw = grid_size
    ph, pw = patch_size
    tokens = len(prefix_labels) + gh * gw
    per_row = per_row or max(8, min(2 * gw, tokens))
    rows = -(-tokens // per_row)
    cell_h, cell_w = ph + gap, pw + gap
    mosaic = np.full((rows * cell_h, per_row * cell_w, 3), 255, dtype=np.uint8)
    labels_x, labels_y, labels = [], [], []
    for token in range(tokens):
        r, c = divmod(token, per_row)
        y0, x0 = r * cell_h, c * cell_w
        if token < len(prefix_labels):
            label = prefix_labels[token]
            kind = "reg" if label.startswith("reg") else label
            mosaic[y0 : y0 + ph, x0 : x0 + pw] = PREFIX_COLOURS.get(kind, (90, 90, 90))
            labels_x.append(x0 + pw / 2)
            labels_y.append(y0 + ph / 2)
            labels.append(label.upper() if kind != "reg" else label)
        else:
            pr, pc = divmod(token - len(prefix_labels), gw)
            mosaic[y0 : y0 + ph, x0 : x0 + pw] = image[pr * ph : (pr + 1) * ph, pc * pw : (pc + 1) * pw]
    fig = go.Figure(go.Image(z=mosaic, hoverinfo="skip", name="tokens"))
    fig.add_trace(
        go.Scatter(
            x=labels_x,
            y=labels_y,
            mode="text",
            text=labels,
            textfont={"color": "white", "size": 10},
            hoverinfo="skip",
            name="prefix tokens",
        )
    )
    fig = _image_axes(fig, None, title)
    width_px = 620  # about half a wide page: the height that keeps the mosaic's aspect without blank bands
    fig.update_layout(clickmode="none", height=int(50 + width_px * mosaic.shape[0] / mosaic.shape[1]))
    return fig


def topk_figure(
    labels: Sequence[str], probabilities: Sequence[float], *, title: str | None = None, presence: bool = False
) -> go.Figure:
    """Top-k classes as horizontal bars, most probable on top (class names come from the model: shown as text);
    `presence`: the probabilities are per-class sigmoids (they need not sum to 1), and the axis says so."""
    labels = [plain_text(label) for label in labels]
    probs = [float(p) for p in probabilities]
    fig = go.Figure(
        go.Bar(
            x=probs[::-1],
            y=labels[::-1],
            orientation="h",
            text=[f"{p:.1%}" for p in probs[::-1]],
            textposition="auto",
            marker={"color": "#4c78a8"},
            hovertemplate="%{y}: %{x:.2%}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        margin={"l": 10, "r": 30, "t": 40 if title else 10, "b": 30},  # r: room for the 100% tick label
        height=60 + 36 * max(1, len(labels)),
        xaxis={"range": [0, 1], "tickformat": ".0%", "title": t("fig.presence" if presence else "fig.probability")},
        yaxis={"automargin": True},
    )
    return fig


def mosaic(tiles: np.ndarray, columns: int, gap: int = 1, fill: float = np.nan) -> np.ndarray:
    """Lay out ``[n, th, tw, ...]`` tiles row-major on a grid of `columns`, `gap` cells of `fill` between.

    One array (one plotly trace) instead of n subplots: a 12 x 12 head grid draws in milliseconds.
    """
    tiles = np.asarray(tiles)
    n, th, tw = tiles.shape[:3]
    rows = -(-n // columns)
    out = np.full((rows * (th + gap) - gap, columns * (tw + gap) - gap, *tiles.shape[3:]), fill, dtype=tiles.dtype)
    for index in range(n):
        r, c = divmod(index, columns)
        out[r * (th + gap) : r * (th + gap) + th, c * (tw + gap) : c * (tw + gap) + tw] = tiles[index]
    return out


def _tile_ticks(count: int, size: int, gap: int, labels: Sequence[str]) -> dict:
    return {
        "tickmode": "array",
        "tickvals": [i * (size + gap) + (size - 1) / 2 for i in range(count)],
        "ticktext": list(labels),
        "showgrid": False,
        "zeroline": False,
    }


def _animated_heatmap(
    frames: Sequence[np.ndarray], names: Sequence[str], prefix: str, colorscale: str, zmax: float,
    buttons_above_slider: bool = False,
) -> go.Figure:
    """One heatmap trace, one ``go.Frame`` per 2-D array, a slider and play/pause buttons, both under the plot: side
    by side, or the buttons above the slider (a narrow column, where side by side leaves the slider too short)."""
    heat = {"coloraxis": "coloraxis", "hovertemplate": "%{z:.3f}<extra></extra>"}
    fig = go.Figure(
        data=[go.Heatmap(z=frames[0], **heat)],
        frames=[go.Frame(data=[go.Heatmap(z=z, **heat)], name=name) for z, name in zip(frames, names, strict=True)],
    )
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}
    fig.update_layout(
        coloraxis={"colorscale": rendering.colour_stops(colorscale), "cmin": 0.0, "cmax": zmax},
        sliders=[
            {
                "active": 0,
                "currentvalue": {"prefix": prefix},
                "pad": {"t": 75 if buttons_above_slider else 30},
                # beside the buttons, both under the plot (no margin taken from the maps' width), or under them
                "x": 0.0 if buttons_above_slider else 0.3,
                "len": 1.0 if buttons_above_slider else 0.7,
                "steps": [{"label": name, "method": "animate", "args": [[name], still]} for name in names],
            }
        ],
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0.0,
                "y": 0.0,
                "xanchor": "left",
                "yanchor": "top",
                "pad": {"t": 10 if buttons_above_slider else 40, "r": 10},
                "showactive": False,
                "buttons": [
                    {
                        "label": "▶",
                        "method": "animate",
                        "args": [None, {"frame": {"duration": 600, "redraw": True}, "fromcurrent": True}],
                    },
                    {"label": "❚❚", "method": "animate", "args": [[None], still]},
                ],
            }
        ],
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1)
    return fig


SIDE_GRID_PX = 290  # the maps' share of a half-page column at 1280 px (the colour bar takes the rest)


def side_grid_options(num_heads: int, width_px: int = SIDE_GRID_PX) -> dict:
    """``head_grid_figure`` keywords for per-head maps in a half-page column: at most 2 to a row up to 4 heads, 3
    beyond, and a height that leaves the width to decide each map's size (about 145 px each for 4 heads at 1280 px;
    6 to a row gave about 35 px each)."""
    columns = min(num_heads, 2 if num_heads <= 4 else 3)
    return {"columns": columns, "tile_px": int(width_px / columns / 1.55), "buttons_above_slider": True}


def head_grid_figure(
    maps: np.ndarray,
    *,
    mode: str = "animate",
    layers: Sequence[int] | None = None,
    colorscale: str = "Inferno",
    normalise: bool = True,
    title: str | None = None,
    tile_px: int = 64,
    columns: int | None = None,
    buttons_above_slider: bool = False,
) -> go.Figure:
    """Layer x head grid of per-patch maps ``[layer, head, gh, gw]``.

    Each layer's heads are laid out as one mosaic (NaN gaps between maps), so the figure is one trace
    (per frame) however many heads there are.

    Args:
        maps: ``[layer, head, gh, gw]``.
        mode: "animate" (one frame per layer: heads side by side, a layer slider and play button) or
            "grid" (every map at once with ``px.imshow``: rows are layers, columns heads).
        layers: layer numbers for the labels (default 0..L-1).
        normalise: scale each map to [0, 1] on its own, so weak heads stay visible.
        columns: heads per row in "animate" mode (default: up to 6); fewer make each map larger.
        buttons_above_slider: "animate" mode's play buttons above the layer slider, not left of the maps.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 4:
        raise ValueError(f"maps must be [layer, head, gh, gw], got {maps.shape}")
    num_layers, num_heads, gh, gw = maps.shape
    layers = list(range(num_layers)) if layers is None else list(layers)
    shown = normalise_maps(maps) if normalise else maps
    zmax = 1.0 if normalise else float(np.nanmax(shown))
    gap = max(1, gh // 7)
    common = {"color_continuous_scale": rendering.colour_stops(colorscale), "zmin": 0.0, "zmax": zmax}
    if mode == "animate":
        columns = min(num_heads, columns or 6)
        frames = [mosaic(shown[i], columns, gap) for i in range(num_layers)]
        fig = _animated_heatmap(frames, [str(layer) for layer in layers], t("fig.layer_prefix"), colorscale, zmax,
                                buttons_above_slider)
        rows = -(-num_heads // columns)
        fig.update_xaxes(**_tile_ticks(columns, gw, gap, [t("head.n", head=h) for h in range(columns)]))
        if rows > 1:  # every map its own label (a column's "head 0, 2..." did not say which map is which head)
            fig.update_xaxes(showticklabels=False)
            _add_layout_items(fig, "annotations", [
                {"x": col * (gw + gap) + gw / 2 - 0.5, "y": row * (gh + gap) - 0.5, "xref": "x", "yref": "y",
                 "text": t("head.n", head=head), "showarrow": False, "yanchor": "top", "font": {"color": "white"},
                 "bgcolor": "rgba(0, 0, 0, 0.55)", "name": "head label"}
                for head in range(num_heads) for row, col in [divmod(head, columns)]])
        fig.update_yaxes(visible=False)
        height = 180 + rows * tile_px * 1.6 + (45 if buttons_above_slider else 0)
    elif mode == "grid":
        flat = shown.reshape(num_layers * num_heads, gh, gw)
        fig = px.imshow(mosaic(flat, num_heads, gap), labels={"color": t("fig.attention")}, **common)
        fig.update_xaxes(**_tile_ticks(num_heads, gw, gap, [t("head.n", head=h) for h in range(num_heads)]), side="top")
        fig.update_yaxes(**_tile_ticks(num_layers, gh, gap, [t("layer.n", layer=layer) for layer in layers]))
        height = 120 + num_layers * tile_px
    else:
        raise ValueError(f"mode must be 'animate' or 'grid', got {mode!r}")
    fig.update_traces(hovertemplate="%{z:.3f}<extra></extra>")
    fig.update_layout(
        title=title,
        height=int(height),
        margin={"l": 10, "r": 10, "t": 60 if title else 40, "b": 10},
        coloraxis_colorbar={"title": {"text": t("render.bar_minmax") if normalise else t("fig.attention_weight"),
                                      "side": "right"},  # upright beside the bar: a wide title narrowed the maps
                            "thickness": 12},
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def head_importance_figure(values: np.ndarray, *, title: str | None = None, bar_title: str | None = None) -> go.Figure:
    """Layer x head grid ``[layer, head]`` of a signed quantity (a logit drop), layer 0 on top, on a diverging scale
    centred on 0 (red: the logit falls without the head; blue: it rises)."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"values must be [layer, head], got {values.shape}")
    layers, heads = values.shape
    bound = max(float(np.abs(values).max()), 1e-6)
    fig = go.Figure(go.Heatmap(
        z=values, x=list(range(heads)), y=list(range(layers)), zmin=-bound, zmax=bound, zmid=0.0,
        colorscale=rendering.colour_stops("RdBu_r"), colorbar={"title": bar_title, "thickness": 12},
        hovertemplate=t("fig.layer_head_value") + "<extra></extra>",
    ))
    fig.update_xaxes(tickvals=list(range(heads)), ticktext=[t("head.n", head=h) for h in range(heads)], side="top")
    fig.update_yaxes(tickvals=list(range(layers)), ticktext=[t("layer.n", layer=i) for i in range(layers)],
                     autorange="reversed")
    fig.update_layout(title=title, height=int(140 + 28 * layers), margin={"l": 10, "r": 10, "t": 90 if title else 50, "b": 10})
    return fig


def prefix_weights_figure(
    weights: np.ndarray, prefix_labels: Sequence[str], *, title: str | None = None
) -> go.Figure:
    """Attention mass the query put on each prefix token, per layer and head: ``[layer, head, prefix]``.

    One heatmap per prefix token (class, distillation, registers), layers down, heads across, so the
    weight registers soak up is shown rather than hidden.
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 3 or weights.shape[-1] != len(prefix_labels):
        raise ValueError(f"weights must be [layer, head, {len(prefix_labels)}], got {weights.shape}")
    num_layers, num_heads, num_prefix = weights.shape
    fig = px.imshow(
        np.moveaxis(weights, -1, 0),
        facet_col=0,
        facet_col_wrap=min(num_prefix, 5),
        facet_col_spacing=0.04,
        color_continuous_scale=rendering.colour_stops("Blues"),
        zmin=0.0,
        zmax=max(1e-6, float(weights.max())),
        labels={"x": t("fig.head"), "y": t("fig.layer"), "color": t("fig.weight")},
        aspect="auto",
    )
    for annotation in fig.layout.annotations:
        annotation.text = t("fig.on_prefix", label=prefix_labels[int(annotation.text.split("=")[-1])])
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(dtick=1 if num_layers <= 12 else 2)
    fig.update_layout(
        title=title,
        height=120 + 22 * num_layers,
        margin={"l": 10, "r": 10, "t": 60 if title else 30, "b": 10},
    )
    return fig


def pos_embed_tiles_figure(
    similarity: np.ndarray,
    *,
    gap: int = 1,
    colorscale: str = "Viridis",
    selected: tuple[int, int] | None = None,
    title: str | None = None,
    zrange: tuple[float, float] = (-1.0, 1.0),
    colorbar_title: str | None = None,
) -> go.Figure:
    """The ViT paper's Figure 7 (centre): a gh x gw grid of tiles, tile (i, j) = cos(e_ij, e_uv) over (u, v).

    `zrange` is the colour range: the paper's (-1, 1), or one fitted to the data so small differences show.

    Drawn as one heatmap mosaic (NaN gaps between tiles) plus a clickable marker per tile centre whose
    customdata is [tile index, row, col], so 24 x 24 tiles stay one fast trace.
    """
    sim = np.asarray(similarity, dtype=np.float32)
    if sim.ndim != 4 or sim.shape[:2] != sim.shape[2:]:
        raise ValueError(f"similarity must be [gh, gw, gh, gw], got {sim.shape}")
    gh, gw = sim.shape[:2]
    th, tw = gh + gap, gw + gap
    mosaic = np.full((gh * th - gap, gw * tw - gap), np.nan, dtype=np.float32)
    for i in range(gh):
        for j in range(gw):
            mosaic[i * th : i * th + gh, j * tw : j * tw + gw] = sim[i, j]
    fig = go.Figure(
        go.Heatmap(
            z=mosaic,
            colorscale=rendering.colour_stops(colorscale),
            zmin=float(zrange[0]),
            zmax=float(zrange[1]),
            hoverinfo="skip",
            colorbar={"title": colorbar_title or t("fig.cosine"), "thickness": 12},
            name="tiles",
        )
    )
    rows, cols = np.divmod(np.arange(gh * gw), gw)
    fig.add_trace(
        go.Scatter(
            x=cols * tw + (gw - 1) / 2,
            y=rows * th + (gh - 1) / 2,
            mode="markers",
            marker={"symbol": "square", "size": _marker_px((gh, gw)), "opacity": 0.01, "color": "white"},
            customdata=np.stack([np.arange(gh * gw), rows, cols], axis=-1).tolist(),
            hovertemplate=t("fig.hover_tile", row="%{customdata[1]}", col="%{customdata[2]}") + "<extra></extra>",
            name="tiles",
        )
    )
    if selected is not None:
        r, c = selected
        fig.add_shape(
            type="rect",
            x0=c * tw - 0.5,
            x1=c * tw + gw - 0.5,
            y0=r * th - 0.5,
            y1=r * th + gh - 0.5,
            line={"color": "#ff4b4b", "width": 2},
        )
    fig = _image_axes(fig, None, title, [-0.5, gw * tw - gap - 0.5], [gh * th - gap - 0.5, -0.5])
    return fig


def pos_embed_tile_figure(
    tile: np.ndarray,
    row: int,
    col: int,
    *,
    colorscale: str = "Viridis",
    zrange: tuple[float, float] = (-1.0, 1.0),
    colorbar_title: str | None = None,
) -> go.Figure:
    """One tile enlarged: cosine similarity of patch (row, col)'s position embedding to every patch's."""
    tile = np.asarray(tile, dtype=np.float32)
    gh, gw = tile.shape
    fig = go.Figure(
        go.Heatmap(
            z=tile,
            colorscale=rendering.colour_stops(colorscale),
            zmin=float(zrange[0]),
            zmax=float(zrange[1]),
            hovertemplate=t("fig.hover_cosine", row="%{y}", col="%{x}", value="%{z:.3f}") + "<extra></extra>",
            colorbar={"title": colorbar_title or t("fig.cosine"), "thickness": 12},
        )
    )
    fig.add_shape(type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5, line={"color": "#ff4b4b"})
    fig.update_yaxes(range=[gh - 0.5, -0.5], scaleanchor="x", scaleratio=1, title=t("fig.row"), constrain="domain")
    fig.update_xaxes(range=[-0.5, gw - 0.5], title=t("fig.column"), constrain="domain")
    fig.update_layout(title=t("fig.patch_title", row=row, col=col), margin=_MARGIN)
    return fig


def head_metric_figure(
    values: np.ndarray,
    *,
    y_title: str,
    title: str | None = None,
    spread: np.ndarray | None = None,
) -> go.Figure:
    """One point per head at each depth, as in the ViT paper's Figure 7 (right).

    Args:
        values: ``[layer, head]`` (e.g. mean attention distance in pixels, or entropy in nats).
        y_title: y-axis title.
        spread: optional ``[layer, head]`` standard deviation over images (error bars).
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"values must be [layer, head], got {values.shape}")
    num_layers, num_heads = values.shape
    fig = go.Figure()
    palette = px.colors.qualitative.Dark24
    for head in range(num_heads):
        error = None
        if spread is not None:
            error = {"type": "data", "array": np.asarray(spread)[:, head], "visible": True, "thickness": 1}
        fig.add_trace(
            go.Scatter(
                x=np.arange(num_layers),
                y=values[:, head],
                mode="markers",
                marker={"size": 8, "color": palette[head % len(palette)]},
                error_y=error,
                name=t("head.n", head=head),
                hovertemplate=t("fig.hover_head", head=head, layer="%{x}", value="%{y:.2f}") + "<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        xaxis={"title": t("fig.depth"), "dtick": 1},
        yaxis={"title": y_title, "range": [0, 1.1 * top if (top := float(np.nanmax(values + (0 if spread is None
                                                                           else np.asarray(spread))))) > 0 else 1]},
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        legend={"title": t("fig.head")},
    )
    return fig


def filters_figure(
    components: np.ndarray,
    variance: np.ndarray | None = None,
    *,
    columns: int = 7,
    title: str | None = None,
) -> go.Figure:
    """Principal components of the patch-embedding filters as RGB patches (ViT paper, Figure 7 left).

    Args:
        components: ``[k, 3, ph, pw]``; each is min-max scaled to [0, 255] on its own for display.
        variance: ``[k]`` explained variance ratio, shown in each facet's title.
    """
    comps = np.asarray(components, dtype=np.float32)
    if comps.ndim != 4 or comps.shape[1] != 3:
        raise ValueError(f"components must be [k, 3, ph, pw], got {comps.shape}")
    k, _, ph, pw = comps.shape
    rgb = np.moveaxis(comps, 1, -1)  # [k, ph, pw, 3]
    low = rgb.min(axis=(1, 2, 3), keepdims=True)
    high = rgb.max(axis=(1, 2, 3), keepdims=True)
    rgb = ((rgb - low) / np.where(high > low, high - low, 1.0) * 255).astype(np.uint8)
    columns = min(columns, k)
    gap = max(2, ph // 4)
    fig = go.Figure(go.Image(z=mosaic(rgb, columns, gap, fill=255), hoverinfo="skip", name="filters"))
    labels = [f"PC {i + 1}" + (f" ({float(variance[i]):.1%})" if variance is not None else "") for i in range(k)]
    rows_, cols_ = np.divmod(np.arange(k), columns)
    fig.add_trace(
        go.Scatter(
            x=cols_ * (pw + gap) + (pw - 1) / 2,
            y=rows_ * (ph + gap) + (ph - 1) / 2,
            mode="markers",
            marker={"size": 20, "opacity": 0.01, "symbol": "square"},
            text=labels,
            hovertemplate="%{text}<extra></extra>",
            name="components",
        )
    )
    if variance is not None:  # printed under each tile, not only in the hover text
        _add_layout_items(fig, "annotations", [
            {"x": cols_[i] * (pw + gap) + (pw - 1) / 2, "y": rows_[i] * (ph + gap) + ph - 0.5, "xref": "x", "yref": "y",
             "text": f"{float(variance[i]):.1%}", "showarrow": False, "yanchor": "top", "font": {"size": 11},
             "name": "variance"} for i in range(k)])
    fig = _image_axes(fig, None, title)
    fig.update_layout(clickmode="none", height=60 + (-(-k // columns)) * 90)
    return fig


def curves_figure(
    fractions: Sequence[float],
    curves: dict[str, Sequence[float]],
    *,
    title: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    height: int = 320,
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """Perturbation curves, one line per method (baselines dashed), y in [0, 1]; `names` labels a method's line
    (default: the method's key)."""
    fig = go.Figure()
    for method, values in curves.items():
        dashed = method in ("random", "centre")
        name = (names or {}).get(method, method)
        fig.add_trace(
            go.Scatter(
                x=list(fractions),
                y=list(values),
                mode="lines+markers",
                name=name,
                line={"dash": "dash" if dashed else "solid"},
                hovertemplate=t("fig.hover_curve", name=name, y="%{y:.3f}", x="%{x:.0%}") + "<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        height=height,
        margin={"l": 50, "r": 10, "t": 40 if title else 10, "b": 40},
        xaxis={"title": x_title or t("fig.removed"), "tickformat": ".0%"},
        yaxis={"title": y_title or t("fig.target_probability"), "range": [0, 1.02]},
        legend={"orientation": "v", "x": 1.02, "y": 1, "yanchor": "top"},  # at the right: below, 7 long names ran over the axis title
    )
    return fig
