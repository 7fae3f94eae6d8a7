"""Batch analysis of many images: reduced results only, streamed to disk, resumable, never mixing runs.

Each finished batch becomes one Parquet shard of the ``--out`` dataset (:class:`vit_core.results.files.ResultStore`),
so memory stays flat however many images there are; a run killed at any moment leaves only finished shards,
and a rerun of the same command skips the images they hold. A rerun with another model, checkpoint or setting
is refused (it would mix two runs' maps in one file). ``--out RESULT.npz`` is consolidated once at the end.
Only reduced maps reach the host: never ``[N, N]`` per head. The Ray path (:mod:`vit_core.runs.distributed`) uses
the same decoding (:class:`ImageFiles`), rows (:func:`analyze_reduced`) and files.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import ImageError, SettingsError
from ..models.images import load_image, preprocess
from ..models.loading import LoadedModel
from ..models.predict import class_probabilities, has_classifier
from ..results.files import ResultStore
from ..results.provenance import Provenance, provenance_of
from .analysis import RolloutSettings, analysis_settings, analyze

__all__ = [
    "IMAGE_SUFFIXES",
    "PER_IMAGE_KEYS",
    "BatchOptions",
    "BatchReport",
    "ImageFiles",
    "analyse_decoded",
    "analyze_reduced",
    "batch_provenance",
    "find_images",
    "open_store",
    "options_for",
    "run_batch",
    "split_on_out_of_memory",
]

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
TOP_K = 5


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


def _reduced_settings(settings: RolloutSettings, relevance: bool) -> dict:
    """The method settings of a batch run: what :func:`analyze_reduced` passes to ``analyze``, plus the top-k."""
    every = analysis_settings(rollout=settings, relevance=relevance, attention="none", pcs_k=0, distilled="mean",
                              model_views=False, keep_pixels=False)
    return {**every, "top_k": TOP_K}


def analyze_reduced(
    model: torch.nn.Module, pixel_values: torch.Tensor, options: BatchOptions, class_output: str = "softmax"
) -> dict[str, np.ndarray]:
    """Per-image reduced arrays of one batch (see ``PER_IMAGE_KEYS``), one row per image; the top-k probabilities read
    the logits as the model's `class_output` (``LoadedModel.class_output``)."""
    result = analyze(
        model, pixel_values, rollout=options.rollout, relevance=options.relevance, target_class=options.target_class,
        attention="none", model_views=False, keep_pixels=False,
    )
    arrays = result.arrays()
    if has_classifier(model):  # a backbone's output is its feature: no classes to rank
        probs = class_probabilities(torch.from_numpy(result.logits), class_output)  # [batch, classes]
        probabilities, indices = probs.topk(min(TOP_K, probs.shape[-1]))
        arrays["top5_index"] = indices.numpy().astype(np.int64)
        arrays["top5_probability"] = probabilities.numpy().astype(np.float32)
    return {k: v for k, v in arrays.items() if k in PER_IMAGE_KEYS}


def options_for(loaded: LoadedModel, options: BatchOptions) -> BatchOptions:
    """`options` as they apply to `loaded`: a model without a classifier has no class relevance to compute."""
    return options if loaded.has_classifier or not options.relevance else replace(options, relevance=False)


def batch_provenance(loaded: LoadedModel, options: BatchOptions) -> Provenance:
    """What a batch run with these options records (and checks an existing result against)."""
    return provenance_of(loaded, _reduced_settings(options.rollout, options.relevance), options.target_class)


def open_store(out: Path, provenance: Provenance, loaded: LoadedModel, *, overwrite: bool) -> ResultStore:
    """The result store of `out` for this run: refuses another run's result unless `overwrite`."""
    geometry = loaded.geometry
    model_arrays = {
        "num_prefix_tokens": geometry.num_prefix_tokens,
        "grid_size": list(geometry.grid_size),
        "patch_size": list(geometry.patch_size),
        "class_output": loaded.class_output,  # how top5_probability was read from the logits
    }
    if loaded.label_names is not None:
        model_arrays["label_names"] = list(loaded.label_names)
    return ResultStore(out, provenance, model_arrays, overwrite=overwrite)


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
        return {key: np.concatenate([first[key], second[key]]) for key in first}


