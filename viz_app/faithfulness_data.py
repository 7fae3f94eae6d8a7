"""The Faithfulness page's computations, cached per (model, image, method, class): a new method or image
computes once; a view control never re-runs anything."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from vit_core.evaluate import evaluate_batch
from vit_core.loading import LoadedModel

from .resources import FORWARD_CALLS, _pixel_values

__all__ = ["method_result"]


@st.cache_data(max_entries=128, show_spinner=False)
def method_result(context_key: str, method: str, target: int, _loaded: LoadedModel, _data: bytes) -> dict:
    """One method on the image: its map ``[gh, gw]``, its four perturbation curves and their AUCs.

    Cached by (model and image key, method, class); `_loaded` and `_data` follow from the key.
    """
    pixel_values, _, _ = _pixel_values(_loaded, _data)
    FORWARD_CALLS["faithfulness"] += 1
    labels = torch.tensor([int(target)], device=pixel_values.device)
    maps, measures, curves = evaluate_batch(_loaded.model, pixel_values, [method], labels)
    return {
        "map": maps[method][0].cpu().numpy(),
        "curves": {name: np.asarray(values[0], dtype=np.float64) for name, values in curves[method].items()},
        "measures": {name: float(values[0]) for name, values in measures[method].items()},
    }
