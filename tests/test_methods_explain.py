"""The explanation lab's methods, each against a reference computed another way, on every token layout:
raw attention (timm's non-fused path by hand), attention flow (networkx), Grad-CAM (a split forward with
autograd on the tokens), conservative LRP (the conservation identity), and the baselines."""

from __future__ import annotations

import functools
import os

import networkx as nx
import numpy as np
import pytest
import timm
import torch
from layouts import LAYOUTS, input_for, make_model

from vit_core.errors import NotAvailableError
from vit_core.methods import (
    RolloutSettings,
    attention_flow,
    centre_map,
    default_gradcam_block,
    gradcam,
    lrp,
    random_map,
    raw_attention,
    rollout_layer_matrix,
)
from vit_core.methods.attention_flow import flow_map
from vit_core.models.geometry import geometry_of

DEVICE = torch.device(os.environ.get("TORCH_DEVICE", "cpu"))


def _last_attention_by_hand(model, pixels):
    """timm's own non-fused path: the last block's probabilities [batch, head, query, key] and the pool's
    [batch, head, latent, key] computed from the pool's input."""
    probs, pool_in = [], []
    attn = model.blocks[-1].attn
    attn.fused_attn = False
    handles = [attn.attn_drop.register_forward_hook(lambda m, a, out: probs.append(out))]
    pool = getattr(model, "attn_pool", None)
    if pool is not None:
        handles.append(pool.register_forward_pre_hook(lambda m, a: pool_in.append(a[0])))
    try:
        with torch.no_grad():
            model(pixels)
    finally:
        for handle in handles:
            handle.remove()
        attn.fused_attn = True
    pool_probs = None
    if pool is not None:
        with torch.no_grad():
            x = pool_in[0]
            batch, tokens, _ = x.shape
            q = pool.q(pool.latent.expand(batch, -1, -1)).reshape(batch, -1, pool.num_heads, pool.head_dim).transpose(1, 2)
            k = pool.kv(x).reshape(batch, tokens, 2, pool.num_heads, pool.head_dim).permute(2, 0, 3, 1, 4)[0]
            pool_probs = ((q @ k.transpose(-2, -1)) * pool.head_dim**-0.5).softmax(-1).double()
    return probs[0].double(), pool_probs


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_raw_attention_is_the_readout_row_of_the_last_layer(layout, fusion):
    model = make_model(layout, DEVICE)
    pixels = input_for(model, device=DEVICE)
    got = raw_attention(model, pixels, head_fusion=fusion)
    probs, pool_probs = _last_attention_by_hand(model, pixels)
    fuse = {"mean": lambda t: t.mean(1), "max": lambda t: t.amax(1), "min": lambda t: t.amin(1)}[fusion]
    g = geometry_of(model)
    p = g.num_prefix_tokens
    if g.global_pool == "map":
        row = fuse(pool_probs).mean(1)  # [batch, key]: the pool's attention, latent queries averaged
        if row.shape[-1] == g.num_patches:
            row = torch.cat([row.new_zeros(row.shape[0], p), row], dim=1)
    elif g.global_pool == "token" and g.has_dist_token:
        row = 0.5 * (fuse(probs)[:, 0] + fuse(probs)[:, 1])
    elif g.global_pool == "token":
        row = fuse(probs)[:, 0]
    elif g.global_pool == "token+avg":  # [class token ; mean patch token]: half of the head's features each
        row = 0.5 * fuse(probs)[:, 0] + 0.5 * fuse(probs)[:, p:].mean(1)
    else:  # average pooling over the patch tokens
        row = fuse(probs)[:, p:].mean(1)
    expected = row[:, p:].reshape(-1, *g.grid_size)
    torch.testing.assert_close(got.heatmap.double(), expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got.prefix_weights.double(), row[:, :p], atol=1e-5, rtol=1e-4)


def _small(layout: str) -> torch.nn.Module:
    """A layout with few tokens, so networkx solves every flow problem in milliseconds."""
    name, kwargs = LAYOUTS[layout]
    small = {**kwargs, "img_size": 32, "patch_size": 8, "depth": 3}
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **small).eval().to(DEVICE)


