"""Class-specific relevance (Chefer et al. 2021): the gradient rule against hand-written autograd."""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import pytest
import timm
import torch
from layouts import LAYOUTS, input_for, make_model

from vit_core.attention.capture import AttentionCapture
from vit_core.errors import SettingsError
from vit_core.methods import class_relevance, relevance_from_gradients

DEVICE = torch.device(os.environ.get("TORCH_DEVICE", "cpu"))


@cache
def _two_layer() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("test_vit", pretrained=False, depth=2, reg_tokens=1).eval().to(DEVICE)


def _hand_relevance(model: torch.nn.Module, pixels: torch.Tensor, target: list[int]) -> np.ndarray:
    """Timm's own non-fused path, gradients via retain_grad, the rule written out per image and head."""
    probs: list[torch.Tensor] = []

    def keep(module, args, output):
        output.retain_grad()
        probs.append(output)

    handles = []
    for block in model.blocks:
        block.attn.fused_attn = False
        handles.append(block.attn.attn_drop.register_forward_hook(keep))
    try:
        logits = model(pixels)
        logits[torch.arange(len(target)), torch.tensor(target)].sum().backward()
    finally:
        for handle in handles:
            handle.remove()
        for block in model.blocks:
            block.attn.fused_attn = True
        model.zero_grad(set_to_none=True)
    batch, heads, tokens, _ = probs[0].shape
    out = np.zeros((batch, tokens, tokens))
    for b in range(batch):
        R = np.eye(tokens)
        for A in probs:  # forward order
            a = A[b].detach().double().cpu().numpy()
            g = A.grad[b].double().cpu().numpy()
            abar = sum(np.maximum(g[h] * a[h], 0.0) for h in range(heads)) / heads
            R = R + abar @ R
        out[b] = R
    return out


