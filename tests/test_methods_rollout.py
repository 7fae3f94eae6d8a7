"""Attention rollout: hand-computed cases, properties, discard, streaming sink == batch form."""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import pytest
import timm
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vit_core.attention.capture import capture
from vit_core.errors import CaptureError, SettingsError
from vit_core.methods import (
    RolloutSettings,
    RolloutSink,
    attention_rollout,
    discard_lowest,
    fuse_heads,
)

DEVICE = torch.device(os.environ.get("TORCH_DEVICE", "cpu"))
FAST = settings(max_examples=25, deadline=None)


def _random_attention(seed: int, batch: int, layers: int, heads: int, tokens: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, layers, heads, tokens, tokens, generator=gen) * 3
    return logits.softmax(-1).to(DEVICE)  # [batch, layer, head, query, key]


attention_shapes = st.tuples(
    st.integers(0, 2**16),  # seed
    st.integers(1, 3),  # batch
    st.integers(1, 4),  # layers
    st.integers(1, 3),  # heads
    st.integers(0, 3),  # prefix tokens
    st.integers(1, 9),  # patches
)
rollout_settings = st.builds(
    RolloutSettings,
    head_fusion=st.sampled_from(["mean", "max", "min"]),
    discard_ratio=st.floats(0.0, 0.95),
    residual_weight=st.floats(0.0, 1.0),
)


