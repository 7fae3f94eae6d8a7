"""Grad-CAM on ViT tokens (Selvaraju et al. 2017, the usual ViT recipe of pytorch-grad-cam).

Activations T are one block's output patch tokens ``[batch, patch, dim]``; with g = dy_c/dT the channel
weights are ``w_d = mean_k g[k, d]`` and the map is ``ReLU(sum_d w_d T[k, d])``, reshaped by the model's own
grid. y_c is the target logit (pre-softmax).

Which block by default: for models that read a prefix token (class-token pooling) the last block's output
patch tokens never reach the output (only its class token does), so their gradient is zero; the default is
then the block before the last, whose outputs are the last attention's keys and values (what
pytorch-grad-cam's ``blocks[-1].norm1`` target sees, before the norm). Average and attention pooling read the
patch tokens themselves, so their default is the last block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import SettingsError
from ..models.geometry import geometry_of
from ..models.predict import require_classifier
from .relevance import resolve_targets

__all__ = ["GradCam", "default_gradcam_block", "gradcam_from_tokens", "gradcam"]


@dataclass(frozen=True)
class GradCam:
    """Grad-CAM maps of one batch.

    Attributes:
        heatmap: ``[batch, gh, gw]`` non-negative map.
        block: index of the block whose output tokens were used.
        target_class: ``[batch]`` class explained.
        logits: ``[batch, classes]``.
    """

    heatmap: torch.Tensor
    block: int
    target_class: torch.Tensor
    logits: torch.Tensor


def default_gradcam_block(model: nn.Module) -> int:
    """The last block whose output patch tokens reach the model's output (see the module docstring)."""
    depth = len(model.blocks)
    reads_prefix = str(getattr(model, "global_pool", "token")) in ("token", "") and model.num_prefix_tokens > 0
    return max(depth - 2, 0) if reads_prefix else depth - 1


def gradcam_from_tokens(tokens: torch.Tensor, gradients: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The Grad-CAM rule: patch tokens and their gradients ``[batch, patch, dim]`` -> ``[batch, gh, gw]``."""
    weights = gradients.float().mean(dim=1, keepdim=True)  # [batch, 1, dim]: channel means over the patches
    cam = (weights * tokens.float()).sum(dim=-1).clamp(min=0)  # [batch, patch]
    return cam.reshape(cam.shape[0], *grid)


def gradcam(
    model: nn.Module,
    pixel_values: torch.Tensor,
    *,
    target_class: int | Sequence[int] | torch.Tensor | None = None,
    block: int | None = None,
) -> GradCam:
    """Grad-CAM maps for a batch from one forward and one backward pass.

    Args:
        model: a timm VisionTransformer in eval mode.
        pixel_values: ``[batch, 3, h, w]``.
        target_class: None for each image's top-1, one class for all, or one per image.
        block: block whose output patch tokens are used (negative counts from the end); default
            :func:`default_gradcam_block`.
    """
    if model.training:
        raise SettingsError("the model is in training mode (dropout is random); call model.eval() first.")
    require_classifier(model, "Grad-CAM")
    depth = len(model.blocks)
    block = default_gradcam_block(model) if block is None else int(block)
    if not -depth <= block < depth:
        raise SettingsError(f"block {block} does not exist; this model has blocks 0 to {depth - 1}.")
    block %= depth
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    kept: list[torch.Tensor] = []
    handle = model.blocks[block].register_forward_hook(lambda module, args, output: kept.append(output))
    try:
        with torch.enable_grad():
            logits = model(pixel_values.detach().requires_grad_(True))
            target = resolve_targets(logits, target_class)
            (grad,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), kept[0])
    finally:
        handle.remove()
    p = geometry.num_prefix_tokens
    heatmap = gradcam_from_tokens(kept[0][:, p:].detach(), grad[:, p:], geometry.grid_size)
    return GradCam(heatmap=heatmap, block=block, target_class=target, logits=logits.detach().float())