def _networkx_flow(model, pixels, settings) -> np.ndarray:
    """Float capacities, networkx's preflow-push, the graph and sink written out by hand."""
    g = geometry_of(model, tuple(pixels.shape[-2:]))
    probs = []
    handles = [blk.attn.attn_drop.register_forward_hook(lambda m, a, out: probs.append(out)) for blk in model.blocks]
    for blk in model.blocks:
        blk.attn.fused_attn = False
    try:
        with torch.no_grad():
            model(pixels)
    finally:
        for blk, handle in zip(model.blocks, handles, strict=True):
            handle.remove()
            blk.attn.fused_attn = True
    factors = [rollout_layer_matrix(a, settings, num_prefix_tokens=g.num_prefix_tokens).double().cpu().numpy() for a in probs]
    tokens, p = g.num_tokens, g.num_prefix_tokens
    out = np.zeros((pixels.shape[0], g.num_patches))
    for b in range(pixels.shape[0]):
        graph = nx.DiGraph()
        for layer, factor in enumerate(factors):
            for i in range(tokens):
                for j in range(tokens):
                    graph.add_edge((layer, j), (layer + 1, i), capacity=float(factor[b, i, j]))
        last = len(factors)
        if g.global_pool == "token" and not g.has_dist_token:
            sink = (last, 0)
        else:
            sink = "sink"
            readout = [(0, 0.5), (1, 0.5)] if g.has_dist_token else [(i, 1 / g.num_patches) for i in range(p, tokens)]
            for i, w in readout:
                graph.add_edge((last, i), sink, capacity=w)
        for n, j in enumerate(range(p, tokens)):
            out[b, n] = nx.maximum_flow_value(graph, (0, j), sink)
    return out.reshape(-1, *g.grid_size)


@pytest.mark.parametrize("layout", ["class_token", "distilled", "registers_gap", "no_embed_class_registers"])
def test_attention_flow_matches_networkx(layout):
    model = _small(layout)
    pixels = input_for(model, device=DEVICE)
    settings = RolloutSettings()
    got = attention_flow(model, pixels, settings=settings).heatmap.double().cpu().numpy()
    expected = _networkx_flow(model, pixels, settings)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert got.std() > 1e-3  # not a constant map the comparison could pass by accident


def test_attention_flow_does_not_depend_on_the_integer_scale():
    model = _small("class_token")
    pixels = input_for(model, device=DEVICE)
    coarse = attention_flow(model, pixels, scale=2**12).heatmap.double()
    fine = attention_flow(model, pixels, scale=2**24).heatmap.double()
    edges = 3 * geometry_of(model).num_tokens  # at most every edge of the three layers between a source and sink
    bound = edges / (2 * 2**12)
    assert (coarse - fine).abs().max() <= bound
    assert (coarse - fine).abs().max() < 1e-2


def test_attention_flow_on_two_processes_is_the_same_flows():
    """The worker path splits every image's problems between processes: the same integers come back, in place,
    and progress counts every problem once."""
    model = _small("distilled")
    pixels = input_for(model, batch=3, device=DEVICE)
    one = attention_flow(model, pixels).heatmap
    seen = []
    two = attention_flow(model, pixels, workers=2, progress=lambda done, total: seen.append((done, total))).heatmap
    assert torch.equal(one, two) and one.std() > 1e-3
    problems = 3 * geometry_of(model).num_patches
    assert seen[-1] == (problems, problems) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_attention_flow_on_a_hand_graph():
    """Two tokens, one layer: token 0 is the sink; the flow from token 1 is its capacity into token 0."""
    factors = np.array([[[0.75, 0.25], [0.4, 0.6]]])  # [layer, query, key]: B[0, 1] = 0.25 from token 1 to 0
    flows = flow_map(factors, np.array([1.0, 0.0]), np.array([0, 1]))
    np.testing.assert_allclose(flows, [0.75, 0.25], atol=1e-6)


