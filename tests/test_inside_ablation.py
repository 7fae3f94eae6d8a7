"""Heads and tokens switched off: each checked against a computation done another way."""

from __future__ import annotations

import pytest
import timm
import torch

from tests.layouts import LAYOUTS as KNOWN_LAYOUTS
from tests.layouts import input_for
from vit_core.attention.capture import eager_attention
from vit_core.errors import SettingsError
from vit_core.inside.ablation import (
    Ablating,
    _copy_bytes,
    ablated_forward,
    head_importance,
    head_means,
    parse_heads,
)

# the layouts of tests/layouts.py that differ in their tokens: class token, distillation token, registers with
# average pooling, no class token (attention pool), registers without class position embedding, DINOv2's head
LAYOUTS = ["class_token", "distilled", "registers_gap", "attention_pool", "no_embed_class_registers",
           "class_and_mean_registers"]


def _model(layout):
    """The layout's tiny model with every layer scale at 1 (timm's 1e-5 init would hide what the heads do, and a
    check at 1e-4 would pass whatever they did), at 64 px (16 patches: the per-head reference loops stay cheap)."""
    name, kwargs = KNOWN_LAYOUTS[layout]
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, **{**kwargs, "img_size": 64}).eval()
    with torch.no_grad():
        for block in model.blocks:
            for scale in (block.ls1, block.ls2):
                if hasattr(scale, "gamma"):
                    scale.gamma.fill_(1.0)
    return model


