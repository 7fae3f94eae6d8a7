"""Sanity check (Adebayo et al. 2018, "Sanity Checks for Saliency Maps"): cascading randomisation.

The head is re-initialised first, then the blocks from the last to the first, one more at each step (timm's
own ``init_weights_vit_timm``, seeded); at each step each method's map is compared with the trained model's
map by Spearman rank correlation, per image, then averaged. A faithful method's maps decorrelate quickly; a
map that stays correlated after every layer has been randomised does not depend on what the model learned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import numpy as np
import torch
from timm.models.vision_transformer import init_weights_vit_timm
from torch import nn

__all__ = ["SURVIVES", "cascading_randomisation", "verdicts"]

SURVIVES = 0.5  # mean rank correlation with the trained map, after all layers are randomised, above which a map "survives"

MapFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]  # (model, pixels, target) -> [batch, gh, gw]


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over images of Spearman's rho between the flattened maps (0 where a map is constant)."""
    from scipy.stats import spearmanr  # imported here: scipy.stats alone took 1.6 s and 61 MB to import (beside torch)

    rhos = []
    for x, y in zip(a.reshape(len(a), -1), b.reshape(len(b), -1), strict=True):
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            rhos.append(1.0 if np.array_equal(x, y) else 0.0)
        else:
            rhos.append(float(spearmanr(x, y).statistic))
    return float(np.mean(rhos))


def _reinitialise(module: nn.Module, seed: int) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module.apply(lambda m: init_weights_vit_timm(m))


def cascading_randomisation(
    model: nn.Module,
    pixel_values: torch.Tensor,
    target: torch.Tensor,
    methods: Mapping[str, MapFn],
    *,
    seed: int = 0,
    progress: Callable[[], None] | None = None,
) -> dict:
    """Rank correlation of each method's map with the trained model's, as layers are randomised from the top.

    Args:
        model: a timm VisionTransformer in eval mode (not modified: a copy is randomised).
        pixel_values: ``[batch, 3, h, w]``.
        target: ``[batch]`` the class the maps explain (the trained model's; kept through randomisation).
        methods: name -> function(model, pixels, target) returning maps ``[batch, gh, gw]``.
        seed: seed of the re-initialisation.
        progress: called after each step.

    Returns:
        {"steps": ["head", "block 5", ...], "correlation": {method: [rho per step]}, "survives": {method: bool}}.
    """
    trained = {name: fn(model, pixel_values, target).detach().float().cpu().numpy() for name, fn in methods.items()}
    randomised = copy.deepcopy(model).eval()
    stages = [("head", randomised.head)] + [
        (f"block {i}", randomised.blocks[i]) for i in reversed(range(len(randomised.blocks)))
    ]
    steps, correlation = [], {name: [] for name in methods}
    for n, (label, module) in enumerate(stages):
        _reinitialise(module, seed + n)
        steps.append(label)
        for name, fn in methods.items():
            maps = fn(randomised, pixel_values, target).detach().float().cpu().numpy()
            correlation[name].append(_rank_correlation(trained[name], maps))
        if progress is not None:
            progress()
    return {"steps": steps, "correlation": correlation, "survives": verdicts(correlation)}


def verdicts(correlation: Mapping[str, list[float]]) -> dict[str, bool]:
    """Whether each method's map survives full randomisation (last step's correlation above :data:`SURVIVES`)."""
    return {name: bool(values[-1] > SURVIVES) for name, values in correlation.items()}
