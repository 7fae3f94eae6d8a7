"""The "Token norms & sinks" page under AppTest: it draws the inspection of the current model and image, and every
control changes what is on screen (a layer, a head, a second model side by side, its weights)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from app_support import interact, run_app

from viz_app import resources, state

pytestmark = pytest.mark.slow


def _figure(at, title_part: str) -> dict:
    """The first figure whose title holds `title_part`."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("layout", {}).get("title", {})
        if title_part in (title.get("text", "") if isinstance(title, dict) else str(title)):
            return spec
    raise AssertionError(f"no figure titled {title_part!r}")


def _values(trace: dict) -> np.ndarray:
    """A heatmap trace's z as numbers (plotly writes arrays as base64 typed arrays: dtype, bdata, shape)."""
    z = trace["z"]
    if isinstance(z, dict):
        shape = [int(n) for n in str(z.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape).astype(np.float32)
    return np.asarray(z, dtype=np.float32)


def test_the_page_shows_the_inspection_and_follows_every_control():
    at = run_app(page="inside")
    assert not at.error, [e.value for e in at.error]
    ctx = at.session_state[state.CONTEXT]
    depth, heads = ctx.geometry.depth, ctx.geometry.num_heads
    found = resources.inspection(ctx)
    subheaders = [s.value for s in at.subheader]
    assert "Token norms" in subheaders and "Attention sinks" in subheaders
    assert any(s.startswith("Outliers (") for s in subheaders)
    # the norm map draws the last layer's patch norms, in their own units
    last = f"layer {depth - 1}"
    shown = _values(_figure(at, f"Token norm, {last}")["data"][1])
    p = ctx.geometry.num_prefix_tokens
    np.testing.assert_allclose(shown.ravel(), found.token_norms[0, -1, p:], rtol=1e-5)

    interact(at, lambda: at.slider(key=state.INSIDE_LAYER).set_value(0))
    shown = _values(_figure(at, "Token norm, layer 0")["data"][1])
    np.testing.assert_allclose(shown.ravel(), found.token_norms[0, 0, p:], rtol=1e-5)
    histogram = _figure(at, "Patch norms, layer 0")
    assert any(shape.get("x0") == pytest.approx(float(found.outlier_cut[0, 0])) for shape in histogram["layout"]["shapes"])

    interact(at, lambda: at.selectbox(key=state.INSIDE_HEAD).set_value(heads - 1))
    sink = _values(_figure(at, f"head {heads - 1}")["data"][1])
    np.testing.assert_allclose(sink.ravel(), found.sink_mass[0, 0, heads - 1, p:], rtol=1e-5)

    at.session_state[state.INSIDE_OTHER] = state.DEMO_LABEL  # offline: the bundled model, random and trained
    interact(at, lambda: at.toggle(key=state.INSIDE_COMPARE).set_value(True))
    assert not at.error, [e.value for e in at.error]
    captions = [c.value for c in at.caption]
    assert sum("registers ·" in c for c in captions) == 2
    random_norms = _figure(at, "Token norm")  # (the first: this model's); the second model's follows
    interact(at, lambda: at.toggle(key=state.INSIDE_OTHER_RANDOM).set_value(False))
    assert not at.error, [e.value for e in at.error]
    assert random_norms == _figure(at, "Token norm")  # this model's map did not change; the second's did


def test_the_page_speaks_korean():
    at = run_app(page="inside", lang="ko")
    assert not at.error, [e.value for e in at.error]
    assert "토큰 노름" in [s.value for s in at.subheader]


def test_a_link_opens_the_layer_and_head_and_the_url_follows():
    at = run_app(page="inside", layer="1", head="0")
    assert not at.error, [e.value for e in at.error]
    assert at.slider(key=state.INSIDE_LAYER).value == 1 and at.selectbox(key=state.INSIDE_HEAD).value == 0
    assert at.query_params["layer"] in ("1", ["1"]) and at.query_params["head"] in ("0", ["0"])
    assert any(c.get("layout", {}).get("title", {}).get("text") == "Token norm, layer 1"
               for c in (json.loads(chart.proto.spec) for chart in at.get("plotly_chart")))
