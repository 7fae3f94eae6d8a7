"""One entry point for every model source: timm hub names, local checkpoints, the bundled demo model.

This module builds and loads; its parts live beside it: :mod:`vit_core.models.hub` (the hub's cache and downloads),
:mod:`vit_core.models.checkpoints` (reading a local file and its mismatch with an architecture),
:mod:`vit_core.models.transformers_loading` (transformers-format sources) and :mod:`vit_core.models.memory` (whether it fits).
Their public names are importable from here as before.

Weights come through timm's own loaders: the hub path through ``timm.create_model(pretrained=True)``
(huggingface_hub underneath, cached there), local files through ``timm.models.load_state_dict``
(``weights_only=True``: a checkpoint can never run code) or a ViT's own ``load_pretrained`` for
original JAX ``.npz`` files.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from timm.data import resolve_data_config
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn
from torch import nn

from .. import demo  # noqa: F401  registers the bundled model with timm, so its name works like any other
from ..demo.registry import NAME as DEMO_MODEL_NAME
from ..errors import CheckpointError, HubUnavailableError, ModelLoadError, UnsupportedModelError
from .checkpoints import (  # noqa: F401  re-exported: importable from here as before
    CHECKPOINT_SUFFIXES,
    _checkpoint_architecture,
    _described_by,
    _mismatch_message,
    _read_state_dict,
)
from .geometry import geometry_of
from .hub import _check_hub_reachable, _hub_weights, _in_hub_cache, cached_hub_file, hub_repository, hub_weights_cached
from .memory import _bytes_to_load, available_memory_bytes, check_memory, parameter_bytes
from .predict import CLASS_OUTPUTS, has_classifier
from .transformers_loading import (
    _transformers_skeleton,
    _transformers_source,
    _transformers_weights,
    _TransformersSource,
)
from .types import Geometry

__all__ = [
    "DEMO_MODEL_NAME",
    "RANDOM_SEED",
    "LoadedModel",
    "ModelRequest",
    "available_memory_bytes",
    "download_hub_weights",
    "hub_repository",
    "hub_weights_cached",
    "load_model",
    "memory_needed_bytes",
    "parameter_bytes",
    "resolve_device",
    "resolve_dtype",
]

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)?$")  # architecture[.pretrained_tag]
# Random weights (the untrained control) are the architecture's own timm initialisation drawn from this seed,
# so every process, and every model source, gets the same control.
RANDOM_SEED = 0
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class LoadedModel:
    """A ViT ready for analysis.

    Attributes:
        model: the timm model, eval mode, on `device` in `dtype`.
        name: timm architecture name (with pretrained tag, if any).
        source: "hub", "checkpoint", "demo" or "random".
        device: where it runs.
        dtype: parameter dtype.
        data_config: timm's data config (input_size, mean, std, crop_pct, crop_mode, interpolation).
        label_names: class names in output order, when known.
        class_output: how its logits become class probabilities, "softmax" or "sigmoid" (``vit_core.models.predict``).
        geometry: token geometry at the configured input size.
        seed: the seed of the random initialisation when `source` is "random", else None.
        weights_file: the file the weights were read from (a local checkpoint, the bundled model's file, or
            the hub file in the local cache), when there is one; provenance records its name and SHA-256.
    """

    model: nn.Module
    name: str
    source: str
    device: torch.device
    dtype: torch.dtype
    data_config: dict
    label_names: tuple[str, ...] | None
    geometry: Geometry
    class_output: str = "softmax"
    seed: int | None = None
    weights_file: Path | None = None

    @property
    def has_classifier(self) -> bool:
        """False for a backbone (``num_classes`` 0: its output is its pooled feature, with no classes to rank)."""
        return has_classifier(self.model)

    @property
    def model_id(self) -> str:
        """Stable identity for caches: name, source and dtype."""
        return f"{self.source}:{self.name}:{str(self.dtype).removeprefix('torch.')}"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; a named device must exist."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ModelLoadError(f"unknown device {device!r}; use auto, cpu, cuda or mps.") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("CUDA was asked for but no GPU is visible; use --device auto or cpu.")
    return resolved


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """float32 anywhere; bfloat16/float16 only on a GPU, where they are fast and safe."""
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    elif dtype in _DTYPES:
        resolved = _DTYPES[dtype]
    else:
        raise ModelLoadError(f"unknown precision {dtype!r}; use float32, bfloat16 or float16.")
    if resolved != torch.float32 and device.type == "cpu":
        raise ModelLoadError("bfloat16 and float16 are for GPUs; use float32 on the CPU.")
    return resolved


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ModelLoadError(
            f"{name!r} is not a valid model name; use a timm name such as vit_base_patch16_224.augreg_in21k_ft_in1k "
            "or a hub repository such as hf-hub:timm/vit_base_patch16_224.augreg2_in21k_ft_in1k."
        )
    architecture = name.split(".", 1)[0]
    if not timm.is_model(architecture):
        close = difflib.get_close_matches(architecture, timm.list_models(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else " See timm.list_models('vit_*') for ViT names."
        raise ModelLoadError(f"timm has no model named {architecture!r}.{hint}")
    return architecture


def memory_needed_bytes(name: str, dtype: torch.dtype = torch.float32, **kwargs) -> int:
    """Bytes needed to load model `name`, found without building it (a meta-device skeleton)."""
    with torch.device("meta"):
        skeleton = timm.create_model(_check_name(name), pretrained=False, **kwargs)
    return _bytes_to_load(skeleton, dtype)


def download_hub_weights(
    name: str,
    tqdm_class: type | None = None,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
) -> str | None:
    """Fetch the hub weights of model `name` into the Hugging Face cache, where :func:`load_model` then finds them.

    What it adds to ``load_model``: the download's progress, through `tqdm_class` (a ``tqdm.tqdm`` subclass, as
    ``huggingface_hub.hf_hub_download`` takes), e.g. for a progress bar in the app. What ``load_model`` refuses
    before any download (not a ViT, too big for the memory of `device` in `dtype`) is refused here first too.

    Returns:
        The local path of the weights, or None when `name` has no hub weights (a bundled or random model).

    Raises:
        ModelLoadError: the hub cannot be reached, or the repository has none of the weight files timm reads.
        UnsupportedModelError: the model is not a Vision Transformer.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError
    from timm.models._hub import hf_split

    where = _hub_weights(name)
    if where is None:
        return None
    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device)
    transformers = _transformers_source(name)
    if transformers is not None:  # a transformers repository: its config alone says what would be refused
        _transformers_skeleton(transformers, resolved_device, resolved_dtype, {})
    else:
        _loadable_architecture(name, resolved_device, resolved_dtype, {})
    repository, files = where
    _check_hub_reachable(name, _in_hub_cache(repository, files))
    repo_id, revision = hf_split(repository)
    for file in files:
        try:
            return hf_hub_download(repo_id, file, revision=revision, tqdm_class=tqdm_class)
        except EntryNotFoundError:
            continue
        except HfHubHTTPError as error:  # a gated, private or missing repository
            raise ModelLoadError(
                f"could not download {name} from the hub ({error.__class__.__name__}); check the name, "
                "or pass a local checkpoint."
            ) from error
    raise ModelLoadError(f"{repository} holds none of {', '.join(files)}; choose a repository with timm weights.")


