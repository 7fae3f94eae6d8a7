"""Raw attention: the last layer's attention from the model's readout token(s), heads fused.

The baseline of every explanation paper's table. The readout follows the head's pooling (see
:mod:`.readout`): the class token's row; for distilled models the class row, the distillation row or their
mean; for global average pooling the mean of the patch rows; for attention pooling ("map") the pool's own
attention over the final tokens (mean over its heads and latent queries), which is the last attention the
prediction goes through.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..attention.capture import capture
from .readout import DistilledReadout, output_row, split_tokens
from .rollout import HeadFusion, fuse_heads

__all__ = ["RawAttention", "raw_attention"]


@dataclass(frozen=True)
class RawAttention:
    """Raw attention of one batch.

    Attributes:
        heatmap: ``[batch, gh, gw]`` weight of each patch in the readout's last attention.
        prefix_weights: ``[batch, prefix]`` weight on the prefix tokens (class, distillation, registers).
        logits: ``[batch, classes]`` of the same (fused) forward pass.
    """

    heatmap: torch.Tensor
    prefix_weights: torch.Tensor
    logits: torch.Tensor


@torch.no_grad()
def raw_attention(
    model: nn.Module, pixel_values: torch.Tensor, *, head_fusion: HeadFusion = "mean", distilled: DistilledReadout = "mean"
) -> RawAttention:
    """Last-layer attention of the readout token(s) over the patches, from one fused forward pass.

    Args:
        model: a timm VisionTransformer in eval mode.
        pixel_values: ``[batch, 3, h, w]`` on the model's device and dtype.
        head_fusion: "mean", "max" or "min" over the heads of the last layer (for "map" pooling: of the pool).
        distilled: readout for distilled models: "cls", "dist" or "mean".

    Example:
        >>> raw_attention(model, pixels, head_fusion="max").heatmap.shape  # [batch, gh, gw]
    """
    depth = len(model.blocks)
    result = capture(model, pixel_values, layers=[depth - 1])
    geometry = result.geometry
    fused = fuse_heads(result.attention[:, 0], head_fusion)  # [batch, query, key]
    if geometry.global_pool == "map":
        # the pool's attention itself: the readout of the identity, with the pool's heads fused as asked
        pool = fuse_heads(result.pool_attention, head_fusion).unsqueeze(1)  # [batch, 1 pool head, latent, key]
        batch, tokens = fused.shape[0], geometry.num_tokens
        identity = torch.eye(tokens, device=fused.device).expand(batch, tokens, tokens)
        row = output_row(
            identity,
            geometry,
            pool_attention=pool,
            pool_include_prefix=geometry.pool_include_prefix,
        )
    else:
        row = output_row(
            fused, geometry, distilled=distilled, pool_include_prefix=geometry.pool_include_prefix
        )
    heatmap, prefix = split_tokens(row, geometry)
    return RawAttention(heatmap=heatmap, prefix_weights=prefix, logits=result.logits)
