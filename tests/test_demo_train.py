"""Pieces of the demo model's training recipe that the figures depend on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vit_core.demo.scenes import generate, patch_fractions
from vit_core.demo.train import _dihedral, build, features, mimetic_init, sincos_pos_init


def test_window_features_equal_timm_forward_on_full_input():
    torch.manual_seed(0)
    model = build(224).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(features(model, x), model.forward_features(x), atol=1e-6)


def test_window_uses_the_matching_block_of_position_embeddings():
    """A 112 px window at patch offset (r, c) sees the same tokens as that window inside a 224 px input."""
    torch.manual_seed(0)
    model = build(224).eval()
    p = model.num_prefix_tokens
    x = torch.randn(1, 3, 112, 112)
    tokens = model.patch_embed.proj(x).flatten(2).transpose(1, 2)
    pos = model.pos_embed[0, p:].reshape(14, 14, -1)[3:10, 5:12].reshape(49, -1)
    with torch.no_grad():
        model.blocks = torch.nn.Sequential()  # compare the embedding stage only
        model.norm = torch.nn.Identity()
        out = features(model, x, (3, 5))
    assert torch.allclose(out[0, p:], (tokens + pos)[0], atol=1e-6)


def test_sincos_and_mimetic_init():
    model = build(224)
    sincos_pos_init(model)
    assert torch.all(model.pos_embed[0, 0] == 0) and model.pos_embed[0, 1:].abs().max() <= 1.0
    mimetic_init(model, torch.Generator().manual_seed(0))
    attn = model.blocks[0].attn
    dim, hd = model.embed_dim, attn.head_dim
    wq, wk, wv = attn.qkv.weight[:dim], attn.qkv.weight[dim : 2 * dim], attn.qkv.weight[2 * dim :]
    qk = wq[:hd].T @ wk[:hd]  # head 0's W_q W_k^T (rank head_dim), ~ a Z + b I on its top subspace
    assert torch.trace(qk) > 0.3 * hd
    ov = attn.proj.weight @ wv  # W_o W_v ~ a Z - b I
    assert torch.diagonal(ov).mean() < -0.5


def test_dihedral_keeps_patch_labels_on_their_pixels():
    batch = generate(2, seed=11)
    x = torch.from_numpy(batch.images).permute(0, 3, 1, 2).float()
    frac = patch_fractions(batch.masks[:, 0], 16)
    mask_img = torch.from_numpy(batch.masks[:, 0]).float()[:, None]
    for k in range(8):
        xm, t = _dihedral(mask_img, torch.from_numpy(frac), k)
        assert np.allclose(patch_fractions(xm[:, 0].numpy() > 0.5, 16), t.numpy())
        assert _dihedral(x, torch.from_numpy(frac), k)[0].shape == x.shape


def test_neighbour_targets_against_loops():
    from vit_core.demo.train import BACKGROUND, neighbour_targets

    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(np.where(rng.random((2, 5, 6)) < 0.4, 3, BACKGROUND))
    got = neighbour_targets(tokens)
    assert got.shape == (2, 5, 6, 4)
    for n in range(2):
        for r in range(5):
            for c in range(6):
                for k, (dr, dc) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
                    rr, cc = r + dr, c + dc
                    want = 0 <= rr < 5 and 0 <= cc < 6 and tokens[n, rr, cc] != BACKGROUND
                    assert got[n, r, c, k] == float(want)


def test_features_keep_returns_the_tokens_after_that_block():
    torch.manual_seed(0)
    model = build(224).eval()
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        out, hidden = features(model, x, (2, 3), keep=1)
        assert torch.allclose(out, features(model, x, (2, 3)), atol=1e-6)
        model.blocks = model.blocks[:2]
        model.norm = torch.nn.Identity()
        assert torch.allclose(hidden, features(model, x, (2, 3)), atol=1e-6)


def test_centring_the_position_embeddings_keeps_the_network():
    from vit_core.demo.train import centre_position_embeddings

    torch.manual_seed(0)
    model = build(224).eval()
    sincos_pos_init(model)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        before = model(x)
        mean = centre_position_embeddings(model)
        assert mean.abs().max() > 0.1  # sin-cos tables share a large component
        assert torch.allclose(model(x), before, atol=1e-5)
        assert model.pos_embed[0, 1:].mean(0).abs().max() < 1e-6


def test_locality_init_makes_those_heads_attend_near_their_own_patch():
    """At the start, a head so initialised attends within about a patch; the other heads keep mimetic attention."""
    from vit_core.attention.capture import capture
    from vit_core.demo.train import locality_init
    from vit_core.methods.distance import mean_attention_distance

    torch.manual_seed(0)
    model = build(224).eval()
    sincos_pos_init(model)
    mimetic_init(model, torch.Generator().manual_seed(0))
    x = torch.from_numpy(generate(2, seed=11).images).permute(0, 3, 1, 2).float() / 127.5 - 1
    before = capture(model, x)
    before = mean_attention_distance(before.attention, before.geometry).mean(0)  # [layer, head]
    locality_init(model, heads=1)
    cap = capture(model, x)
    after = mean_attention_distance(cap.attention, cap.geometry).mean(0)
    assert before[:2, 0].min() > 60 and after[:2, 0].max() < 25  # px: local, from global
    assert torch.allclose(after[0, 1:], before[0, 1:], atol=1e-3)  # block 0's other heads are untouched


def test_locality_init_adapts_its_bands_to_the_head_dim():
    """At width 128 with 8 heads (head dim 16) the local start reads 4 bands per axis, and is still local."""
    from vit_core.attention.capture import capture
    from vit_core.demo.train import locality_init
    from vit_core.methods.distance import mean_attention_distance

    torch.manual_seed(0)
    model = build(224, embed_dim=128, num_heads=8).eval()
    sincos_pos_init(model)
    mimetic_init(model, torch.Generator().manual_seed(0))
    locality_init(model, heads=1)
    x = torch.from_numpy(generate(2, seed=11).images).permute(0, 3, 1, 2).float() / 127.5 - 1
    cap = capture(model, x)
    distance = mean_attention_distance(cap.attention, cap.geometry).mean(0)  # [layer, head]
    assert distance[0, 0] < 25 and distance[1, 0] < 0.5 * distance[1, 1:].mean()  # px: 15 and 42 against about 100


def test_a_weights_file_carries_its_architecture(tmp_path):
    """A demo model of another width and head count, saved as train.py saves it, loads at its own sizes, by a
    file given to the registry and by evaluate's --weights; a file without metadata (the first two versions)
    gets its width and depth from its tensors and ARCH's heads."""
    import timm
    from safetensors.torch import save_file

    from vit_core.demo.evaluate import load
    from vit_core.demo.registry import NAME, architecture
    from vit_core.demo.train import architecture_metadata

    model = build(224, embed_dim=64, num_heads=8).eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    tagged, bare = tmp_path / "tagged.safetensors", tmp_path / "bare.safetensors"
    save_file(state, str(tagged), metadata=architecture_metadata(model))
    save_file(state, str(bare))
    assert architecture(tagged)["num_heads"] == 8 and architecture(bare)["num_heads"] == 4
    assert architecture(bare)["embed_dim"] == 64 and architecture(bare)["depth"] == len(model.blocks)
    by_registry = timm.create_model(NAME, pretrained=True, pretrained_cfg_overlay={"file": str(tagged)}).eval()
    by_evaluate = load(tagged)
    x = torch.randn(1, 3, 224, 224)
    for loaded in (by_registry, by_evaluate):
        assert loaded.embed_dim == 64 and loaded.blocks[0].attn.num_heads == 8
        assert torch.allclose(loaded(x), model(x), atol=1e-5)


