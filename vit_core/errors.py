"""The project's own error types. Every message is one sentence that says what to do next."""

from __future__ import annotations

__all__ = [
    "VitCoreError",
    "ModelLoadError",
    "UnsupportedModelError",
    "HubUnavailableError",
    "CheckpointError",
    "ImageError",
    "CaptureError",
    "SettingsError",
    "NotAvailableError",
    "ResultFileError",
]


class VitCoreError(Exception):
    """Base of every error vit_core raises on purpose; its message is meant for a person.

    ``key`` and ``values`` (optional) name the sentence and its parts, so an interface in another language can say
    it in its own words (the app: ``viz_app/catalogue/errors.py``); the message itself is the English original.
    """

    def __init__(self, message: str = "", *, key: str | None = None, **values: object) -> None:
        super().__init__(message)
        self.key = key
        self.values = values


class ModelLoadError(VitCoreError):
    """A model could not be created or its weights could not be fetched."""


class UnsupportedModelError(ModelLoadError):
    """The model is not a ViT this tool can capture exactly."""


class HubUnavailableError(ModelLoadError):
    """Hub files a model needs are neither cached nor downloadable.

    ``reason`` says what failed, without what to do: each interface adds its own words for the way out
    (the message here uses the command line's, ``--checkpoint``; the app names its "Random weights" toggle and
    "Local checkpoint" choice). ``name`` is the model and ``what`` the files missing ("weights" or "config").
    """

    def __init__(self, reason: str, fallback_model: str, *, name: str = "", what: str = "weights") -> None:
        self.reason = reason
        self.fallback_model = fallback_model
        self.name = name
        self.what = what
        super().__init__(f"{reason}; with no network, pass a local checkpoint (--checkpoint) or use the bundled "
                         f"model {fallback_model!r}.")


class CheckpointError(ModelLoadError):
    """A checkpoint file is unsafe, unreadable, or does not match the architecture."""


class ImageError(VitCoreError):
    """An image could not be decoded or is unsafe to decode."""


class CaptureError(VitCoreError):
    """Attention capture saw nothing, or was asked for something that does not exist."""


class SettingsError(VitCoreError):
    """A method setting is out of range."""


class NotAvailableError(VitCoreError):
    """A view does not apply to this model (e.g. no learned position embeddings)."""


class ResultFileError(VitCoreError):
    """A result file is unreadable, or holds results another model or other settings produced."""
