"""Faithfulness measures on constructed cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from vit_core.errors import SettingsError
from vit_core.faithfulness import (
    FRACTIONS,
    auc,
    cascading_randomisation,
    energy_pointing,
    mask_iou,
    pixel_curves,
    pointing_game,
    token_removal_curves,
)
from vit_core.faithfulness.perturbation import forward_kept_patches

GRID = 4  # 32 px images, 8 px patches


def _no_blocks(**kwargs) -> VisionTransformer:
    """A ViT with no blocks and average pooling: logits = head(mean of the kept patch tokens)."""
    model = VisionTransformer(
        img_size=32, patch_size=8, embed_dim=4, depth=0, num_heads=1, class_token=False, global_pool="avg",
        fc_norm=False, final_norm=False, num_classes=2, **kwargs,
    ).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
    return model


def _one_patch_model(patch: int) -> VisionTransformer:
    """Output depends on whether patch `patch` is present and on nothing else: its position embedding alone
    is non-zero, and class 0's logit reads that channel."""
    model = _no_blocks()
    with torch.no_grad():
        model.pos_embed[0, patch, 0] = 40.0
        model.head.weight[0, 0] = 1.0
    return model


def _additive_model() -> VisionTransformer:
    """logit_0 = 0.5 * mean over patches of the patch's mean red value (times 64 / 64): additive over patches."""
    model = _no_blocks()
    with torch.no_grad():
        model.patch_embed.proj.weight[0, 0] = 1.0  # channel 0 <- sum of the patch's red pixels
        model.head.weight[0, 0] = 0.5
    return model


def _pixels(batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_kept_patches_forward_equals_the_model_when_all_are_kept():
    model = _additive_model()
    pixels = _pixels()
    embedded = model._pos_embed(model.patch_embed(pixels))
    keep = torch.arange(GRID * GRID).expand(3, -1).flip(-1)  # any order: the model sees sequence order
    torch.testing.assert_close(forward_kept_patches(model, embedded, keep), model(pixels))


def test_removing_the_only_patch_that_matters_first_gives_the_lowest_positive_auc():
    key = 6
    model = _one_patch_model(key)
    pixels = _pixels()
    target = torch.zeros(3, dtype=torch.long)
    oracle = torch.zeros(3, GRID, GRID)
    oracle.view(3, -1)[:, key] = 1.0
    rng = torch.Generator().manual_seed(1)
    randoms = [torch.rand(3, GRID, GRID, generator=rng) for _ in range(5)]
    inverse = 1.0 - oracle
    maps = torch.stack([oracle, inverse, *randoms])  # [method, batch, gh, gw]
    positive = token_removal_curves(model, pixels, maps, target, order="positive")
    negative = token_removal_curves(model, pixels, maps, target, order="negative")
    pos_auc, neg_auc = positive.auc().mean(1), negative.auc().mean(1)
    assert positive.probability.shape == (7, 3, len(FRACTIONS))
    assert np.allclose(positive.probability[:, :, 0], positive.probability[0, 0, 0])  # 0% step: the full model
    assert pos_auc[0] == pos_auc.min() and pos_auc[0] < pos_auc[2:].min() - 1e-3
    assert neg_auc[0] == neg_auc.max() and pos_auc[1] == pos_auc.max()  # keeping it longest: the highest
    np.testing.assert_allclose(positive.probability[0, :, 1:], 0.5, atol=1e-6)  # without it: logit 0, p = 0.5


def test_auc_convention():
    """Trapezoid over 0, 0.1, ..., 0.9 with the 0% step: a constant 1 gives 0.9, a linear fall from 1 gives 0.495."""
    assert auc(np.ones(10), FRACTIONS) == pytest.approx(0.9)
    assert auc(1 - FRACTIONS, FRACTIONS) == pytest.approx(0.9 - 0.9**2 / 2)


@pytest.mark.parametrize("fill", ["mean", "blur"])
def test_pixel_deletion_and_insertion_rank_the_true_contributions_best(fill):
    model = _additive_model()
    pixels = _pixels()
    target = torch.zeros(3, dtype=torch.long)
    red = pixels[:, 0]
    filled = red.mean(dim=(-2, -1), keepdim=True) if fill == "mean" else None
    if fill == "blur":
        from torchvision.transforms.v2.functional import gaussian_blur

        filled = gaussian_blur(pixels, kernel_size=[11, 11], sigma=[5.0, 5.0])[:, 0]
    # the exact change of logit 0 when a patch is replaced by the fill: the oracle map
    contribution = (red - filled).reshape(3, GRID, 8, GRID, 8).mean(dim=(2, 4))
    rng = torch.Generator().manual_seed(2)
    maps = torch.stack([contribution, -contribution, *[torch.rand(3, GRID, GRID, generator=rng) for _ in range(5)]])
    deletion = pixel_curves(model, pixels, maps, target, mode="deletion", fill=fill).auc().mean(1)
    insertion = pixel_curves(model, pixels, maps, target, mode="insertion", fill=fill).auc().mean(1)
    assert deletion[0] == deletion.min() and deletion[1] == deletion.max()
    assert insertion[0] == insertion.max() and insertion[1] == insertion.min()


def test_every_step_is_one_forward_for_all_images_and_methods():
    model = _additive_model()
    calls = []
    model.blocks.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))
    maps = torch.rand(4, 3, GRID, GRID)
    token_removal_curves(model, _pixels(), maps, torch.zeros(3, dtype=torch.long))
    assert calls == [3] + [12] * (len(FRACTIONS) - 1)  # the 0% step is the same for every method


