"""Distance, entropy, position-embedding similarity, patch-embedding PCA, and analyze() on every layout."""

from __future__ import annotations

import math
import os
from functools import cache

import numpy as np
import pytest
import timm
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from layouts import LAYOUTS, input_for, make_model

from vit_core.attention.capture import capture
from vit_core.errors import NotAvailableError, SettingsError
from vit_core.methods import (
    attention_entropy,
    attention_rollout,
    mean_attention_distance,
    patch_embed_components,
    pos_embed_similarity,
    readout,
)
from vit_core.models.geometry import geometry_of
from vit_core.models.types import Geometry
from vit_core.runs.analysis import AnalysisSink, RolloutSettings, analyze

DEVICE = torch.device(os.environ.get("TORCH_DEVICE", "cpu"))
FAST = settings(max_examples=30, deadline=None)


def _geometry(grid: tuple[int, int], patch: tuple[int, int], prefix: int) -> Geometry:
    return Geometry(
        patch_size=patch,
        grid_size=grid,
        img_size=(grid[0] * patch[0], grid[1] * patch[1]),
        prefix_kinds=("cls",) + ("reg",) * (prefix - 1) if prefix else (),
        no_embed_class=False,
        global_pool="token",
        depth=1,
        num_heads=1,
        embed_dim=8,
    )


# -- mean attention distance ------------------------------------------------------------------------
@FAST
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 16), st.integers(1, 16), st.integers(0, 3))
def test_uniform_attention_distance_is_the_mean_pairwise_distance(gh, gw, ph, pw, prefix):
    g = _geometry((gh, gw), (ph, pw), prefix)
    n = g.num_tokens
    uniform = torch.full((2, 3, 1, n, n), 1.0 / n, device=DEVICE)  # prefix keys too: renormalisation removes them
    got = mean_attention_distance(uniform, g)
    # closed form, independently: the mean over all ordered pairs of patch centres
    centres = [((i + 0.5) * ph, (j + 0.5) * pw) for i in range(gh) for j in range(gw)]
    total = 0.0
    for y1, x1 in centres:
        for y2, x2 in centres:
            total += math.hypot(y1 - y2, x1 - x2)
    expected = total / len(centres) ** 2
    assert got.shape == (2, 3, 1)
    np.testing.assert_allclose(got.cpu().numpy(), expected, rtol=1e-5, atol=1e-4)


def test_one_hot_attention_distances():
    g = _geometry((3, 4), (16, 8), 1)  # patches 16 px tall, 8 px wide
    n = g.num_tokens
    to_self = torch.eye(n, device=DEVICE)
    assert float(mean_attention_distance(to_self, g)) == 0.0
    # every patch query attends to patch (0, 0) only: distance from each centre to (8, 4)
    to_corner = torch.zeros(n, n, device=DEVICE)
    to_corner[:, g.patch_token(0, 0)] = 1.0
    expected = np.mean([math.hypot(16 * r, 8 * c) for r in range(3) for c in range(4)])
    np.testing.assert_allclose(float(mean_attention_distance(to_corner, g)), expected, rtol=1e-6)


def test_entropy_closed_forms():
    n = 7
    uniform = torch.full((1, 2, n, n), 1.0 / n, device=DEVICE)
    torch.testing.assert_close(attention_entropy(uniform), torch.full((1, 2), math.log(n), device=DEVICE))
    one_hot = torch.eye(n, device=DEVICE).expand(1, 2, n, n)
    torch.testing.assert_close(attention_entropy(one_hot), torch.zeros(1, 2, device=DEVICE))


def test_entropy_matches_a_float64_reference_with_zero_weights():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 9, 9, generator=generator, dtype=torch.float64)
    logits[..., ::2] = float("-inf")  # exact zeros in every row, as masking or a saturated softmax gives
    probs = logits.softmax(dim=-1)
    reference = -torch.where(probs > 0, probs * probs.log(), 0.0).sum(-1).mean(-1)  # [batch, head]
    got = attention_entropy(probs.float().to(DEVICE))
    torch.testing.assert_close(got.double().cpu(), reference, rtol=1e-5, atol=1e-6)
    # from the logits, masked entries at float32's lowest value as the capture hands them over
    logits = logits.float().clamp_min(torch.finfo(torch.float32).min)
    from_logits = attention_entropy(probs.float().to(DEVICE), logits.to(DEVICE))
    torch.testing.assert_close(from_logits.double().cpu(), reference, rtol=1e-5, atol=1e-5)


def test_distance_refuses_attention_of_another_input():
    with pytest.raises(SettingsError):
        mean_attention_distance(torch.ones(1, 1, 5, 5), _geometry((3, 3), (16, 16), 1))


# -- position embeddings ------------------------------------------------------------------------------
@cache
def _model(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **kwargs).eval().to(DEVICE)


