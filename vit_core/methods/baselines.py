"""Model-free baseline maps every comparison needs: a seeded random map and a centre prior.

A method that does not beat both on a faithfulness measure explains nothing that chance or "objects sit in
the middle" would not.
"""

from __future__ import annotations

import torch

__all__ = ["random_map", "centre_map"]


def random_map(batch: int, grid: tuple[int, int], *, seed: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform random maps ``[batch, gh, gw]``, the same for the same seed on every device (drawn on the CPU)."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.rand(batch, *grid, generator=generator).to(device)


def centre_map(batch: int, grid: tuple[int, int], *, device: torch.device | str = "cpu") -> torch.Tensor:
    """Centre prior ``[batch, gh, gw]``: an isotropic Gaussian at the image centre (sigma: a quarter of the shorter
    side, in patches), highest at the centre patch(es), so orderings prefer the middle and break ties by distance."""
    gh, gw = grid
    rows = torch.arange(gh, dtype=torch.float32) - (gh - 1) / 2
    cols = torch.arange(gw, dtype=torch.float32) - (gw - 1) / 2
    sigma = max(min(gh, gw) / 4, 0.5)
    prior = torch.exp(-(rows[:, None] ** 2 + cols[None, :] ** 2) / (2 * sigma**2))  # [gh, gw]
    return prior.expand(batch, gh, gw).clone().to(device)
