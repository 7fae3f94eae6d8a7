"""Transformer Attribution (Chefer, Gur & Wolf CVPR 2021): its LRP pass conserves relevance block by block, a
2-layer model's map equals one computed in NumPy from the rules' definitions (gradients by finite differences),
a batch equals its images one by one, and what the rules do not cover is refused."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import timm
import torch
from layouts import input_for, make_model
from PIL import Image

from vit_core.cli import main
from vit_core.demo.scene_files import write_scenes
from vit_core.errors import NotAvailableError, SettingsError
from vit_core.methods import relprop
from vit_core.methods.registry import ExplainSettings, explanation_maps
from vit_core.methods.transformer_attribution import transformer_attribution
from vit_core.results.result import AnalysisResult

DEVICE = torch.device(os.environ.get("TORCH_DEVICE", "cpu"))
COVERED = ["class_token", "distilled", "no_embed_class_registers", "qk_norm", "non_square_input", "patch14"]


def _trained_like(model: torch.nn.Module) -> torch.nn.Module:
    """timm starts biases at 0 and the class, distillation and register tokens at std 1e-6; a trained model's are
    O(1) and O(0.1). (Tokens of 1e-6 put some q.k products at 1e-9, their stabiliser's scale: a zero denominator.)"""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
            elif name in ("cls_token", "dist_token", "reg_token"):
                param.copy_(torch.randn(param.shape, generator=generator))
    return model


# -- (1) conservation ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", COVERED)
def test_the_lrp_pass_conserves_relevance_at_every_block_boundary(layout):
    """Their rules conserve the one-hot target's 1 through every block, biases or not (the linear rule leaves the
    bias out of its denominator). Their stabiliser adds 1e-9 to each denominator, so a rule keeps R z / (z + 1e-9):
    with denominators of 1e-3 or more, ~1e-6 relative per rule at most; in float64 the whole pass stays within 1e-5
    of 1, and in float32 (rounding of ~1e-7 per operation over ~12 rules a block) within 1e-4."""
    model = _trained_like(make_model(layout, DEVICE))
    pixels = input_for(model, batch=2, device=DEVICE)
    single = transformer_attribution(model, pixels, target_class=1)
    assert single.block_sums.shape == (2, len(model.blocks) + 1)
    assert (single.block_sums - 1).abs().max() < 1e-4
    assert (single.token_relevance.sum(dim=1) - 1).abs().max() < 1e-4  # at the tokens too
    double = transformer_attribution(model.double(), pixels.double(), target_class=1)
    assert (double.block_sums - 1).abs().max() < 1e-5
    assert (double.token_relevance.double().sum(dim=1) - 1).abs().max() < 1e-5


def test_conservation_can_fail_when_a_product_keeps_both_whole_shares(monkeypatch):
    """Without halving, q k^T and A v each pass their whole relevance to both operands: the sum grows by the
    attention branch's share at every block."""
    model = _trained_like(make_model("class_token", DEVICE))
    pixels = input_for(model, batch=2, device=DEVICE)
    monkeypatch.setattr(relprop, "OPERAND_SHARE", 1.0)
    got = transformer_attribution(model, pixels, target_class=1)
    assert (got.block_sums[:, 0] - 1).abs().min() > 0.1


# -- (2) a 2-layer model by hand (NumPy) -----------------------------------------------------------------------------

def _tiny_model() -> torch.nn.Module:
    """Two blocks, 4 channels, 2 heads of 2, a 4-wide MLP, 3 classes, a 4x8 grey image of two 4x4 patches (3 tokens),
    every weight fixed from a seeded NumPy draw."""
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=(4, 8), patch_size=4, in_chans=1,
                              embed_dim=4, depth=2, num_heads=2, mlp_ratio=1.0, num_classes=3, qkv_bias=True,
                              dynamic_img_size=False).eval().double()
    rng = np.random.default_rng(7)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            param.copy_(torch.from_numpy(rng.normal(0, 0.6, param.shape)))
    return model


