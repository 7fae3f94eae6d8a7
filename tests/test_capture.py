"""Capture keeps the fused forward bit-for-bit and rebuilds exactly what timm's non-fused path computes."""

from __future__ import annotations

import copy
import threading

import pytest
import timm
import torch
from layouts import LAYOUTS, input_for, make_model

from vit_core.attention.capture import AttentionCapture, attention_modules, capture
from vit_core.errors import CaptureError, UnsupportedModelError


def reference_attention(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """timm's own non-fused path on a copy: (logits, attention [batch, layer, head, query, key])."""
    eager = copy.deepcopy(model)
    seen: list[torch.Tensor] = []
    for block in eager.blocks:
        block.attn.fused_attn = False
        block.attn.attn_drop.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        logits = eager(x)
    return logits, torch.stack(seen, dim=1)


def reference_pool_attention(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """An attention-pool head's weights, computed by hand from its own layers."""
    pool = model.attn_pool
    inputs: list[torch.Tensor] = []
    handle = pool.register_forward_pre_hook(lambda m, args: inputs.append(args[0]))
    with torch.no_grad():
        model(x)
    handle.remove()
    tokens = inputs[0]
    batch, n, _ = tokens.shape
    if pool.pos_embed is not None:
        tokens = tokens + pool.pos_embed.unsqueeze(0)
    q = pool.q(pool.latent.expand(batch, -1, -1)).reshape(batch, pool.latent_len, pool.num_heads, pool.head_dim)
    k = pool.kv(tokens).reshape(batch, n, 2, pool.num_heads, pool.head_dim).permute(2, 0, 3, 1, 4)[0]
    q, k = pool.q_norm(q.transpose(1, 2)), pool.k_norm(k)
    return ((q * pool.scale) @ k.transpose(-2, -1)).softmax(-1)


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_capture_matches_non_fused_reference_and_keeps_logits(layout, device):
    model = make_model(layout, device)
    x = input_for(model, device=device)
    assert all(block.attn.fused_attn for block in model.blocks), "the fast path must stay on"
    with torch.no_grad():
        plain = model(x)
    result = capture(model, x)
    ref_logits, ref_attention = reference_attention(model, x)

    assert torch.equal(result.logits, plain.float()), "capture changed the prediction"
    assert result.attention.shape == ref_attention.shape
    torch.testing.assert_close(result.attention, ref_attention, atol=1e-5, rtol=0)
    torch.testing.assert_close(result.attention.sum(-1), torch.ones_like(result.attention[..., 0]), atol=1e-5, rtol=0)
    geometry = result.geometry
    assert result.attention.shape[-1] == geometry.num_tokens
    assert result.attention.shape[1:3] == (geometry.depth, geometry.num_heads)
    assert hook_count(model) == 0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_capture_uses_the_kernels_q_and_k_without_rounding(dtype, device):
    """In half precision the rebuilt probabilities are softmax of the exact products of the half q and k the
    fused kernel received (float64 reference from the same q, k), not of a half-rounded q k^T."""
    model = make_model("class_token", device).to(dtype)
    x = input_for(model, device=device).to(dtype)
    seen: dict[str, torch.Tensor] = {}
    attn = model.blocks[1].attn
    handles = [
        attn.q_norm.register_forward_hook(lambda m, a, out: seen.setdefault("q", out)),
        attn.k_norm.register_forward_hook(lambda m, a, out: seen.setdefault("k", out)),
    ]
    try:
        result = capture(model, x, layers=[1])
    finally:
        for handle in handles:
            handle.remove()
    q, k = seen["q"].double(), seen["k"].double()
    expected = ((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5).softmax(-1)
    assert result.attention.dtype == torch.float32
    torch.testing.assert_close(result.attention[:, 0].double(), expected, atol=2e-6, rtol=0)


def test_geometry_reads_every_prefix_layout():
    cases = {
        "class_token": ("cls",),
        "distilled": ("cls", "dist"),
        "registers_gap": ("reg",),
        "no_embed_class_registers": ("cls", "reg", "reg", "reg", "reg"),
    }
    for layout, kinds in cases.items():
        geometry = capture(make_model(layout), input_for(make_model(layout), batch=1)).geometry
        assert geometry.prefix_kinds == kinds, layout
    assert capture(make_model("non_square_input"), input_for(make_model("non_square_input"), 1)).geometry.grid_size == (
        6,
        10,
    )


def test_attention_pool_weights_match_hand_computation(device):
    model = make_model("attention_pool", device)
    x = input_for(model, device=device)
    result = capture(model, x)
    assert result.geometry.global_pool == "map"
    expected = reference_pool_attention(model, x)
    assert result.pool_attention.shape == expected.shape
    torch.testing.assert_close(result.pool_attention, expected, atol=1e-5, rtol=0)


def test_dynamic_input_size_larger_than_training(device):
    model = make_model("class_token", device)  # test_vit has dynamic_img_size=True, trained size 160
    x = torch.randn(1, 3, 224, 288, device=device)
    result = capture(model, x)
    assert result.geometry.grid_size == (14, 18)
    _, ref = reference_attention(model, x)
    torch.testing.assert_close(result.attention, ref, atol=1e-5, rtol=0)


def test_layer_subset_and_streaming_sink(device):
    model = make_model("class_token", device)
    x = input_for(model, device=device)
    full = capture(model, x).attention
    subset = capture(model, x, layers=[4, 1])
    assert subset.layers == (1, 4)
    torch.testing.assert_close(subset.attention, full[:, [1, 4]])
    streamed: dict[int, torch.Tensor] = {}
    result = capture(model, x, sink=lambda layer, probs: streamed.__setitem__(layer, probs))
    assert result.attention is None and sorted(streamed) == list(range(6))
    torch.testing.assert_close(torch.stack([streamed[i] for i in range(6)], 1), full)


def test_with_grad_path_equals_fused_and_reference(device):
    model = make_model("qk_norm", device)
    x = input_for(model, device=device)
    with torch.no_grad():
        plain = model(x)
    with AttentionCapture(model, with_grad=True) as cap:
        logits = model(x)
    _, ref = reference_attention(model, x)
    torch.testing.assert_close(logits, plain, atol=1e-5, rtol=1e-5)
    attention = cap.attention_list
    assert all(a.requires_grad for a in attention)
    torch.testing.assert_close(torch.stack(attention, 1).detach(), ref, atol=1e-5, rtol=0)
    grads = torch.autograd.grad(logits[:, 0].sum(), attention)
    assert all(g.shape == a.shape and g.abs().sum() > 0 for g, a in zip(grads, attention, strict=True))
    assert hook_count(model) == 0


def test_capture_without_forward_raises_instead_of_returning_nothing():
    model = make_model("class_token")
    with AttentionCapture(model) as cap:
        pass
    with pytest.raises(CaptureError, match="no attention was captured"):
        _ = cap.attention


def test_hooks_removed_when_forward_raises_midway():
    model = make_model("class_token")

    def explode(module, args, output):
        raise RuntimeError("boom in block 3")

    bomb = model.blocks[3].register_forward_hook(explode)
    with pytest.raises(RuntimeError, match="boom"):
        with AttentionCapture(model):
            model(input_for(model, batch=1))
    bomb.remove()
    assert hook_count(model) == 0


def test_bad_layer_index_is_a_clear_error():
    with pytest.raises(CaptureError, match="layers 0 to 5"):
        AttentionCapture(make_model("class_token"), layers=[6])


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("test_vit_relpos", {}),
        ("eva02_tiny_patch14_224", {"depth": 2, "img_size": 56}),
        ("beit_base_patch16_224", {"depth": 1, "embed_dim": 64, "num_heads": 2, "img_size": 32}),
        ("test_resnet", {}),
    ],
)
def test_other_families_are_refused_not_mis_captured(name, kwargs):
    model = timm.create_model(name, pretrained=False, **kwargs)
    with pytest.raises(UnsupportedModelError):
        attention_modules(model)


def test_concurrent_threads_share_one_model_and_each_get_their_own_result():
    model = make_model("registers_gap")
    inputs = [torch.randn(1, 3, 160, 160, generator=torch.Generator().manual_seed(i)) for i in range(8)]
    expected = [capture(model, x) for x in inputs]
    failures: list[str] = []
    barrier = threading.Barrier(8)

    def worker(index: int) -> None:
        barrier.wait()
        for _ in range(5):
            got = capture(model, inputs[index])
            if not (torch.equal(got.logits, expected[index].logits) and torch.allclose(
                got.attention, expected[index].attention, atol=1e-6
            )):
                failures.append(f"thread {index} got another image's result")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert hook_count(model) == 0


def test_kept_for_gradients_without_a_sink_holds_q_k_v_and_no_probabilities():
    """What streamed relevance and LeGrad open: memory that grows with the tokens, so no layer's [head, query,
    key] is rebuilt or kept (it was, for every layer); the rows rebuilt from the kept q and k are timm's own."""
    from vit_core.attention.capture import fused_scale
    from vit_core.attention.store import attention_rows

    model = make_model("registers_gap")
    x = input_for(model)
    _, expected = reference_attention(model, x)
    with torch.enable_grad(), AttentionCapture(model, keep_for_gradients=True) as cap:
        model(x.detach().requires_grad_(True))
    with pytest.raises(CaptureError, match="not the probabilities"):
        _ = cap.attention
    assert not any(t.dim() == 4 and t.shape[-1] == t.shape[-2] == expected.shape[-1] for t in cap._stored.values())
    for layer, (module, (q, k, _)) in enumerate(zip(attention_modules(model), cap.qkv, strict=True)):
        _, rows = attention_rows(q, k, fused_scale(module, q), slice(3, 9))
        torch.testing.assert_close(rows, expected[:, layer, :, 3:9], atol=1e-6, rtol=1e-5)
