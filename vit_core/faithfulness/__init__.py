"""How faithful an explanation map is to the model: perturbation curves, localisation on scenes with masks and
the cascading-randomisation sanity check (torch and NumPy only; conventions: faithfulness/perturbation.py)."""


from __future__ import annotations

from .localisation import energy_pointing, mask_iou, pointing_game
from .perturbation import (
    FRACTIONS,
    PIXEL_FRACTIONS,
    Curves,
    auc,
    convention,
    forward_kept_patches,
    pixel_curves,
    removal_order,
    token_removal_curves,
)
from .sanity import cascading_randomisation

__all__ = [
    "FRACTIONS",
    "PIXEL_FRACTIONS",
    "Curves",
    "auc",
    "convention",
    "forward_kept_patches",
    "pixel_curves",
    "removal_order",
    "token_removal_curves",
    "energy_pointing",
    "mask_iou",
    "pointing_game",
    "cascading_randomisation",
]
