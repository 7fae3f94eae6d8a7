"""Every token layout the project must support, as tiny random-weight timm models."""

from __future__ import annotations

import timm
import torch
from timm.layers import SwiGLUPacked
from timm.models import register_model

CLASS_AND_MEAN = "test_vit_class_and_mean"


def _register_class_and_mean() -> None:
    """timm's test_vit with two registers and the head of transformers' DINOv2 classifiers, one linear layer on
    [class token ; mean patch token] (``vit_core.models.hf_transformers.ClassAndMeanViT``), as a timm model name."""
    from vit_core.models.hf_transformers import ClassAndMeanViT

    if timm.is_model(CLASS_AND_MEAN):
        return

    def test_vit_class_and_mean(pretrained: bool = False, **kwargs) -> ClassAndMeanViT:
        for factory_only in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
            kwargs.pop(factory_only, None)
        args = dict(img_size=160, patch_size=16, embed_dim=64, depth=6, num_heads=2, mlp_ratio=3,
                    dynamic_img_size=True, reg_tokens=2, no_embed_class=True, num_classes=1000)
        model = ClassAndMeanViT(**{**args, **kwargs})
        cfg = timm.create_model("test_vit", pretrained=False, num_classes=0).pretrained_cfg
        model.pretrained_cfg = {**cfg, "architecture": CLASS_AND_MEAN, "hf_hub_id": None, "tag": None,
                                "input_size": (3, *model.patch_embed.img_size)}
        return model

    register_model(test_vit_class_and_mean)


_register_class_and_mean()

# id -> (timm architecture, create_model kwargs)
LAYOUTS: dict[str, tuple[str, dict]] = {
    "class_token": ("test_vit", {}),
    "distilled": ("deit_tiny_distilled_patch16_224", {"img_size": 64, "depth": 3}),
    "registers_gap": ("test_vit2", {}),
    "attention_pool": ("test_vit3", {}),
    "no_embed_class_registers": ("test_vit", {"no_embed_class": True, "reg_tokens": 4}),
    "qk_norm": ("test_vit", {"qk_norm": True}),
    "patch8": ("test_vit", {"patch_size": 8, "img_size": 64}),
    "patch14": ("test_vit", {"patch_size": 14, "img_size": 112}),
    "patch32": ("test_vit", {"patch_size": 32, "img_size": 256}),
    "non_square_input": ("test_vit", {"img_size": (96, 160)}),
    # DINOv2-g's MLP: SwiGLU packed into one fc1 (timm's vit_giant_patch14_dinov2 builds it this way)
    "swiglu_packed": ("test_vit", {"mlp_layer": SwiGLUPacked, "act_layer": "silu", "mlp_ratio": 2.0}),
    "class_and_mean_registers": (CLASS_AND_MEAN, {}),  # DINOv2's classifier head (transformers)
}


def make_model(layout: str, device: torch.device | str = "cpu") -> torch.nn.Module:
    name, kwargs = LAYOUTS[layout]
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **kwargs).eval().to(device)


def input_for(model: torch.nn.Module, batch: int = 2, device: torch.device | str = "cpu") -> torch.Tensor:
    h, w = model.patch_embed.img_size
    generator = torch.Generator().manual_seed(1)
    return torch.randn(batch, 3, h, w, generator=generator).to(device)


def registered_name(layout: str) -> str:
    """A timm model name for `layout` (registered on first call), so the app can load it like any other model."""
    from timm.models import register_model

    name = f"layout_{layout}"
    if not timm.is_model(name):
        architecture, kwargs = LAYOUTS[layout]

        def build(pretrained: bool = False, **overrides) -> torch.nn.Module:
            model = timm.create_model(architecture, pretrained=False, **{**kwargs, **overrides})
            # the preprocessing (timm's data config) must produce the input size the model was built for
            model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, *model.patch_embed.img_size)}
            return model

        build.__name__ = build.__qualname__ = name
        register_model(build)
    return name
