"""Token norms, high-norm outliers and attention sinks (vit_core.inside) against references computed another way:
the blocks run by hand for the norms, timm's non-fused attention (hooked softmax) for the sink mass, and a model
with a planted high-norm token for the outlier rule."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from layouts import LAYOUTS, input_for, make_model

from vit_core.attention import store as attention_store
from vit_core.errors import SettingsError
from vit_core.inside.inspection import InspectionResult, inspect
from vit_core.inside.norms import OutlierRule, default_rule, find_outliers, outlier_cuts
from vit_core.models.geometry import geometry_of


def _norms_by_hand(model, x):
    """Each block's output norms and the final features' norms, running timm's blocks one by one (no hooks)."""
    with torch.no_grad():
        h = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(x))))
        norms = []
        for block in model.blocks:
            h = block(h)
            norms.append(h.norm(dim=-1))
        return torch.stack(norms, dim=1).numpy(), model.norm(h).norm(dim=-1).numpy()


def _eager_attention(model, x):
    """timm's own non-fused attention on a copy: ``[batch, layer, head, query, key]`` from the hooked softmax."""
    eager = copy.deepcopy(model)
    seen = []
    for block in eager.blocks:
        block.attn.fused_attn = False
        block.attn.attn_drop.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        eager(x)
    return torch.stack(seen, dim=1).double().numpy()


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_token_norms_equal_the_blocks_run_by_hand(layout):
    model = make_model(layout)
    x = input_for(model, batch=2)
    found = inspect(model, x)
    blocks, features = _norms_by_hand(model, x)
    np.testing.assert_allclose(found.token_norms, blocks, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(found.feature_norms, features, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize(("store", "blocks"), [("full", "one_block"), ("qk", "one_block"), ("qk", "row_blocks")])
def test_sink_mass_equals_the_non_fused_attention_mean_over_queries(layout, store, blocks, monkeypatch):
    """Both stores; q and k also read in blocks of a few query rows, as 1,000+ tokens are."""
    if blocks == "row_blocks":
        monkeypatch.setattr(attention_store, "BLOCK_BYTES", 4096)
    model = make_model(layout)
    x = input_for(model, batch=2)
    found = inspect(model, x, attention=store)
    attention = _eager_attention(model, x)  # [B, L, H, N, N]
    reference = attention.mean(axis=-2)
    np.testing.assert_allclose(found.sink_mass, reference, atol=1e-5)
    p = geometry_of(model, tuple(x.shape[-2:])).num_prefix_tokens
    np.testing.assert_allclose(found.prefix_share, reference[..., :p].sum(-1), atol=1e-5)
    # the top sinks receive the largest reference masses, in order
    top_reference = np.take_along_axis(reference, found.sink_top, axis=-1)
    np.testing.assert_allclose(top_reference, np.sort(reference, axis=-1)[..., ::-1][..., : found.sink_top.shape[-1]],
                               atol=1e-5)
    assert found.provenance.settings["attention"] == store


PLANT_BLOCK = 2
PLANTS = [(3, 4), (7, 1)]  # (row, col) of the planted token in image 0 and image 1


def _planted(model, plants, boost=400.0):
    """A hook on block PLANT_BLOCK's MLP branch (after its layer scale) that adds a large vector to one patch token per image: from that block
    on, the token's residual stream carries a norm far above the rest (Darcet et al.'s high-norm token, made)."""
    gw = model.patch_embed.grid_size[1]
    p = model.num_prefix_tokens
    direction = torch.nn.functional.normalize(torch.randn(model.embed_dim, generator=torch.Generator().manual_seed(3)), dim=0)

    def hook(module, args, output):
        output = output.clone()
        for image, (row, col) in enumerate(plants[: output.shape[0]]):
            output[image, p + row * gw + col] += boost * direction
        return output

    return model.blocks[PLANT_BLOCK].ls2.register_forward_hook(hook)  # after the layer scale


@pytest.mark.parametrize("layout", ["class_token", "no_embed_class_registers", "registers_gap"])
def test_a_planted_high_norm_token_is_found_where_and_when_it_was_planted(layout):
    model = make_model(layout)
    x = input_for(model, batch=2)
    assert len(inspect(model, x).outlier_token) == 0  # nothing stands out before planting
    handle = _planted(model, PLANTS)
    try:
        found = inspect(model, x)
        attention = _eager_attention(model, x)
    finally:
        handle.remove()
    gw, p = model.patch_embed.grid_size[1], model.num_prefix_tokens
    assert found.outlier_image.tolist() == [0, 1]
    assert found.outlier_token.tolist() == [p + r * gw + c for r, c in PLANTS]
    assert list(zip(found.outlier_row.tolist(), found.outlier_col.tolist(), strict=True)) == PLANTS
    assert found.outlier_first_layer.tolist() == [PLANT_BLOCK, PLANT_BLOCK]
    assert not found.outlier_mask[:, :PLANT_BLOCK].any()
    assert found.token_label(int(found.outlier_token[0])) == f"patch {PLANTS[0]}".replace("'", "")
    # the share of the attention each outlier receives, against the reference attention
    mass = attention.mean(axis=-2)
    for i, (image, token) in enumerate(zip(found.outlier_image, found.outlier_token, strict=True)):
        np.testing.assert_allclose(found.outlier_share[image], mass[image, ..., token], atol=1e-5)
        if "cls" in [str(k) for k in found.prefix_kinds]:
            cls_row = attention[image, :, :, 0, token].mean(axis=-1)  # [L], mean over heads
            np.testing.assert_allclose(found.outlier_cls_share_layers[i], cls_row, atol=1e-5)
            assert found.outlier_cls_share[i] == pytest.approx(cls_row[-1], abs=1e-5)
        else:
            assert np.isnan(found.outlier_cls_share[i])


def test_the_absolute_and_the_robust_cut():
    model = make_model("class_token")
    x = input_for(model, batch=1)
    norms = inspect(model, x).token_norms
    geometry = geometry_of(model)
    last = norms[0, -1]
    cut = float(np.sort(last)[-3])  # two tokens lie above it
    found = find_outliers(norms, geometry, OutlierRule(kind="absolute", cut=cut))
    assert sorted(found.token.tolist()) == sorted(np.argsort(last)[-2:].tolist())
    np.testing.assert_array_equal(found.mask, norms > cut)
    # the robust cut against scipy's MAD, over the patch tokens of each image and layer (prefix tokens left out)
    from scipy.stats import median_abs_deviation

    two = inspect(model, input_for(model, batch=2)).token_norms
    patches = two[..., geometry.num_prefix_tokens :]
    expected = np.median(patches, axis=-1) + 3.0 * median_abs_deviation(patches, axis=-1)
    np.testing.assert_allclose(outlier_cuts(two, geometry.num_prefix_tokens, OutlierRule(k=3.0)), expected, rtol=1e-5)
    assert default_rule("vit_giant_patch14_reg4_dinov2.lvd142m").kind == "absolute"
    assert default_rule("vit_small_patch14_dinov2").kind == "mad"


def test_a_batch_equals_each_image_alone():
    model = make_model("no_embed_class_registers")
    x = input_for(model, batch=2)
    handle = _planted(model, PLANTS)
    try:
        both = inspect(model, x)
    finally:
        handle.remove()
    alone = []
    for i in range(2):
        handle = _planted(model, PLANTS[i : i + 1])  # the same token planted in the same image, alone
        try:
            alone.append(inspect(model, x[i : i + 1]))
        finally:
            handle.remove()
    per_image = ["logits", "token_norms", "feature_norms", "sink_mass", "sink_top", "sink_top_mass", "prefix_share",
                 "outlier_share", "outlier_cut", "outlier_mask", "pixel_values"]
    per_outlier = ["outlier_token", "outlier_row", "outlier_col", "outlier_first_layer", "outlier_norm",
                   "outlier_cls_share", "outlier_cls_share_layers"]
    assert set(both.arrays()) - set(per_image) - set(per_outlier) == {
        "outlier_image", "outlier_layer", "outlier_rule", "num_prefix_tokens", "grid_size", "patch_size", "prefix_kinds"}
    for name in per_image + per_outlier:
        np.testing.assert_allclose(getattr(both, name), np.concatenate([getattr(a, name) for a in alone]), atol=1e-5,
                                   err_msg=name)
    np.testing.assert_array_equal(both.outlier_image, [0, 1])
    assert len(both.outlier_token) == 2


def test_the_file_holds_every_key_and_says_what_produced_it(tmp_path):
    model = make_model("distilled")
    found = inspect(model, input_for(model, batch=1))
    path = tmp_path / "inside.npz"
    found.to_npz(path)
    back = InspectionResult.from_npz(path)
    for name, value in found.arrays().items():
        np.testing.assert_array_equal(getattr(back, name), value, err_msg=name)
    assert back.provenance.settings["outlier_rule"] == str(found.outlier_rule)
    assert back.prefix_kinds.tolist() == ["cls", "dist"]
    with pytest.raises(SettingsError):
        inspect(model, input_for(model, batch=1), attention="none")


def test_the_command_line_writes_the_documented_keys(tmp_path, capsys):
    from PIL import Image

    from vit_core.cli import main

    paths = []
    for index in range(2):
        path = tmp_path / f"image{index}.png"
        Image.fromarray(np.random.default_rng(index).integers(0, 255, (120, 90, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    out = tmp_path / "inside.npz"
    code = main(["inspect", *paths, "--model", "test_vit", "--random-weights", "--device", "cpu", "--out", str(out),
                 "--attention", "qk", "--mad-k", "4"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "median + 4 MAD" in printed and printed.count("outliers") == 2
    data = np.load(out)
    batch, layers, heads, tokens = 2, 6, 2, 101
    shapes = {"pixel_values": (batch, 3, 160, 160), "token_norms": (batch, layers, tokens),
              "sink_mass": (batch, layers, heads, tokens), "feature_norms": (batch, tokens),
              "outlier_mask": (batch, layers, tokens), "outlier_cut": (batch, layers), "prefix_share": (batch, layers, heads)}
    for key, shape in shapes.items():
        assert data[key].shape == shape, key
    np.testing.assert_allclose(data["sink_mass"].sum(-1), 1.0, atol=1e-5)
    provenance = InspectionResult.from_npz(out).provenance
    assert provenance.model == "test_vit" and provenance.settings["k"] == 4 and provenance.settings["attention"] == "qk"
    assert main(["inspect", *paths, "--model", "test_vit", "--random-weights", "--out", str(tmp_path / "x.npz"),
                 "--cut", "10", "--mad-k", "3"]) == 2
    assert "pass one of them" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()


def test_the_front_door_exports_inspect():
    import vit_core

    assert vit_core.inspect is inspect and vit_core.InspectionResult is InspectionResult
    assert vit_core.OutlierRule is OutlierRule