def _embeddings_the_model_adds(model: torch.nn.Module, size: tuple[int, int]) -> torch.Tensor:
    """Zero the patch embedding and read what the model adds to the patch tokens: [gh * gw, dim]."""
    seen = []
    h1 = model.patch_embed.register_forward_hook(lambda m, a, out: torch.zeros_like(out))
    h2 = model.pos_drop.register_forward_hook(lambda m, a, out: seen.append(out))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *size, device=DEVICE))
    finally:
        h1.remove()
        h2.remove()
    return seen[0][0, model.num_prefix_tokens :]


@pytest.mark.parametrize(
    "kwargs, size",
    [
        ({}, (224, 224)),  # trained grid, class token
        ({}, (96, 160)),  # resampled to a non-square grid
        ({"no_embed_class": True, "reg_tokens": 4}, (224, 224)),
        ({"no_embed_class": True, "reg_tokens": 4}, (64, 48)),
        ({"reg_tokens": 2}, (80, 80)),  # prefix entries in the table, resampled
    ],
)
def test_pos_embed_similarity_uses_what_the_model_adds(kwargs, size):
    model = _model("test_vit", **kwargs)
    grid = geometry_of(model, size).grid_size
    S = pos_embed_similarity(model, grid)
    assert S.shape == (*grid, *grid)
    e = torch.nn.functional.normalize(_embeddings_the_model_adds(model, size).float(), dim=-1)
    torch.testing.assert_close(S.reshape(grid[0] * grid[1], -1), e @ e.T, rtol=1e-4, atol=1e-5)


@FAST
@given(st.integers(1, 9), st.integers(1, 9))
def test_self_cosine_similarity_is_one(gh, gw):
    S = pos_embed_similarity(_model("test_vit"), (gh, gw))
    eye = torch.arange(gh * gw, device=S.device)
    diagonal = S.reshape(gh * gw, gh * gw)[eye, eye]
    torch.testing.assert_close(diagonal, torch.ones_like(diagonal))
    torch.testing.assert_close(S, S.permute(2, 3, 0, 1))
    assert bool((S.abs() <= 1 + 1e-5).all())


def test_no_learned_position_embedding_is_not_available():
    model = _model("test_vit", pos_embed="none")
    with pytest.raises(NotAvailableError, match="position"):
        pos_embed_similarity(model)
    arrays = analyze(model, torch.randn(1, 3, 32, 32, device=DEVICE), relevance=False)
    assert arrays.pos_embed_similarity is None


# -- patch-embedding filters -----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, patch", [({}, 16), ({"patch_size": 8, "img_size": 64}, 8)])
def test_patch_embed_components_match_numpy(kwargs, patch):
    model = _model("test_vit", **kwargs)
    components, ratio = patch_embed_components(model, k=10)
    assert components.shape == (10, 3, patch, patch) and ratio.shape == (10,)
    E = model.patch_embed.proj.weight.detach().double().cpu().numpy().reshape(64, -1)
    Ec = E - E.mean(0)
    _, s, vh = np.linalg.svd(Ec, full_matrices=False)
    got = components.reshape(10, -1).double().cpu().numpy()
    np.testing.assert_allclose(np.abs(got @ vh[:10].T), np.eye(10), atol=1e-4)  # same directions, up to sign
    np.testing.assert_allclose(ratio.cpu().numpy(), (s**2 / (s**2).sum())[:10], rtol=1e-4, atol=1e-7)
    assert bool((ratio[:-1] >= ratio[1:]).all())


def test_all_components_reconstruct_the_centred_filters():
    model = _model("test_vit")
    components, ratio = patch_embed_components(model, k=1000)  # more than exist: all 64 come back
    assert components.shape[0] == 64
    torch.testing.assert_close(ratio.sum(), torch.tensor(1.0, device=ratio.device))
    V = components.reshape(64, -1)
    E = model.patch_embed.proj.weight.detach().float().reshape(64, -1)
    Ec = E - E.mean(0)
    torch.testing.assert_close(Ec @ V.T @ V, Ec, rtol=1e-3, atol=1e-5)
    with pytest.raises(SettingsError):
        patch_embed_components(model, k=0)