def _p(model, name):
    return dict(model.named_parameters())[name].detach().numpy()


def _layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _numpy_forward(model, image, override=None):
    """The ViT in NumPy for one image ``[1, 4, 8]``; `override` {layer: A [head, n, n]} replaces that layer's
    attention. Returns (logits [3], per layer the rules' inputs)."""
    p = lambda name: _p(model, name)  # noqa: E731
    patches = np.stack([image[0, :, 0:4].reshape(-1), image[0, :, 4:8].reshape(-1)])  # [2, 16], (kh, kw) order
    tokens = patches @ p("patch_embed.proj.weight").reshape(4, 16).T + p("patch_embed.proj.bias")
    x = np.concatenate([p("cls_token")[0], tokens]) + p("pos_embed")[0]  # [3, 4]
    eps = model.blocks[0].norm1.eps
    layers = []
    for i in range(2):
        b = f"blocks.{i}."
        h1 = _layer_norm(x, p(b + "norm1.weight"), p(b + "norm1.bias"), eps)
        qkv = (h1 @ p(b + "attn.qkv.weight").T + p(b + "attn.qkv.bias")).reshape(3, 3, 2, 2)  # [token, qkv, head, d]
        q, k, v = (qkv[:, j].transpose(1, 0, 2) for j in range(3))  # [head, token, d]
        logits = q @ k.transpose(0, 2, 1) / math.sqrt(2)
        a = np.exp(logits - logits.max(-1, keepdims=True))
        a = a / a.sum(-1, keepdims=True)
        if override and i in override:
            a = override[i]
        o = (a @ v).transpose(1, 0, 2).reshape(3, 4)
        branch1 = o @ p(b + "attn.proj.weight").T + p(b + "attn.proj.bias")
        mid = x + branch1
        h2 = _layer_norm(mid, p(b + "norm2.weight"), p(b + "norm2.bias"), eps)
        g = _gelu(h2 @ p(b + "mlp.fc1.weight").T + p(b + "mlp.fc1.bias"))
        branch2 = g @ p(b + "mlp.fc2.weight").T + p(b + "mlp.fc2.bias")
        layers.append(dict(x=x, h1=h1, q=q, k=k, v=v, a=a, o=o, branch1=branch1, mid=mid, h2=h2, g=g, branch2=branch2))
        x = mid + branch2
    final = _layer_norm(x, p("norm.weight"), p("norm.bias"), model.norm.eps)
    return final[0] @ p("head.weight").T + p("head.bias"), layers, final


def _z_plus(x, weight, relevance):
    """LRP alpha=1 beta=0 for one token: R_i = sum_j (x_i w_ji)^+ / sum_i' (x_i' w_ji')^+ R_j."""
    z = np.maximum(x[:, None] * weight.T, 0)  # [in, out]
    total = z.sum(0)
    return np.divide(z, total, out=np.zeros_like(z), where=total > 0) @ relevance  # none positive: R_j dropped


def _product(left, right, relevance):
    """Gradient x input through left @ right (one head), each operand half: the contributions left_ij right_jd."""
    c = left[:, :, None] * right[None, :, :]  # [i, j, d]
    share = c / c.sum(1, keepdims=True) * relevance[:, None, :]
    return 0.5 * share.sum(2), 0.5 * share.sum(0)


def _add(a, b, relevance):
    ra, rb = a * relevance / (a + b), b * relevance / (a + b)
    sa, sb, total = ra.sum(), rb.sum(), abs(ra.sum()) + abs(rb.sum())
    return ra * abs(sa) / total * relevance.sum() / sa, rb * abs(sb) / total * relevance.sum() / sb


