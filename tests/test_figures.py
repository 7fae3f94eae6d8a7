"""Figure builders tested structurally (traces, frames, axes, titles), as plotly tests its own figures.

The builders are pure (arrays in, ``go.Figure`` out); an ``ast`` check below keeps streamlit and torch out.
"""

from __future__ import annotations

import ast
import io
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from viz_app import export, figures

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 255, (224, 224, 3), dtype=np.uint8)
WIDE = RNG.integers(0, 255, (96, 160, 3), dtype=np.uint8)  # a non-square grid: 6 x 10 patches of 16


def test_builders_import_neither_streamlit_nor_torch():
    for module in ("figures.py", "export.py", "rendering.py"):
        tree = ast.parse((Path(figures.__file__).parent / module).read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
        assert not names & {"streamlit", "torch", "vit_core"}, (module, names)


def test_overlay_outlines_ground_truth_boxes_with_their_labels():
    boxes = [("circle", (10.0, 20.0, 60.0, 90.0)), ("ring", (100.0, 30.0, 150.0, 80.0))]
    fig = figures.overlay_figure(IMAGE, RNG.random((14, 14)), (16, 16), boxes=boxes)
    rects = [s for s in fig.layout.shapes if s.name in ("circle", "ring")]
    assert [(r.name, (r.x0, r.y0, r.x1, r.y1)) for r in rects] == boxes
    assert all(r.line.dash == "dash" for r in rects)
    assert [a.text for a in fig.layout.annotations] == ["circle", "ring"]
    assert not figures.overlay_figure(IMAGE, RNG.random((14, 14)), (16, 16)).layout.annotations


@pytest.mark.parametrize(("image", "grid"), [(IMAGE, (14, 14)), (WIDE, (6, 10))])
def test_overlay_is_image_heatmap_and_one_clickable_marker_per_patch(image, grid):
    heat = RNG.random(grid)
    fig = figures.overlay_figure(image, heat, (16, 16), opacity=0.4, colorscale="Viridis", num_prefix_tokens=5,
                                 selected=(2, 3), title="t")
    assert [type(t) for t in fig.data] == [go.Image, go.Heatmap, go.Scatter]
    heatmap, markers = fig.data[1], fig.data[2]
    assert heatmap.opacity == 0 and heatmap.z.shape == grid  # it carries the colour bar; the image is the picture
    assert np.isclose(np.nanmin(heatmap.z), 0) and np.isclose(np.nanmax(heatmap.z), 1)  # min-max scaled
    assert [list(s) for s in heatmap.colorscale] == figures.rendering.colour_stops("Viridis")
    assert (heatmap.x0, heatmap.dx, heatmap.y0, heatmap.dy) == (8, 16, 8, 16)  # cells sit on the patches
    assert heatmap.hoverinfo == "skip"  # a click must land on the markers, not the heatmap
    gh, gw = grid
    assert len(markers.x) == gh * gw
    custom = np.asarray(markers.customdata)
    i = 2 * gw + 3
    assert list(custom[i][:4]) == [i, 2, 3, 5 + i]  # patch index, row, col, token index
    assert markers.x[i] == 3 * 16 + 8 and markers.y[i] == 2 * 16 + 8
    assert np.isclose(custom[i][4], heat[2, 3])  # raw value in the hover
    assert fig.layout.title.text == "t" and fig.layout.dragmode is False
    assert fig.layout.clickmode == "event+select"
    assert tuple(fig.layout.yaxis.range) == (image.shape[0], 0)  # image orientation: row 0 on top
    (shape,) = fig.layout.shapes
    assert (shape.x0, shape.y0, shape.x1, shape.y1) == (48, 32, 64, 48)


def test_overlay_rejects_non_grid_maps():
    with pytest.raises(ValueError, match=r"\[gh, gw\]"):
        figures.overlay_figure(IMAGE, RNG.random(196), (16, 16))


def test_patch_grid_labels_tokens_after_the_prefix():
    fig = figures.patch_grid_figure(WIDE, (6, 10), (16, 16), num_prefix_tokens=2)
    text = next(t for t in fig.data if getattr(t, "mode", None) == "text")
    assert list(text.text[:3]) == ["2", "3", "4"] and text.text[-1] == str(2 + 59)
    assert len(fig.layout.shapes) == (6 + 1) + (10 + 1)  # grid lines


def test_token_sequence_puts_prefix_tokens_first():
    fig = figures.token_sequence_figure(IMAGE, (14, 14), (16, 16), ["cls", "dist", "reg0"], per_row=20)
    mosaic = np.asarray(fig.data[0].z)
    assert mosaic.shape == (10 * 19, 20 * 19, 3)  # 199 tokens in rows of 20, 3 px gaps
    assert tuple(mosaic[5, 5]) == figures.PREFIX_COLOURS["cls"]
    assert tuple(mosaic[5, 19 + 5]) == figures.PREFIX_COLOURS["dist"]
    assert np.array_equal(mosaic[0:16, 3 * 19 : 3 * 19 + 16], IMAGE[0:16, 0:16])  # then patch (0, 0)
    assert list(fig.data[1].text) == ["CLS", "DIST", "reg0"]


def test_topk_bars_most_probable_on_top():
    fig = figures.topk_figure(["a", "b", "c"], [0.7, 0.2, 0.1])
    (bar,) = fig.data
    assert list(bar.y) == ["c", "b", "a"] and bar.orientation == "h"
    assert tuple(fig.layout.xaxis.range) == (0, 1)


def test_head_grid_animation_has_one_frame_per_layer_and_a_slider():
    maps = RNG.random((6, 4, 14, 14))
    fig = figures.head_grid_figure(maps, mode="animate", layers=range(6))
    assert len(fig.data) == 1 and len(fig.frames) == 6
    assert [f.name for f in fig.frames] == [str(i) for i in range(6)]
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == [str(i) for i in range(6)] and list(steps[2].args[0]) == ["2"]
    assert fig.layout.updatemenus[0].buttons[0].method == "animate"
    assert list(fig.layout.xaxis.ticktext) == [f"head {h}" for h in range(4)]
    z = np.asarray(fig.frames[3].data[0].z)
    assert z.shape == (14, 4 * 14 + 3 * 2)  # 4 heads side by side with 2-cell gaps
    assert np.isnan(z[0, 14]) and np.isclose(np.nanmax(z[:, :14]), 1.0)



def test_head_grid_controls_take_no_width_from_the_maps():
    """Play buttons and the layer slider sit under the maps, side by side, and the colour bar's title stands upright:
    a button box anchored left of the plot and a wide title took a third of a half-width column (12 heads at 37 x 37
    patches were drawn 25 px each)."""
    fig = figures.head_grid_figure(RNG.random((2, 12, 37, 37)), mode="animate")
    buttons, slider = fig.layout.updatemenus[0], fig.layout.sliders[0]
    assert buttons.xanchor == "left" and buttons.x >= 0  # inside the plot's span, not in a left margin
    assert slider.x >= 0.25 and slider.x + slider.len <= 1.0  # right of the buttons, within the plot's span
    assert fig.layout.coloraxis.colorbar.title.side == "right"

def test_head_grid_shows_every_layer_and_head():
    maps = RNG.random((12, 12, 14, 14))
    fig = figures.head_grid_figure(maps, mode="grid", normalise=False)
    assert len(fig.data) == 1 and not fig.frames
    assert np.asarray(fig.data[0].z).shape == (12 * 14 + 11 * 2, 12 * 14 + 11 * 2)
    assert list(fig.layout.yaxis.ticktext) == [f"layer {i}" for i in range(12)]
    assert list(fig.layout.xaxis.ticktext) == [f"head {i}" for i in range(12)]
    with pytest.raises(ValueError):
        figures.head_grid_figure(maps, mode="spiral")


def test_prefix_weights_one_panel_per_prefix_token():
    fig = figures.prefix_weights_figure(RNG.random((6, 4, 3)), ["cls", "reg0", "reg1"])
    assert [a.text for a in fig.layout.annotations] == ["on cls", "on reg0", "on reg1"]
    assert len(fig.data) == 3


def test_pos_embed_tiles_mosaic_and_clickable_tiles():
    gh, gw = 5, 7
    sim = RNG.uniform(-1, 1, (gh, gw, gh, gw))
    fig = figures.pos_embed_tiles_figure(sim, selected=(1, 2))
    heat, markers = fig.data
    z = np.asarray(heat.z)
    assert z.shape == (gh * (gh + 1) - 1, gw * (gw + 1) - 1)
    assert np.allclose(z[1 * (gh + 1) : 1 * (gh + 1) + gh, 2 * (gw + 1) : 2 * (gw + 1) + gw], sim[1, 2])
    assert (heat.zmin, heat.zmax) == (-1, 1)
    assert len(markers.x) == gh * gw and list(markers.customdata[gw + 2]) == [gw + 2, 1, 2]
    tile = figures.pos_embed_tile_figure(sim[1, 2], 1, 2)
    assert np.allclose(tile.data[0].z, sim[1, 2]) and tile.layout.title.text == "Patch (1, 2)"


def test_head_metric_one_trace_per_head_against_depth():
    values = RNG.random((12, 6)) * 100
    fig = figures.head_metric_figure(values, y_title="px", spread=np.ones((12, 6)))
    assert len(fig.data) == 6 and [t.name for t in fig.data][:2] == ["head 0", "head 1"]
    assert list(fig.data[3].x) == list(range(12)) and np.allclose(fig.data[3].y, values[:, 3])
    assert fig.data[0].error_y.visible and fig.layout.yaxis.title.text == "px"
    assert fig.layout.xaxis.title.text == "network depth (layer)"


def test_filters_figure_lays_out_components_with_variance():
    comps = RNG.standard_normal((10, 3, 16, 16))
    fig = figures.filters_figure(comps, np.linspace(0.3, 0.01, 10), columns=5)
    mosaic = np.asarray(fig.data[0].z)
    assert mosaic.dtype == np.uint8 and mosaic.shape == (2 * 16 + 4, 5 * 16 + 4 * 4, 3)
    assert fig.data[1].text[0] == "PC 1 (30.0%)"


def test_normalise_maps_each_map_on_its_own():
    maps = np.stack([np.arange(4.0).reshape(2, 2), np.full((2, 2), 3.0)])
    out = figures.normalise_maps(maps)
    assert np.allclose(out[0], [[0, 1 / 3], [2 / 3, 1]]) and np.allclose(out[1], 0)


def test_overlay_png_and_standalone_html():
    png = export.overlay_png(IMAGE, RNG.random((14, 14)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


    assert Image.open(io.BytesIO(png)).size[0] > export.DEFAULT_WIDTH >= 896  # picture + colour bar
    html = export.figure_html(figures.topk_figure(["a"], [1.0]), "my figure")
    assert "<title>my figure</title>" in html
    assert '<script src="http' not in html and len(html) > 1_000_000  # plotly.js inlined: opens offline


HOSTILE = ['</title><script>alert(1)</script>.png', '<img src=x onerror="alert(2)">.jpg', "a&b <b>bold</b>"]


def _html_parts(page: str) -> tuple[str, int, list[str]]:
    """(the <title>'s text, how many <script> elements, every on* event attribute) of an HTML page, as parsed."""
    from html.parser import HTMLParser

    class Parts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.title, self.scripts, self.handlers, self._in_title = "", 0, [], False

        def handle_starttag(self, tag, attrs):
            self.scripts += tag == "script"
            self.handlers += [name for name, _ in attrs if name.startswith("on")]
            self._in_title = tag == "title"

        def handle_endtag(self, tag):
            self._in_title = False

        def handle_data(self, data):
            if self._in_title:
                self.title += data

    parts = Parts()
    parts.feed(page)
    return parts.title, parts.scripts, parts.handlers


@pytest.mark.parametrize("name", HOSTILE)
def test_exported_html_shows_a_hostile_file_name_as_text(name):
    fig = figures.topk_figure(["a"], [1.0])
    benign_title, benign_scripts, _ = _html_parts(export.figure_html(fig, "plain"))
    title, scripts, handlers = _html_parts(export.figure_html(fig, f"Attention rollout — {name}"))
    assert title == f"Attention rollout — {name}"  # shown exactly as written, as text
    assert scripts == benign_scripts and not handlers  # and nothing of it became markup


@pytest.mark.parametrize("name", HOSTILE)
def test_plotly_labels_of_class_names_and_boxes_are_text(name):
    import html

    bars = figures.topk_figure([name, "cat"], [0.6, 0.4])
    shown = list(bars.data[0].y)
    assert "<" not in "".join(shown) and html.unescape(shown[-1]) == name
    overlay = figures.overlay_figure(IMAGE, RNG.random((14, 14)), (16, 16), boxes=[(name, (0, 0, 10, 10))])
    texts = [a.text for a in overlay.layout.annotations] + [s.name for s in overlay.layout.shapes]
    assert texts and all("<" not in t and html.unescape(t) == name for t in texts)


def test_curves_name_their_lines_and_dash_the_baselines():
    fractions = np.arange(10) / 10
    curves = {"rollout": 1 - fractions, "random": np.full(10, 0.8)}
    fig = figures.curves_figure(fractions, curves, names={"rollout": "rollout (AUC 0.2)"})
    assert [trace.name for trace in fig.data] == ["rollout (AUC 0.2)", "random"]  # unnamed: the method's key
    assert [trace.line.dash for trace in fig.data] == ["solid", "dash"]  # the baseline by its key, whatever its name
    np.testing.assert_allclose(fig.data[0].y, 1 - fractions)


def test_every_head_map_keeps_its_own_label_when_heads_wrap_into_rows():
    """Projector mode lays heads out two to a row: each map is labelled with its own head (issue 33: the column
    labels read 'head 0, 2...', and nobody could tell which map is which head)."""
    maps = np.random.default_rng(0).random((3, 6, 14, 14)).astype(np.float32)
    fig = figures.head_grid_figure(maps, mode="animate", columns=2)
    labels = [a for a in fig.layout.annotations if a.name == "head label"]
    assert [a.text for a in labels] == [f"head {h}" for h in range(6)]
    gap = 2
    for head, a in enumerate(labels):
        row, col = divmod(head, 2)
        assert col * (14 + gap) <= a.x + 0.5 <= col * (14 + gap) + 14  # over its own tile
        assert a.y + 0.5 == row * (14 + gap)
    assert fig.layout.xaxis.showticklabels is False