def test_a_weights_file_says_how_its_class_logits_read(tmp_path):
    """A presence-trained file records class_output "sigmoid"; load_model hands it on (the app and the CLI read
    the logits with it); a file without the key is softmax, as the first versions were trained."""
    import timm
    from safetensors.torch import save_file

    from vit_core.demo.registry import NAME, class_output
    from vit_core.demo.train import architecture_metadata
    from vit_core.models.loading import load_model

    model = build(224, embed_dim=32, num_heads=2).eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    presence, bare = tmp_path / "presence.safetensors", tmp_path / "bare.safetensors"
    save_file(state, str(presence), metadata=architecture_metadata(model, "sigmoid"))
    save_file(state, str(bare))
    assert class_output(presence) == "sigmoid" and class_output(bare) == "softmax"
    by_registry = timm.create_model(NAME, pretrained=True, pretrained_cfg_overlay={"file": str(presence)})
    assert by_registry.pretrained_cfg["class_output"] == "sigmoid"
    bundled = load_model(NAME, device="cpu")
    assert bundled.class_output == class_output(bundled.weights_file)
    assert load_model(f"{NAME}.first_version", device="cpu").class_output == "softmax"
    # a checkpoint of the demo architecture is built and read as its own file says, not as the bundled file does
    by_file = load_model(NAME, presence, device="cpu")
    assert by_file.class_output == "sigmoid" and by_file.model.embed_dim == 32
    assert load_model(NAME, presence, device="cpu", pretrained=False).class_output == "sigmoid"  # its random control
    assert load_model(NAME, bare, device="cpu").class_output == "softmax"


