"""Batch analysis on Ray Data: one model-holding actor per GPU (or CPU worker), ``map_batches`` over image paths.

The same rules and files as ``vit_core.runs.batch``: the same provenance check before any work (a rerun with another
model or setting is refused), the same resume (images in finished shards are skipped), the same decoding and
rows; each actor writes its finished batches as Parquet shards of the ``--out`` dataset (so every node needs
write access to that folder), and the driver consolidates ``--out RESULT.npz`` once at the end. Started by
``python -m vit_core batch ... --ray``; connects to a running cluster when ``RAY_ADDRESS`` is set, else starts
a local Ray instance. Needs ``requirements-ray.txt``; nothing else in the project imports this module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import SettingsError, VitCoreError
from ..models.loading import ModelRequest
from ..results.files import write_shard
from ..results.provenance import Provenance
from .batch import (
    BatchOptions,
    BatchReport,
    ImageFiles,
    analyse_decoded,
    analyze_reduced,
    batch_provenance,
    open_store,
    options_for,
)

__all__ = ["AnalysisActor", "run_batch_on_ray"]


class AnalysisActor:
    """A Ray Data callable class: loads the model once, then analyses batches of image paths into shards."""

    def __init__(self, request: ModelRequest, options: BatchOptions, directory: str, provenance: Provenance) -> None:
        self.loaded = request.load()
        self.options = options
        self.directory = Path(directory)
        self.provenance = provenance

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        paths = [str(p) for p in batch["path"]]
        files = ImageFiles(paths, self.loaded.data_config)  # the plain batch command's decoding, errors and all
        decoded = [(path, pixels, reason) for path, (_, pixels, reason) in zip(paths, (files[i] for i in range(len(files))), strict=True)]

        def run(x):
            return analyze_reduced(self.loaded.model, x, self.options, self.loaded.class_output)

        analysed, arrays, failed = analyse_decoded(self.loaded, decoded, run)
        write_shard(self.directory, int(np.min(batch["index"])), analysed, arrays, failed, self.provenance)
        return {"path": np.asarray(paths), "failed_reason": np.asarray([reason for _, _, reason in decoded])}


def run_batch_on_ray(
    request: ModelRequest, paths: Sequence[Path], out: Path, options: BatchOptions = BatchOptions(), *, workers: int = 2  # noqa: B008
) -> BatchReport:
    """Analyse `paths` with Ray Data (`workers` actors) into `out`, resuming or refusing exactly as
    :func:`vit_core.runs.batch.run_batch`."""
    try:
        import ray
    except ImportError as error:
        raise VitCoreError("Ray is not installed; run pip install -r requirements-ray.txt, or drop --ray.") from error
    if workers < 1:
        raise SettingsError("--ray-workers must be at least 1.")

    started = time.perf_counter()
    probe = request.load(device="cpu", dtype="float32")  # fail fast, read geometry, hash the weights
    options = options_for(probe, options)
    provenance = batch_provenance(probe, options)
    # what the actors run on: the requested dtype, and the device as requested (each worker resolves "auto")
    provenance = replace(provenance, dtype=request.dtype, device=f"{request.device} (Ray workers)")
    store = open_store(Path(out), provenance, probe, overwrite=options.overwrite)
    finished = store.finished_paths()
    todo = [{"path": str(p), "index": i} for i, p in enumerate(paths) if str(p) not in finished]
    failed: dict[str, str] = {}
    if todo:
        address = os.environ.get("RAY_ADDRESS") or None  # a cluster's head, or None for a local instance
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                     log_to_driver=False, ignore_reinit_error=True)
        gpus = ray.cluster_resources().get("GPU", 0)
        results = ray.data.from_items(todo).map_batches(
            AnalysisActor,
            fn_constructor_kwargs={
                "request": request, "options": options, "directory": str(store.directory), "provenance": store.provenance,
            },
            batch_size=options.batch_size,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_gpus=1 if gpus else 0,
            num_cpus=1,
            batch_format="numpy",
        )
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):  # streams: shards are on disk
            failed.update({str(p): str(r) for p, r in zip(batch["path"], batch["failed_reason"], strict=True) if r})
    if store.out.suffix == ".npz":
        store.consolidate()
    return BatchReport(
        done=len(todo) - len(failed), skipped=len(paths) - len(todo), failed=failed, seconds=time.perf_counter() - started
    )
