"""The Faithfulness page's computations: every method's map, curves and AUCs for one image and class.

The methods not yet computed for (model, image, class) run together in one :func:`vit_core.runs.evaluate.evaluate_batch`
call (one forward per perturbation step for all of them, the batching the command line uses), and each result is
kept per method: a newly chosen method computes once, a view control never re-runs anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import streamlit as st
import torch

from vit_core.models.loading import LoadedModel
from vit_core.runs.evaluate import LOWER_IS_BETTER, evaluate_batch

from .resources import FORWARD_CALLS, model_input

__all__ = ["method_results", "NOISE_FLOOR", "clearly_better", "all_alike"]

# One image has no standard error: there, a difference under this (in the measure's own units, AUCs and shares on
# 0..1) counts as no difference; with several images a difference must exceed the two standard errors combined.
NOISE_FLOOR = 0.01


def _resolution(a: dict, b: dict) -> float:
    if a.get("sem") is not None and b.get("sem") is not None:
        return max(float(np.hypot(a["sem"], b["sem"])), 1e-12)
    return NOISE_FLOOR


def clearly_better(measure: str, a: dict, b: dict) -> bool:
    """Whether summary entry `a` ({"mean", "sem"}) beats `b` on `measure` by more than their standard errors."""
    difference = (b["mean"] - a["mean"]) if measure in LOWER_IS_BETTER else (a["mean"] - b["mean"])
    return difference > _resolution(a, b)


def all_alike(entries: Sequence[dict]) -> bool:
    """Whether no two of these entries (one measure, several methods) differ by more than their standard errors."""
    return all(abs(a["mean"] - b["mean"]) <= _resolution(a, b) for i, a in enumerate(entries) for b in entries[i + 1:])

_LOCK = threading.Lock()


@st.cache_resource(max_entries=32, show_spinner=False)
def _store(context_key: str, target: int) -> dict[str, dict]:
    """method -> result for one (model and image, class); filled by :func:`method_results`."""
    return {}


def method_results(
    context_key: str,
    methods: Sequence[str],
    target: int,
    loaded: LoadedModel,
    data: bytes,
    step_progress: Callable[[], None] | None = None,
) -> dict[str, dict]:
    """method -> {"map": [gh, gw], "curves": {name: [step]}, "measures": {name: float}} for the chosen methods."""
    store = _store(context_key, int(target))
    with _LOCK:
        missing = [m for m in methods if m not in store]
        if missing:
            pixel_values, _, _ = model_input(loaded, data)
            labels = torch.tensor([int(target)], device=pixel_values.device)
            FORWARD_CALLS["faithfulness"] += 1
            maps, measures, curves = evaluate_batch(loaded.model, pixel_values, missing, labels, step_progress=step_progress)
            for method in missing:
                store[method] = {
                    "map": maps[method][0].cpu().numpy(),
                    "curves": {name: np.asarray(v[0], dtype=np.float64) for name, v in curves[method].items()},
                    "measures": {name: float(v[0]) for name, v in measures[method].items()},
                }
    return {m: store[m] for m in methods}
