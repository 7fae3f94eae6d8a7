"""Mean attention distance (ViT paper, Dosovitskiy et al. 2021, Figure 7 right and appendix D.7) and
attention entropy, per layer and head.

Mean attention distance: for patch queries q and patch keys k, with A' the patch-to-patch block of one
head's attention renormalised over the patch keys, ``d = mean_q sum_k A'[q,k] ||p_q - p_k||_2`` in input
pixels, p_k the centre of patch k. Over a data set the paper averages it over images.
"""

from __future__ import annotations

import torch

from ..errors import SettingsError
from ..models.types import Geometry

__all__ = ["patch_centres", "patch_distances", "mean_attention_distance", "entropy_uses_logits", "attention_entropy"]


def patch_centres(geometry: Geometry, device: torch.device | str | None = None) -> torch.Tensor:
    """Centre of every patch in input pixels, row-major, as ``[patch, 2]`` (y, x) float32."""
    gh, gw = geometry.grid_size
    ph, pw = geometry.patch_size
    ys = (torch.arange(gh, device=device, dtype=torch.float32) + 0.5) * ph
    xs = (torch.arange(gw, device=device, dtype=torch.float32) + 0.5) * pw
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_y.reshape(-1), grid_x.reshape(-1)], dim=-1)


def patch_distances(geometry: Geometry, device: torch.device | str | None = None) -> torch.Tensor:
    """Euclidean distance in pixels between every pair of patch centres, ``[patch, patch]`` float32."""
    centres = patch_centres(geometry, device)
    return torch.cdist(centres[None], centres[None])[0]


def _check(attention: torch.Tensor, geometry: Geometry) -> None:
    if attention.dim() < 2 or attention.shape[-1] != geometry.num_tokens or attention.shape[-2] != geometry.num_tokens:
        raise SettingsError(
            f"attention has shape {tuple(attention.shape)}; pass [..., {geometry.num_tokens}, {geometry.num_tokens}] "
            "from the same forward pass as the geometry."
        )


def mean_attention_distance(
    attention: torch.Tensor, geometry: Geometry, distances: torch.Tensor | None = None
) -> torch.Tensor:
    """Attention-weighted distance in input pixels between patch queries and patch keys.

    Args:
        attention: ``[..., query, key]`` probabilities, e.g. ``[batch, layer, head, query, key]``.
        geometry: token layout (patch size, grid, prefix tokens).
        distances: ``patch_distances(geometry)`` on the attention's device, when the caller already has it.

    Returns:
        ``[...]`` float32, e.g. ``[batch, layer, head]``: per head, the mean over patch queries.
    """
    _check(attention, geometry)
    p = geometry.num_prefix_tokens
    patch = attention[..., p:, p:].float()  # [..., patch_query, patch_key]
    if distances is None:
        distances = patch_distances(geometry, attention.device)  # [patch_query, patch_key]
    weighted = torch.einsum("...qk,qk->...q", patch, distances)  # [..., patch_query]
    mass = patch.sum(dim=-1).clamp_min(torch.finfo(torch.float32).tiny)  # renormalise over patch keys
    return (weighted / mass).mean(dim=-1)


def entropy_uses_logits(attention: torch.Tensor) -> bool:
    """Whether :func:`attention_entropy` uses the logits for attention on this device (a CPU, where the
    per-element log is the cost; on a GPU ``entr`` reads the probabilities once and needs no logits)."""
    return not attention.is_cuda


def attention_entropy(attention: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
    """Entropy in nats of each query's distribution over all keys, averaged over all queries.

    Args:
        attention: ``[..., query, key]`` probabilities.
        logits: the pre-softmax scores they came from (finite; masked entries at a large negative value),
            when at hand: then ``H = logsumexp(z) - sum_k p_k z_k`` with ``logsumexp(z) = max z - log max p``
            (exact at the row's largest entry), three light passes and no per-element log. Used on a
            CPU, where the log is the cost; on a GPU ``entr`` is cheaper and the logits are ignored.

    Returns:
        ``[...]`` float32, e.g. ``[batch, layer, head]``; 0 for one-hot rows, log(keys) for uniform rows.
    """
    probs = attention.float()
    if not entropy_uses_logits(probs):
        return torch.special.entr(probs).sum(dim=-1).mean(dim=-1)
    if logits is not None:
        z = logits.float()
        log_normaliser = z.amax(dim=-1) - probs.amax(dim=-1).log()  # [..., query]
        return (log_normaliser - torch.linalg.vecdot(probs, z)).mean(dim=-1)
    # p log p with log(0) clamped to log(tiny): 0 for p = 0, as xlogy gives, at a third of xlogy's CPU time.
    plogp = probs.clamp_min(torch.finfo(torch.float32).tiny).log_().mul_(probs)
    return -plogp.sum(dim=-1).mean(dim=-1)