def _architecture(name: str, kwargs: dict) -> tuple[str, dict]:
    """(timm architecture, create_model arguments) of `name`; a hub repository's come from its config.json."""
    repository = hub_repository(name)
    if repository is None:
        return _check_name(name), kwargs
    from timm.models._hub import load_model_config_from_hf

    _check_hub_reachable(name, _in_hub_cache(repository, ["config.json"]), what="config")
    try:
        pretrained_cfg, architecture, model_args = load_model_config_from_hf(repository)
    except Exception as error:  # noqa: BLE001 - hub errors (not found, gated, offline) and malformed configs
        raise ModelLoadError(
            f"could not read the timm config.json of {repository} ({type(error).__name__}); check the repository "
            "name on huggingface.co, or use a local checkpoint instead."
        ) from error
    return _check_name(architecture), {**model_args, **kwargs, "pretrained_cfg": pretrained_cfg}


def _loadable_architecture(name: str, device: torch.device | None, dtype: torch.dtype, kwargs: dict) -> str:
    """The timm architecture of `name`, after the refusals that need no weights: not a ViT, too big for memory."""
    architecture, skeleton_kwargs = _architecture(name, kwargs)
    with torch.device("meta"):
        skeleton = timm.create_model(architecture, pretrained=False, **skeleton_kwargs)
    if not isinstance(skeleton, VisionTransformer):
        raise UnsupportedModelError(
            f"{architecture} is a {type(skeleton).__name__}, not a Vision Transformer; "
            "choose a ViT, DeiT, DINO/DINOv2 or CLIP ViT model."
        )
    check_memory(architecture, skeleton, device, dtype)
    return architecture


