"""vit_core: run a timm Vision Transformer, capture its exact attention, and explain what it sees.

Usable from scripts and notebooks (``load_model``, ``capture``, ``analyze``) and from the command line
(``python -m vit_core analyze IMAGE --model NAME --out RESULT.npz``). Imports neither streamlit nor plotly.
"""

from .capture import AttentionCapture, capture
from .errors import VitCoreError
from .geometry import geometry_of
from .images import load_image, model_view, preprocess
from .loading import DEMO_MODEL_NAME, LoadedModel, load_model
from .predict import top_k
from .provenance import Provenance
from .result import AnalysisResult
from .result_files import read_provenance
from .types import Capture, Geometry

__all__ = [
    "AnalysisResult",
    "AttentionCapture",
    "Capture",
    "DEMO_MODEL_NAME",
    "Geometry",
    "LoadedModel",
    "Provenance",
    "VitCoreError",
    "capture",
    "geometry_of",
    "load_image",
    "load_model",
    "model_view",
    "preprocess",
    "read_provenance",
    "top_k",
]