def test_gradient_rule_matches_hand_written_autograd():
    model = _two_layer()
    pixels = torch.randn(3, 3, 32, 48, device=DEVICE)
    targets = [5, 17, 999]
    rel = class_relevance(model, pixels, target_class=targets, keep_matrix=True)
    expected = _hand_relevance(model, pixels, targets)
    np.testing.assert_allclose(rel.matrix.double().cpu().numpy(), expected, rtol=1e-4, atol=1e-7)
    assert rel.target_class.tolist() == targets
    # class-token model: the heatmap is the class row over the patches
    np.testing.assert_allclose(rel.heatmap.flatten(1).cpu().numpy(), expected[:, 0, 2:], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(rel.prefix_weights.cpu().numpy(), expected[:, 0, :2], rtol=1e-4, atol=1e-7)


def test_layer_order_matters_so_a_swap_would_be_caught():
    model = _two_layer()
    pixels = torch.randn(1, 3, 32, 48, device=DEVICE)
    expected = _hand_relevance(model, pixels, [3])
    rel = class_relevance(model, pixels, target_class=3, keep_matrix=True)
    np.testing.assert_allclose(rel.matrix.double().cpu().numpy(), expected, rtol=1e-4, atol=1e-7)
    # the same gradients paired with the other layer's attention (vit-explain #6) give a different answer
    inputs = pixels.clone().requires_grad_(True)
    with AttentionCapture(model, with_grad=True) as cap:
        logits = model(inputs)
    probs = cap.attention_list
    grads = list(torch.autograd.grad(logits[:, 3].sum(), probs))
    right = relevance_from_gradients(probs, grads)
    wrong = relevance_from_gradients(probs, grads[::-1])  # backward-hook order zipped with forward order
    np.testing.assert_allclose(right.double().cpu().numpy(), expected, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(right, wrong, rtol=1e-4, atol=1e-6)


def test_default_target_is_top1_and_parameters_get_no_grad():
    model = _two_layer()
    pixels = torch.randn(2, 3, 32, 32, device=DEVICE)
    rel = class_relevance(model, pixels, keep_matrix=True)
    assert rel.target_class.tolist() == rel.logits.argmax(-1).tolist()
    assert all(p.grad is None for p in model.parameters())
    other = class_relevance(model, pixels, target_class=(rel.target_class + 1) % 1000, keep_matrix=True)
    assert not torch.allclose(rel.heatmap, other.heatmap)


def test_works_with_frozen_parameters_and_under_no_grad():
    model = _two_layer()
    pixels = torch.randn(1, 3, 32, 32, device=DEVICE)
    expected = class_relevance(model, pixels, keep_matrix=True).matrix
    model.requires_grad_(False)
    try:
        with torch.no_grad():
            got = class_relevance(model, pixels, keep_matrix=True).matrix
    finally:
        model.requires_grad_(True)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("target", [-1, 1000, [1, 2, 3]])
def test_bad_targets_are_refused(target):
    with pytest.raises(SettingsError):
        class_relevance(_two_layer(), torch.randn(2, 3, 32, 32, device=DEVICE), target_class=target)


def test_training_mode_is_refused():
    model = _two_layer()
    model.train()
    try:
        with pytest.raises(SettingsError, match="eval"):
            class_relevance(model, torch.randn(1, 3, 32, 32, device=DEVICE), keep_matrix=True)
    finally:
        model.eval()


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_batched_equals_per_image(layout):
    model = make_model(layout, DEVICE)
    pixels = input_for(model, batch=2, device=DEVICE)
    if model.dynamic_img_size:  # fewer tokens, same layout: keeps the test fast
        ph, pw = model.patch_embed.patch_size
        pixels = pixels[..., : 4 * ph, : 5 * pw]
    rel = class_relevance(model, pixels, target_class=[1, 2], keep_matrix=True)
    g = rel.geometry
    assert rel.heatmap.shape == (2, *g.grid_size)
    assert rel.prefix_weights.shape == (2, g.num_prefix_tokens)
    assert torch.isfinite(rel.matrix).all()
    assert bool((rel.matrix >= 0).all())  # a sum of products of non-negative matrices
    # the second image alone (a batch mix-up or a per-batch reduction would change it)
    alone = class_relevance(model, pixels[1:], target_class=2, keep_matrix=True)
    torch.testing.assert_close(rel.heatmap[1:], alone.heatmap, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(rel.prefix_weights[1:], alone.prefix_weights, rtol=1e-4, atol=1e-6)


def test_attention_pool_weights_get_the_gradient_rule():
    """A "map"-pooled model: the pool's weights enter the readout as clamp(dy_c/dA * A, 0), with dy_c/dA from
    a hand-written pool forward (its attention as an explicit tensor in the graph) through timm's own head."""
    from vit_core.methods import readout

    model = make_model("attention_pool", DEVICE)
    pixels = input_for(model, batch=2, device=DEVICE)
    target = [1, 3]
    rel = class_relevance(model, pixels, target_class=target, keep_matrix=True)

    tokens: list[torch.Tensor] = []
    handle = model.attn_pool.register_forward_pre_hook(lambda m, args: tokens.append(args[0].detach()))
    with torch.no_grad():
        model(pixels)
    handle.remove()
    pool, x = model.attn_pool, tokens[0]
    batch, n, dim = x.shape
    if pool.pos_embed is not None:
        x = x + pool.pos_embed.unsqueeze(0)
    with torch.enable_grad():
        q = pool.q(pool.latent.expand(batch, -1, -1)).reshape(batch, pool.latent_len, pool.num_heads, pool.head_dim)
        k, v = pool.kv(x).reshape(batch, n, 2, pool.num_heads, pool.head_dim).permute(2, 0, 3, 1, 4)
        q, k = pool.q_norm(q.transpose(1, 2)), pool.k_norm(k)
        weights = ((q * pool.scale) @ k.transpose(-2, -1)).softmax(-1).detach().requires_grad_(True)
        out = (weights @ v).transpose(1, 2).reshape(batch, pool.latent_len, dim)
        out = pool.proj(out)
        if pool.mlp is not None:
            out = out + pool.mlp(pool.norm(out))
        pooled = out[:, 0] if pool.pool == "token" else out.mean(1)
        logits = model.head(model.head_drop(model.fc_norm(pooled)))
        torch.testing.assert_close(logits.detach(), rel.logits, rtol=1e-4, atol=1e-5)  # the same network
        grad = torch.autograd.grad(logits.gather(1, torch.tensor(target, device=DEVICE)[:, None]).sum(), weights)[0]
    expected, _ = readout(rel.matrix, rel.geometry, pool_attention=(grad * weights).clamp(min=0).detach())
    torch.testing.assert_close(rel.heatmap, expected, rtol=1e-4, atol=1e-6)
    ungraded, _ = readout(rel.matrix, rel.geometry, pool_attention=weights.detach())
    assert not torch.allclose(rel.heatmap, ungraded, rtol=1e-3)  # the raw pool weights would give another map