def _build(
    name: str, pretrained: bool, device: torch.device | None = None, dtype: torch.dtype = torch.float32, **kwargs
) -> nn.Module:
    """Create the model, translating timm's and the hub's failures into one clear sentence."""
    architecture = _loadable_architecture(name, device, dtype, kwargs)
    if pretrained:
        _check_hub_reachable(name, hub_weights_cached(name))
    try:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except RuntimeError as error:
        if "No pretrained weights" in str(error) or "Invalid pretrained tag" in str(error):
            tags = [m for m in timm.list_pretrained(f"{architecture}.*")]
            hint = f" Available: {', '.join(tags[:5])}." if tags else " Load it from a local checkpoint instead."
            raise ModelLoadError(f"timm has no pretrained weights for {name}.{hint}") from error
        raise ModelLoadError(f"could not create {name}: {error}; check the name and try again.") from error
    except (OSError, ValueError) as error:  # huggingface_hub: offline, not found, timeouts
        raise HubUnavailableError(
            f"could not download the weights of {name} ({type(error).__name__})", DEMO_MODEL_NAME, name=name
        ) from error


def _from_checkpoint(name: str, path: Path, device: torch.device, dtype: torch.dtype, **model_kwargs) -> nn.Module:
    """Build architecture `name` and load `path` into it; the class count follows the checkpoint's head."""
    architecture = _checkpoint_architecture(name)
    model_kwargs = _described_by(architecture, path, model_kwargs)
    if path.suffix.lower() == ".npz":
        model = _build(architecture, False, device, dtype, **model_kwargs)
        try:
            model.load_pretrained(str(path))
        except (KeyError, ValueError, OSError) as error:
            raise CheckpointError(
                f"{path.name} is not an original ViT .npz checkpoint for this architecture ({error}); check the file."
            ) from error
        return model
    state = _read_state_dict(path)
    head = state.get("head.weight")
    if head is not None and head.ndim == 2 and "num_classes" not in model_kwargs:
        model_kwargs = {**model_kwargs, "num_classes": head.shape[0]}
    model = _build(architecture, False, device, dtype, **model_kwargs)
    state = checkpoint_filter_fn(state, model)
    message = _mismatch_message(path, model, state)
    if message:
        raise CheckpointError(message)
    model.load_state_dict(state, strict=True)
    return model


def _random_init(name: str, checkpoint: Path | None, device: torch.device, dtype: torch.dtype, **kwargs) -> nn.Module:
    """Architecture `name` with its own timm initialisation, seeded with :data:`RANDOM_SEED`.

    For a checkpoint, the class count follows its head (so the labels still apply); its weights are not loaded.
    """
    if checkpoint is not None:
        name = _checkpoint_architecture(name)
        kwargs = _described_by(name, checkpoint, kwargs)
        if checkpoint.suffix.lower() != ".npz" and "num_classes" not in kwargs:
            head = _read_state_dict(checkpoint).get("head.weight")
            if head is not None and head.ndim == 2:
                kwargs = {**kwargs, "num_classes": head.shape[0]}
    with torch.random.fork_rng(devices=[]):  # the same random weights in every process: a reproducible control
        torch.manual_seed(RANDOM_SEED)
        return _build(name, False, device, dtype, **kwargs)


