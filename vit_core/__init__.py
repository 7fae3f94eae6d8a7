"""vit_core: run a timm Vision Transformer, capture its exact attention, and explain what it sees.

The front door for scripts and notebooks::

    from vit_core import load_model, load_image, preprocess, analyze, RolloutSettings

and the command line (``python -m vit_core analyze IMAGE --model NAME --out RESULT.npz``). Every name below is
imported on first use, so ``import vit_core`` itself loads neither torch nor timm. Imports neither streamlit nor
plotly.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

# name -> the module that holds it (its one home; the front door only points there)
_EXPORTS: dict[str, str] = {
    # models
    "DEMO_MODEL_NAME": "loading",
    "LoadedModel": "loading",
    "ModelRequest": "loading",
    "load_model": "loading",
    "Geometry": "types",
    "Capture": "types",
    "geometry_of": "geometry",
    # images
    "load_image": "images",
    "model_view": "images",
    "preprocess": "images",
    "preprocess_batch": "images",
    # the analysis and its results
    "AttentionCapture": "capture",
    "capture": "capture",
    "analyze": "analysis",
    "AnalysisResult": "result",
    "Provenance": "provenance",
    "read_provenance": "result_files",
    "top_k": "predict",
    # methods
    "RolloutSettings": "methods.rollout",
    "attention_rollout": "methods.rollout",
    "class_relevance": "methods.relevance",
    "raw_attention": "methods.raw_attention",
    "attention_flow": "methods.attention_flow",
    "gradcam": "methods.gradcam",
    "lrp": "methods.lrp",
    "legrad": "methods.legrad",
    "pos_embed_similarity": "methods.pos_embed",
    "REGISTRY": "explain",
    "METHODS": "explain",
    "ExplainSettings": "explain",
    "explanation_maps": "explain",
    # faithfulness
    "EvaluateOptions": "evaluate",
    "run_evaluate": "evaluate",
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
    "LoadedModel",
    "METHODS",
    "ModelRequest",
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


class _FrontDoor(types.ModuleType):
    """``vit_core.capture`` is the function, as the front door promises, although a submodule has the same name:
    importing ``vit_core.capture`` sets the package attribute to the module, which this property ignores."""

    @property
    def capture(self):
        from .capture import capture

        return capture

    @capture.setter
    def capture(self, value) -> None:  # the import system's setattr(vit_core, "capture", <module>)
        pass


sys.modules[__name__].__class__ = _FrontDoor


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from .analysis import analyze
    from .capture import AttentionCapture, capture
    from .errors import VitCoreError
    from .evaluate import EvaluateOptions, run_evaluate
    from .explain import METHODS, REGISTRY, ExplainSettings, explanation_maps
    from .geometry import geometry_of
    from .images import load_image, model_view, preprocess, preprocess_batch
    from .loading import DEMO_MODEL_NAME, LoadedModel, ModelRequest, load_model
    from .methods.attention_flow import attention_flow
    from .methods.gradcam import gradcam
    from .methods.legrad import legrad
    from .methods.lrp import lrp
    from .methods.pos_embed import pos_embed_similarity
    from .methods.raw_attention import raw_attention
    from .methods.relevance import class_relevance
    from .methods.rollout import RolloutSettings, attention_rollout
    from .predict import top_k
    from .provenance import Provenance
    from .result import AnalysisResult
    from .result_files import read_provenance
    from .types import Capture, Geometry
