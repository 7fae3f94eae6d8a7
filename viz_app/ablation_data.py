"""The "Switch off heads & tokens" page's computations, cached per model, image and choice.

Mean ablation's reference is every bundled sample image in the model's own preprocessing (the images the
sidebar offers; their per-position mean head outputs, ``vit_core.inside.ablation.head_means``), computed once
per model. The ablated run is :func:`vit_core.inside.ablation_arrays.ablated_analysis` (the analysis under ``Ablating``),
so its rollout and class-token attention are the project's own maps of the ablated model.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from vit_core.inside.ablation import head_importance, head_means
from vit_core.inside.ablation_arrays import ablated_analysis
from vit_core.models.loading import LoadedModel

from .resources import FORWARD_CALLS, model_input, sample_images

__all__ = ["reference_means", "ablated_view", "importance_grid", "test_time_register", "sample_images"]


@st.cache_resource(max_entries=2, show_spinner=False)
def _means(model_key: str, _loaded: LoadedModel) -> torch.Tensor:
    FORWARD_CALLS["samples"] += 1
    return head_means(_loaded.model, _sample_pixels(_loaded))


def reference_means(ctx) -> tuple[torch.Tensor, int]:
    """(the heads' mean outputs ``[layer, token, head * head_dim]`` over the sample images, how many images)."""
    return _means(ctx.spec.key, ctx.loaded), len(sample_images())


@st.cache_data(max_entries=16, show_spinner=False)
def _ablated(context_key: str, heads: tuple, tokens: tuple, mode: str, _ctx) -> dict[str, np.ndarray | None]:
    pixel_values, _, _ = model_input(_ctx.loaded, _ctx.image.data)
    means = reference_means(_ctx)[0] if mode == "mean" else None
    FORWARD_CALLS["ablation"] += 1
    zero, mean = (heads, ()) if mode == "zero" else ((), heads)
    result = ablated_analysis(_ctx.loaded.model, pixel_values, zero, mean, means, tokens)
    cls = None if result.cls_attention is None else result.cls_attention[0, -1].mean(0)
    return {"logits": result.logits[0], "rollout": result.rollout[0], "cls": cls}


def ablated_view(ctx, heads: tuple[tuple[int, int], ...], tokens: tuple[int, ...], mode: str) -> dict:
    """The logits ``[classes]``, rollout ``[gh, gw]`` and last-layer class-token attention (mean of heads,
    ``[gh, gw]`` or None) with `heads` switched off (`mode`) and `tokens` masked."""
    return _ablated(ctx.key, tuple(heads), tuple(tokens), mode, ctx)


@st.cache_data(max_entries=8, show_spinner=False)
def _importance(context_key: str, mode: str, target: int, _ctx) -> np.ndarray:
    pixel_values, _, _ = model_input(_ctx.loaded, _ctx.image.data)
    means = reference_means(_ctx)[0] if mode == "mean" else None
    FORWARD_CALLS["importance"] += 1
    table = head_importance(_ctx.loaded.model, pixel_values, target, mode=mode, reference=means)
    return table[0].cpu().numpy()


def importance_grid(ctx, mode: str, target: int) -> np.ndarray:
    """``[layer, head]``: the drop of the `target` logit with each head switched off alone (`mode`)."""
    return _importance(ctx.key, mode, int(target), ctx)


def _sample_pixels(loaded: LoadedModel) -> torch.Tensor:
    return torch.cat([model_input(loaded, data)[0] for data in sample_images().values()])


@st.cache_data(max_entries=8, show_spinner=False)
def _register(context_key: str, layer: int, mads: float, k: int, _ctx) -> dict:
    from vit_core.errors import SettingsError
    from vit_core.inside.norms import NormRecorder, OutlierRule, outlier_cuts
    from vit_core.inside.test_time_registers import compare_with_register, find_register_neurons

    model = _ctx.loaded.model
    samples = _sample_pixels(_ctx.loaded)
    with NormRecorder(model) as recorder, torch.no_grad():
        model(samples)
    norms = recorder.token_norms[:, layer, model.num_prefix_tokens:].reshape(1, 1, -1)  # every sample's patches: one cut
    median = float(np.median(norms))  # the median the cut is built on (np's: the mean of the two middle values)
    cut = float(outlier_cuts(norms, 0, OutlierRule("mad", k=mads))[0, 0])
    FORWARD_CALLS["registers"] += 1
    found = {"cut": cut, "median": median, "max": float(norms.max()), "images": samples.shape[0]}
    try:
        neurons = find_register_neurons(model, samples, detect_layer=layer, norm_threshold=cut, k=k)
    except SettingsError:
        return {**found, "neurons": None}
    pixel_values, _, _ = model_input(_ctx.loaded, _ctx.image.data)
    comparison = compare_with_register(model, pixel_values, neurons.neurons, detect_layer=layer)
    arrays = {name: getattr(comparison, name)[0].cpu().numpy() for name in
              ("norms_before", "norms_after", "cls_attention_before", "cls_attention_after")}
    return {**found, **arrays, "neurons": neurons.neurons, "with_outliers": neurons.images_with_outliers,
            "register_norm": float(comparison.register_norm[0]), "register_attention": float(comparison.register_attention[0])}


def test_time_register(ctx, layer: int, mads: float, k: int) -> dict:
    """Test-time registers (Jiang et al. 2025) on this image, register neurons searched over the sample images with
    the norm cut ``median + mads * MAD`` of their patch norms at `layer`: the cut, and, when some patch exceeds it,
    the neurons and the norms and class-token attention ``[gh, gw]`` before and after (``neurons`` None otherwise)."""
    return _register(ctx.key, int(layer), float(mads), int(k), ctx)