def _numpy_attribution(model, image, target):
    logits, layers, final = _numpy_forward(model, image)
    gradients = []  # d logit_target / d A_l by central differences
    for i in range(2):
        grad = np.zeros_like(layers[i]["a"])
        for index in np.ndindex(grad.shape):
            step = np.zeros_like(grad)
            step[index] = 1e-6
            up = _numpy_forward(model, image, {i: layers[i]["a"] + step})[0][target]
            down = _numpy_forward(model, image, {i: layers[i]["a"] - step})[0][target]
            grad[index] = (up - down) / 2e-6
        gradients.append(grad)
    p = lambda name: _p(model, name)  # noqa: E731
    relevance = np.zeros((3, 4))
    relevance[0] = _z_plus(final[0], p("head.weight"), np.eye(3)[target])
    cams = [None, None]
    for i in (1, 0):
        layer, b = layers[i], f"blocks.{i}."
        res, branch = _add(layer["mid"], layer["branch2"], relevance)
        branch = np.stack([_z_plus(layer["g"][t], p(b + "mlp.fc2.weight"), branch[t]) for t in range(3)])
        branch = np.stack([_z_plus(layer["h2"][t], p(b + "mlp.fc1.weight"), branch[t]) for t in range(3)])
        res, branch = _add(layer["x"], layer["branch1"], res + branch)
        branch = np.stack([_z_plus(layer["o"][t], p(b + "attn.proj.weight"), branch[t]) for t in range(3)])
        per_head = branch.reshape(3, 2, 2).transpose(1, 0, 2)
        r_a, r_v, r_q, r_k = (np.zeros((2, 3, 3)), np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), np.zeros((2, 3, 2)))
        for h in range(2):
            r_a[h], r_v[h] = _product(layer["a"][h], layer["v"][h], per_head[h])
            r_q[h], r_kt = _product(layer["q"][h], layer["k"][h].T, r_a[h])
            r_k[h] = r_kt.T
        cams[i] = r_a
        r_qkv = np.stack([r_q, r_k, r_v]).transpose(2, 0, 1, 3).reshape(3, 12)  # [token, (qkv, head, d)]
        branch = np.stack([_z_plus(layer["h1"][t], p(b + "attn.qkv.weight"), r_qkv[t]) for t in range(3)])
        relevance = res + branch
    rollout = np.eye(3)
    for i in (0, 1):
        rollout = rollout + np.maximum(cams[i] * gradients[i], 0).mean(0) @ rollout
    return logits, rollout[0, 1:], relevance.sum()


def test_a_two_layer_model_matches_the_rules_computed_in_numpy():
    model = _tiny_model()
    image = np.random.default_rng(11).normal(0, 1, (1, 4, 8))
    got = transformer_attribution(model, torch.from_numpy(image)[None], target_class=2)
    logits, expected, total = _numpy_attribution(model, image, 2)
    np.testing.assert_allclose(got.logits[0].numpy(), logits, rtol=1e-6, atol=1e-6)  # the NumPy forward is the ViT
    # 4 channels: some outputs of a linear layer get no positive contribution (1 in 16 for 4 random signs), and
    # the alpha=1 rule drops their relevance (a zero denominator), here a negative share: the total is not 1, the
    # same in both (the implementation's 1e-9 stabiliser against NumPy's exact division: 1e-6 relative)
    assert abs(total - 1) > 0.1 and abs(float(got.block_sums[0, 0]) / total - 1) < 1e-6
    assert (expected.max() - expected.min()) / expected.max() > 0.1  # the two patches differ: a map, not a constant
    # float32 rollout (relevance_from_gradients) and finite-difference gradients (~1e-9): 1e-5 relative
    np.testing.assert_allclose(got.heatmap[0].reshape(-1).numpy(), expected, rtol=1e-5, atol=1e-9)