def test_invert_polarity_gives_the_negative_of_exactly_the_chosen_images():
    """A negative is 255 - pixel before normalisation: the same as -x after it (mean and std 0.5)."""
    from vit_core.demo.train import _prepare, invert_polarity

    images = torch.from_numpy(generate(3, seed=4, size=112, style="outline").images)
    which = np.array([True, False, True])
    out = invert_polarity(_prepare(images, torch.device("cpu")), which)
    expected = _prepare(torch.where(torch.from_numpy(which)[:, None, None, None], 255 - images, images), torch.device("cpu"))
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    untouched = _prepare(images, torch.device("cpu"))
    assert torch.equal(invert_polarity(untouched, np.zeros(3, bool)), untouched)


def test_presence_loss_is_a_sigmoid_per_class_and_not_free_up_to_a_shift():
    """``presence``: -sum_c [y_c log s(z_c) + (1 - y_c) log(1 - s(z_c))], hand-computed; a shift of every logit,
    free under softmax, changes it."""
    import math

    from vit_core.demo.train import class_loss

    logits = torch.tensor([[2.0, -1.0, 0.0], [0.5, 0.5, -3.0]])
    soft = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])  # one-object scene, then a two-object one

    def sig(z: float) -> float:
        return 1 / (1 + math.exp(-z))

    by_hand = (
        -(math.log(1 - sig(2.0)) + math.log(1 - sig(-1.0)) + math.log(sig(0.0)))
        - (2 * math.log(sig(0.5)) + math.log(1 - sig(-3.0)))
    ) / 2
    assert math.isclose(float(class_loss(logits, soft, "presence")), by_hand, rel_tol=1e-6)
    assert torch.allclose(class_loss(logits, torch.tensor([2, 0]), "presence"), class_loss(logits, torch.tensor([[0.0, 0, 1], [1, 0, 0]]), "presence"))
    shifted = logits + 5.0
    assert torch.allclose(class_loss(shifted, soft, "softmax"), class_loss(logits, soft, "softmax"))
    assert float(class_loss(shifted, soft, "presence")) > float(class_loss(logits, soft, "presence")) + 1.0


@pytest.mark.parametrize("after", ["224px", "224px-pairs"])
def test_a_run_resumed_after_a_224px_phase_gives_the_whole_runs_weights(tmp_path, after):
    """``--init <work-dir>/<phase>.pt --init-after <phase>`` retrains only the later phases, and ends where the whole
    command ends: the bundled model's last phases were trained that way (its card's ``run_as``)."""
    from safetensors.torch import load_file

    from vit_core.demo.train import parser, train

    tiny = [
        "--scenes-small", "24", "--scenes-full", "16", "--scenes-pairs", "8", "--val-scenes", "4", "--steps-small", "2",
        "--steps-small2", "2", "--steps-full", "2", "--steps-pairs", "3", "--steps-hard", "3", "--hard-scenes", "4",
        "--batch", "4", "--batch-full", "4",
        "--warmup", "1", "--warmup2", "1", "--warmup-full", "1", "--embed-dim", "32", "--threads", "1", "--workers", "1",
        "--log-every", "1", "--eval-every", "1", "--precision", "fp32",
    ]
    threads = torch.get_num_threads()  # train() sets them
    whole = tmp_path / "whole"
    train(parser().parse_args(tiny + ["--out", str(whole), "--work-dir", str(whole / "work")]))
    resumed = tmp_path / "resumed"
    train(parser().parse_args(
        tiny + ["--out", str(resumed), "--work-dir", str(resumed / "work"), "--init", str(whole / "work" / f"{after}.pt"),
                "--init-after", after]
    ))
    torch.set_num_threads(threads)
    a, b = (load_file(str(d / "vit_demo_shapes.safetensors")) for d in (whole, resumed))
    assert a.keys() == b.keys()
    before = torch.load(whole / "work" / f"{after}.pt")["model"]
    assert not torch.equal(a["head.weight"], before["head.weight"])  # the later phases did train
    for key in a:
        assert torch.equal(a[key], b[key]), key
