"""Register the bundled demo ViT with timm so ``timm.create_model(NAME, pretrained=True)`` works offline.

The pretrained config's ``file`` points at the weights in ``assets/demo_model/``; timm's own loader
reads it (no network), and the config carries the class names (``label_names``) and the preprocessing
(mean/std 0.5, 224 px, no crop). Importing ``vit_core`` (or ``vit_core.demo``) registers the model.

Example:
    >>> import timm, vit_core.demo
    >>> model = timm.create_model("vit_demo_shapes", pretrained=True).eval()
    >>> model.pretrained_cfg["label_names"]
    ('circle', 'square', 'triangle', 'star', 'cross', 'ring')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import safe_open
from timm.models import (
    build_model_with_cfg,
    generate_default_cfgs,
    get_pretrained_cfg,
    register_model,
    resolve_pretrained_cfg,
)
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

from .scenes import CLASSES

__all__ = [
    "NAME", "TAG", "FIRST_VERSION_TAG", "ARCH", "ASSET_DIR", "SAMPLES_DIR", "WEIGHTS_FILE", "FIRST_VERSION_FILE", "MEAN",
    "STD", "ARCH_KEYS", "CLASS_OUTPUT_KEY", "architecture", "class_output", "sizes_of", "vit_demo_shapes", "weights_file",
]

NAME = "vit_demo_shapes"
TAG = "synthetic"
ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "demo_model"
WEIGHTS_FILE = ASSET_DIR / f"{NAME}.safetensors"  # the sixth version (width 128), the default
# The first version (classic scenes only): stronger two-object relevance, no local heads; `vit_demo_shapes.first_version`.
FIRST_VERSION_TAG = "first_version"
FIRST_VERSION_FILE = ASSET_DIR / FIRST_VERSION_TAG / f"{NAME}.safetensors"
SAMPLES_DIR = ASSET_DIR.parent / "samples"  # the bundled sample images (generated scenes and photographs)
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)

# ViT-B/16's token layout (224 px, patch 16, one class token, learned position embeddings) at a width
# a 2-core CPU can train in well under two hours. A weights file may override the sizes in ARCH_KEYS in its
# safetensors metadata (``architecture``); the first two versions' files have none: they are these sizes.
ARCH: dict[str, Any] = dict(
    img_size=224,
    patch_size=16,
    embed_dim=96,
    depth=6,
    num_heads=4,
    mlp_ratio=2.0,
    class_token=True,
    global_pool="token",
    num_classes=len(CLASSES),
)


ARCH_KEYS = ("embed_dim", "depth", "num_heads")
# How the class head's logits read (``vit_core.models.predict``): a file trained with the presence loss says "sigmoid" in
# its metadata (the sixth version on); files without the key read as softmax (the first four versions were trained so).
CLASS_OUTPUT_KEY = "class_output"


def sizes_of(model: VisionTransformer) -> dict[str, int]:
    """The ARCH_KEYS sizes of a built model (what a weights file's metadata records, ``architecture`` reads back)."""
    sizes = {"embed_dim": model.embed_dim, "depth": len(model.blocks), "num_heads": model.blocks[0].attn.num_heads}
    return {k: sizes[k] for k in ARCH_KEYS}


def architecture(file: str | Path | None) -> dict[str, Any]:
    """The demo architecture of a weights file: ARCH with the sizes its safetensors metadata records (width and
    depth, when it records none, read off its tensors' shapes; heads cannot be, so they stay ARCH's)."""
    arch = dict(ARCH)
    if file and Path(file).is_file() and str(file).endswith(".safetensors"):
        with safe_open(str(file), framework="pt") as f:
            meta = f.metadata() or {}
            names = set(f.keys())
            if "pos_embed" in names:
                arch["embed_dim"] = int(f.get_slice("pos_embed").get_shape()[-1])
            arch["depth"] = len({n.split(".")[1] for n in names if n.startswith("blocks.")}) or arch["depth"]
        arch.update({k: int(meta[k]) for k in ARCH_KEYS if k in meta})
    return arch


def class_output(file: str | Path | None) -> str:
    """The class output a weights file's safetensors metadata records ("softmax" or "sigmoid"), else "softmax"."""
    if file and Path(file).is_file() and str(file).endswith(".safetensors"):
        with safe_open(str(file), framework="pt") as f:
            return (f.metadata() or {}).get(CLASS_OUTPUT_KEY, "softmax")
    return "softmax"


def _cfg(**kwargs: Any) -> dict[str, Any]:
    return {
        "url": "",
        "num_classes": len(CLASSES),
        "input_size": (3, 224, 224),
        "pool_size": None,
        "crop_pct": 1.0,
        "crop_mode": "center",
        "interpolation": "bilinear",
        "fixed_input_size": True,
        "mean": MEAN,
        "std": STD,
        "first_conv": "patch_embed.proj",
        "classifier": "head",
        "label_names": CLASSES,
        "license": "same as this project",
        "description": "Six-class synthetic shapes ViT trained by vit_core.demo.train (see assets/demo_model/MODEL_CARD.md).",
        **kwargs,
    }


default_cfgs = generate_default_cfgs({  # the first tag is the default
    f"{NAME}.{TAG}": _cfg(file=str(WEIGHTS_FILE)),
    f"{NAME}.{FIRST_VERSION_TAG}": _cfg(file=str(FIRST_VERSION_FILE)),
})


def weights_file(name: str = NAME) -> Path:
    """The bundled weights of `name`, with or without its pretrained tag (``vit_demo_shapes.first_version``): the
    file its registered pretrained config points at (the configs above are the one home of tag -> file)."""
    return Path(get_pretrained_cfg(name).file)


@register_model
def vit_demo_shapes(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """Six-class synthetic-shapes ViT: 224 px, patch 16, class token, depth 6; width and heads as its weights file says."""
    overlay = kwargs.get("pretrained_cfg_overlay") or {}
    if pretrained and "file" not in overlay and kwargs.get("pretrained_cfg") is None and not WEIGHTS_FILE.is_file():
        raise FileNotFoundError(
            f"the demo weights {WEIGHTS_FILE} are missing; restore assets/demo_model from git "
            "or retrain them with `python -m vit_core.demo.train --seed 0 --out assets/demo_model`."
        )
    file = resolve_pretrained_cfg(NAME, kwargs.get("pretrained_cfg"), overlay).file  # the tag's, or the overlay's
    args = {**architecture(file), **kwargs}
    model = build_model_with_cfg(VisionTransformer, NAME, pretrained, pretrained_filter_fn=checkpoint_filter_fn, **args)
    model.pretrained_cfg = {**model.pretrained_cfg, "class_output": class_output(file)}  # loading reads it from here
    return model