def test_the_rules_on_numbers_by_hand():
    # z+: x = (1, -2), w = [[1, 1], [-1, 2]]: output 0's contributions x_i w_0i = (1, -2), positive parts (1, 0): all
    # of its 0.6 to input 0; output 1's (-1, -4): none positive, z+ = 0, its 0.4 is dropped (a zero denominator)
    x, w = torch.tensor([1.0, -2.0]), torch.tensor([[1.0, 1.0], [-1.0, 2.0]])
    torch.testing.assert_close(relprop.linear_rule(x, w, torch.tensor([0.6, 0.4])), torch.tensor([0.6, 0.0]))
    # output 0 of w2 = [[2, -1]]: contributions (2, 2), z+ = 4: R splits half and half
    torch.testing.assert_close(relprop.linear_rule(x, torch.tensor([[2.0, -1.0]]), torch.tensor([1.0])),
                               torch.tensor([0.5, 0.5]))
    # add: first (1, 3), second (-1, 1), R (1, 1): z = (0, 4), so element 0 passes nothing (a zero denominator);
    # a = (0, 3/4), b = (0, 1/4), shares 3/4 and 1/4 of the whole sum 2: a = (0, 3/2), b = (0, 1/2)
    a, b = relprop.add_rule(torch.tensor([[1.0, 3.0]]), torch.tensor([[-1.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close((a, b), (torch.tensor([[0.0, 1.5]]), torch.tensor([[0.0, 0.5]])))
    # a negative branch: first (2,), second (-1,), R (1,): a = 2, b = -1; |2| / 3 and |-1| / 3 of 1, b keeps its sign
    a, b = relprop.add_rule(torch.tensor([[2.0]]), torch.tensor([[-1.0]]), torch.tensor([[1.0]]))
    torch.testing.assert_close((a, b), (torch.tensor([[2 / 3]]), torch.tensor([[1 / 3]])))
    # product [[1, 2]] @ [[3], [4]] = 11, R 1: left (3/11, 8/11) / 2, right (3/11, 8/11)^T / 2
    left, right = relprop.matmul_rule(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0], [4.0]]), torch.tensor([[1.0]]))
    torch.testing.assert_close(left, torch.tensor([[3 / 22, 8 / 22]]))
    torch.testing.assert_close(right, torch.tensor([[3 / 22], [8 / 22]]))


# -- (3) a batch equals its images one by one --------------------------------------------------------------------------

@pytest.mark.parametrize("layout", COVERED)
def test_a_batch_equals_its_images_one_by_one(layout):
    model = _trained_like(make_model(layout, DEVICE))
    pixels = input_for(model, batch=3, device=DEVICE)
    targets = torch.tensor([0, 5, 2], device=DEVICE)
    batch = transformer_attribution(model, pixels, target_class=targets)
    with torch.no_grad():
        torch.testing.assert_close(batch.logits, model(pixels).float(), rtol=1e-4, atol=1e-5)  # the model's own
    for i in range(3):
        alone = transformer_attribution(model, pixels[i : i + 1], target_class=int(targets[i]))
        scale = alone.heatmap.abs().max()
        assert scale > 0
        torch.testing.assert_close(batch.heatmap[i : i + 1], alone.heatmap, rtol=1e-4, atol=1e-5 * float(scale))
        torch.testing.assert_close(batch.block_sums[i : i + 1], alone.block_sums, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(batch.heatmap[0], batch.heatmap[1])  # each image its own map


def test_the_registry_computes_it_and_the_distilled_readout_is_followed():
    model = _trained_like(make_model("distilled", DEVICE))
    pixels = input_for(model, batch=2, device=DEVICE)
    target = torch.tensor([1, 2], device=DEVICE)
    maps = {d: explanation_maps(model, pixels, ["transformer_attribution"], target=target,
                                settings=ExplainSettings(distilled=d))["transformer_attribution"]
            for d in ("cls", "dist", "mean")}
    torch.testing.assert_close(maps["mean"], 0.5 * (maps["cls"] + maps["dist"]))
    assert not torch.allclose(maps["cls"], maps["dist"])
    direct = transformer_attribution(model, pixels, target_class=target, distilled="cls").heatmap
    torch.testing.assert_close(maps["cls"], direct)


# -- (4) refusals --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("layout", "what"), [
    ("registers_gap", r"the head's 'avg' pooling.*LayerScale"),
    ("attention_pool", r"the head's 'map' pooling"),
    ("swiglu_packed", r"a GluMlp MLP"),
    ("class_and_mean_registers", r"the head's 'token\+avg' pooling"),
])
def test_what_their_rules_do_not_cover_is_refused_in_one_sentence(layout, what):
    model = make_model(layout, DEVICE)
    with pytest.raises(NotAvailableError, match=rf"^Transformer Attribution \(Chefer et al. CVPR 2021\) has no rule "
                       rf"for {what}.*; choose relevance \(GAE\), Grad-CAM or LRP\.$"):
        transformer_attribution(model, input_for(model, batch=1, device=DEVICE))


