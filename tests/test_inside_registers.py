"""Test-time registers on a ViT with a planted outlier mechanism: one MLP neuron that makes one patch high-norm."""

from __future__ import annotations

import pytest
import timm
import torch

from vit_core.errors import SettingsError
from vit_core.inside.test_time_registers import TestTimeRegister, compare_with_register, find_register_neurons

PLANT_LAYER, NEURON, PATCH, CHANNEL = 2, 17, 9, 5  # the neuron, the patch (index among patches), the channel read


def _planted() -> torch.nn.Module:
    """timm's test_vit (random weights, 4x4 patches of 16 px at 64 px) where block 2's MLP neuron 17 fires only at
    patch 9 (its position embedding carries a large value in channel 5) and writes a large vector into the
    residual stream there: patch 9 leaves block 2 with a norm far above the others, as Darcet et al.'s outliers do."""
    torch.manual_seed(0)
    model = timm.create_model("test_vit", pretrained=False, img_size=64).eval()
    prefix = model.num_prefix_tokens
    with torch.no_grad():
        model.pos_embed[0, :, CHANNEL] = 0
        model.pos_embed[0, prefix + PATCH, CHANNEL] = 40.0
        mlp = model.blocks[PLANT_LAYER].mlp
        mlp.fc1.weight[NEURON] = 0
        mlp.fc1.weight[NEURON, CHANNEL] = 4.0
        mlp.fc1.bias[NEURON] = -8.0  # below the cut everywhere but at the planted patch
        direction = torch.randn(model.embed_dim)
        mlp.fc2.weight[:, NEURON] = 8.0 * direction / direction.norm()
    return model


def _images(n: int, seed: int = 3) -> torch.Tensor:
    return torch.randn(n, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def _norms(model, x, layer):
    seen = {}
    handle = model.blocks[layer].register_forward_hook(lambda m, a, o: seen.__setitem__("x", o))
    with torch.no_grad():
        model(x)
    handle.remove()
    return seen["x"][:, model.num_prefix_tokens:].norm(dim=-1)


def test_the_plant_makes_one_outlier():
    model = _planted()
    norms = _norms(model, _images(4), PLANT_LAYER)
    others = torch.cat([norms[:, :PATCH], norms[:, PATCH + 1:]], dim=1)
    assert norms[:, PATCH].min() > 3 * others.max()


def test_algorithm_1_finds_the_planted_neuron_and_the_register_takes_the_outlier():
    model = _planted()
    images = _images(6)
    norms = _norms(model, images, PLANT_LAYER)
    cut = float(norms[:, PATCH].min() / 2)
    found = find_register_neurons(model, images, detect_layer=PLANT_LAYER, norm_threshold=cut, k=1, batch_size=4)
    assert found.neurons == ((PLANT_LAYER, NEURON),)
    assert found.images_with_outliers == 6
    # the planted neuron's score far above the next: the search separates it, it did not pick it by luck
    runner_up = found.scores.flatten().topk(2).values[1]
    assert found.scores[PLANT_LAYER, NEURON] > 5 * runner_up

    comparison = compare_with_register(model, images[:3], found.neurons, detect_layer=PLANT_LAYER)
    assert (comparison.norms_before[..., :].flatten(1).max(dim=1).values > cut).all()
    assert (comparison.norms_after.flatten(1).max(dim=1).values < cut).all()  # the outlier did not survive
    assert (comparison.register_norm > cut).all()  # it moved into the extra token
    assert comparison.norms_after.shape == comparison.norms_before.shape == (3, 4, 4)


def test_a_wrong_neuron_leaves_the_outlier():
    model = _planted()
    images = _images(2)
    cut = float(_norms(model, images, PLANT_LAYER)[:, PATCH].min() / 2)
    comparison = compare_with_register(model, images, [(PLANT_LAYER, NEURON + 1)], detect_layer=PLANT_LAYER)
    assert (comparison.norms_after.flatten(1).max(dim=1).values > cut).all()


def test_batched_equals_one_image_at_a_time():
    """Each image's register takes its own patches' maximum (the authors' hooks act on the first image only)."""
    model = _planted()
    images = _images(3, seed=11)
    images[1] *= 3.0  # a different activation scale, so a first-image-only rule would give image 1 the wrong value
    neurons = [(PLANT_LAYER, NEURON), (1, 4)]
    both = compare_with_register(model, images, neurons, detect_layer=PLANT_LAYER)
    for i in range(3):
        one = compare_with_register(model, images[i:i + 1], neurons, detect_layer=PLANT_LAYER)
        torch.testing.assert_close(both.norms_after[i], one.norms_after[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(both.register_norm[i], one.register_norm[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(both.logits_after[i], one.logits_after[0], atol=1e-4, rtol=1e-4)


def test_the_register_value_is_the_patch_maximum():
    model = _planted()
    image = _images(2)
    mlp = model.blocks[PLANT_LAYER].mlp
    raw, rewritten = {}, {}
    # registered before the register's hook, this one sees the activations it rewrites; the one after, the result
    first = mlp.act.register_forward_hook(lambda m, a, o: raw.__setitem__("act", o.clone()))
    with TestTimeRegister(model, [(PLANT_LAYER, NEURON)]):
        last = mlp.act.register_forward_hook(lambda m, a, o: rewritten.__setitem__("act", o.clone()))
        with torch.no_grad():
            model(image)
    first.remove()
    last.remove()
    before, after = raw["act"], rewritten["act"]
    prefix = model.num_prefix_tokens
    assert after.shape[1] == 1 + 16 + 1  # class token, 16 patches, the extra token
    torch.testing.assert_close(after[:, -1, NEURON], before[:, prefix:-1, NEURON].max(dim=1).values)
    assert after[:, prefix:-1, NEURON].abs().max() == 0
    torch.testing.assert_close(after[:, :, NEURON + 1], before[:, :, NEURON + 1])  # other neurons untouched


def test_no_outlier_is_refused():
    model = _planted()
    with pytest.raises(SettingsError, match="lower the norm cut"):
        find_register_neurons(model, _images(2), detect_layer=PLANT_LAYER, norm_threshold=1e6)
