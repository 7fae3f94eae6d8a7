"""Transformers-format ViTs as a model source: a hub repository or a local folder with a transformers config.json,
its preprocessing, its weights file, and the refusals that need no weights (see :mod:`vit_core.models.hf_transformers` for
the mapping onto timm's ViT; :mod:`vit_core.models.loading` builds and loads the model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ModelLoadError
from .hub import _hub_file, hub_repository
from .memory import check_memory

__all__ = ["TransformersSource", "transformers_source"]

_TRANSFORMERS_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # safetensors first, as transformers does


@dataclass(frozen=True)
class _TransformersSource:
    """Where a transformers model lives: `folder` on this machine or hub `repository` (org/name[@revision])."""

    name: str
    config: dict
    folder: Path | None = None
    repository: str | None = None


def _read_json(path: Path, what: str) -> dict:
    import json

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"the {what} at {path} is not readable JSON ({type(error).__name__}); check the file.") from error
    if not isinstance(data, dict):
        raise ModelLoadError(f"the {what} at {path} is not a JSON object; check the file.")
    return data


def _transformers_source(name: str) -> _TransformersSource | None:
    """The transformers model `name` names (a hub repository or a folder), None for timm's kinds of name.

    A hub repository's config.json is read first, before any weights: one that is neither timm's nor transformers'
    format is refused here.
    """
    from .hf_transformers import config_format

    if not isinstance(name, str) or not name.strip():
        return None  # Path("") is the working directory: an empty name is no folder
    repository = hub_repository(name)
    if repository is not None:
        path = _hub_file(name, repository, "config.json")
        if path is None:
            raise ModelLoadError(
                f"{repository} has no config.json, so it is neither a timm nor a transformers model; "
                "choose a repository of a timm or transformers ViT."
            )
        config = _read_json(Path(path), "config.json")
        kind = config_format(config)
        if kind is None:
            raise ModelLoadError(
                f"the config.json of {repository} is neither timm's nor transformers' format; "
                "choose a repository of a timm or transformers ViT."
            )
        return _TransformersSource(name, config, repository=repository) if kind == "transformers" else None
    folder = Path(name).expanduser()
    if not folder.is_dir():
        return None
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"{folder} has no config.json; give a folder written by transformers' save_pretrained, or a timm name."
        )
    config = _read_json(folder / "config.json", "config.json")
    if config_format(config) != "transformers":
        raise ModelLoadError(
            f"the config.json in {folder} is not a transformers model config; give a folder written by save_pretrained."
        )
    return _TransformersSource(str(folder.resolve()), config, folder=folder)


def _transformers_file(source: _TransformersSource, file: str, tqdm_class: type | None = None) -> Path | None:
    if source.folder is not None:
        path = source.folder / file
        return path if path.is_file() else None
    path = _hub_file(source.name, source.repository, file, tqdm_class)
    return None if path is None else Path(path)


def _transformers_skeleton(source: _TransformersSource, device: torch.device, dtype: torch.dtype, model_kwargs: dict):
    """(mapping spec, meta-device skeleton) of `source`, after the refusals that need no weights."""
    from .hf_transformers import read_config

    preprocessor_path = _transformers_file(source, "preprocessor_config.json")
    preprocessor = None if preprocessor_path is None else _read_json(preprocessor_path, "preprocessor_config.json")
    spec = read_config(source.config, preprocessor, model_kwargs)
    with torch.device("meta"):
        skeleton = spec.build()
    check_memory(source.name, skeleton, device, dtype)
    return spec, skeleton


def _transformers_weights(source: _TransformersSource, tqdm_class: type | None = None) -> Path:
    """The weights file of `source` (downloaded with progress through `tqdm_class` on first use)."""
    for file in _TRANSFORMERS_WEIGHT_FILES:
        path = _transformers_file(source, file, tqdm_class)
        if path is not None:
            return path
    where = source.folder or source.repository
    raise ModelLoadError(
        f"{where} holds none of {', '.join(_TRANSFORMERS_WEIGHT_FILES)}; save the model with save_pretrained "
        "(one weights file, not sharded)."
    )


TransformersSource = _TransformersSource
transformers_source = _transformers_source