# -- hand-computed -----------------------------------------------------------------------------
def test_hand_computed_two_layers_three_tokens():
    # one head, tokens [cls, patch0, patch1], a = 0.5: B1 = 0.5 A1 + 0.5 I, B2 = 0.5 A2 + 0.5 I, R = B2 B1
    a1 = [[0.5, 0.25, 0.25], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]]
    a2 = [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    attention = torch.tensor([a1, a2], device=DEVICE)[None, :, None]  # [1, 2, 1, 3, 3]
    expected = torch.tensor([[0.4125, 0.3, 0.2875], [0.425, 0.4625, 0.1125], [0.05, 0.15, 0.8]], device=DEVICE)
    R = attention_rollout(attention, num_prefix_tokens=1)
    torch.testing.assert_close(R[0], expected)


def test_hand_computed_max_fusion_divides_each_row_by_its_own_sum():
    # heads [[.9,.1],[.3,.7]] and [[.2,.8],[.6,.4]]: max = [[.9,.8],[.6,.7]]; 0.5 max + 0.5 I = [[.95,.4],[.3,.85]]
    # rows sum to 1.35 and 1.15; the keepdim bug (vit-explain #16) would divide column j by row j's sum.
    attention = torch.tensor([[[0.9, 0.1], [0.3, 0.7]], [[0.2, 0.8], [0.6, 0.4]]], device=DEVICE)[None, None]
    R = attention_rollout(attention, RolloutSettings(head_fusion="max"), num_prefix_tokens=0)
    expected = torch.tensor([[19 / 27, 8 / 27], [6 / 23, 17 / 23]], device=DEVICE)
    torch.testing.assert_close(R[0], expected)


def test_hand_computed_discard_keeps_prefix_weight():
    # tokens [cls, p0, p1, p2, p3], ratio 0.5 drops 2 of 4 patch keys per row; cls (0.05) is lowest but kept
    row = torch.tensor([0.05, 0.1, 0.4, 0.15, 0.3], device=DEVICE)
    out = discard_lowest(row[None], 0.5, num_prefix_tokens=1)[0]
    torch.testing.assert_close(out, torch.tensor([0.05, 0.0, 0.4, 0.0, 0.3], device=DEVICE))


def test_discard_at_ties_drops_exactly_the_count_first_keys_first():
    # tokens [cls, p0..p5], ratio 0.5 drops 3 of 6: p0 (lowest) and then two of the four tied 0.2 weights, the first
    # in key order; a uniform row (an untrained model's) drops its first 3 patches, not all of them
    row = torch.tensor([[0.1, 0.05, 0.2, 0.2, 0.25, 0.2, 0.2], [0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]], device=DEVICE)
    out = discard_lowest(row, 0.5, num_prefix_tokens=1)
    expected = torch.tensor([[0.1, 0.0, 0.0, 0.0, 0.25, 0.2, 0.2], [0.4, 0.0, 0.0, 0.0, 0.1, 0.1, 0.1]], device=DEVICE)
    torch.testing.assert_close(out, expected)
    # ratio 0.75 keeps the fewer side (2 of 8 patches): the largest above the cut, then the last of the ties
    row = torch.tensor([[0.2, 0.05, 0.3, 0.1, 0.1, 0.05, 0.1, 0.2, 0.1], [0.1] * 9], device=DEVICE)
    out = discard_lowest(row, 0.75, num_prefix_tokens=1)
    expected = torch.tensor([[0.2, 0, 0.3, 0, 0, 0, 0, 0.2, 0], [0.1, 0, 0, 0, 0, 0, 0, 0.1, 0.1]], device=DEVICE)
    torch.testing.assert_close(out, expected)


def test_start_layer_skips_earlier_layers():
    attention = _random_attention(0, 2, 4, 2, 6)
    late = attention_rollout(attention, RolloutSettings(start_layer=2), num_prefix_tokens=1)
    torch.testing.assert_close(late, attention_rollout(attention[:, 2:], num_prefix_tokens=1))


# -- properties ---------------------------------------------------------------------------------
@FAST
@given(attention_shapes, rollout_settings)
def test_rows_sum_to_one(shape, config):
    seed, batch, layers, heads, prefix, patches = shape
    attention = _random_attention(seed, batch, layers, heads, prefix + patches)
    R = attention_rollout(attention, config, num_prefix_tokens=prefix)
    assert R.shape == (batch, prefix + patches, prefix + patches)
    assert bool((R >= 0).all())
    torch.testing.assert_close(R.sum(-1), torch.ones(batch, prefix + patches, device=DEVICE))


@FAST
@given(attention_shapes, rollout_settings)
def test_identity_attention_gives_identity_rollout(shape, config):
    _, batch, layers, heads, prefix, patches = shape
    tokens = prefix + patches
    attention = torch.eye(tokens, device=DEVICE).expand(batch, layers, heads, tokens, tokens)
    R = attention_rollout(attention, config, num_prefix_tokens=prefix)
    torch.testing.assert_close(R, torch.eye(tokens, device=DEVICE).expand(batch, tokens, tokens))


@FAST
@given(attention_shapes, st.sampled_from(["mean", "max", "min"]), st.floats(0.0, 1.0))
def test_one_layer_equals_fused_residual_mixed_attention(shape, fusion, a):
    seed, batch, _, heads, prefix, patches = shape
    attention = _random_attention(seed, batch, 1, heads, prefix + patches)
    R = attention_rollout(attention, RolloutSettings(head_fusion=fusion, residual_weight=a), num_prefix_tokens=prefix)
    # independent numpy computation
    probs = attention[:, 0].cpu().double().numpy()  # [batch, head, query, key]
    fused = {"mean": probs.mean(1), "max": probs.max(1), "min": probs.min(1)}[fusion]
    mixed = (1 - a) * fused + a * np.eye(prefix + patches)
    expected = mixed / mixed.sum(-1)[..., None]
    np.testing.assert_allclose(R.cpu().double().numpy(), expected, rtol=1e-5, atol=1e-6)


@FAST
@given(attention_shapes, st.floats(0.0, 0.99))
def test_discard_never_touches_prefix_columns(shape, ratio):
    seed, batch, _, heads, prefix, patches = shape
    fused = fuse_heads(_random_attention(seed, batch, 1, heads, prefix + patches)[:, 0])  # [batch, query, key]
    out = discard_lowest(fused, ratio, num_prefix_tokens=prefix)
    torch.testing.assert_close(out[..., :prefix], fused[..., :prefix])
    dropped = (out[..., prefix:] == 0) & (fused[..., prefix:] != 0)
    assert bool((dropped.sum(-1) == int(ratio * patches)).all())
    kept = out[..., prefix:] != 0
    # every kept patch weight is at least as large as every dropped one, per row
    kept_min = torch.where(kept, fused[..., prefix:], torch.inf).amin(-1)
    dropped_max = torch.where(dropped, fused[..., prefix:], -torch.inf).amax(-1)
    assert bool((kept_min >= dropped_max).all())


@FAST
@given(attention_shapes, rollout_settings)
def test_streaming_sink_equals_batch_form(shape, config):
    seed, batch, layers, heads, prefix, patches = shape
    attention = _random_attention(seed, batch, layers, heads, prefix + patches)
    sink = RolloutSink(config, num_prefix_tokens=prefix)
    for layer in range(layers):
        sink(layer, attention[:, layer])
    torch.testing.assert_close(sink.result, attention_rollout(attention, config, num_prefix_tokens=prefix))


@FAST
@given(attention_shapes, rollout_settings)
def test_left_product_is_the_rows_of_the_formed_rollout(shape, config):
    """weights @ R by a row through each factor equals the same rows of the formed R, whatever the chunking."""
    seed, batch, layers, heads, prefix, patches = shape
    attention = _random_attention(seed, batch, layers, heads, prefix + patches)
    sink = RolloutSink(config, num_prefix_tokens=prefix)
    half = layers // 2
    if half:
        sink.fold_layers(list(range(half)), attention[:, :half])
    sink.fold_layers(list(range(half, layers)), attention[:, half:])
    weights = torch.rand(batch, prefix + patches, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    expected = (weights[:, None, :] @ attention_rollout(attention, config, num_prefix_tokens=prefix))[:, 0]
    torch.testing.assert_close(sink.left_product(weights), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sink.left_product(weights), (weights[:, None, :] @ sink.result)[:, 0])


@FAST
@given(attention_shapes, rollout_settings)
def test_batched_equals_per_image(shape, config):
    seed, batch, layers, heads, prefix, patches = shape
    attention = _random_attention(seed, batch, layers, heads, prefix + patches)
    together = attention_rollout(attention, config, num_prefix_tokens=prefix)
    for i in range(batch):
        alone = attention_rollout(attention[i : i + 1], config, num_prefix_tokens=prefix)
        torch.testing.assert_close(together[i : i + 1], alone)


# -- on a model -----------------------------------------------------------------------------------
@cache
def _model(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **kwargs).eval().to(DEVICE)


@pytest.mark.parametrize("start", [0, 3])
def test_sink_during_capture_equals_stored_attention(start):
    model = _model("test_vit", reg_tokens=2)
    pixels = torch.randn(2, 3, 48, 64, device=DEVICE)
    config = RolloutSettings(head_fusion="max", discard_ratio=0.5, start_layer=start)
    sink = RolloutSink(config, num_prefix_tokens=3)
    streamed = capture(model, pixels, sink=sink)
    assert streamed.attention is None
    stored = capture(model, pixels).attention
    torch.testing.assert_close(sink.result, attention_rollout(stored, config, num_prefix_tokens=3))
    assert sink.layers == list(range(start, 6))


# -- settings ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(discard_ratio=1.0),
        dict(discard_ratio=-0.1),
        dict(residual_weight=1.5),
        dict(head_fusion="median"),
        dict(start_layer=-1),
        dict(start_layer=1.5),
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(SettingsError):
        RolloutSettings(**kwargs)


def test_start_layer_beyond_depth_is_refused():
    attention = _random_attention(0, 1, 3, 2, 5)
    with pytest.raises(SettingsError, match="beyond"):
        attention_rollout(attention, RolloutSettings(start_layer=3), num_prefix_tokens=1)
    sink = RolloutSink(RolloutSettings(start_layer=3), num_prefix_tokens=1)
    for layer in range(3):
        sink(layer, attention[:, layer])
    with pytest.raises(SettingsError):
        _ = sink.result


def test_sink_refuses_layers_out_of_order():
    attention = _random_attention(0, 1, 2, 2, 5)
    sink = RolloutSink(num_prefix_tokens=1)
    sink(1, attention[:, 1])
    with pytest.raises(CaptureError):
        sink(0, attention[:, 0])
