"""Patch-embedding filters (ViT paper, Dosovitskiy et al. 2021, Figure 7 left).

The patch projection is a convolution with D filters of shape 3 x ph x pw. Flattened to a D x 3·ph·pw
matrix E and centred over the filters, its principal components (right singular vectors) are shown as RGB
patches, each with the fraction of the filters' variance it explains.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import NotAvailableError, SettingsError

__all__ = ["patch_embed_components"]


def patch_embed_components(model: nn.Module, k: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """First principal components of the patch-projection filters.

    Args:
        model: a timm ViT (``model.patch_embed.proj`` a conv with weight ``[dim, 3, ph, pw]``).
        k: number of components; fewer come back when the filters span fewer dimensions.

    Returns:
        components ``[k, 3, ph, pw]`` float32 (unit norm; sign fixed so that each component's largest
        entry is positive) and their explained variance ratio ``[k]`` float32, in decreasing order.

    Raises:
        SettingsError: k < 1.
        NotAvailableError: the model has no convolutional patch projection.
    """
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise SettingsError(f"number of components {k} must be a positive integer; 28 matches the ViT paper.")
    proj = getattr(getattr(model, "patch_embed", None), "proj", None)
    weight = getattr(proj, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        raise NotAvailableError(
            f"{type(model).__name__} has no convolutional patch projection, so there are no patch filters to show."
        )
    dim, channels, ph, pw = weight.shape
    # float64 where the device has it: nearly equal singular values (random or lightly trained filters)
    # would otherwise mix neighbouring components
    precision = torch.float32 if weight.device.type == "mps" else torch.float64
    filters = weight.detach().to(precision).reshape(dim, channels * ph * pw)  # [filter, feature]
    centred = filters - filters.mean(dim=0, keepdim=True)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)  # vh: [component, feature]
    variance = singular.square()
    ratio = variance / variance.sum().clamp_min(torch.finfo(precision).tiny)
    k = min(int(k), vh.shape[0])
    components = vh[:k]
    peak = components.gather(1, components.abs().argmax(dim=1, keepdim=True))  # [component, 1]
    components = components * torch.where(peak < 0, -1.0, 1.0)
    return components.reshape(k, channels, ph, pw).float(), ratio[:k].float()
