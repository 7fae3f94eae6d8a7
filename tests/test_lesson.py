"""The lesson's arithmetic: the rollout step-through against vit_core's rollout and a plain numpy product, and
the predict-then-reveal answers on maps built so the answer is known."""

from __future__ import annotations

import numpy as np
import torch

from vit_core.methods import RolloutSettings, attention_rollout
from viz_app import lesson


def _attention(layers=4, heads=3, tokens=10, seed=0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(1, layers, heads, tokens, tokens))
    return torch.from_numpy(logits).softmax(-1).float().numpy()  # [1, layer, head, query, key]


def _numpy_rollout(attention: np.ndarray, a: float, start: int) -> np.ndarray:
    """(1 − a)·mean_heads(A_l) + a·I, rows normalised, multiplied B_L ... B_start (docs/METHODS.md, "Attention rollout"), in float64."""
    product = np.eye(attention.shape[-1])
    for layer in range(start, attention.shape[1]):
        b = (1 - a) * attention[0, layer].astype(np.float64).mean(0) + a * np.eye(attention.shape[-1])
        b /= b.sum(-1, keepdims=True)
        product = b @ product
    return product


def test_last_step_is_the_rollout():
    attention = _attention()
    settings = RolloutSettings()
    steps = lesson.rollout_steps(attention, settings, num_prefix_tokens=1)
    assert [s.layer for s in steps] == [0, 1, 2, 3]
    reference = attention_rollout(torch.from_numpy(attention), settings, num_prefix_tokens=1)[0].numpy()
    np.testing.assert_allclose(steps[-1].product, reference, atol=1e-5)
    np.testing.assert_allclose(steps[-1].product, _numpy_rollout(attention, 0.5, 0), atol=1e-5)


def test_each_step_is_the_product_so_far():
    attention = _attention(seed=1)
    settings = RolloutSettings(residual_weight=0.3, start_layer=1)
    steps = lesson.rollout_steps(attention, settings, num_prefix_tokens=1)
    assert steps[0].layer == 1
    for step in steps:
        expected = _numpy_rollout(attention[:, : step.layer + 1], 0.3, 1)
        np.testing.assert_allclose(step.product, expected, atol=1e-5)
        np.testing.assert_allclose(step.factor.sum(-1), 1.0, atol=1e-5)


def test_strongest_quarter():
    for quarter, (r, c) in zip(lesson.QUARTERS, [(0, 0), (0, 5), (5, 0), (5, 5)], strict=True):
        heat = np.zeros((6, 6))
        heat[r, c] = 1.0
        assert lesson.strongest_quarter(heat) == quarter
    odd = np.zeros((5, 5))
    odd[2, 4] = 1.0  # the middle row counts half to the top, half to the bottom
    odd[4, 4] = 0.1
    assert lesson.strongest_quarter(odd) == "bottom_right"


def test_most_similar_neighbour():
    gh = gw = 5
    rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    near = -np.hypot(rows[:, :, None, None] - rows[None, None], cols[:, :, None, None] - cols[None, None])
    assert lesson.most_similar_is_neighbour(near, 2, 2)
    assert not lesson.most_similar_is_neighbour(-near, 2, 2)  # most similar = farthest


def test_heads_agree_and_local_heads():
    base = np.random.default_rng(0).random((4, 4))
    assert lesson.heads_agree(np.stack([base, base * 2, base + 0.1]))
    assert not lesson.heads_agree(np.stack([base, 1 - base]))
    distance = np.full((6, 3), 50.0)
    distance[1, 2] = 5.0
    assert lesson.local_heads_early(distance)
    distance[1, 2], distance[5, 0] = 50.0, 5.0
    assert not lesson.local_heads_early(distance)