def _label_names(model: nn.Module) -> tuple[str, ...] | None:
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    names = cfg.get("label_names")
    num_classes = getattr(model, "num_classes", 0)
    if names and len(names) == num_classes:
        return tuple(names)
    if num_classes in (1000, 11821, 21841, 21843):
        from timm.data import ImageNetInfo, infer_imagenet_subset

        subset = infer_imagenet_subset(model)
        if subset:
            info = ImageNetInfo(subset)
            return tuple(info.index_to_description(i) for i in range(num_classes))
    return None


def _class_output(model: nn.Module) -> str:
    """The model's pretrained config's ``class_output`` (the demo registry and transformers set it), else softmax."""
    output = (getattr(model, "pretrained_cfg", {}) or {}).get("class_output") or "softmax"
    return output if output in CLASS_OUTPUTS else "softmax"


def load_model(
    name: str = DEMO_MODEL_NAME,
    checkpoint: str | Path | None = None,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
    pretrained: bool = True,
    **model_kwargs,
) -> LoadedModel:
    """Load a timm ViT from the hub, from a local checkpoint, or the bundled demo model.

    Args:
        name: timm name (``vit_base_patch16_224.augreg_in21k_ft_in1k``), a hub repository with a timm or a
            transformers config (``hf-hub:timm/vit_base_patch16_224.augreg2_in21k_ft_in1k``,
            ``hf-hub:google/vit-base-patch16-224``), a folder written by transformers' ``save_pretrained``, or the
            demo model's name. transformers models: see :mod:`vit_core.models.hf_transformers`.
        checkpoint: local weights for architecture `name`: .safetensors, .pth/.pt/.bin (loaded with
            weights_only=True) or an original JAX .npz.
        device: "auto" (cuda, mps, cpu) or a device name.
        dtype: "float32", or "bfloat16"/"float16" on a GPU.
        pretrained: False gives random weights, the architecture's own timm initialisation seeded with
            :data:`RANDOM_SEED`, whatever the source: for a checkpoint, its architecture and class count, not
            its weights (the randomised control of Adebayo et al. 2018).
        model_kwargs: passed to ``timm.create_model`` (e.g. ``img_size``, ``dynamic_img_size``).

    Raises:
        ModelLoadError: with one sentence that says what to do next.
    """
    resolved_device = resolve_device(device)
    resolved_dtype = resolve_dtype(dtype, resolved_device)
    if model_kwargs.get("img_size") is not None:
        check_image_size(model_kwargs["img_size"])
    seed, weights_file = None, None
    transformers = _transformers_source(name) if checkpoint is None else None
    if transformers is not None:
        model, source, weights_file = _from_transformers(
            transformers, resolved_device, resolved_dtype, pretrained, model_kwargs
        )
        name = transformers.name
        seed = None if pretrained else RANDOM_SEED
    elif not pretrained:  # before the checkpoint: random weights must never be the checkpoint's
        path = None if checkpoint is None else Path(checkpoint)
        model = _random_init(name, path, resolved_device, resolved_dtype, **model_kwargs)
        source, seed = "random", RANDOM_SEED
    elif checkpoint is not None:
        model = _from_checkpoint(name, Path(checkpoint), resolved_device, resolved_dtype, **model_kwargs)
        source = "checkpoint"
    else:
        model = _build(name, True, resolved_device, resolved_dtype, **model_kwargs)
        source = "demo" if name.split(".", 1)[0] == DEMO_MODEL_NAME else "hub"
    if transformers is None and source != "random":
        weights_file = _weights_file(name, checkpoint, source)
    model = model.eval().to(device=resolved_device, dtype=resolved_dtype)
    data_config = resolve_data_config({}, model=model)
    if model_kwargs.get("img_size") is not None:
        check_patch_multiple(model_kwargs["img_size"], tuple(model.patch_embed.patch_size))
        if transformers is None:  # timm's data config keeps the pretrained size
            data_config["input_size"] = (data_config["input_size"][0], *model.patch_embed.img_size)
    img_size = tuple(data_config["input_size"][-2:])
    return LoadedModel(
        model=model,
        name=name,
        source=source,
        device=resolved_device,
        dtype=resolved_dtype,
        data_config=data_config,
        label_names=_label_names(model),
        class_output=_class_output(model),
        geometry=geometry_of(model, img_size),
        seed=seed,
        weights_file=weights_file,
    )