def _split_forward_gradcam(model, pixels, block: int, target: torch.Tensor) -> np.ndarray:
    """Run the blocks by hand, make the chosen block's output a leaf, take autograd's gradient of the target
    logits and apply the rule per image in float64."""
    with torch.no_grad():
        x = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(pixels))))
        for blk in model.blocks[: block + 1]:
            x = blk(x)
    tokens = x.clone().requires_grad_(True)
    y = tokens
    for blk in model.blocks[block + 1 :]:
        y = blk(y)
    logits = model.forward_head(model.norm(y))
    (grad,) = torch.autograd.grad(logits[torch.arange(len(target)), target].sum(), tokens)
    g = geometry_of(model, tuple(pixels.shape[-2:]))
    p = g.num_prefix_tokens
    t, d = tokens[:, p:].detach().double().cpu().numpy(), grad[:, p:].double().cpu().numpy()
    maps = np.stack([np.maximum(t[b] @ d[b].mean(0), 0.0) for b in range(len(t))])
    return maps.reshape(-1, *g.grid_size)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_gradcam_matches_a_split_forward(layout):
    model = make_model(layout, DEVICE)
    pixels = input_for(model, device=DEVICE)
    target = torch.tensor([1, 2], device=DEVICE)
    got = gradcam(model, pixels, target_class=target)
    expected = _split_forward_gradcam(model, pixels, got.block, target)
    np.testing.assert_allclose(got.heatmap.double().cpu().numpy(), expected, atol=1e-5, rtol=1e-4)
    assert got.heatmap.shape[-2:] == geometry_of(model).grid_size
    other = gradcam(model, pixels, target_class=target, block=0)
    np.testing.assert_allclose(other.heatmap.double().cpu().numpy(), _split_forward_gradcam(model, pixels, 0, target), atol=1e-5, rtol=1e-4)


def test_gradcam_default_block_is_one_whose_patch_tokens_reach_the_class_token():
    model = make_model("class_token", DEVICE)
    pixels = input_for(model, device=DEVICE)
    last = gradcam(model, pixels, block=-1).heatmap
    assert float(last.abs().max()) == 0.0  # the last block's patch outputs never reach token 0
    assert default_gradcam_block(model) == len(model.blocks) - 2
    assert float(gradcam(model, pixels).heatmap.max()) > 0


def _zero_biases(model):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.zero_()
    return model


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_lrp_conserves_the_target_logit_without_biases(layout):
    model = _zero_biases(make_model(layout, DEVICE))
    pixels = input_for(model, device=DEVICE)
    got = lrp(model, pixels, target_class=1)
    total = got.heatmap.sum(dim=(1, 2)) + got.prefix_relevance.sum(dim=1)
    assert (total - got.target_logit).abs().max() < 1e-4
    assert got.bias_relevance.abs().max() < 1e-4
    assert got.target_logit.abs().min() > 1e-3  # a zero logit would conserve trivially


def _with_mlp(mlp_layer, **kwargs):
    """test_vit with another MLP type in every block (zero biases)."""
    torch.manual_seed(0)
    model = timm.create_model("test_vit", pretrained=False, mlp_layer=mlp_layer, **kwargs).eval().to(DEVICE)
    with torch.no_grad():  # timm starts a gate at ~0 (weights 1e-6, bias 1): give it weights, so it matters
        for block in model.blocks:
            for name, param in block.mlp.named_parameters():
                if name.endswith("weight"):
                    param.normal_(0.0, 0.2)
    return _zero_biases(model)


@pytest.mark.parametrize("mlp", ["Mlp", "GluMlp", "SwiGLUPacked", "SwiGLU", "GluMlp_gate_last"])
def test_lrp_conserves_through_every_mlp_type_it_has_a_rule_for(mlp):
    """CP-LRP conserves the target logit with zero biases through plain, packed and split gated MLPs."""
    from timm.layers import GluMlp, Mlp, SwiGLU, SwiGLUPacked

    layers = {"Mlp": (Mlp, {}), "GluMlp": (GluMlp, {"act_layer": "sigmoid"}),
              "SwiGLUPacked": (SwiGLUPacked, {"act_layer": "silu"}), "SwiGLU": (SwiGLU, {"act_layer": "silu"}),
              "GluMlp_gate_last": (functools.partial(GluMlp, gate_last=True), {"act_layer": "gelu"})}
    layer, kwargs = layers[mlp]
    model = _with_mlp(layer, mlp_ratio=2.0, **kwargs)
    pixels = input_for(model, device=DEVICE)
    got = lrp(model, pixels, target_class=1)
    total = got.heatmap.sum(dim=(1, 2)) + got.prefix_relevance.sum(dim=1)
    assert (total - got.target_logit).abs().max() < 1e-4
    assert got.target_logit.abs().min() > 1e-3
    assert lrp(model, pixels, target_class=1, rule="attnlrp").heatmap.isfinite().all()


