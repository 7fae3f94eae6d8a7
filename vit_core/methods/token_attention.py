"""Where one query token looks: its attention over the patch grid per layer and head, and rolled out.

The query may be any token: the class token, the distillation token, a register, or a patch. The class
token's last layer, per head, is the view DINO made famous (Caron et al. 2021, visualize_attention.py).
"""

from __future__ import annotations

import torch

from ..errors import NotAvailableError, SettingsError
from ..models.types import Geometry

__all__ = ["QueryToken", "resolve_query", "grid_of_keys", "token_attention", "token_rollout", "class_token_attention"]

# a sequence index, a prefix name ("cls", "dist", "reg0", "reg1", ...), or a patch (row, col)
QueryToken = int | str | tuple[int, int]


def resolve_query(geometry: Geometry, query: QueryToken) -> int:
    """Sequence index of `query`; raises SettingsError when it is not a token of this input.

    Args:
        geometry: token layout.
        query: a sequence index, "cls", "dist", "reg<i>", or a patch as (row, col).
    """
    p = geometry.num_prefix_tokens
    gh, gw = geometry.grid_size
    if isinstance(query, tuple):
        row, col = (int(v) for v in query)
        if not (0 <= row < gh and 0 <= col < gw):
            raise SettingsError(
                f"patch ({row}, {col}) is outside the {gh} x {gw} grid; pick a row below {gh} and a column below {gw}."
            )
        return p + row * gw + col
    if isinstance(query, str):
        if query.startswith("reg") and query[3:].isdigit():
            number = int(query[3:])
            if number >= geometry.num_registers:
                raise SettingsError(
                    f"register {number} does not exist; this model has {geometry.num_registers} registers."
                )
            return geometry.token_index("reg") + number
        if query in ("cls", "dist") and query in geometry.prefix_kinds:
            return geometry.token_index(query)  # type: ignore[arg-type]
        raise SettingsError(f"query token {query!r} is not in this model (prefix tokens: {geometry.prefix_kinds}).")
    index = int(query)
    if not 0 <= index < geometry.num_tokens:
        raise SettingsError(
            f"query token {index} is outside this input's {geometry.num_tokens} tokens; choose 0 to {geometry.num_tokens - 1}."
        )
    return index


def grid_of_keys(row: torch.Tensor, geometry: Geometry) -> torch.Tensor:
    """``[..., key]`` -> patch keys as ``[..., gh, gw]``."""
    if row.shape[-1] != geometry.num_tokens:
        raise SettingsError(
            f"attention has {row.shape[-1]} keys but the geometry has {geometry.num_tokens} tokens; use the same forward pass."
        )
    gh, gw = geometry.grid_size
    return row[..., geometry.num_prefix_tokens :].reshape(*row.shape[:-1], gh, gw)


def token_attention(attention: torch.Tensor, geometry: Geometry, query: QueryToken) -> torch.Tensor:
    """Attention of one query token over the patch grid.

    Args:
        attention: ``[..., query, key]`` probabilities, e.g. ``[batch, layer, head, query, key]`` or one
            layer's ``[batch, head, query, key]``.
        geometry: token layout.
        query: the query token (see :func:`resolve_query`).

    Returns:
        ``[..., gh, gw]``, e.g. ``[batch, layer, head, gh, gw]``. The weights on prefix keys are
        ``attention[..., q, :num_prefix_tokens]``.
    """
    return grid_of_keys(attention[..., resolve_query(geometry, query), :], geometry)


def token_rollout(rollout: torch.Tensor, geometry: Geometry, query: QueryToken) -> torch.Tensor:
    """Rolled-out attention of one query token: rollout ``[batch, query, key]`` -> ``[batch, gh, gw]``."""
    return grid_of_keys(rollout[..., resolve_query(geometry, query), :], geometry)


def class_token_attention(attention: torch.Tensor, geometry: Geometry) -> torch.Tensor:
    """Class-token attention over the patches: ``[batch, layer, head, query, key]`` -> ``[batch, layer, head, gh, gw]``.

    Raises:
        NotAvailableError: the model has no class token (global-average or attention pooling).
    """
    if not geometry.has_class_token:
        raise NotAvailableError(
            "this model has no class token (it pools the patch tokens); pick a patch or register as the query instead."
        )
    return token_attention(attention, geometry, "cls")