def check_image_size(size) -> None:
    """Refuse an input size that is not a positive number of pixels (the patch grid is checked where it is built)."""
    sides = size if isinstance(size, tuple | list) else (size, size)
    if len(sides) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sides):
        raise ModelLoadError(f"image size {size!r} is not a number of pixels; give one such as 518.")


def check_patch_multiple(size, patch_size: tuple[int, int]) -> None:
    """Refuse an input size whose sides are not whole numbers of patches (the last pixels would be dropped)."""
    sides = size if isinstance(size, tuple | list) else (size, size)
    for side, patch in zip(sides, patch_size, strict=True):
        if side % patch:
            lower, upper = max(patch, side // patch * patch), (side // patch + 1) * patch
            raise ModelLoadError(
                f"image size {side} is not a multiple of this model's {patch} px patches; choose {lower} or {upper}."
            )


def _weights_file(name: str, checkpoint: str | Path | None, source: str) -> Path | None:
    """Where the weights of a timm model loaded as `source` came from, or None (not in the cache)."""
    if checkpoint is not None:
        return Path(checkpoint)
    if source == "demo":
        return demo.weights_file(name)
    where = _hub_weights(name) if source == "hub" else None
    return None if where is None else cached_hub_file(*where)


@dataclass(frozen=True)
class ModelRequest:
    """The arguments of :func:`load_model` as one picklable value: what a Ray actor (or a later process) loads.

    Attributes:
        name: timm name, hub repository or the bundled model's name.
        checkpoint: local weights file, or None.
        device: "auto" or a device name.
        dtype: "float32", "bfloat16" or "float16".
        pretrained: False for random weights.
        image_size: input side in pixels (position embeddings resampled to its grid), or None for the model's own.
    """

    name: str = DEMO_MODEL_NAME
    checkpoint: Path | None = None
    device: str = "auto"
    dtype: str = "float32"
    pretrained: bool = True
    image_size: int | None = None

    def load(self, **overrides) -> LoadedModel:
        """``load_model`` with these arguments (`overrides` replace some, e.g. ``device="cpu"``)."""
        args = {"checkpoint": self.checkpoint, "device": self.device, "dtype": self.dtype, "pretrained": self.pretrained}
        if self.image_size is not None:
            args["img_size"] = self.image_size
        return load_model(self.name, **{**args, **overrides})


# -- transformers-format ViTs (the source is vit_core.models.transformers_loading's, the mapping vit_core.models.hf_transformers') --


def _from_transformers(
    source: _TransformersSource, device: torch.device, dtype: torch.dtype, pretrained: bool, model_kwargs: dict
) -> tuple[nn.Module, str, Path | None]:
    """(timm model, source label, weights file) of a transformers model: its weights mapped, or random ones
    (RANDOM_SEED, no file)."""
    from .hf_transformers import convert_state_dict

    spec, _ = _transformers_skeleton(source, device, dtype, model_kwargs)
    if not pretrained:
        with torch.random.fork_rng(devices=[]):  # the same random weights in every process: a reproducible control
            torch.manual_seed(RANDOM_SEED)
            return spec.build(), "random", None
    path = _transformers_weights(source)
    model = spec.build()
    state = convert_state_dict(spec, _read_state_dict(path), model)
    message = _mismatch_message(path, model, state)
    if message:
        raise CheckpointError(message)
    model.load_state_dict(state, strict=True)
    return model, "hub" if source.repository else "checkpoint", path