class ImageFiles(Dataset):
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


@dataclass(frozen=True)
class BatchOptions:
    """How a batch run analyses, the same for the plain and the Ray path (all recorded in the provenance except
    `batch_size` and `overwrite`, which do not change the numbers).

    Attributes:
        rollout: rollout settings.
        relevance: compute the class-specific relevance (one backward pass per batch).
        target_class: the class every relevance map explains; None: each image's top-1.
        batch_size: images per forward pass (and per shard).
        overwrite: replace an existing result instead of resuming it.
    """

    rollout: RolloutSettings = RolloutSettings()  # frozen: a shared default is safe
    relevance: bool = True
    target_class: int | None = None
    batch_size: int = 32
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise SettingsError("batch size must be at least 1.")


@dataclass
class BatchReport:
    """What a batch run did: images analysed now, skipped as already done, failed (path -> reason)."""

    done: int
    skipped: int
    failed: dict[str, str]
    seconds: float


def _batches(paths: Sequence[Path], loaded: LoadedModel, batch_size: int, workers: int) -> Iterator[list]:
    loader = DataLoader(
        ImageFiles(paths, loaded.data_config),
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
    options: BatchOptions = BatchOptions(),  # noqa: B008 (frozen)
    *,
    workers: int | None = None,
    progress: bool = True,
) -> BatchReport:
    """Analyse `paths` in batches into `out` (``RESULT.npz`` or a dataset directory), skipping images a
    previous run of the same model and options finished; `workers` decoding processes (default: up to 4).

    Raises:
        ResultFileError: `out` holds another model's or other settings' results (and not ``options.overwrite``).
    """
    started = time.perf_counter()
    options = options_for(loaded, options)
    store = open_store(Path(out), batch_provenance(loaded, options), loaded, overwrite=options.overwrite)
    finished = store.finished_paths()
    todo = [p for p in paths if str(p) not in finished]
    workers = min(4, os.cpu_count() or 1) if workers is None else workers
    failed: dict[str, str] = {}
    bar = _progress_bar(len(todo), progress)

    def run(pixels: torch.Tensor) -> dict[str, np.ndarray]:
        return analyze_reduced(loaded.model, pixels, options, loaded.class_output)

    position = {str(p): i for i, p in enumerate(paths)}
    for items in _batches(todo, loaded, options.batch_size, workers):
        decoded = [(str(todo[i]), pixels, reason) for i, pixels, reason in items]
        analysed, arrays, bad = analyse_decoded(loaded, decoded, run, notify=bar.write)
        failed.update(bad)
        store.append(position[decoded[0][0]], analysed, arrays, bad)
        bar.update(len(items))
    bar.close()
    if store.out.suffix == ".npz":
        store.consolidate()
    return BatchReport(
        done=len(todo) - len(failed), skipped=len(paths) - len(todo), failed=failed, seconds=time.perf_counter() - started
    )


def analyse_decoded(
    loaded: LoadedModel,
    decoded: Sequence[tuple[str, torch.Tensor | None, str]],
    run: Callable[[torch.Tensor], dict[str, np.ndarray]],
    notify=print,
) -> tuple[list[str], dict[str, np.ndarray], dict[str, str]]:
    """One batch of (path, pixels or None, failure reason) -> (analysed paths, their rows, failed path -> reason)."""
    good = [(path, pixels) for path, pixels, _ in decoded if pixels is not None]
    bad = {path: reason for path, pixels, reason in decoded if pixels is None}
    arrays: dict[str, np.ndarray] = {}
    if good:
        pixels = torch.stack([p for _, p in good]).to(loaded.device, loaded.dtype)
        arrays = split_on_out_of_memory(run, pixels, notify=notify)
    return [path for path, _ in good], arrays, bad


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="img", disable=not enabled, dynamic_ncols=True)
