"""The bundled offline demo: synthetic "shapes" scenes with masks and a small ViT trained on them; importing this
package registers ``vit_demo_shapes`` with timm, so ``timm.create_model("vit_demo_shapes", pretrained=True)`` works offline."""

from __future__ import annotations

from .registry import NAME, WEIGHTS_FILE, vit_demo_shapes, weights_file
from .scenes import CLASSES, SceneBatch, generate

__all__ = ["NAME", "WEIGHTS_FILE", "CLASSES", "SceneBatch", "generate", "vit_demo_shapes", "weights_file"]
