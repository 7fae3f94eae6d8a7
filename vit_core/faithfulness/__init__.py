"""How faithful an explanation map is to the model: perturbation curves, localisation on scenes with masks,
and the cascading-randomisation sanity check. Torch and NumPy only (no UI library).

Conventions (written into every report by :func:`convention`):

- Token removal (Chefer et al. CVPR 2021, section 5): patch tokens are dropped after the position embedding
  (the sequence gets shorter; prefix tokens stay), most relevant first ("positive": a lower AUC is better)
  or least relevant first ("negative": a higher AUC is better), at removal fractions 0, 0.1, ..., 0.9
  (``round(f * patches)`` tokens). AUC = trapezoid rule over those ten points, x being the fraction (so the
  AUC lies in [0, 0.9]), the 0% step included: ``numpy.trapezoid(y, FRACTIONS)``.
- Pixel deletion and insertion (Petsiuk et al. 2018): the map orders the patches; deletion replaces the
  first ``f`` of them by the fill (blur: Gaussian, kernel 11, sigma 5 as in RISE's code; or mean: each
  image's channel means), insertion starts from the fill and restores them, at f = 0, 0.1, ..., 1.0; AUC by
  the trapezoid rule over those eleven points (in [0, 1]). Lower deletion and higher insertion are better.
- y is the softmax probability of the target class (and, beside it, top-1 agreement with the target).
"""

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
