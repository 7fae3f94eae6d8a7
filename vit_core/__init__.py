"""vit_core: run a timm Vision Transformer, capture its exact attention, and explain what it sees.

The front door for scripts and notebooks::

    from vit_core import load_model, load_image, preprocess, analyze, RolloutSettings

and the command line (``python -m vit_core analyze IMAGE --model NAME --out RESULT.npz``). Every name below is
imported on first use, so ``import vit_core`` itself loads neither torch nor timm. Imports neither streamlit nor
plotly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that holds it (its one home; the front door only points there)
_EXPORTS: dict[str, str] = {
    # models
    "DEMO_MODEL_NAME": "models.loading",
    "LoadedModel": "models.loading",
    "ModelRequest": "models.loading",
    "load_model": "models.loading",
    "Geometry": "models.types",
    "Capture": "models.types",
    "geometry_of": "models.geometry",
    # images
    "load_image": "models.images",
    "model_view": "models.images",
    "preprocess": "models.images",
    "preprocess_batch": "models.images",
    # the analysis and its results
    "AttentionCapture": "attention.capture",
    "capture": "attention.capture",
    "analyze": "runs.analysis",
    "AnalysisResult": "results.result",
    "Provenance": "results.provenance",
    "read_provenance": "results.files",
    "top_k": "models.predict",
    # inside the model: token norms, outliers, attention sinks
    "inspect": "inside.inspection",
    "InspectionResult": "inside.inspection",
    "OutlierRule": "inside.norms",
    # methods
    "RolloutSettings": "methods.rollout",
    "attention_rollout": "methods.rollout",
    "class_relevance": "methods.relevance",
    "raw_attention": "methods.raw_attention",
    "attention_flow": "methods.attention_flow",
    "gradcam": "methods.gradcam",
    "lrp": "methods.lrp",
    "legrad": "methods.legrad",
    "transformer_attribution": "methods.transformer_attribution",
    "pos_embed_similarity": "methods.pos_embed",
    "REGISTRY": "methods.registry",
    "METHODS": "methods.registry",
    "ExplainSettings": "methods.registry",
    "explanation_maps": "methods.registry",
    # faithfulness
    "EvaluateOptions": "runs.evaluate",
    "run_evaluate": "runs.evaluate",
    # errors
    "VitCoreError": "errors",
}

__all__ = [
    "AnalysisResult",
    "AttentionCapture",
    "Capture",
    "DEMO_MODEL_NAME",
    "EvaluateOptions",
    "ExplainSettings",
    "Geometry",
    "InspectionResult",
    "LoadedModel",
    "METHODS",
    "ModelRequest",
    "OutlierRule",
    "Provenance",
    "REGISTRY",
    "RolloutSettings",
    "VitCoreError",
    "analyze",
    "attention_flow",
    "attention_rollout",
    "capture",
    "class_relevance",
    "explanation_maps",
    "geometry_of",
    "gradcam",
    "inspect",
    "load_image",
    "load_model",
    "lrp",
    "legrad",
    "model_view",
    "pos_embed_similarity",
    "preprocess",
    "preprocess_batch",
    "raw_attention",
    "read_provenance",
    "run_evaluate",
    "top_k",
    "transformer_attribution",
]


def __getattr__(name: str) -> Any:
    """``vit_core.<name>``: import its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vit_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from .attention.capture import AttentionCapture, capture
    from .errors import VitCoreError
    from .inside.inspection import InspectionResult, inspect
    from .inside.norms import OutlierRule
    from .methods.attention_flow import attention_flow
    from .methods.gradcam import gradcam
    from .methods.legrad import legrad
    from .methods.lrp import lrp
    from .methods.pos_embed import pos_embed_similarity
    from .methods.raw_attention import raw_attention
    from .methods.registry import METHODS, REGISTRY, ExplainSettings, explanation_maps
    from .methods.relevance import class_relevance
    from .methods.rollout import RolloutSettings, attention_rollout
    from .methods.transformer_attribution import transformer_attribution
    from .models.geometry import geometry_of
    from .models.images import load_image, model_view, preprocess, preprocess_batch
    from .models.loading import DEMO_MODEL_NAME, LoadedModel, ModelRequest, load_model
    from .models.predict import top_k
    from .models.types import Capture, Geometry
    from .results.files import read_provenance
    from .results.provenance import Provenance
    from .results.result import AnalysisResult
    from .runs.analysis import analyze
    from .runs.evaluate import EvaluateOptions, run_evaluate
