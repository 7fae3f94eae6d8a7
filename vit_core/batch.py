"""Batch analysis of many images: reduced results only, resumable, decoding in parallel with the model.

Each finished batch is written as a shard (``RESULT.npz.parts/NNNNN.npz``, atomically) and the result file is
rewritten from all shards after each batch (less often when that would cost over a tenth of the time) and at the end, so a run killed at any moment leaves a readable
``RESULT.npz`` (all files are replaced atomically), and a rerun of the same command skips finished images. Only reduced maps reach the host: never ``[N, N]`` per head.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .analysis import RolloutSettings, analyze
from .cli import write_npz_atomically
from .errors import ImageError, SettingsError
from .images import load_image, preprocess
from .loading import LoadedModel

__all__ = ["IMAGE_SUFFIXES", "PER_IMAGE_KEYS", "find_images", "analyze_reduced", "run_batch", "BatchReport"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# Arrays with one row per image that the batch file keeps (reduced: no [N, N] maps).
PER_IMAGE_KEYS = (
    "rollout",
    "relevance",
    "relevance_target",
    "prefix_weights",
    "cls_attention",
    "mean_attention_distance",
    "attention_entropy",
    "top5_index",
    "top5_probability",
)
MODEL_KEYS = ("num_prefix_tokens", "grid_size", "patch_size")
# The result file is rewritten after a batch unless that would spend more than 1/CONSOLIDATE_OVERHEAD of the
# time on rewriting: small runs keep it current after every batch, huge ones lag a little (the shards never do).
CONSOLIDATE_OVERHEAD = 10.0


def find_images(pattern: str | Path) -> list[Path]:
    """Image files in a folder (recursively) or matching a glob, sorted so runs are reproducible."""
    path = Path(pattern)
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    else:
        found = [Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file()]
    if not found:
        raise ImageError(f"no images found at {pattern}; give a folder of images or a glob such as 'photos/*.jpg'.")
    return sorted(found)


def analyze_reduced(
    model: torch.nn.Module, pixel_values: torch.Tensor, *, settings: RolloutSettings, relevance: bool
) -> dict[str, np.ndarray]:
    """Per-image reduced arrays of one batch (see ``PER_IMAGE_KEYS``), plus the geometry scalars."""
    arrays = analyze(
        model, pixel_values, rollout=settings, relevance=relevance, keep_attention=False, model_views=False,
        keep_pixels=False,
    )
    probabilities, indices = torch.from_numpy(arrays["logits"]).softmax(-1).topk(min(5, arrays["logits"].shape[-1]))
    arrays["top5_index"] = indices.numpy().astype(np.int64)
    arrays["top5_probability"] = probabilities.numpy().astype(np.float32)
    return {k: v for k, v in arrays.items() if k in PER_IMAGE_KEYS or k in MODEL_KEYS}


def split_on_out_of_memory(
    run: Callable[[torch.Tensor], dict[str, np.ndarray]], pixel_values: torch.Tensor, notify=print
) -> dict[str, np.ndarray]:
    """Run a batch; on a GPU out-of-memory error, run each half instead (down to one image)."""
    try:
        return run(pixel_values)
    except torch.cuda.OutOfMemoryError:
        if pixel_values.shape[0] == 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = pixel_values.shape[0] // 2
        notify(f"out of GPU memory at batch {pixel_values.shape[0]}; splitting into {half} and the rest")
        first = split_on_out_of_memory(run, pixel_values[:half], notify)
        second = split_on_out_of_memory(run, pixel_values[half:], notify)
        return {
            key: first[key] if key in MODEL_KEYS else np.concatenate([first[key], second[key]])
            for key in first
        }


class _ImageFiles(Dataset):
    """Decoded, preprocessed images; a file that fails to decode yields its error instead of a tensor."""

    def __init__(self, paths: Sequence[Path], data_config: dict) -> None:
        self.paths = list(paths)
        self.data_config = data_config

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            pixels, _ = preprocess(load_image(self.paths[index]), self.data_config)
            return index, pixels, ""
        except ImageError as error:
            return index, None, str(error)


def _collate(items):
    return items


@dataclass
class BatchReport:
    done: int
    skipped: int
    failed: dict[str, str]
    seconds: float


def _shard_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _read_shards(shards: Path) -> list[dict[str, np.ndarray]]:
    parts = []
    for shard in sorted(shards.glob("*.npz")):
        with np.load(shard) as data:
            parts.append(dict(data))
    return parts


def _finished_paths(parts: list[dict[str, np.ndarray]]) -> set[str]:
    return {str(p) for part in parts for key in ("path", "failed_path") for p in part[key]}


def _consolidate(parts: list[dict[str, np.ndarray]], out: Path, label_names: Sequence[str] | None) -> None:
    """Write the result file from every shard so far (only reduced arrays)."""
    filled = [p for p in parts if len(p["path"])]
    arrays: dict[str, np.ndarray] = {
        "path": np.concatenate([p["path"] for p in parts]) if parts else np.zeros(0, dtype=str),
        "failed_path": np.concatenate([p["failed_path"] for p in parts]) if parts else np.zeros(0, dtype=str),
        "failed_reason": np.concatenate([p["failed_reason"] for p in parts]) if parts else np.zeros(0, dtype=str),
    }
    if filled:
        for key in filled[0]:
            if key in MODEL_KEYS:
                arrays[key] = filled[0][key]
            elif key in PER_IMAGE_KEYS:
                arrays[key] = np.concatenate([p[key] for p in filled])
        if label_names is not None:
            arrays["top5_label"] = np.asarray(label_names)[arrays["top5_index"]]
    write_npz_atomically(out, arrays)


def _batches(paths: Sequence[Path], loaded: LoadedModel, batch_size: int, workers: int) -> Iterator[list]:
    loader = DataLoader(
        _ImageFiles(paths, loaded.data_config),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_collate,
        prefetch_factor=2 if workers else None,
    )
    yield from loader


def run_batch(
    loaded: LoadedModel,
    paths: Sequence[Path],
    out: Path,
    *,
    batch_size: int = 32,
    settings: RolloutSettings = RolloutSettings(),  # noqa: B008 (frozen)
    relevance: bool = True,
    workers: int | None = None,
    progress: bool = True,
) -> BatchReport:
    """Analyse `paths` in batches into `out`, skipping images a previous run of the same `out` finished."""
    if batch_size < 1:
        raise SettingsError("batch size must be at least 1.")
    out = Path(out)
    shards = _shard_dir(out)
    shards.mkdir(parents=True, exist_ok=True)
    parts = _read_shards(shards)
    finished = _finished_paths(parts)
    todo = [p for p in paths if str(p) not in finished]
    workers = min(4, os.cpu_count() or 1) if workers is None else workers
    started = time.perf_counter()
    failed: dict[str, str] = {}
    next_shard = len(parts)
    last_written: float | None = None  # the first batch of a run is written out at once
    write_cost = 0.0
    bar = _progress_bar(len(todo), progress)

    def run(pixels: torch.Tensor) -> dict[str, np.ndarray]:
        return analyze_reduced(loaded.model, pixels, settings=settings, relevance=relevance)

    for items in _batches(todo, loaded, batch_size, workers):
        good = [(todo[i], pixels) for i, pixels, _ in items if pixels is not None]
        bad = {str(todo[i]): reason for i, pixels, reason in items if pixels is None}
        failed.update(bad)
        shard: dict[str, np.ndarray] = {}
        if good:
            pixels = torch.stack([p for _, p in good]).to(loaded.device, loaded.dtype)
            shard = split_on_out_of_memory(run, pixels, notify=bar.write)
        shard["path"] = np.asarray([str(p) for p, _ in good], dtype=str)
        shard["failed_path"] = np.asarray(list(bad), dtype=str)
        shard["failed_reason"] = np.asarray(list(bad.values()), dtype=str)
        write_npz_atomically(shards / f"{next_shard:05d}.npz", shard)
        parts.append(shard)
        next_shard += 1
        if last_written is None or time.perf_counter() - last_written > CONSOLIDATE_OVERHEAD * write_cost:
            begun = time.perf_counter()
            _consolidate(parts, out, loaded.label_names)
            last_written = time.perf_counter()
            write_cost = last_written - begun
        bar.update(len(items))
    bar.close()
    _consolidate(parts, out, loaded.label_names)
    return BatchReport(
        done=len(todo) - len(failed), skipped=len(paths) - len(todo), failed=failed, seconds=time.perf_counter() - started
    )


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="img", disable=not enabled, dynamic_ncols=True)
