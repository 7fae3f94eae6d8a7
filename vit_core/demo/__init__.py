"""The bundled offline demo: synthetic "shapes" scenes with masks and a small ViT trained on them.

Importing this package registers the model ``vit_demo_shapes`` with timm, so
``timm.create_model("vit_demo_shapes", pretrained=True)`` loads ``assets/demo_model`` with no network.
"""

from __future__ import annotations

from .registry import NAME, WEIGHTS_FILE, vit_demo_shapes, weights_file
from .scenes import CLASSES, SceneBatch, generate

__all__ = ["NAME", "WEIGHTS_FILE", "CLASSES", "SceneBatch", "generate", "vit_demo_shapes", "weights_file"]