def test_layerscale_a_backbone_and_training_mode_are_refused():
    torch.manual_seed(0)
    scaled = timm.create_model("test_vit", pretrained=False, init_values=0.1).eval()
    with pytest.raises(NotAvailableError, match=r"no rule for LayerScale in this model"):
        transformer_attribution(scaled, input_for(scaled, batch=1))
    backbone = timm.create_model("test_vit", pretrained=False, num_classes=0).eval()
    with pytest.raises(NotAvailableError, match=r"explains a class, and this model has no classifier"):
        transformer_attribution(backbone, input_for(backbone, batch=1))
    plain = make_model("class_token")
    with pytest.raises(SettingsError, match="training mode"):
        transformer_attribution(plain.train(), input_for(plain, batch=1))
    with pytest.raises(NotAvailableError, match=r"needs a timm VisionTransformer, not Linear; choose relevance"):
        transformer_attribution(torch.nn.Linear(3, 2).eval(), torch.zeros(1, 3, 16, 16))
    gelu_free = timm.create_model("test_vit", pretrained=False, act_layer="relu").eval()
    with pytest.raises(NotAvailableError, match=r"no rule for a Mlp MLP with ReLU"):
        transformer_attribution(gelu_free, input_for(gelu_free, batch=1))


# -- where it appears: analyze --methods, evaluate ------------------------------------------------------------------------