# -- analyze -------------------------------------------------------------------------------------------
PER_IMAGE = [
    "pixel_values",
    "logits",
    "attention",
    "rollout",
    "prefix_weights",
    "relevance",
    "cls_attention",
    "mean_attention_distance",
    "attention_entropy",
]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_analyze_every_layout(layout):
    model = make_model(layout, DEVICE)
    pixels = input_for(model, batch=2, device=DEVICE)
    if model.dynamic_img_size:  # fewer tokens, same layout
        ph, pw = model.patch_embed.patch_size
        pixels = pixels[..., : 4 * ph, : 3 * pw]
    config = RolloutSettings(head_fusion="max", discard_ratio=0.5, start_layer=1)
    arrays = analyze(model, pixels, rollout=config, pcs_k=5)
    g = geometry_of(model, tuple(pixels.shape[-2:]))
    B, L, H, N = 2, g.depth, g.num_heads, g.num_tokens
    gh, gw = g.grid_size
    shapes = {
        "pixel_values": (B, 3, *pixels.shape[-2:]),
        "logits": (B, model.num_classes),
        "attention": (B, L, H, N, N),
        "num_prefix_tokens": (),
        "grid_size": (2,),
        "patch_size": (2,),
        "rollout": (B, gh, gw),
        "prefix_weights": (B, g.num_prefix_tokens),
        "relevance": (B, gh, gw),
        "relevance_target": (B,),
        "mean_attention_distance": (B, L, H),
        "attention_entropy": (B, L, H),
        "pos_embed_similarity": (gh, gw, gh, gw),
        "patch_embed_pcs": (5, 3, *g.patch_size),
        "patch_embed_pcs_variance": (5,),
    }
    if g.has_class_token:
        shapes["cls_attention"] = (B, L, H, gh, gw)
    if g.global_pool == "map":  # kept with the attention: the readout of another rollout needs it
        keys = N if model.pool_include_prefix else g.num_patches
        shapes["pool_attention"] = (B, model.attn_pool.num_heads, model.attn_pool.latent_len, keys)
    assert {k: v.shape for k, v in arrays.arrays().items()} == shapes
    for key, value in arrays.arrays().items():
        expected = (
            np.int64 if key in ("num_prefix_tokens", "grid_size", "patch_size", "relevance_target") else np.float32
        )
        assert value.dtype == expected, key
        assert np.isfinite(value).all(), key
    assert int(arrays.num_prefix_tokens) == g.num_prefix_tokens
    assert tuple(arrays.grid_size) == g.grid_size and tuple(arrays.patch_size) == g.patch_size

    # the streamed reductions equal the stored-attention methods
    cap = capture(model, pixels)
    att = cap.attention
    np.testing.assert_allclose(arrays.attention, att.cpu().numpy())
    if cap.pool_attention is not None:
        np.testing.assert_allclose(arrays.pool_attention, cap.pool_attention.float().cpu().numpy())
    R = attention_rollout(att, config, num_prefix_tokens=g.num_prefix_tokens)
    heat, prefix = readout(R, g, pool_attention=cap.pool_attention, pool_include_prefix=model.pool_include_prefix)
    np.testing.assert_allclose(arrays.rollout, heat.cpu().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays.prefix_weights, prefix.cpu().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays.rollout.sum((1, 2)) + arrays.prefix_weights.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        arrays.mean_attention_distance, mean_attention_distance(att, g).cpu().numpy(), rtol=1e-5
    )
    # streamed entropy (from the logits) equals the entropy of the stored probabilities
    np.testing.assert_allclose(arrays.attention_entropy, attention_entropy(att).cpu().numpy(), rtol=1e-4, atol=1e-5)
    assert (arrays.relevance_target == arrays.logits.argmax(-1)).all()

    # batched equals per-image (relevance: see test_methods_relevance.py)
    alone = analyze(model, pixels[1:], rollout=config, pcs_k=5, relevance=False)
    for key in PER_IMAGE:
        if getattr(alone, key) is not None:
            np.testing.assert_allclose(getattr(arrays, key)[1:], getattr(alone, key), rtol=1e-4, atol=1e-5, err_msg=key)


def test_analyze_without_attention_or_relevance():
    model = _model("test_vit", reg_tokens=1)
    arrays = analyze(model, torch.randn(1, 3, 48, 32, device=DEVICE), attention="none", relevance=False)
    assert arrays.attention is None and arrays.relevance is None
    assert arrays.cls_attention.shape == (1, 6, 2, 3, 2)


@pytest.mark.parametrize("chunk_bytes", [0, 1, 3 * 4 * 2 * 7 * 7 * 4, 1 << 30])
def test_chunked_reduction_equals_layer_by_layer(chunk_bytes):
    """Reducing several layers in one batched call (the GPU path) gives the per-layer results."""
    model = _model("test_vit", reg_tokens=1)
    pixels = torch.randn(3, 3, 48, 32, device=DEVICE)
    g = geometry_of(model, (48, 32))
    settings = RolloutSettings(start_layer=2, discard_ratio=0.3)
    reference, chunked = AnalysisSink(g, settings, keep_attention=False, chunk_bytes=0), AnalysisSink(
        g, settings, keep_attention=False, chunk_bytes=chunk_bytes
    )
    capture(model, pixels, sink=reference)
    capture(model, pixels, sink=chunked)
    assert chunked.rollout.layers == reference.rollout.layers == [2, 3, 4, 5]
    torch.testing.assert_close(chunked.rollout.result, reference.rollout.result)
    for name in ("distance", "entropy", "cls_attention"):
        torch.testing.assert_close(getattr(chunked, name), getattr(reference, name), msg=name)
    assert chunked.distance.shape == (3, g.depth, g.num_heads)


def test_analyze_without_pixels():
    model = _model("test_vit")
    arrays = analyze(model, torch.randn(1, 3, 32, 32, device=DEVICE), relevance=False, keep_pixels=False)
    assert arrays.pixel_values is None and arrays.rollout is not None


def test_analyze_refuses_a_start_layer_beyond_depth():
    with pytest.raises(SettingsError, match="beyond"):
        analyze(_model("test_vit"), torch.randn(1, 3, 32, 32, device=DEVICE), rollout=RolloutSettings(start_layer=6))
