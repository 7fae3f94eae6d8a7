"""LeGrad against an explicit per-layer autograd loop on timm's non-fused attention, on every token layout."""

from __future__ import annotations

import copy

import pytest
import timm
import torch
from layouts import LAYOUTS, input_for, make_model

from vit_core.errors import VitCoreError
from vit_core.methods.legrad import legrad, legrad_layers, min_max
from vit_core.methods.registry import REGISTRY, ExplainSettings, explanation_maps


def reference_legrad(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, start: int) -> torch.Tensor:
    """The definition spelled out: a non-fused copy whose softmax probabilities sit in the graph; per entering
    layer the target logit read from that layer's output tokens through the final norm and head, its gradient
    with respect to that layer's probabilities by autograd, positive part, mean over heads and query rows, prefix
    columns dropped; summed over the layers and min-max scaled per image by hand."""
    eager = copy.deepcopy(model)
    probs: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []
    for block in eager.blocks:
        block.attn.fused_attn = False
        block.attn.attn_drop.register_forward_hook(lambda m, i, o: probs.append(o))
        block.register_forward_hook(lambda m, i, o: outputs.append(o))
    with torch.enable_grad():
        eager(x.detach().requires_grad_(True))
        depth, p = len(eager.blocks), eager.num_prefix_tokens
        total = 0
        for layer in range(start % depth, depth):
            score = eager.forward_head(eager.norm(outputs[layer]))[torch.arange(len(target)), target].sum()
            (grad,) = torch.autograd.grad(score, probs[layer], retain_graph=True)
            total = total + grad.clamp(min=0).mean(dim=(1, 2))[:, p:]  # [batch, patch]
    gh, gw = timm_grid(model, x)
    total = total.reshape(-1, gh, gw)
    low = total.flatten(1).min(dim=1).values[:, None, None]
    high = total.flatten(1).max(dim=1).values[:, None, None]
    return (total - low) / (high - low)


def timm_grid(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, int]:
    ph, pw = model.patch_embed.patch_size
    return x.shape[-2] // ph, x.shape[-1] // pw


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_legrad_equals_the_per_layer_autograd_loop_on_the_non_fused_model(layout):
    model = make_model(layout)
    x = input_for(model, batch=2)
    with torch.no_grad():
        target = model(x).argmax(dim=-1)
    got = legrad(model, x)
    assert torch.equal(got.target_class, target)
    assert got.layers == tuple(range(len(model.blocks) - 2, len(model.blocks)))  # the published default: last two
    expected = reference_legrad(model, x, target, start=-2)
    assert got.heatmap.shape == expected.shape
    torch.testing.assert_close(got.heatmap, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("layout", ["class_token", "attention_pool", "class_and_mean_registers", "distilled"])
def test_every_layer_and_another_class_equal_the_reference_too(layout):
    model = make_model(layout)
    x = input_for(model, batch=2)
    target = torch.tensor([3, 11])
    got = legrad(model, x, target_class=target, start_layer=0)
    assert got.layers == tuple(range(len(model.blocks)))
    torch.testing.assert_close(got.heatmap, reference_legrad(model, x, target, start=0), atol=1e-5, rtol=0)


@pytest.mark.parametrize("layout", ["class_token", "registers_gap", "attention_pool", "class_and_mean_registers"])
def test_a_batch_equals_its_images_one_at_a_time(layout):
    model = make_model(layout)
    x = input_for(model, batch=3)
    target = torch.tensor([1, 7, 4])
    batch = legrad(model, x, target_class=target).heatmap
    for i in range(3):
        alone = legrad(model, x[i : i + 1], target_class=int(target[i])).heatmap
        torch.testing.assert_close(batch[i : i + 1], alone, atol=1e-6, rtol=0)


def test_query_blocks_of_one_row_give_the_same_map():
    model = make_model("registers_gap")
    x = input_for(model, batch=2)
    whole = legrad(model, x, start_layer=-3).heatmap
    torch.testing.assert_close(legrad(model, x, start_layer=-3, budget=1).heatmap, whole, atol=1e-5, rtol=0)


def test_the_registry_entry_is_class_specific_and_reads_the_start_layer():
    spec = REGISTRY["legrad"]
    assert spec.class_specific and spec.field == "legrad" and spec.cost == "backward"
    model = make_model("class_token")
    x = input_for(model, batch=2)
    target = torch.tensor([2, 5])
    maps = explanation_maps(model, x, ["legrad"], target=target, settings=ExplainSettings(legrad_start=-4))
    torch.testing.assert_close(maps["legrad"], legrad(model, x, target_class=target, start_layer=-4).heatmap)
    assert not torch.allclose(maps["legrad"], legrad(model, x, target_class=target).heatmap)


def test_what_it_cannot_explain_is_refused_in_one_sentence():
    backbone = timm.create_model("test_vit", pretrained=False, num_classes=0).eval()
    x = input_for(backbone, batch=1)
    with pytest.raises(VitCoreError, match="LeGrad"):
        legrad(backbone, x)
    model = make_model("class_token")
    with pytest.raises(VitCoreError, match="start layer 9 does not exist"):
        legrad(model, x, start_layer=9)
    with pytest.raises(VitCoreError, match="training mode"):
        legrad(model.train(), x)


def test_layers_and_min_max():
    assert legrad_layers(12) == (10, 11) and legrad_layers(12, 0) == tuple(range(12)) and legrad_layers(12, 11) == (11,)
    maps = torch.tensor([[[1.0, 3.0]], [[2.0, 2.0]]])
    assert torch.equal(min_max(maps), torch.tensor([[[0.0, 1.0]], [[0.0, 0.0]]]))  # a constant map: 0, not NaN
