"""Readout for every pooling, and token attention for every kind of query token."""

from __future__ import annotations

import os
from functools import cache

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from layouts import LAYOUTS, input_for, make_model

from vit_core.attention.capture import capture
from vit_core.errors import NotAvailableError, SettingsError
from vit_core.methods import (
    attention_rollout,
    class_token_attention,
    output_row,
    readout,
    resolve_query,
    token_attention,
    token_rollout,
)
from vit_core.models.types import Capture

DEVICE = torch.device(os.environ.get("TORCH_DEVICE", "cpu"))


@cache
def _captured(layout: str) -> tuple[torch.nn.Module, Capture]:
    model = make_model(layout, DEVICE)
    return model, capture(model, input_for(model, batch=2, device=DEVICE))


def _row_of(model, cap: Capture, matrix: torch.Tensor, distilled: str = "mean") -> torch.Tensor:
    """What the model's head reads, written out per pooling independently of output_row."""
    g = cap.geometry
    if g.global_pool == "map":
        w = cap.pool_attention.mean(dim=(1, 2))  # [batch, key]
        if w.shape[-1] == g.num_patches:
            w = torch.cat([w.new_zeros(w.shape[0], g.num_prefix_tokens), w], -1)
        return torch.stack([w[b] @ matrix[b] for b in range(matrix.shape[0])])
    if g.has_dist_token:
        rows = {"cls": matrix[:, 0], "dist": matrix[:, 1], "mean": (matrix[:, 0] + matrix[:, 1]) / 2}
        return rows[distilled]
    if g.global_pool == "token+avg":  # [class token ; mean patch token]: half of the head's features each
        return 0.5 * matrix[:, 0] + 0.5 * matrix[:, g.num_prefix_tokens:].mean(1)
    if g.global_pool == "token":
        return matrix[:, 0]
    start = 0 if model.pool_include_prefix else g.num_prefix_tokens
    return matrix[:, start:].mean(1)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_rollout_readout_matches_the_models_pooling(layout):
    model, cap = _captured(layout)
    g = cap.geometry
    R = attention_rollout(cap.attention, num_prefix_tokens=g.num_prefix_tokens)
    heat, prefix = readout(R, g, pool_attention=cap.pool_attention, pool_include_prefix=model.pool_include_prefix)
    assert heat.shape == (2, *g.grid_size) and prefix.shape == (2, g.num_prefix_tokens)
    expected = _row_of(model, cap, R)
    torch.testing.assert_close(heat.flatten(1), expected[:, g.num_prefix_tokens :])
    torch.testing.assert_close(prefix, expected[:, : g.num_prefix_tokens])
    # rollout rows and pool weights are distributions: all the mass is either on patches or on prefix tokens
    torch.testing.assert_close(heat.sum((1, 2)) + prefix.sum(1), torch.ones(2, device=DEVICE))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_batched_readout_equals_per_image(layout):
    model, cap = _captured(layout)
    g = cap.geometry
    R = attention_rollout(cap.attention, num_prefix_tokens=g.num_prefix_tokens)
    kwargs = dict(pool_include_prefix=model.pool_include_prefix)
    together = readout(R, g, pool_attention=cap.pool_attention, **kwargs)
    for i in range(2):
        pool = cap.pool_attention[i : i + 1] if cap.pool_attention is not None else None
        alone = readout(R[i : i + 1], g, pool_attention=pool, **kwargs)
        torch.testing.assert_close(together[0][i : i + 1], alone[0])
        torch.testing.assert_close(together[1][i : i + 1], alone[1])


@pytest.mark.parametrize("choice", ["cls", "dist", "mean"])
def test_distilled_readout_choices(choice):
    model, cap = _captured("distilled")
    R = attention_rollout(cap.attention, num_prefix_tokens=2)
    torch.testing.assert_close(output_row(R, cap.geometry, distilled=choice), _row_of(model, cap, R, choice))


def test_map_readout_of_identity_is_the_pool_weights():
    _, cap = _captured("attention_pool")
    g = cap.geometry
    eye = torch.eye(g.num_tokens, device=DEVICE).expand(2, g.num_tokens, g.num_tokens)
    row = output_row(eye, g, pool_attention=cap.pool_attention)
    torch.testing.assert_close(row, cap.pool_attention.mean(dim=(1, 2)))
    with pytest.raises(NotAvailableError):
        output_row(eye, g)


def test_readout_refuses_a_matrix_from_another_input():
    _, cap = _captured("class_token")
    with pytest.raises(SettingsError):
        readout(torch.eye(5)[None], cap.geometry)


# -- token attention ----------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_token_attention_for_every_query_kind(layout):
    _, cap = _captured(layout)
    g = cap.geometry
    att = cap.attention  # [batch, layer, head, query, key]
    R = attention_rollout(att, num_prefix_tokens=g.num_prefix_tokens)
    gh, gw = g.grid_size
    queries: list = [(gh - 1, gw - 1), (0, 0), g.num_tokens - 1]
    queries += [k for k in ("cls", "dist") if k in g.prefix_kinds] + [f"reg{i}" for i in range(g.num_registers)]
    for query in queries:
        q = resolve_query(g, query)
        grid = token_attention(att, g, query)
        assert grid.shape == (2, g.depth, g.num_heads, gh, gw)
        rolled = token_rollout(R, g, query)
        assert rolled.shape == (2, gh, gw)
        for r, c in [(0, 0), (gh - 1, gw - 1), (gh // 2, gw - 1)]:
            torch.testing.assert_close(grid[..., r, c], att[..., q, g.patch_token(r, c)])
            torch.testing.assert_close(rolled[:, r, c], R[:, q, g.patch_token(r, c)])
    if g.has_class_token:
        torch.testing.assert_close(class_token_attention(att, g), token_attention(att, g, 0))
    else:
        with pytest.raises(NotAvailableError):
            class_token_attention(att, g)


@settings(max_examples=30, deadline=None)
@given(st.integers(-3, 8), st.integers(-3, 8))
def test_query_patch_outside_the_grid_is_refused(row, col):
    _, cap = _captured("non_square_input")
    g = cap.geometry  # 6 x 10 grid, one class token
    gh, gw = g.grid_size
    if 0 <= row < gh and 0 <= col < gw:
        assert resolve_query(g, (row, col)) == g.patch_token(row, col)
    else:
        with pytest.raises(SettingsError, match="outside"):
            resolve_query(g, (row, col))


@pytest.mark.parametrize("query", [-1, 61, "dist", "reg0", "token"])
def test_unknown_query_tokens_are_refused(query):
    _, cap = _captured("non_square_input")
    with pytest.raises(SettingsError):
        resolve_query(cap.geometry, query)