def test_analyze_writes_it_and_evaluate_measures_it(tmp_path, capsys):
    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (160, 160, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "r.npz"
    assert main(["analyze", str(image), "--model", "test_vit", "--random-weights", "--device", "cpu", "--out", str(out),
                 "--no-attention", "--methods", "relevance,transformer_attribution"]) == 0
    result = AnalysisResult.from_npz(out)
    assert result.transformer_attribution.shape == (1, 10, 10) and result.transformer_attribution.dtype == np.float32
    assert not np.allclose(result.transformer_attribution, result.relevance)  # a method of its own, not GAE again
    assert "transformer_attribution" in result.provenance.settings["methods"]
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scenes(scenes, 2, seed=7)
    report_file, curves, table = tmp_path / "report.json", tmp_path / "curves.npz", tmp_path / "table.md"
    assert main(["evaluate", str(scenes), "--methods", "transformer_attribution,random", "--out", str(report_file),
                 "--curves", str(curves), "--markdown", str(table), "--device", "cpu", "--no-progress"]) == 0
    # (the bundled demo model: a plain class-token ViT)
    report = json.loads(report_file.read_text())
    assert report["methods"]["transformer_attribution"]["positive_auc"]["images"] == 2
    assert "transformer_attribution" in capsys.readouterr().out
    assert np.load(curves)["transformer_attribution_positive"].shape == (2, 10)
    assert "| transformer_attribution |" in table.read_text()


def test_the_faithfulness_page_offers_it_by_default_and_names_both_chefer_methods_by_paper():
    from app_support import run_app

    from vit_core.methods.registry import FAITHFULNESS_DEFAULT
    from viz_app import state

    assert "transformer_attribution" in FAITHFULNESS_DEFAULT
    at = run_app(page="faithfulness", methods="relevance,transformer_attribution,random")
    assert not at.error, [e.value for e in at.error]
    assert at.multiselect(key=state.FAITH_METHODS).value == ["relevance", "transformer_attribution", "random"]
    table = at.table[0].value
    assert list(table.columns) == ["Relevance (GAE, ICCV 2021)", "Transformer Attribution (CVPR 2021)",
                                   "Random (baseline)"]
    assert table.notna().all().all()  # every measure computed for it
    picker_help = at.multiselect(key=state.FAITH_METHODS).help
    assert "Chefer, Gur & Wolf" in picker_help and "GAE (ICCV 2021" in picker_help and "(CVPR 2021" in picker_help


def test_evaluate_and_the_faithfulness_page_leave_it_out_where_it_refuses_and_say_so(tmp_path, capsys):
    """A model their rules do not cover (average pooling and LayerScale): the default lists hold every method, so
    evaluate and the page leave Transformer Attribution out with its sentence instead of failing every method."""
    from app_support import APP, TIMEOUT, interact
    from layouts import registered_name
    from streamlit.testing.v1 import AppTest

    from vit_core.methods.registry import refusals
    from viz_app import state

    name = registered_name("registers_gap")
    refused = refusals(make_model("registers_gap"), ["raw", "relevance", "transformer_attribution", "random"])
    assert list(refused) == ["transformer_attribution"] and "LayerScale" in str(refused["transformer_attribution"])
    assert refusals(make_model("class_token"), ["transformer_attribution"]) == {}
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scenes(scenes, 1, seed=7)
    common = ["--model", name, "--random-weights", "--device", "cpu", "--no-progress"]
    report_file = tmp_path / "report.json"
    assert main(["evaluate", str(scenes), "--methods", "raw,transformer_attribution,random", "--out", str(report_file),
                 *common]) == 0
    assert "transformer_attribution left out: Transformer Attribution" in capsys.readouterr().err
    report = json.loads(report_file.read_text())
    assert set(report["methods"]) == {"raw", "random"}
    assert "LayerScale" in report["not_computed"]["transformer_attribution"]
    assert main(["evaluate", str(scenes), "--methods", "transformer_attribution,random", "--out",
                 str(tmp_path / "none.json"), *common]) != 0  # nothing but a baseline left: refused
    assert "has no rule for" in capsys.readouterr().err and not (tmp_path / "none.json").exists()

    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    interact(app, lambda: app.selectbox(key=state.MODEL_CHOICE).set_value(state.OTHER_TIMM))
    interact(app, lambda: app.text_input(key=state.MODEL_NAME).input(name))
    interact(app, lambda: app.toggle(key=state.RANDOM_WEIGHTS).set_value(True))
    app.switch_page("viz_app/pages/faithfulness.py").run()
    interact(app, lambda: app.multiselect(key=state.FAITH_METHODS).set_value(["raw", "transformer_attribution"]))
    assert not app.exception and not app.error, [e.value for e in [*app.exception, *app.error]]
    captions = [c.value for c in app.caption]
    assert any(c.startswith("Transformer Attribution (CVPR 2021) is not computed for this model: Transformer "
                            "Attribution (Chefer et al. CVPR 2021) has no rule for") for c in captions), captions
    assert list(app.table[0].value.columns) == ["Raw attention (last layer)"]


def test_an_input_whose_attention_copies_do_not_fit_is_refused_before_any_work(monkeypatch):
    import importlib

    module = importlib.import_module("vit_core.methods.transformer_attribution")  # the package's name is the function

    model = make_model("class_token")
    pixels = input_for(model, batch=2)
    needed = 3 * 2 * 6 * 2 * 101**2 * 4  # three copies of [batch 2, layer 6, head 2, 101, 101] float32
    monkeypatch.setattr(module, "available_memory_bytes", lambda device: needed - 1)
    with pytest.raises(NotAvailableError, match=r"holds 3 copies of every layer's full attention, 0.0 GB for this "
                                                r"input, and the cpu has 0.0 GB free; choose a smaller image size"):
        transformer_attribution(model, pixels)
    monkeypatch.setattr(module, "available_memory_bytes", lambda device: needed)
    assert transformer_attribution(model, pixels).heatmap.shape == (2, 10, 10)
