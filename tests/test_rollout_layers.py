"""Rollout rows from head-fused layers (vit_core.results.rollout_layers) against the formed rollout R of the full attention,
on every token layout and from both stores (full attention, q and k in blocks of rows)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layouts import LAYOUTS, input_for, make_model

from vit_core.attention import store as attention_store
from vit_core.attention.capture import capture
from vit_core.errors import SettingsError
from vit_core.methods import attention_rollout, discard_lowest
from vit_core.methods.readout import readout_weights, split_tokens
from vit_core.models.geometry import geometry_of
from vit_core.results.rollout_layers import fused_layers
from vit_core.runs.analysis import RolloutSettings, analyze

SETTINGS = (
    RolloutSettings(),
    RolloutSettings(head_fusion="max", discard_ratio=0.5, residual_weight=0.3, start_layer=1),
    RolloutSettings(head_fusion="min", discard_ratio=0.9, residual_weight=0.8),
)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("store", ["full", "qk"])
def test_rows_equal_the_formed_rollout(layout, store, monkeypatch):
    model = make_model(layout)
    pixels = input_for(model, batch=1)
    monkeypatch.setattr(attention_store, "BLOCK_BYTES", 4096)  # several blocks of query rows per layer
    result = analyze(model, pixels, relevance=False, attention=store, model_views=False)
    cap = capture(model, pixels)
    g = cap.geometry
    tokens = [0, g.num_tokens // 2, g.num_tokens - 1]
    own = torch.stack([torch.from_numpy(result.attention_slice(layer)) for layer in range(g.depth)])[None]
    np.testing.assert_allclose(own.numpy(), cap.attention.numpy(), rtol=1e-5, atol=1e-6)
    for settings in SETTINGS:
        if settings.start_layer >= g.depth:
            continue
        # R formed from the analysis' own attention: discarding is discontinuous at near-ties, and the CPU
        # analysis computes its probabilities once, about 1e-7 from the capture's (tests/test_attention_store.py)
        R = attention_rollout(own, settings, num_prefix_tokens=g.num_prefix_tokens)[0]  # [N, N]
        layers = fused_layers(result, settings.head_fusion)
        np.testing.assert_allclose(layers.token_rows(tokens, settings), R[tokens].numpy(), atol=1e-5)
        weights = readout_weights(g, 1, "cpu", pool_attention=cap.pool_attention,
                                  pool_include_prefix=g.pool_include_prefix)
        heat, prefix = split_tokens(layers.push(weights, settings), g)
        ref_heat, ref_prefix = split_tokens(weights @ R, g)
        np.testing.assert_allclose(heat.numpy(), ref_heat.numpy(), atol=1e-5)
        np.testing.assert_allclose(prefix.numpy(), ref_prefix.numpy(), atol=1e-5)


def test_default_readout_equals_the_analysis_rollout():
    model = make_model("registers_gap")
    pixels = input_for(model, batch=1)
    result = analyze(model, pixels, relevance=False, attention="qk", model_views=False)
    g = capture(model, pixels).geometry
    weights = readout_weights(g, 1, "cpu", pool_include_prefix=g.pool_include_prefix)
    heat, _ = split_tokens(fused_layers(result, "mean").push(weights, RolloutSettings()), g)
    np.testing.assert_allclose(heat.numpy(), result.rollout, atol=1e-5)


def test_running_rows_are_rows_of_each_partial_product():
    model = make_model("class_token")
    pixels = input_for(model, batch=1)
    result = analyze(model, pixels, relevance=False, attention="qk", model_views=False)
    cap = capture(model, pixels)
    settings = RolloutSettings(start_layer=1)
    rows = fused_layers(result, "mean").running_rows(0, settings)
    assert rows.shape == (cap.attention.shape[1] - 1, cap.geometry.num_tokens)
    for i, layer in enumerate(range(1, cap.attention.shape[1])):
        partial = attention_rollout(cap.attention[:, : layer + 1], settings, num_prefix_tokens=1)[0]
        np.testing.assert_allclose(rows[i], partial[0].numpy(), atol=1e-5)


def test_other_fusion_is_refused():
    model = make_model("class_token")
    result = analyze(model, input_for(model, batch=1), relevance=False, attention="full", model_views=False)
    with pytest.raises(SettingsError, match="fusion"):
        fused_layers(result, "mean").push(torch.ones(1, 1), RolloutSettings(head_fusion="max"))


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.7, 0.95])
def test_discard_keeps_the_same_weights_either_way(ratio):
    """discard_lowest picks the fewer of kept or dropped weights to find; both give the per-row sorted answer."""
    fused = torch.rand(3, 9, 41)
    out = discard_lowest(fused, ratio, num_prefix_tokens=2)
    patch = fused[..., 2:]
    drop = int(ratio * patch.shape[-1])
    threshold = patch.sort(dim=-1).values[..., drop - 1 : drop]  # the largest dropped weight per row
    expected = torch.where(patch > threshold, patch, torch.zeros(()))
    torch.testing.assert_close(out[..., 2:], expected)
    torch.testing.assert_close(out[..., :2], fused[..., :2])


@pytest.mark.parametrize("layout", ["class_token", "registers_gap", "non_square_input"])
def test_token_rows_are_the_query_rows_of_the_captured_attention(layout):
    model = make_model(layout)
    pixels = input_for(model, batch=1)
    full = capture(model, pixels).attention[0].numpy()  # [layer, head, query, key]
    result = analyze(model, pixels, relevance=False, attention="qk", model_views=False)
    for token in (0, full.shape[-1] - 1):
        np.testing.assert_allclose(result.token_rows(token), full[:, :, token], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["class_token", "registers_gap", "non_square_input"])
@pytest.mark.parametrize("store", ["full", "qk"])
def test_layers_over_the_byte_guard_are_rebuilt_at_each_push_with_the_same_rows(layout, store, monkeypatch):
    """Over FUSED_BYTES nothing is kept and every push rebuilds the fused rows block by block: the same readout,
    query rows and running rows as the kept layers, within 1e-5."""
    from vit_core.results import rollout_layers

    model = make_model(layout)
    pixels = input_for(model, batch=1)
    monkeypatch.setattr(attention_store, "BLOCK_BYTES", 4096)  # several blocks of query rows per layer
    result = analyze(model, pixels, relevance=False, attention=store, model_views=False)
    g = capture(model, pixels).geometry
    weights = readout_weights(g, 1, "cpu", pool_include_prefix=g.pool_include_prefix)
    tokens = [0, g.num_tokens // 2, g.num_tokens - 1]
    for settings in SETTINGS:
        if settings.start_layer >= g.depth:
            continue
        kept = fused_layers(result, settings.head_fusion)
        monkeypatch.setattr(rollout_layers, "FUSED_BYTES", kept.nbytes - 1)  # the guard: one byte too few
        rebuilt = fused_layers(result, settings.head_fusion)
        monkeypatch.undo()
        monkeypatch.setattr(attention_store, "BLOCK_BYTES", 4096)
        assert kept.fused is not None and kept.nbytes == g.depth * g.num_tokens**2 * 4
        assert rebuilt.fused is None and rebuilt.nbytes == 0
        np.testing.assert_allclose(rebuilt.push(weights, settings).numpy(), kept.push(weights, settings).numpy(),
                                   atol=1e-5)
        np.testing.assert_allclose(rebuilt.token_rows(tokens, settings), kept.token_rows(tokens, settings), atol=1e-5)
        np.testing.assert_allclose(rebuilt.running_rows(tokens[1], settings), kept.running_rows(tokens[1], settings),
                                   atol=1e-5)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("relevance", [False, True])
def test_layers_kept_by_the_analysis_are_the_layers_rebuilt_from_its_store(layout, relevance, monkeypatch):
    """``analyze(fused_out=...)`` (the app's analysis) keeps each image's head-fused layers as the forward pass
    makes them: the same layers fused_layers rebuilds from q and k, the same rollout as an analysis that keeps
    none, and a relevance the keeping does not touch."""
    model = make_model(layout)
    pixels = input_for(model, batch=2)
    monkeypatch.setattr(attention_store, "BLOCK_BYTES", 4096)  # several blocks of query rows per layer
    for settings in SETTINGS[:2]:
        if settings.start_layer >= geometry_of(model, tuple(pixels.shape[-2:])).depth:
            continue
        kept: list = []
        result = analyze(model, pixels, rollout=settings, relevance=relevance, attention="qk", model_views=False,
                         fused_out=kept)
        plain = analyze(model, pixels, rollout=settings, relevance=relevance, attention="qk", model_views=False)
        assert len(kept) == 2 and all(layers.head_fusion == settings.head_fusion for layers in kept)
        for image, layers in enumerate(kept):
            rebuilt = fused_layers(plain, settings.head_fusion, image=image)
            assert layers.fused is not None and layers.fused.shape == rebuilt.fused.shape
            np.testing.assert_allclose(layers.fused.numpy(), rebuilt.fused.numpy(), rtol=1e-5, atol=1e-6)
        tol = dict(rtol=1e-5, atol=1e-6) if settings.discard_ratio == 0 else dict(rtol=0, atol=2e-4)
        np.testing.assert_allclose(result.rollout, plain.rollout, **tol)
        np.testing.assert_allclose(result.prefix_weights, plain.prefix_weights, **tol)
        if relevance:
            np.testing.assert_allclose(result.relevance, plain.relevance, rtol=1e-5, atol=1e-6)