def test_localisation_on_a_hand_mask():
    masks = np.zeros((1, 32, 32), bool)
    masks[0, 8:16, 8:16] = True  # exactly patch (1, 1)
    on, off, spread = np.zeros((GRID, GRID)), np.zeros((GRID, GRID)), np.ones((GRID, GRID))
    on[1, 1], off[3, 3] = 1.0, 1.0
    maps = np.stack([on, off, spread])[:, None]  # [method, batch, gh, gw]
    assert pointing_game(maps, masks).ravel().tolist() == [True, False, True]  # a flat map's argmax is patch 0, 8 px away
    np.testing.assert_allclose(energy_pointing(maps, masks).ravel(), [1.0, 0.0, 1 / 16])
    np.testing.assert_allclose(mask_iou(maps, masks, top_fraction=1 / 16).ravel(), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(mask_iou(maps[:1], masks, top_fraction=2 / 16).ravel(), [0.5])


def test_sanity_check_separates_a_model_dependent_map_from_a_fixed_one():
    import timm

    torch.manual_seed(0)
    model = timm.create_model("test_vit", pretrained=False, img_size=32, patch_size=8, depth=2).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0, 0.5)  # weights far from timm's initialisation, so randomising changes them
    pixels = _pixels(2)
    target = torch.zeros(2, dtype=torch.long)

    def fixed(m, x, t):
        return torch.arange(GRID * GRID, dtype=torch.float32).reshape(1, GRID, GRID).expand(len(x), -1, -1)

    def gradient(m, x, t):
        x = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(m(x)[torch.arange(len(t)), t].sum(), x)
        return g.abs().sum(1).reshape(len(x), GRID, 8, GRID, 8).sum(dim=(2, 4))

    report = cascading_randomisation(model, pixels, target, {"fixed": fixed, "gradient": gradient})
    assert report["steps"] == ["head", "block 1", "block 0"]
    assert report["correlation"]["fixed"] == [1.0, 1.0, 1.0]
    assert report["survives"] == {"fixed": True, "gradient": False}


def test_bad_maps_are_refused_in_one_sentence():
    with pytest.raises(SettingsError, match="maps have shape"):
        token_removal_curves(_additive_model(), _pixels(), torch.rand(3, GRID, GRID), torch.zeros(3, dtype=torch.long))
