"""Read a model's token geometry from the model itself: never a hard-coded 14 x 14 grid or one class token."""

from __future__ import annotations

from timm.models.vision_transformer import VisionTransformer
from torch import nn

from ..errors import UnsupportedModelError
from .types import Geometry, PrefixKind

__all__ = ["geometry_of", "prefix_kinds_of", "as_pair"]


def as_pair(value) -> tuple[int, int]:
    """An int or a pair (timm's img_size, patch_size, grid_size) as (rows, columns)."""
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def prefix_kinds_of(model: VisionTransformer) -> tuple[PrefixKind, ...]:
    """Kinds of the prefix tokens in sequence order (timm: class, distillation, registers)."""
    kinds: list[PrefixKind] = []
    if getattr(model, "cls_token", None) is not None:
        kinds.append("cls")
    if getattr(model, "dist_token", None) is not None:
        kinds.append("dist")
    reg = getattr(model, "reg_token", None)
    if reg is not None:
        kinds.extend(["reg"] * reg.shape[1])
    if len(kinds) != model.num_prefix_tokens:
        raise UnsupportedModelError(
            f"{type(model).__name__} has {model.num_prefix_tokens} prefix tokens of unknown kinds; "
            "choose a standard timm ViT, DeiT or DINOv2 model."
        )
    return tuple(kinds)


def geometry_of(model: nn.Module, img_size: tuple[int, int] | None = None) -> Geometry:
    """Geometry of `model` for an input of `img_size` (h, w) pixels; default: its configured size.

    Raises:
        UnsupportedModelError: not a timm VisionTransformer, or the input size does not fit the model.
    """
    if not isinstance(model, VisionTransformer):
        raise UnsupportedModelError(
            f"{type(model).__name__} is not a timm VisionTransformer; choose a ViT, DeiT, DINO/DINOv2 or CLIP ViT model."
        )
    pe = model.patch_embed
    patch = as_pair(pe.patch_size)
    configured = as_pair(pe.img_size) if pe.img_size is not None else None
    size = as_pair(img_size) if img_size is not None else configured
    if size is None:
        raise UnsupportedModelError("this model has no fixed input size; pass the input size explicitly.")
    if size != configured and not getattr(pe, "dynamic_img_size", False) and not getattr(model, "dynamic_img_size", False):
        raise UnsupportedModelError(
            f"this model takes {configured[0]} x {configured[1]} inputs, not {size[0]} x {size[1]}; "
            "resize the input or create the model with dynamic_img_size=True."
        )
    if getattr(pe, "strict_img_size", False) is False and getattr(pe, "dynamic_img_pad", False):
        grid = (-(-size[0] // patch[0]), -(-size[1] // patch[1]))
    else:
        grid = (size[0] // patch[0], size[1] // patch[1])
    first = model.blocks[0].attn if len(model.blocks) else None
    return Geometry(
        patch_size=patch,
        grid_size=grid,
        img_size=size,
        prefix_kinds=prefix_kinds_of(model),
        no_embed_class=bool(getattr(model, "no_embed_class", False)),
        global_pool=str(getattr(model, "global_pool", "token")),
        depth=len(model.blocks),
        num_heads=int(getattr(first, "num_heads", 0)),
        embed_dim=int(model.embed_dim),
        pool_include_prefix=bool(getattr(model, "pool_include_prefix", False)),
    )
