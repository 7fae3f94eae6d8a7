"""`python -m vit_core inspect --ablate/--mean-ablate`: the head-importance keys and the ablation run it writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from vit_core.cli import main
from vit_core.inside.ablation import ablated_forward, head_means, sample_reference
from vit_core.models.loading import ModelRequest

MODEL = ["--model", "test_vit", "--random-weights", "--device", "cpu"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for index in range(2):
        array = np.random.default_rng(index).integers(0, 255, (120, 140, 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"image{index}.png")
        paths.append(folder / f"image{index}.png")
    return paths


def test_inspect_writes_head_importance_and_the_ablation_run(images, tmp_path, capsys):
    out = tmp_path / "inside.npz"
    code = main(["inspect", *map(str, images), *MODEL, "--out", str(out),
                 "--ablate", "0:1", "--mean-ablate", "5:0,2:1", "--mask-tokens", "3"])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    result = np.load(out)
    assert result["head_importance"].shape == result["head_importance_mean"].shape == (2, 6, 2)
    assert result["ablated_mean_heads"].tolist() == [[2, 1], [5, 0]]
    assert result["ablated_zero_heads"].tolist() == [[0, 1]]
    assert result["ablated_masked_tokens"].tolist() == [3]
    assert result["ablated_rollout"].shape == (2, 10, 10)
    provenance = json.loads(str(result["provenance"]))
    assert provenance["settings"]["mean_ablate"] == "5:0,2:1"

    # the same numbers computed another way: one ablated forward per head, from the file's own input
    loaded = ModelRequest(name="test_vit", device="cpu", pretrained=False).load()
    pixels = torch.from_numpy(result["pixel_values"])
    reference = sample_reference(loaded.data_config, (160, 160))
    assert int(result["head_importance_reference"]) == reference.shape[0]
    means = head_means(loaded.model, reference)
    clean = ablated_forward(loaded.model, pixels)
    top = result["head_importance_target"]
    assert top.tolist() == clean.argmax(-1).tolist()
    for layer, head in [(0, 0), (3, 1), (5, 1)]:
        for mode, key in [("zero", "head_importance"), ("mean", "head_importance_mean")]:
            ablated = ablated_forward(loaded.model, pixels, [(layer, head)], mode=mode, means=means)
            want = (clean - ablated)[np.arange(2), top].numpy()
            np.testing.assert_allclose(result[key][:, layer, head], want, atol=1e-4, rtol=1e-4)
    # the ablation run: zero 0:1 and mean 5:0, 2:1 together, token 3 masked; nested contexts by hand
    from vit_core.inside.ablation import Ablating

    with Ablating(loaded.model, [(0, 1)], "zero", masked_tokens=[3]):
        want = ablated_forward(loaded.model, pixels, [(2, 1), (5, 0)], mode="mean", means=means)
    np.testing.assert_allclose(result["ablated_logits"], want.numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("flags", "sentence"), [
    (["--ablate", "6:0"], "this model has layers 0 to 5"),
    (["--mean-ablate", "0:2"], "this model has heads 0 to 1"),
    (["--ablate", "0-1"], "is not LAYER:HEAD"),
    (["--mask-tokens", "101"], "this input has tokens 0 to 100"),
    (["--ablate", "1:1", "--mean-ablate", "1:1"], "name it in one list only"),
    (["--target-class", "1"], "--no-head-importance leaves no head-importance table"),  # else silently ignored
])
def test_inspect_refuses_bad_heads_in_one_sentence_and_writes_nothing(images, tmp_path, capsys, flags, sentence):
    out = tmp_path / "never.npz"
    code = main(["inspect", str(images[0]), *MODEL, "--out", str(out), "--no-head-importance", *flags])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert sentence in error and error.count("\n") == 0
    assert not out.exists()