def test_gated_mlp_conservation_can_fail():
    """The test above can fail: with the activation's ratio rule but no constant gate, value * act(gate) is quadratic
    in the input and gradient x input counts its relevance twice."""
    import importlib

    from timm.layers import GluMlp, SwiGLUPacked

    table = importlib.import_module("vit_core.methods.lrp")
    model = _with_mlp(SwiGLUPacked, mlp_ratio=2.0, act_layer="silu")
    pixels = input_for(model, device=DEVICE)

    def no_gate_rule(m, x, rule):
        gate, value = m.fc1(x).chunk(2, dim=-1)
        return m.fc2(value * table._ratio(gate, m.act(gate)))

    kept = table.MLP_RULES[GluMlp]
    table.MLP_RULES[GluMlp] = no_gate_rule
    try:
        got = lrp(model, pixels, target_class=1)
    finally:
        table.MLP_RULES[GluMlp] = kept
    assert got.bias_relevance.abs().max() > 1e-3


class _DoubledMlp(torch.nn.Module):
    """An MLP type LRP has no rule for."""

    def __init__(self, in_features, hidden_features=None, act_layer=None, **_):
        super().__init__()
        self.fc = torch.nn.Linear(in_features, in_features)

    def forward(self, x):
        return 2 * self.fc(x)


def test_lrp_refuses_an_mlp_or_norm_type_without_a_rule():
    model = _with_mlp(_DoubledMlp)
    pixels = input_for(model, device=DEVICE)
    with pytest.raises(NotAvailableError, match=r"^LRP has no rule for _DoubledMlp in this model .*another method\.$"):
        lrp(model, pixels)
    torch.manual_seed(0)
    rms = timm.create_model("test_vit", pretrained=False, norm_layer=timm.layers.RmsNorm).eval()
    with pytest.raises(NotAvailableError, match="RmsNorm"):
        lrp(rms, input_for(rms))


def test_plain_gradient_times_input_does_not_conserve():
    """The conservation test can fail: without the detached constants it does (here: AttnLRP's softmax rule)."""
    model = _zero_biases(make_model("class_token", DEVICE))
    pixels = input_for(model, device=DEVICE)
    got = lrp(model, pixels, target_class=1, rule="attnlrp")
    assert got.bias_relevance.abs().max() > 1e-3


def test_lrp_reports_what_biases_take_on_a_real_layout():
    model = make_model("no_embed_class_registers", DEVICE)
    with torch.no_grad():  # timm initialises biases at zero; a trained model's are not
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.1)
    pixels = input_for(model, device=DEVICE)
    got = lrp(model, pixels)
    total = got.heatmap.sum(dim=(1, 2)) + got.prefix_relevance.sum(dim=1) + got.bias_relevance
    torch.testing.assert_close(total, got.target_logit)
    assert got.bias_relevance.abs().max() > 1e-4  # the biases absorb relevance
    assert torch.isfinite(got.position_relevance).all()


def test_baselines():
    first, again, other = random_map(2, (3, 5), seed=1), random_map(2, (3, 5), seed=1), random_map(2, (3, 5), seed=2)
    assert torch.equal(first, again) and not torch.equal(first, other)
    prior = centre_map(1, (5, 7))
    assert prior.shape == (1, 5, 7) and int(prior[0].argmax()) == 2 * 7 + 3
    assert prior[0, 0, 0] < prior[0, 1, 1] < prior[0, 2, 3]
