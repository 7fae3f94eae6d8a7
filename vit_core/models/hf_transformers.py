"""Hugging Face transformers ViTs (model types vit, deit, dinov2, dinov2_with_registers) as timm VisionTransformers.

transformers is not imported: a transformers checkpoint is a ``config.json``, a state dict and an optional
``preprocessor_config.json``, and this module maps them onto timm's ``VisionTransformer`` (or
``VisionTransformerDistilled`` for DeiT's distillation token, :class:`ClassAndMeanViT` for DINOv2's image
classifiers) through the key table below, so capture, the methods, the app and the batch command work on them
unchanged. Pure functions of dicts and tensors: reading the
files (hub or folder) is ``vit_core.models.loading``'s concern.

Position embeddings: transformers resamples them on the fly to the input's grid (bicubic, align_corners=False;
antialiased only for dinov2_with_registers). Here they are resampled once at build time with the same call, so
the model is exact at its configured size; with ``dynamic_img_size=True`` the checkpoint's own grid is kept and
timm resamples per input (bicubic, antialiased: exact for dinov2_with_registers, close but not equal for the
others; on the test's random DINOv2, shrinking a 4 x 4 grid to 3 x 3, features differ by up to 0.016 and attention
by up to 0.005, as tests/test_hf_transformers.py measures). Pass ``img_size`` instead for an exact fixed size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from timm.layers import LayerNorm, SwiGLUPacked
from timm.models.deit import VisionTransformerDistilled
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from ..errors import CheckpointError, UnsupportedModelError
from .types import CLASS_AND_MEAN_POOL

__all__ = [
    "SUPPORTED_MODEL_TYPES", "ClassAndMeanViT", "TransformersViT", "config_format", "convert_state_dict", "read_config",
]

SUPPORTED_MODEL_TYPES = ("vit", "deit", "dinov2", "dinov2_with_registers")

# transformers' name of the module under each block (``<prefix>encoder.layer.{i}.``) -> timm's (``blocks.{i}.``);
# weight and bias both follow. q, k and v are concatenated into timm's fused qkv separately.
_BLOCK_MODULES = {
    "vit": {
        "layernorm_before": "norm1",
        "attention.output.dense": "attn.proj",
        "layernorm_after": "norm2",
        "intermediate.dense": "mlp.fc1",
        "output.dense": "mlp.fc2",
    },
    "dinov2": {
        "norm1": "norm1",
        "attention.output.dense": "attn.proj",
        "norm2": "norm2",
        "mlp.fc1": "mlp.fc1",  # a plain MLP ...
        "mlp.fc2": "mlp.fc2",
        "mlp.weights_in": "mlp.fc1",  # ... or SwiGLU (use_swiglu_ffn): [silu(gate), value] packed as timm packs them
        "mlp.weights_out": "mlp.fc2",
    },
}
_BLOCK_MODULES["deit"] = _BLOCK_MODULES["vit"]
_BLOCK_MODULES["dinov2_with_registers"] = _BLOCK_MODULES["dinov2"]
_BLOCK_TENSORS = {"layer_scale1.lambda1": "ls1.gamma", "layer_scale2.lambda1": "ls2.gamma"}  # DINOv2's layer scale
_OUTSIDE_BLOCKS = {
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "embeddings.cls_token": "cls_token",
    "embeddings.distillation_token": "dist_token",
    "embeddings.register_tokens": "reg_token",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
}
_HEADS = {  # transformers' classifier -> timm's head
    "classifier": "head",
    "cls_classifier": "head",
    "distillation_classifier": "head_dist",
}
# Parts of a transformers checkpoint that play no part in classification: BERT-style pooler, masked-image token.
_UNUSED = ("pooler.", "embeddings.mask_token")
# Whether transformers' position-embedding resampling is antialiased, per model type.
_ANTIALIAS = {"vit": False, "deit": False, "dinov2": False, "dinov2_with_registers": True}
_ACTIVATIONS = {"gelu": nn.GELU, "gelu_new": functools.partial(nn.GELU, approximate="tanh"),
                "gelu_pytorch_tanh": functools.partial(nn.GELU, approximate="tanh")}
_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}  # PIL's codes


def config_format(config: dict) -> str | None:
    """"timm" (timm's push_to_hub config), "transformers" (a transformers config) or None (neither)."""
    if not isinstance(config, dict):
        return None
    if "architecture" in config or "pretrained_cfg" in config:
        return "timm"
    if "model_type" in config:
        return "transformers"
    return None


class ClassAndMeanViT(VisionTransformer):
    """timm's ViT with the head of transformers' ``Dinov2ForImageClassification`` (and its registers variant).

    One linear layer reads the final (normalised) class token and the mean of the final patch tokens side by
    side: ``logits = head([x_cls ; mean_k x_k])``, registers in neither half, so ``head.weight`` is
    ``[classes, 2 * embed_dim]``, class-token half first. ``global_pool`` is :data:`CLASS_AND_MEAN_POOL`, which
    the read-out of every map follows (:func:`vit_core.methods.readout.output_row`).
    """

    def __init__(self, *, num_classes: int, **kwargs) -> None:
        super().__init__(num_classes=0, global_pool="token", **kwargs)
        self.global_pool = CLASS_AND_MEAN_POOL
        self.num_classes = num_classes
        self.head_hidden_size = 2 * self.embed_dim
        self.head = nn.Linear(2 * self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    def pool(self, x: torch.Tensor, pool_type: str | None = None) -> torch.Tensor:
        """``[batch, token, dim]`` -> ``[batch, 2 * dim]``: the class token, then the mean patch token."""
        if pool_type not in (None, CLASS_AND_MEAN_POOL):
            return super().pool(x, pool_type)
        return torch.cat([x[:, 0], x[:, self.num_prefix_tokens:].mean(dim=1)], dim=-1)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        if global_pool not in (None, CLASS_AND_MEAN_POOL):
            raise UnsupportedModelError("this DINOv2 classifier's head reads the class and mean patch tokens; keep its pooling.")
        self.num_classes = num_classes
        self.head = nn.Linear(2 * self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()


@dataclass(frozen=True)
class TransformersViT:
    """What a transformers config says about the timm model that reproduces it.

    Attributes:
        model_type: transformers' model type (one of SUPPORTED_MODEL_TYPES).
        kind: transformers' head: "classifier", "distilled" (DeiT with teacher: two heads averaged),
            "class_and_mean" (DINOv2's classifier on the class token and the mean patch token) or "none".
        build_kwargs: VisionTransformer arguments.
        native_grid: the checkpoint's position-embedding grid (rows, cols).
        data_config: timm-style preprocessing (input_size, interpolation, mean, std, crop_pct, crop_mode).
        label_names: class names in output order (from id2label), when there is a classifier.
        class_output: "sigmoid" for a multi-label classifier (``problem_type: multi_label_classification``), else
            "softmax" (``vit_core.models.predict``).
    """

    model_type: str
    kind: str
    build_kwargs: dict
    native_grid: tuple[int, int]
    data_config: dict
    label_names: tuple[str, ...] | None
    class_output: str = "softmax"

    @property
    def model_class(self) -> type[VisionTransformer]:
        if self.kind == "class_and_mean":
            return ClassAndMeanViT
        return VisionTransformerDistilled if self.model_type == "deit" else VisionTransformer

    @property
    def prefix(self) -> str:
        """The base model's prefix in transformers' state dict keys of a model with a head."""
        return f"{self.model_type}."

    def build(self) -> VisionTransformer:
        """The timm model, random weights (on the current default device: use a meta device for a skeleton)."""
        model = self.model_class(**self.build_kwargs)
        model.pretrained_cfg = {
            **self.data_config, "label_names": self.label_names, "num_classes": model.num_classes,
            "class_output": self.class_output,
        }
        return model


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, dict) and "height" in value and "width" in value:
        return (int(value["height"]), int(value["width"]))
    if isinstance(value, list | tuple) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    raise UnsupportedModelError(f"the config's {name} ({value!r}) is not a size; give height and width.")


def _head_kind(config: dict) -> str:
    architectures = config.get("architectures") or []
    model_type = config["model_type"]
    if any("WithTeacher" in a for a in architectures):
        return "distilled"
    if any("ForImageClassification" in a for a in architectures):
        # transformers' DINOv2 classifiers read [class token ; mean patch token], the others the class token
        return "class_and_mean" if model_type.startswith("dinov2") else "classifier"
    return "none"


def _data_config(config: dict, preprocessor: dict | None, model_size: tuple[int, int]) -> dict:
    """timm's data config from transformers' image processor: resize then center crop, as the processor does."""
    p = preprocessor or {}
    mean = tuple(p.get("image_mean", (0.5, 0.5, 0.5)))
    std = tuple(p.get("image_std", (0.5, 0.5, 0.5)))
    if p.get("do_normalize") is False:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    interpolation = _RESAMPLE.get(p.get("resample", 2), "bilinear")
    size = p.get("size") if p.get("do_resize", True) else None
    crop = _pair(p["crop_size"], "crop_size") if p.get("do_center_crop") and p.get("crop_size") else None
    input_size = crop or (model_size if size is None else None)
    if isinstance(size, dict) and "shortest_edge" in size:
        edge = int(size["shortest_edge"])
        input_size = input_size or (edge, edge)
        crop_pct, crop_mode = input_size[0] / edge, "center"  # resize the short side to `edge`, crop the center
    elif size is not None:
        resized = _pair(size, "size")
        input_size = input_size or resized
        crop_pct, crop_mode = input_size[0] / resized[0], "squash"  # resize to exactly height x width, crop
    else:
        crop_pct, crop_mode = 1.0, "center"
    return {
        "input_size": (int(config.get("num_channels", 3)), *input_size),
        "interpolation": interpolation,
        "mean": mean,
        "std": std,
        "crop_pct": crop_pct,
        "crop_mode": crop_mode,
    }


def read_config(config: dict, preprocessor: dict | None = None, model_kwargs: dict | None = None) -> TransformersViT:
    """The timm equivalent of transformers `config` (config.json) with `preprocessor` (preprocessor_config.json).

    `model_kwargs`: ``img_size`` (run at another size, position embeddings resampled as transformers does) and
    ``dynamic_img_size`` (any size per input, resampled by timm); nothing else.

    Raises:
        UnsupportedModelError: a model type or feature this mapping does not reproduce exactly, in one sentence.
    """
    model_kwargs = dict(model_kwargs or {})
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UnsupportedModelError(
            f"transformers model type {model_type!r} is not supported; choose a {', '.join(SUPPORTED_MODEL_TYPES)} model."
        )
    unknown = sorted(set(model_kwargs) - {"img_size", "dynamic_img_size"})
    if unknown:
        raise UnsupportedModelError(f"{', '.join(unknown)} cannot be set on a transformers model; leave it out.")
    activation = config.get("hidden_act", "gelu")
    if activation not in _ACTIVATIONS:
        raise UnsupportedModelError(f"activation {activation!r} is not supported; choose a model with a GELU MLP.")
    dim, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    dinov2 = model_type.startswith("dinov2")
    if dinov2:
        hidden = int(dim * config.get("mlp_ratio", 4))
        if config.get("use_swiglu_ffn"):
            hidden = 2 * ((int(hidden * 2 / 3) + 7) // 8 * 8)  # transformers' SwiGLU width, both halves packed
    else:
        hidden = int(config["intermediate_size"])
    kind = _head_kind(config)
    native = _pair(config.get("image_size", 224), "image_size")
    patch = _pair(config.get("patch_size", 16), "patch_size")
    native_grid = (native[0] // patch[0], native[1] // patch[1])
    # transformers' DINOv2 always resamples its position embeddings to the input; ViT and DeiT run at image_size.
    data_config = _data_config(config, preprocessor, native)
    if model_kwargs.get("img_size") is not None:
        size = _pair(model_kwargs["img_size"], "img_size")
    else:
        size = tuple(data_config["input_size"][1:]) if dinov2 else native
    data_config["input_size"] = (data_config["input_size"][0], *size)
    dynamic = bool(model_kwargs.get("dynamic_img_size", False))
    labels = None
    num_classes = 0
    if kind != "none":
        id2label = config.get("id2label") or {}
        num_classes = len(id2label) or int(config.get("num_labels", 0))
        names = [id2label.get(str(i), id2label.get(i)) for i in range(num_classes)]
        labels = tuple(str(n) for n in names) if all(n is not None for n in names) else None
    build_kwargs = {
        "img_size": native if dynamic else size,
        "patch_size": patch,
        "in_chans": int(config.get("num_channels", 3)),
        "embed_dim": dim,
        "depth": int(config["num_hidden_layers"]),
        "num_heads": heads,
        # timm builds int(dim * mlp_ratio) hidden units: the half unit makes that exactly `hidden`, whatever rounds
        "mlp_ratio": (hidden + 0.5) / dim,
        "qkv_bias": bool(config.get("qkv_bias", True)),
        "num_classes": num_classes,
        "norm_layer": functools.partial(LayerNorm, eps=float(config.get("layer_norm_eps", 1e-12))),
        "act_layer": _ACTIVATIONS[activation],
        "dynamic_img_size": dynamic,
    }
    if dinov2:
        build_kwargs["init_values"] = float(config.get("layerscale_value", 1.0))
        if config.get("use_swiglu_ffn"):
            build_kwargs.update(mlp_layer=SwiGLUPacked, act_layer=nn.SiLU)  # the block hands act_layer to the MLP
    if model_type == "dinov2_with_registers":
        # registers sit after the class token and carry no position: timm's no_embed_class layout, with the
        # class token's position folded into the class token itself (convert_state_dict)
        build_kwargs.update(reg_tokens=int(config.get("num_register_tokens", 4)), no_embed_class=True)
    class_output = "sigmoid" if config.get("problem_type") == "multi_label_classification" else "softmax"
    return TransformersViT(model_type, kind, build_kwargs, native_grid, data_config, labels, class_output)


def _resample(pos: torch.Tensor, old: tuple[int, int], new: tuple[int, int], antialias: bool) -> torch.Tensor:
    """Patch position embeddings [1, old_rows * old_cols, dim] resampled to `new`, the call transformers makes."""
    if old == new:
        return pos
    dim = pos.shape[-1]
    grid = pos.reshape(1, old[0], old[1], dim).permute(0, 3, 1, 2).float()  # [1, dim, rows, cols]
    grid = nn.functional.interpolate(grid, size=new, mode="bicubic", align_corners=False, antialias=antialias)
    return grid.permute(0, 2, 3, 1).reshape(1, new[0] * new[1], dim).to(pos.dtype)


def _strip_prefix(spec: TransformersViT, state: dict) -> dict:
    """Keys relative to the base model: ``vit.encoder...`` (a model with a head) and ``encoder...`` (a bare one)."""
    prefix = spec.prefix
    return {k.removeprefix(prefix): v for k, v in state.items()}


def convert_state_dict(spec: TransformersViT, state: dict[str, torch.Tensor], model: VisionTransformer) -> dict:
    """transformers' state dict -> a state dict that `model` (``spec.build()``) loads with strict=True.

    Raises:
        CheckpointError: the weights do not match the config (missing or left-over tensors), in one sentence.
    """
    hf = _strip_prefix(spec, state)
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()

    def take(key: str) -> torch.Tensor:
        if key not in hf:
            raise CheckpointError(f"the weights have no {key}; they do not belong to this config.json.")
        used.add(key)
        return hf[key]

    for source, target in _OUTSIDE_BLOCKS.items():
        if source in hf:
            out[target] = take(source)
    modules = _BLOCK_MODULES[spec.model_type]
    for i in range(spec.build_kwargs["depth"]):
        layer, block = f"encoder.layer.{i}.", f"blocks.{i}."
        attention = f"{layer}attention.attention."
        for part in ("weight", "bias"):
            if f"{attention}query.{part}" in hf:
                out[f"{block}attn.qkv.{part}"] = torch.cat([take(f"{attention}{n}.{part}") for n in ("query", "key", "value")])
            for source, target in modules.items():
                if f"{layer}{source}.{part}" in hf:
                    out[f"{block}{target}.{part}"] = take(f"{layer}{source}.{part}")
        for source, target in _BLOCK_TENSORS.items():
            if f"{layer}{source}" in hf:
                out[f"{block}{target}"] = take(f"{layer}{source}")
    if spec.kind != "none":
        for source, target in _HEADS.items():
            for part in ("weight", "bias"):
                if f"{source}.{part}" in hf:
                    out[f"{target}.{part}"] = take(f"{source}.{part}")
    if spec.kind == "classifier" and spec.model_type == "deit":
        # DeiTForImageClassification reads only the class token, timm's distilled model averages two heads:
        # twice the classifier on the class token plus a zero head on the distillation token is the same (exactly:
        # doubling and halving are exact in floating point)
        out["head_dist.weight"] = torch.zeros_like(out["head.weight"])
        out["head_dist.bias"] = torch.zeros_like(out["head.bias"])
        out["head.weight"], out["head.bias"] = 2 * out["head.weight"], 2 * out["head.bias"]
    pos = take("embeddings.position_embeddings")  # [1, prefix + rows * cols, dim]
    prefix = 2 if spec.model_type == "deit" else 1
    target_grid = model.patch_embed.grid_size
    patches = _resample(pos[:, prefix:], spec.native_grid, tuple(target_grid), _ANTIALIAS[spec.model_type])
    if model.no_embed_class:
        out["cls_token"] = out["cls_token"] + pos[:, :1]
        out["pos_embed"] = patches
    else:
        out["pos_embed"] = torch.cat([pos[:, :prefix], patches], dim=1)
    left = sorted(k for k in hf if k not in used and not k.startswith(_UNUSED))
    if left:
        raise CheckpointError(
            f"the weights hold {', '.join(left[:3])}, which this {spec.model_type} mapping does not use; "
            "check that config.json belongs to these weights."
        )
    return out
