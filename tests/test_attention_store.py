"""The bounded-memory analysis against the full-matrix path, on every token layout and both stores.

The reference is computed another way: the capture's full ``[batch, layer, head, query, key]`` attention, the
stored-matrix rollout (R formed), the reductions over the full tensor, and class_relevance's eager (non-fused)
forward with every layer's gradient and the full relevance matrix R.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layouts import LAYOUTS, input_for, make_model

from vit_core.attention import store as attention_store
from vit_core.attention.capture import capture
from vit_core.errors import SettingsError
from vit_core.methods import attention_entropy, attention_rollout, mean_attention_distance, readout
from vit_core.methods.relevance import class_relevance
from vit_core.methods.token_attention import token_attention
from vit_core.models.geometry import geometry_of
from vit_core.results.result import AnalysisResult
from vit_core.runs import analysis
from vit_core.runs.analysis import RolloutSettings, analyze, attention_kept

SETTINGS = (RolloutSettings(), RolloutSettings(head_fusion="max", discard_ratio=0.5, residual_weight=0.3, start_layer=1))


def _reference(model, pixels, settings):
    cap = capture(model, pixels)
    g = cap.geometry
    rollout = attention_rollout(cap.attention, settings, num_prefix_tokens=g.num_prefix_tokens)
    rolled, prefix = readout(rollout, g, pool_attention=cap.pool_attention, pool_include_prefix=g.pool_include_prefix)
    out = {
        "attention": cap.attention,
        "rollout": rolled,
        "prefix_weights": prefix,
        "mean_attention_distance": mean_attention_distance(cap.attention, g),
        "attention_entropy": attention_entropy(cap.attention),
        "logits": cap.logits,
    }
    if g.has_class_token:
        out["cls_attention"] = token_attention(cap.attention, g, "cls")
    return {k: v.double().numpy() for k, v in out.items()}


@pytest.fixture(params=["one_block", "row_blocks"])
def blocks(request, monkeypatch):
    """The store as small models see it (one block, factors kept) and as 1,000+ tokens do (blocks of a few query
    rows, no factor kept: the rollout pushed from q and k)."""
    if request.param == "row_blocks":
        monkeypatch.setattr(attention_store, "BLOCK_BYTES", 4096)
        monkeypatch.setattr(analysis, "FACTOR_BYTES", 0)
    return request.param


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("store", ["full", "qk"])
def test_every_reduction_equals_the_full_matrix_path(layout, store, blocks):
    model = make_model(layout)
    pixels = input_for(model, batch=2)
    for settings in SETTINGS:
        expected = _reference(model, pixels, settings)
        result = analyze(model, pixels, rollout=settings, relevance=False, attention=store, model_views=False)
        # Rollout against R formed from the result's own attention: discarding is discontinuous at ties, and the
        # compute-once CPU path's probabilities differ from the capture's by ~1e-7, which can flip a tie.
        own = torch.stack([torch.from_numpy(result.attention_slice(layer, image=i)) for i in range(2)
                           for layer in range(result.attention_shape[1])]).reshape(result.attention_shape)
        g = geometry_of(model, tuple(pixels.shape[-2:]))
        R = attention_rollout(own, settings, num_prefix_tokens=g.num_prefix_tokens)
        pool = None if result.pool_attention is None else torch.from_numpy(result.pool_attention)
        rolled, prefix = readout(R, g, pool_attention=pool, pool_include_prefix=g.pool_include_prefix)
        # (row blocks multiply q by k in other shapes, whose last bits differ: at a near-tie of two patches a row's
        # discard may keep the other one, moving 1% of one entry; without discarding every path agrees to 1e-5)
        tol = dict(rtol=1e-5, atol=1e-6) if settings.discard_ratio == 0 else dict(rtol=0, atol=2e-4)
        np.testing.assert_allclose(result.rollout, rolled.numpy(), **tol, err_msg=f"rollout {settings}")
        np.testing.assert_allclose(result.prefix_weights, prefix.numpy(), **tol)
        if settings.discard_ratio == 0:
            np.testing.assert_allclose(result.rollout, expected["rollout"], rtol=1e-5, atol=1e-6)
        for key in ("mean_attention_distance", "attention_entropy", "cls_attention"):
            if key in expected:
                np.testing.assert_allclose(getattr(result, key), expected[key], rtol=1e-5, atol=1e-6,
                                           err_msg=f"{key} {settings}")
        np.testing.assert_allclose(result.logits, expected["logits"], rtol=1e-5, atol=1e-5)
        assert (result.attention is None) == (store == "qk") and (result.attention_q is None) == (store == "full")
        full = expected["attention"]
        b, layers, heads, tokens, _ = full.shape
        assert result.attention_shape == full.shape
        for layer in (0, layers - 1):  # any slice rebuilds: all heads and rows, one head, chosen rows
            np.testing.assert_allclose(result.attention_slice(layer, image=1), full[1, layer], rtol=1e-5, atol=1e-6)
            rows = [0, tokens - 1]
            np.testing.assert_allclose(
                result.attention_slice(layer, heads - 1, rows), full[0, layer, heads - 1][rows], rtol=1e-5, atol=1e-6
            )
            np.testing.assert_allclose(result.attention_slice(layer, rows=1), full[0, layer, :, 1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_relevance_equals_the_eager_full_matrix_path(layout, blocks):
    model = make_model(layout)
    pixels = input_for(model, batch=2)
    reference = class_relevance(model, pixels, keep_matrix=True)  # non-fused forward, every layer's gradient, the full R
    for target in (None, 1):
        expected = reference if target is None else class_relevance(model, pixels, target_class=target, keep_matrix=True)
        result = analyze(model, pixels, target_class=target, attention="none", model_views=False)
        scale = np.abs(expected.heatmap.numpy()).max()
        np.testing.assert_allclose(result.relevance, expected.heatmap.numpy(), rtol=1e-4, atol=1e-4 * scale)
        np.testing.assert_array_equal(result.relevance_target, expected.target_class.numpy())


def test_the_rebuilt_attention_survives_the_file(tmp_path):
    model = make_model("registers_gap")
    pixels = input_for(model, batch=1)
    result = analyze(model, pixels, relevance=False, attention="qk", model_views=False)
    result.to_npz(tmp_path / "r.npz")
    with np.load(tmp_path / "r.npz") as data:
        assert "attention" not in data.files and {"attention_q", "attention_k", "attention_scale"} <= set(data.files)
    read = AnalysisResult.from_npz(tmp_path / "r.npz")
    full = capture(model, pixels).attention.numpy()
    np.testing.assert_allclose(read.attention_slice(1, 0, [0, 3]), full[0, 1, 0][[0, 3]], rtol=1e-5, atol=1e-6)


def test_auto_keeps_the_full_attention_only_while_it_is_small(monkeypatch):
    model = make_model("class_token")
    g = geometry_of(model)
    assert attention_kept("auto", g) == "full"
    monkeypatch.setattr(analysis, "FULL_ATTENTION_BYTES", analysis.attention_bytes(g) - 1)
    assert attention_kept("auto", g) == "qk"
    assert attention_kept("full", g) == "full" and attention_kept("none", g) == "none"
    with pytest.raises(SettingsError, match="choose one of auto, full, qk, none"):
        attention_kept("some", g)


def test_blocks_cover_every_row_once_within_the_budget():
    for tokens in (1, 7, 197, 1374):
        for budget in (1, 4096, 16 << 20):
            blocks = list(attention_store.query_blocks(2, 3, tokens, budget))
            rows = [r for block in blocks for r in range(block.start, block.stop)]
            assert rows == list(range(tokens))
            assert all((b.stop - b.start) * 2 * 3 * tokens * 4 <= max(budget, 2 * 3 * tokens * 4) for b in blocks)


def test_a_result_without_attention_says_so():
    model = make_model("class_token")
    result = analyze(model, input_for(model, batch=1), relevance=False, attention="none", model_views=False)
    assert not result.has_attention
    with pytest.raises(Exception, match="keeps no attention"):
        result.attention_slice(0)


def test_checkpointed_forward_is_the_model_forward():
    from vit_core.attention.capture import forward_checkpointed

    for layout in ("class_token", "attention_pool", "registers_gap"):
        model = make_model(layout)
        pixels = input_for(model, batch=2)
        with torch.no_grad():
            expected = model(pixels)
        with torch.enable_grad():
            got = forward_checkpointed(model, pixels.requires_grad_(True))
        torch.testing.assert_close(got.detach(), expected, rtol=1e-5, atol=1e-5)


def test_attention_flow_refuses_what_it_cannot_solve_in_minutes():
    from vit_core.errors import NotAvailableError
    from vit_core.methods.attention_flow import MAX_FLOW_TOKENS, attention_flow

    model = make_model("patch8")  # 64 px / 8 = 64 patches + 1: solvable
    assert geometry_of(model).num_tokens <= MAX_FLOW_TOKENS
    big = make_model("patch8")
    big.patch_embed.dynamic_img_size = big.dynamic_img_size = True
    with pytest.raises(NotAvailableError, match="attention flow is not computed at 626 tokens"):
        attention_flow(big, torch.zeros(1, 3, 200, 200))


@pytest.mark.parametrize("layout", ["class_token", "attention_pool", "class_and_mean_registers", "swiglu_packed"])
def test_checkpointed_relevance_equals_the_eager_full_matrix_path(layout):
    """The checkpointed backward (what 1,000+ tokens use) gives the same map as the eager path with every gradient."""
    from vit_core.methods.relevance import streamed_relevance

    model = make_model(layout)
    pixels = input_for(model, batch=2)
    expected = class_relevance(model, pixels, keep_matrix=True).heatmap.numpy()
    got, _ = streamed_relevance(model, pixels, checkpoint=True)
    np.testing.assert_allclose(got.heatmap.numpy(), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
