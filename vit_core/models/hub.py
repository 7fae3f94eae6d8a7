"""The Hugging Face hub: whether a model's files are in the local cache, fetching one file, and failing in seconds
when the hub cannot be reached. :mod:`vit_core.models.loading` builds on it; nothing here builds a model."""

from __future__ import annotations

import re
from collections.abc import Sequence

import timm

from ..demo.registry import NAME as DEMO_MODEL_NAME
from ..errors import HubUnavailableError, ModelLoadError

__all__ = ["hub_repository", "hub_weights_cached", "cached_hub_file"]

# a Hugging Face hub repository with a timm config.json: hf-hub:org/name[@revision]
_HUB_PATTERN = re.compile(r"^hf[-_]hub:([A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*(?:@[\w.\-]+)?)$")
_HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors")


def hub_repository(name: str) -> str | None:
    """``org/name[@revision]`` of a ``hf-hub:org/name[@revision]`` model name, else None."""
    match = _HUB_PATTERN.match(name) if isinstance(name, str) else None
    return match.group(1) if match else None


def _in_hub_cache(repository: str, files: Sequence[str]) -> bool:
    """Whether any of `files` of hub repository ``org/name[@revision]`` is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache
    from timm.models._hub import hf_split

    repo_id, revision = hf_split(repository)
    return any(isinstance(try_to_load_from_cache(repo_id, f, revision=revision), str) for f in files)


def _hub_weights(name: str) -> tuple[str, Sequence[str]] | None:
    """(``org/name[@revision]``, candidate weight files in timm's order of preference) of model `name`, or None
    when it has no hub weights."""
    repository = hub_repository(name)
    if repository is not None:
        return repository, _HUB_WEIGHT_FILES
    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except RuntimeError:  # an invalid tag: create_model says so with the list of valid ones
        return None
    if cfg is None or not cfg.hf_hub_id:
        return None
    return cfg.hf_hub_id, [cfg.hf_hub_filename] if cfg.hf_hub_filename else _HUB_WEIGHT_FILES


def hub_weights_cached(name: str) -> bool | None:
    """True when the hub weights of model `name` are in the local cache; None when it has no hub weights."""
    where = _hub_weights(name)
    return None if where is None else _in_hub_cache(*where)


def _check_hub_reachable(name: str, cached: bool | None, what: str = "weights", timeout_s: float = 3.0) -> None:
    """Fail in seconds, not after a minute of retries, when uncached hub files cannot be downloaded."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if cached is not False:
        return
    if constants.HF_HUB_OFFLINE:
        raise HubUnavailableError(f"the {what} of {name} are not cached and HF_HUB_OFFLINE is set", DEMO_MODEL_NAME,
                                  name=name, what=what)
    endpoint = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout_s).close()
    except OSError as error:
        raise HubUnavailableError(
            f"cannot reach {endpoint.hostname} to download {name} ({error.__class__.__name__})", DEMO_MODEL_NAME,
            name=name, what=what,
        ) from error


def _hub_file(name: str, repository: str, file: str, tqdm_class: type | None = None) -> str | None:
    """Local path of `file` of hub `repository` (downloaded on first use), None when the repository lacks it."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError
    from huggingface_hub.file_download import _CACHED_NO_EXIST
    from timm.models._hub import hf_split

    repo_id, revision = hf_split(repository)
    if try_to_load_from_cache(repo_id, file, revision=revision) is _CACHED_NO_EXIST:
        return None  # the hub said so before: offline, that is still the answer
    what = "config" if file.endswith(".json") else "weights"
    _check_hub_reachable(name, _in_hub_cache(repository, [file]), what=what)
    try:
        return hf_hub_download(repo_id, file, revision=revision, tqdm_class=tqdm_class)
    except LocalEntryNotFoundError as error:
        raise ModelLoadError(
            f"{file} of {name} is not cached and the hub cannot be reached; connect to the network once, or save "
            "the model to a folder with save_pretrained and load the folder."
        ) from error
    except EntryNotFoundError:
        return None
    except HfHubHTTPError as error:  # a gated, private or missing repository
        raise ModelLoadError(
            f"could not read {name} from the hub ({error.__class__.__name__}); check the repository name on "
            "huggingface.co, or load a local folder."
        ) from error


def cached_hub_file(repository: str, files: Sequence[str]):
    """Local path of the first of `files` of hub `repository` that is in the cache, or None."""
    from pathlib import Path

    from huggingface_hub import try_to_load_from_cache
    from timm.models._hub import hf_split

    repo_id, revision = hf_split(repository)
    for file in files:
        cached = try_to_load_from_cache(repo_id, file, revision=revision)
        if isinstance(cached, str):
            return Path(cached)
    return None