def _manual_forward(model, pixel_values, heads, fill):
    """The forward written out with timm's eager attention and the head's slice replaced by hand: the reference."""
    x = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(pixel_values))))
    for layer, block in enumerate(model.blocks):
        attn = block.attn
        h = block.norm1(x)
        batch, tokens, _ = h.shape
        qkv = attn.qkv(h).reshape(batch, tokens, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = attn.q_norm(q), attn.k_norm(k)
        probs = ((q * attn.head_dim**-0.5) @ k.transpose(-2, -1)).softmax(-1)
        out = (probs @ v).transpose(1, 2)  # [batch, token, head, head_dim]
        for lay, head in heads:
            if lay == layer:
                out[:, :, head] = fill(layer, head, tokens)
        x = x + block.ls1(attn.proj(out.reshape(batch, tokens, -1)))
        x = x + block.ls2(block.mlp(block.norm2(x)))
    return model.forward_head(model.norm(x))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_zero_and_mean_ablation_match_a_hand_written_forward(layout):
    model = _model(layout)
    x = input_for(model, batch=2)
    depth, nh = len(model.blocks), model.blocks[0].attn.num_heads
    heads = [(0, nh - 1), (depth - 1, 0)]
    reference = input_for(model, batch=3) * 0.5 + 0.1
    means = head_means(model, reference)
    hd = model.blocks[0].attn.head_dim
    with torch.no_grad():
        zero = _manual_forward(model, x, heads, lambda layer, head, n: 0.0)
        mean = _manual_forward(model, x, heads, lambda layer, head, n: means[layer].reshape(n, nh, hd)[:, head])
        clean = model(x)
    got_zero = ablated_forward(model, x, heads, mode="zero")
    got_mean = ablated_forward(model, x, heads, mode="mean", means=means)
    torch.testing.assert_close(got_zero, zero, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got_mean, mean, atol=1e-4, rtol=1e-4)
    assert (got_zero - clean).abs().max() > 0.01 * clean.abs().max()  # the ablation changed something


def test_head_means_are_the_mean_over_images_per_position():
    model = _model("class_token")
    reference = input_for(model, batch=5)
    means = head_means(model, reference, batch_size=2)  # two chunks and a remainder
    seen = []
    with torch.no_grad():
        x = model.norm_pre(model._pos_embed(model.patch_embed(reference)))
        for block in model.blocks:
            h = block.norm1(x)
            out, _ = eager_attention(block.attn, h)  # the attention output after proj; undo proj to compare
            seen.append(out)
            x = block(x)
    for layer, block in enumerate(model.blocks):
        projected = block.attn.proj(means[layer])  # proj is affine: proj(mean) = mean(proj)
        torch.testing.assert_close(projected, seen[layer].mean(dim=0), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_head_importance_equals_one_forward_per_head(layout, mode):
    model = _model(layout)
    x = input_for(model, batch=2)
    means = head_means(model, input_for(model, batch=3) + 0.3) if mode == "mean" else None
    # a tiny budget: one copy per chunk, so chunking is exercised
    got = head_importance(model, x, mode=mode, reference=means, budget_bytes=1)
    with torch.no_grad():
        clean = model(x)
    top = clean.argmax(-1)
    depth, nh = len(model.blocks), model.blocks[0].attn.num_heads
    want = torch.empty(2, depth, nh)
    for layer in range(depth):
        for head in range(nh):
            logits = ablated_forward(model, x, [(layer, head)], mode=mode, means=means)
            want[:, layer, head] = clean.gather(1, top[:, None])[:, 0] - logits.gather(1, top[:, None])[:, 0]
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert want.abs().max() > 0.01 * clean.abs().max()


@pytest.mark.parametrize("layout", ["class_token", "registers_gap"])
def test_head_importance_of_a_batch_equals_one_image_at_a_time(layout):
    model = _model(layout)
    x = input_for(model, batch=3)
    means = head_means(model, input_for(model, batch=2) + 0.3)
    whole = head_importance(model, x, mode="mean", reference=means)  # every copy of a layer in one chunk
    tokens = model.num_prefix_tokens + model.patch_embed.num_patches
    two_copies = 2 * _copy_bytes(model, tokens)  # a layer's 3 x heads copies in chunks of 2
    torch.testing.assert_close(head_importance(model, x, mode="mean", reference=means, budget_bytes=two_copies),
                               whole, atol=1e-4, rtol=1e-4)
    single = torch.cat([head_importance(model, x[i:i + 1], mode="mean", reference=means) for i in range(3)])
    torch.testing.assert_close(single, whole, atol=1e-4, rtol=1e-4)


def test_head_importance_reads_the_given_target():
    model = _model("class_token")
    x = input_for(model, batch=2)
    target = 7
    got = head_importance(model, x, target=target, mode="zero")
    with torch.no_grad():
        clean = model(x)[:, target]
    ablated = ablated_forward(model, x, [(1, 0)], mode="zero")[:, target]
    torch.testing.assert_close(got[:, 1, 0], clean - ablated, atol=1e-4, rtol=1e-4)


def test_masked_token_is_never_attended_and_analyze_sees_it():
    from vit_core.runs.analysis import analyze

    model = _model("class_token")
    x = input_for(model, batch=1)
    blocked = 5  # a patch token (class token is 0)
    with Ablating(model, masked_tokens=[blocked]):
        result = analyze(model, x, relevance=False, attention="full", model_views=False)
    attention = torch.as_tensor(result.attention)  # [batch, layer, head, query, key]
    assert attention[..., blocked].abs().max() == 0
    assert torch.allclose(attention.sum(-1), torch.ones(()), atol=1e-5)
    # the same as a forward where the key's logit is -inf by hand
    with torch.no_grad():
        clean = model(x)
    masked = ablated_forward(model, x, masked_tokens=[blocked])
    assert (masked - clean).abs().max() > 1e-5
    torch.testing.assert_close(torch.as_tensor(result.logits), masked, atol=1e-4, rtol=1e-4)  # analyze's own pass
    # and the same as a hand-written forward where no query may read the blocked key
    with torch.no_grad():
        seq = model.norm_pre(model._pos_embed(model.patch_embed(x)))
        for block in model.blocks:
            h, attn = block.norm1(seq), block.attn
            b, n, _ = h.shape
            q, k, v = attn.qkv(h).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
            logits = (q * attn.head_dim**-0.5) @ k.transpose(-2, -1)
            logits[..., blocked] = float("-inf")
            out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, -1)
            seq = seq + block.ls1(attn.proj(out))
            seq = seq + block.ls2(block.mlp(block.norm2(seq)))
        by_hand = model.forward_head(model.norm(seq))
    torch.testing.assert_close(masked, by_hand, atol=1e-4, rtol=1e-4)
    grid_col = (blocked - 1) % model.patch_embed.grid_size[1]
    grid_row = (blocked - 1) // model.patch_embed.grid_size[1]
    assert result.cls_attention[0, ..., grid_row, grid_col].max() == 0


def test_analyze_under_head_ablation_gives_the_ablated_logits_and_maps():
    from vit_core.runs.analysis import analyze

    model = _model("class_token")
    x = input_for(model, batch=1)
    clean = analyze(model, x, relevance=True, model_views=False)
    with Ablating(model, heads=[(0, 0), (1, 1)], mode="zero"):
        ablated = analyze(model, x, relevance=True, model_views=False)
    want = ablated_forward(model, x, [(0, 0), (1, 1)], mode="zero")
    torch.testing.assert_close(torch.as_tensor(ablated.logits), want, atol=1e-4, rtol=1e-4)
    assert abs(ablated.rollout - clean.rollout).max() > 1e-6
    assert abs(ablated.relevance - clean.relevance).max() > 1e-6


def test_dropping_a_token_equals_a_shorter_sequence():
    model = _model("registers_gap")  # registers, average pooling over patches
    x = input_for(model, batch=2)
    prefix = model.num_prefix_tokens
    dropped = [0, prefix + 3]  # a register and a patch
    got = ablated_forward(model, x, dropped_tokens=dropped)
    with torch.no_grad():
        seq = model.norm_pre(model._pos_embed(model.patch_embed(x)))
        keep = [i for i in range(seq.shape[1]) if i not in dropped]
        seq = model.norm(model.blocks(seq[:, keep]))
        want = model.head(model.fc_norm(seq[:, prefix - 1:].mean(dim=1)))  # one prefix token left
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_dropping_the_read_class_token_is_refused():
    model = _model("class_token")
    with pytest.raises(SettingsError, match="mask it instead"):
        ablated_forward(model, input_for(model, batch=1), dropped_tokens=[0])


def test_parse_heads_and_its_refusals():
    assert parse_heads("3:1, 0:0,3:1", depth=4, num_heads=2) == ((0, 0), (3, 1))
    assert parse_heads("", depth=4, num_heads=2) == ()
    with pytest.raises(SettingsError, match="layers 0 to 3"):
        parse_heads("4:0", depth=4, num_heads=2)
    with pytest.raises(SettingsError, match="heads 0 to 1"):
        parse_heads("0:2", depth=4, num_heads=2)
    with pytest.raises(SettingsError, match="LAYER:HEAD"):
        parse_heads("3-1", depth=4, num_heads=2)


def test_mean_ablation_without_reference_and_with_another_size_is_refused():
    model = _model("class_token")
    x = input_for(model, batch=1)
    with pytest.raises(SettingsError, match="reference"):
        head_importance(model, x, mode="mean")
    with pytest.raises(SettingsError, match="reference"):
        ablated_forward(model, x, [(0, 0)], mode="mean")
    wrong = torch.zeros(len(model.blocks), 3, model.embed_dim)
    with pytest.raises(SettingsError, match="same input size"):
        ablated_forward(model, x, [(0, 0)], mode="mean", means=wrong)


def test_hooks_are_removed_after_an_error():
    model = _model("class_token")
    x = input_for(model, batch=1)
    wrong = torch.zeros(len(model.blocks), 3, model.embed_dim)
    with pytest.raises(SettingsError):
        ablated_forward(model, x, [(0, 0)], mode="mean", means=wrong)
    assert all(not block.attn.proj._forward_pre_hooks for block in model.blocks)
