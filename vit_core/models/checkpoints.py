"""Local checkpoint files: reading their tensors safely, and saying in one sentence how one does not match an
architecture. No model is built here (:mod:`vit_core.models.loading` does)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..demo.registry import NAME as DEMO_MODEL_NAME
from ..errors import CheckpointError, ModelLoadError
from .hub import hub_repository

__all__ = ["CHECKPOINT_SUFFIXES", "read_state_dict", "mismatch_message"]

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".npz")


def _read_state_dict(path: Path) -> dict:
    """A checkpoint's tensors, read safely (safetensors, or torch.load with weights_only=True)."""
    from timm.models import load_state_dict

    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}; check the path.", key="checkpoint.missing", path=str(path))
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise CheckpointError(f"{path.name} is not a supported checkpoint; use one of {', '.join(CHECKPOINT_SUFFIXES)}.",
                              key="checkpoint.suffix", name=path.name, suffixes=", ".join(CHECKPOINT_SUFFIXES))
    try:
        state = load_state_dict(str(path), weights_only=True)
    except RuntimeError as error:
        if "weights_only" in str(error):
            raise CheckpointError(
                f"{path.name} holds pickled objects beyond plain tensors and was refused without running them; "
                "save the weights with safetensors or torch.save(model.state_dict()).", key="checkpoint.pickled", name=path.name
            ) from error
        raise CheckpointError(f"{path.name} could not be read ({error}); check that the file is complete.",
                              key="checkpoint.unreadable", name=path.name, detail=str(error)) from error
    except Exception as error:  # safetensors header errors, truncated zips, pickles that are not checkpoints
        raise CheckpointError(
            f"{path.name} is not a readable checkpoint ({type(error).__name__}); check that the file is complete.",
            key="checkpoint.unreadable", name=path.name, detail=type(error).__name__,
        ) from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path.name} does not hold a state dict of tensors; save model.state_dict().",
                              key="checkpoint.not_state_dict", name=path.name)
    return state


def _mismatch_message(path: Path, model: nn.Module, state: dict) -> str | None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing[:3])}")
    if unexpected:
        parts.append(f"unexpected {', '.join(unexpected[:3])}")
    if wrong_shape:
        k = wrong_shape[0]
        parts.append(f"{k} is {tuple(state[k].shape)} but the model needs {tuple(expected[k].shape)}")
    if not parts:
        return None
    return f"{path.name} does not match this architecture ({'; '.join(parts)}); pick the architecture it was trained with."


def _checkpoint_architecture(name: str) -> str:
    """The timm architecture a local checkpoint is loaded into (a hub repository's name is refused)."""
    if hub_repository(name) is not None:
        raise ModelLoadError(
            "a local checkpoint needs the timm architecture it was trained with (such as vit_base_patch16_224), "
            f"not the hub repository {name}."
        )
    return name.split(".", 1)[0]


def _described_by(architecture: str, path: Path, kwargs: dict) -> dict:
    """`kwargs` for building `architecture` around checkpoint `path`: the demo registry reads a demo checkpoint's own
    safetensors metadata (sizes, class output) through the pretrained-config overlay, not the bundled file's."""
    if architecture == DEMO_MODEL_NAME and path.suffix.lower() == ".safetensors" and "pretrained_cfg_overlay" not in kwargs:
        return {**kwargs, "pretrained_cfg_overlay": {"file": str(path)}}
    return kwargs


read_state_dict = _read_state_dict
mismatch_message = _mismatch_message
