"""Position-embedding similarity (ViT paper, Dosovitskiy et al. 2021, Figure 7 centre).

"Tiles show the cosine similarity between the position embedding of the patch with the indicated row and
column and the position embeddings of all other patches." Prefix entries are excluded (timm keeps them at
the front unless ``no_embed_class``); the table is resampled to the current grid with timm's own
``resample_abs_pos_embed``, exactly as the model does for a ``dynamic_img_size`` input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from torch import nn

from ..errors import NotAvailableError
from ..models.geometry import as_pair

__all__ = ["patch_position_embeddings", "pos_embed_similarity"]


def patch_position_embeddings(model: nn.Module, grid_size: tuple[int, int] | None = None) -> torch.Tensor:
    """The learned absolute position embedding of every patch, ``[gh, gw, dim]`` float32.

    Args:
        model: a timm VisionTransformer.
        grid_size: (gh, gw) of the current input; default: the grid the table was trained for.

    Raises:
        NotAvailableError: the model has no learned absolute position embedding table.
    """
    table = getattr(model, "pos_embed", None)
    if not isinstance(table, torch.Tensor):
        if getattr(model, "rope", None) is not None:
            reason = "encodes position with rotary embeddings inside attention"
        else:
            reason = "has no learned absolute position-embedding table (rotary, relative or no position embedding)"
        raise NotAvailableError(
            f"{type(model).__name__} {reason}, so there is no position-embedding similarity to show."
        )
    patch_embed = getattr(model, "patch_embed", None)
    trained = as_pair(patch_embed.grid_size) if patch_embed is not None and patch_embed.grid_size is not None else None
    prefix = 0 if getattr(model, "no_embed_class", False) else int(getattr(model, "num_prefix_tokens", 0))
    table = table.detach().float()[:, prefix:]  # [1, patch, dim]
    if trained is None or trained[0] * trained[1] != table.shape[1]:
        raise NotAvailableError(
            f"the position-embedding table has {table.shape[1]} patch entries that do not form the model's grid, "
            "so it cannot be shown as a grid."
        )
    grid = trained if grid_size is None else as_pair(grid_size)
    if grid != trained:
        table = resample_abs_pos_embed(table, new_size=list(grid), old_size=list(trained), num_prefix_tokens=0)
    return table[0].reshape(grid[0], grid[1], -1)


def pos_embed_similarity(
    model: nn.Module, grid_size: tuple[int, int] | None = None, subtract_mean: bool = False
) -> torch.Tensor:
    """Cosine similarity between the position embeddings of every pair of patches.

    Args:
        model: a timm VisionTransformer.
        grid_size: (gh, gw) of the current input; default: the trained grid.
        subtract_mean: remove the mean embedding over all patches first. A component every position shares
            lifts every cosine (to 0.55..1 in the bundled model); without it what differs between positions
            remains, and far-apart patches come out dissimilar or opposite.

    Returns:
        ``[gh, gw, gh, gw]`` float32: ``S[i, j, u, v] = cos(e_ij, e_uv)``.

    Raises:
        NotAvailableError: no learned absolute position embedding (rotary, relative, sincos models).

    Example:
        >>> pos_embed_similarity(model)[3, 4]  # similarity of patch (3, 4) to every patch, [gh, gw]
    """
    embeddings = patch_position_embeddings(model, grid_size)  # [gh, gw, dim]
    gh, gw, dim = embeddings.shape
    if subtract_mean:
        embeddings = embeddings - embeddings.mean(dim=(0, 1), keepdim=True)
    unit = F.normalize(embeddings.reshape(gh * gw, dim), dim=-1)  # [patch, dim]
    return (unit @ unit.T).reshape(gh, gw, gh, gw)
