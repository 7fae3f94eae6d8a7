"""Many users at once through one shared model, and settings that must be refused."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import timm
import torch

from vit_core.errors import SettingsError
from vit_core.methods.token_attention import token_attention
from vit_core.models.types import Geometry
from vit_core.runs.analysis import RolloutSettings, analyze

THREADS, ROUNDS = 8, 50


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_eight_threads_fifty_rounds_each_get_their_own_image():
    torch.manual_seed(0)
    model = timm.create_model("test_vit", pretrained=False, img_size=64, num_classes=6).eval()
    images = [torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(THREADS)]
    expected = [analyze(model, x, attention="none", model_views=False) for x in images]
    errors: list[str] = []
    barrier = threading.Barrier(THREADS)

    def user(index: int) -> None:
        barrier.wait()
        for round_ in range(ROUNDS):
            try:
                got = analyze(model, images[index], attention="none", model_views=False)
            except Exception as error:  # noqa: BLE001 - any failure in a thread is a test failure
                errors.append(f"thread {index} round {round_}: {type(error).__name__}: {error}")
                return
            for key in ("logits", "rollout", "relevance", "cls_attention", "mean_attention_distance"):
                if not np.allclose(getattr(got, key), getattr(expected[index], key), atol=1e-5):
                    errors.append(f"thread {index} round {round_}: {key} differs from its single-threaded result")
                    return

    threads = [threading.Thread(target=user, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert hook_count(model) == 0


@pytest.mark.parametrize(
    "settings",
    [
        {"discard_ratio": 1.0},
        {"discard_ratio": -0.1},
        {"residual_weight": 1.5},
        {"head_fusion": "median"},
    ],
)
def test_out_of_range_rollout_settings_are_refused(settings):
    with pytest.raises(SettingsError):
        RolloutSettings(**settings)


def test_start_layer_beyond_depth_is_refused():
    model = timm.create_model("test_vit", pretrained=False, img_size=64).eval()
    with pytest.raises(SettingsError, match="start layer"):
        analyze(model, torch.randn(1, 3, 64, 64), rollout=RolloutSettings(start_layer=6))


def test_query_patch_outside_the_grid_is_refused():
    geometry = Geometry((16, 16), (4, 4), (64, 64), ("cls",), False, "token", 2, 2, 8)
    attention = torch.full((1, 2, 17, 17), 1 / 17)
    with pytest.raises(SettingsError):
        token_attention(attention, geometry, (4, 0))
    with pytest.raises(SettingsError):
        geometry.patch_token(0, 4)
