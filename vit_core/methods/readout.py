"""Read the model's output row out of a token-mixing matrix (rollout, relevance, or one layer's attention).

Which row stands for the prediction depends on the head's pooling (docs/METHODS.md, "Reading a map out of R"):

- class-token pooling ("token"): the class token's row; distilled models (DeiT) average the class and
  distillation heads, so their row is the class row, the distillation row, or the mean of the two;
- global average pooling ("avg", and "avgmax" / "max" as their closest linear stand-in): the mean of the
  rows of the pooled tokens (the patches, or all tokens when the model pools the prefix too);
- attention pooling ("map", SigLIP-style): the pool's weights over the final tokens, averaged over its
  heads and latent queries, times the matrix;
- class token and mean patch token side by side (``CLASS_AND_MEAN_POOL``, transformers' DINOv2 classifiers:
  ``logits = W_cls x_cls + W_mean mean_k x_k + b``): ``a * R[cls] + (1 - a) * mean_k R[k]`` over the patch rows
  k. Class-agnostic maps (rollout, raw attention, attention flow) take ``a = 1/2``: the head reads a feature of
  2 x dim coordinates, half of them the class token's and half the mean patch token's, so 1/2 is the token
  mixing of that feature averaged over its coordinates. Class-specific relevance takes each half's share of
  the target logit, ``a = |W_cls[c] . x_cls| / (|W_cls[c] . x_cls| + |W_mean[c] . mean_k x_k|)`` (1/2 when
  both are 0), from the head's own weights and input (:func:`class_token_share`).

The row splits into a patch map ``[batch, gh, gw]`` and the weights on the prefix tokens ``[batch, prefix]``:
registers soak up attention, and that mass is reported, not hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn

from ..errors import NotAvailableError, SettingsError
from ..models.types import CLASS_AND_MEAN_POOL, Geometry

__all__ = [
    "DistilledReadout", "class_token_share", "head_input", "output_row", "readout_weights", "split_tokens", "readout",
    "read_out_product",
]

DistilledReadout = Literal["cls", "dist", "mean"]


def _pool_weights(pool_attention: torch.Tensor, geometry: Geometry) -> torch.Tensor:
    """Pool attention ``[batch, pool_head, latent, key]`` -> weights over all tokens ``[batch, token]``."""
    weights = pool_attention.float().mean(dim=(1, 2))  # [batch, key]
    keys = weights.shape[-1]
    if keys == geometry.num_tokens:
        return weights
    if keys == geometry.num_patches:  # the pool saw the patch tokens only (pool_include_prefix=False)
        prefix = weights.new_zeros(weights.shape[0], geometry.num_prefix_tokens)
        return torch.cat([prefix, weights], dim=-1)
    raise SettingsError(
        f"pool attention has {keys} keys but this input has {geometry.num_tokens} tokens; "
        "capture the pool attention from the same forward pass."
    )


def output_row(
    matrix: torch.Tensor,
    geometry: Geometry,
    *,
    distilled: DistilledReadout = "mean",
    pool_attention: torch.Tensor | None = None,
    pool_include_prefix: bool = False,
    cls_share: torch.Tensor | None = None,
) -> torch.Tensor:
    """The row of `matrix` that feeds the model's output, for whatever pooling the model uses.

    Args:
        matrix: ``[batch, query, key]`` token-mixing matrix (e.g. rollout R or relevance).
        geometry: token layout and pooling of the forward pass that produced `matrix`.
        distilled: for models with a distillation token: "cls", "dist" or their "mean" (what the model outputs).
        pool_attention: ``[batch, pool_head, latent, key]`` of a "map" head; required for "map" pooling.
        pool_include_prefix: whether average pooling includes the prefix tokens (timm's ``pool_include_prefix``).
        cls_share: ``[batch]`` weight of the class-token row for a head on the class and mean patch tokens
            (:data:`~vit_core.models.types.CLASS_AND_MEAN_POOL`); None: 1/2 (the module docstring says why).

    Returns:
        ``[batch, key]`` float32.
    """
    if matrix.dim() != 3 or matrix.shape[-1] != geometry.num_tokens or matrix.shape[-2] != geometry.num_tokens:
        raise SettingsError(
            f"matrix has shape {tuple(matrix.shape)}; pass [batch, {geometry.num_tokens}, {geometry.num_tokens}] "
            "from the same forward pass as the geometry."
        )
    if distilled not in ("cls", "dist", "mean"):
        raise SettingsError(f"distilled readout {distilled!r} is unknown; choose 'cls', 'dist' or 'mean'.")
    matrix = matrix.float()
    pool = geometry.global_pool
    if pool == "map":
        if pool_attention is None:
            raise NotAvailableError(
                "this model pools with attention ('map') and no pool attention was given; capture it with pool=True."
            )
        weights = _pool_weights(pool_attention, geometry).to(matrix.device)  # [batch, token]
        return torch.einsum("bq,bqk->bk", weights, matrix)
    if pool == CLASS_AND_MEAN_POOL:
        share = 0.5 if cls_share is None else cls_share.float().to(matrix.device).reshape(-1, 1)
        return share * matrix[:, 0] + (1 - share) * matrix[:, geometry.num_prefix_tokens :].mean(dim=1)
    if geometry.has_dist_token and pool == "token":
        cls_row = matrix[:, geometry.token_index("cls")]
        dist_row = matrix[:, geometry.token_index("dist")]
        return {"cls": cls_row, "dist": dist_row, "mean": 0.5 * (cls_row + dist_row)}[distilled]
    if pool == "token" or (pool == "" and geometry.has_class_token):
        return matrix[:, 0]  # timm's "token" pooling reads sequence position 0
    start = 0 if pool_include_prefix else geometry.num_prefix_tokens
    return matrix[:, start:].mean(dim=1)


@contextmanager
def head_input(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Records what the model's ``head`` reads (the pooled feature ``[batch, feature]``) during the forward passes
    run inside the block, detached, in a list."""
    seen: list[torch.Tensor] = []
    handle = model.head.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    try:
        yield seen
    finally:
        handle.remove()


def class_token_share(head: nn.Module, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``[batch]`` the class-token half's share of each target logit of a head on ``[x_cls ; mean_k x_k]``.

    ``a = |W_cls[c] . x_cls| / (|W_cls[c] . x_cls| + |W_mean[c] . mean_k x_k|)``, 1/2 where both are 0.

    Args:
        head: the linear head, weight ``[classes, 2 * dim]`` (class-token half first).
        features: ``[batch, 2 * dim]`` what the head read.
        target: ``[batch]`` class explained for each image.
    """
    weight = head.weight.detach().float()[target.to(head.weight.device)]  # [batch, 2 * dim]
    features = features.detach().float().to(weight.device)
    if weight.shape != features.shape or features.shape[-1] % 2:
        raise SettingsError(
            f"the head reads {weight.shape[-1]} features but {features.shape[-1]} were given; "
            "pass the head's input from the same forward pass."
        )
    dim = features.shape[-1] // 2
    from_cls = (weight[:, :dim] * features[:, :dim]).sum(dim=-1).abs()
    from_mean = (weight[:, dim:] * features[:, dim:]).sum(dim=-1).abs()
    total = from_cls + from_mean
    return torch.where(total > 0, from_cls / total.clamp(min=torch.finfo(total.dtype).tiny), 0.5)


def readout_weights(
    geometry: Geometry,
    batch: int,
    device: torch.device | str,
    *,
    distilled: DistilledReadout = "mean",
    pool_attention: torch.Tensor | None = None,
    pool_include_prefix: bool = False,
    cls_share: torch.Tensor | None = None,
) -> torch.Tensor:
    """The readout as weights over the last layer's tokens ``[batch, token]``: :func:`output_row` of the identity
    (``cls_share``: as :func:`output_row`'s, for a head on the class and mean patch tokens).

    ``weights @ M`` is the output row of any token-mixing matrix M, so products of per-layer factors can be
    read out a row at a time (rollout) or turned into sink capacities (attention flow).
    """
    tokens = geometry.num_tokens
    identity = torch.eye(tokens, device=device).expand(batch, tokens, tokens)
    return output_row(
        identity, geometry, distilled=distilled, pool_attention=pool_attention, pool_include_prefix=pool_include_prefix,
        cls_share=cls_share,
    )


def split_tokens(row: torch.Tensor, geometry: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``[..., token]`` into the patch map ``[..., gh, gw]`` and the prefix weights ``[..., prefix]``."""
    p = geometry.num_prefix_tokens
    gh, gw = geometry.grid_size
    if row.shape[-1] != geometry.num_tokens:
        raise SettingsError(
            f"row has {row.shape[-1]} tokens but the geometry has {geometry.num_tokens}; use the same forward pass."
        )
    return row[..., p:].reshape(*row.shape[:-1], gh, gw), row[..., :p]


def readout(
    matrix: torch.Tensor,
    geometry: Geometry,
    *,
    distilled: DistilledReadout = "mean",
    pool_attention: torch.Tensor | None = None,
    pool_include_prefix: bool = False,
    cls_share: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch map ``[batch, gh, gw]`` and prefix weights ``[batch, prefix]`` of the model's output row.

    Args: as :func:`output_row`.

    Example:
        >>> heat, prefix = readout(attention_rollout(att, num_prefix_tokens=g.num_prefix_tokens), g)
    """
    row = output_row(
        matrix, geometry, distilled=distilled, pool_attention=pool_attention, pool_include_prefix=pool_include_prefix,
        cls_share=cls_share,
    )
    return split_tokens(row, geometry)


def read_out_product(
    left_product: Callable[[torch.Tensor], torch.Tensor],
    geometry: Geometry,
    batch: int,
    device: torch.device | str,
    *,
    distilled: DistilledReadout = "mean",
    pool_attention: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch map ``[batch, gh, gw]`` and prefix weights ``[batch, prefix]`` of a streamed product's output row.

    The readout is a linear map of the product's rows; its weights (:func:`readout_weights`) times the product,
    ``left_product(weights) = weights @ B_L ... B_s``, is the output row, so the full matrix is never formed
    (``RolloutSink.left_product``). Pooling follows the geometry (``pool_include_prefix`` included).
    """
    weights = readout_weights(geometry, batch, device, distilled=distilled, pool_attention=pool_attention,
                              pool_include_prefix=geometry.pool_include_prefix)  # [batch, token]
    return split_tokens(left_product(weights), geometry)
