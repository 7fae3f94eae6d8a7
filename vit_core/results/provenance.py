"""What produced a result: the model and its weights, the preprocessing, every method setting, the software.

Every file the project writes carries one (:mod:`vit_core.results.files` stores it as a JSON string, so numpy or
any JSON reader sees it without this package), and a rerun into an existing result compares its own with the
file's (:meth:`Provenance.differences`) so that two models' or two settings' maps never mix in one file.

Example:
    >>> provenance = provenance_of(loaded, {"relevance": True})
    >>> provenance.checkpoint_sha256[:12], provenance.versions["timm"]
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from torch import nn

from ..models.loading import LoadedModel

__all__ = ["Provenance", "provenance_of", "file_sha256", "software_versions"]

_ROOT = Path(__file__).resolve().parents[2]  # the repository: vit_core/results/provenance.py


@dataclass(frozen=True)
class Provenance:
    """Everything that decides a result's numbers, and when and with what software it was made.

    Attributes:
        model: the model name as asked for (timm name with pretrained tag, ``hf-hub:org/name``, the bundled name).
        pretrained_tag: the timm pretrained tag (``augreg2_in21k_ft_in1k``), or None.
        source: "hub", "checkpoint", "demo", "random", or "module" (an ``nn.Module`` given directly).
        checkpoint: file name of the weights, or None (random weights, or not known).
        checkpoint_sha256: SHA-256 of that file, hex, or None.
        preprocessing: timm's data config (input_size, mean, std, crop_pct, crop_mode, interpolation).
        settings: every method setting, by name (rollout, relevance, readout, what was kept).
        target_class: the class the relevance explains: None (each image's top-1), one index, or one per image.
        dtype: parameter dtype, e.g. "float32".
        device: where it ran, e.g. "cpu", "cuda".
        versions: vit_core, timm, torch (and numpy) versions.
        created: UTC time the result was made, ISO 8601.
    """

    model: str
    pretrained_tag: str | None
    source: str
    checkpoint: str | None
    checkpoint_sha256: str | None
    preprocessing: dict
    settings: dict
    target_class: int | list[int] | None
    dtype: str
    device: str
    versions: dict
    created: str

    # What decides the numbers: a result may only be extended by a run that agrees on all of these.
    IDENTITY = ("model", "pretrained_tag", "source", "checkpoint_sha256", "preprocessing", "settings", "target_class", "dtype")

    def __post_init__(self) -> None:
        for name in ("preprocessing", "settings", "versions", "target_class"):  # JSON-native, so equal after a round trip
            object.__setattr__(self, name, json.loads(json.dumps(getattr(self, name))))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Provenance:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        """One line for a caption: model, weights (with their hash), dtype, device and the software versions."""
        weights = self.source
        if self.checkpoint_sha256:
            weights += f" weights sha256 {self.checkpoint_sha256[:12]}"
        versions = ", ".join(f"{name} {version}" for name, version in self.versions.items())
        return f"Model {self.model} ({weights}, {self.dtype}, {self.device}); {versions}; made {self.created}."

    def differences(self, other: Provenance) -> list[str]:
        """Readable differences in what decides the numbers, as "what: this one's, not the other's"."""
        found = []
        for name in self.IDENTITY:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, dict) and isinstance(theirs, dict):
                for key in sorted(set(mine) | set(theirs)):
                    if mine.get(key) != theirs.get(key):
                        found.append(f"{key} {_show(mine.get(key))}, not {_show(theirs.get(key))}")
            elif mine != theirs:
                found.append(f"{name.replace('_', ' ')} {_show(mine)}, not {_show(theirs)}")
        return found


def _show(value: Any) -> str:
    return "none" if value is None else json.dumps(value) if not isinstance(value, str) else value


@functools.lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, hex; hashed once per process while the file is unchanged."""
    stat = Path(path).stat()
    return _sha256_cached(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.cache
def software_versions() -> dict[str, str]:
    """Versions of vit_core (from pyproject.toml), timm, torch, numpy and scipy (attention flow's solver)."""
    import numpy
    import scipy
    import timm
    import torch

    try:
        with open(_ROOT / "pyproject.toml", "rb") as handle:
            ours = tomllib.load(handle)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        ours = "unknown"
    return {"vit_core": ours, "timm": timm.__version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__}


def provenance_of(
    model, settings: Mapping[str, Any], target_class: int | list[int] | None = None, *, created: str | None = None
) -> Provenance:
    """The provenance of results made by `model` (a :class:`~vit_core.models.loading.LoadedModel`, or a bare timm
    ``nn.Module``, whose weights file is then unknown) with method `settings`."""
    from timm.data import resolve_data_config

    created = created or datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if isinstance(model, LoadedModel):
        weights = model.weights_file
        tag = model.name.split(".", 1)[1] if "." in model.name and not model.name.startswith("hf") else None
        return Provenance(
            model=model.name,
            pretrained_tag=tag or _cfg(model.model).get("tag") or None,
            source=model.source,
            checkpoint=weights.name if weights is not None else None,
            checkpoint_sha256=file_sha256(weights) if weights is not None and weights.is_file() else None,
            preprocessing=dict(model.data_config),
            settings=dict(settings),
            target_class=target_class,
            dtype=str(model.dtype).removeprefix("torch."),
            device=str(model.device),
            versions=software_versions(),
            created=created,
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"provenance_of takes a LoadedModel or an nn.Module, not {type(model).__name__}")
    cfg = _cfg(model)
    parameter = next(model.parameters(), None)
    return Provenance(
        model=str(cfg.get("architecture") or type(model).__name__),
        pretrained_tag=cfg.get("tag") or None,
        source="module",
        checkpoint=None,
        checkpoint_sha256=None,
        preprocessing=dict(resolve_data_config({}, model=model)),
        settings=dict(settings),
        target_class=target_class,
        dtype=str(parameter.dtype).removeprefix("torch.") if parameter is not None else "unknown",
        device=str(parameter.device) if parameter is not None else "unknown",
        versions=software_versions(),
        created=created,
    )


def _cfg(model: nn.Module) -> dict:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return dict(cfg) if isinstance(cfg, Mapping) else {}
