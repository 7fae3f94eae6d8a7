"""Batch analysis on Ray Data: one model-holding actor per GPU (or CPU worker), ``map_batches`` over image paths.

Same output format as ``vit_core.batch``: a result file of reduced arrays, one row per image. Started by
``python -m vit_core batch ... --ray``; connects to a running cluster when ``RAY_ADDRESS`` is set, else starts
a local Ray instance. Needs ``requirements-ray.txt``; nothing else in the project imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .analysis import RolloutSettings
from .batch import MODEL_KEYS, BatchReport, _ImageFiles, analyze_reduced, split_on_out_of_memory
from .cli import write_npz_atomically
from .errors import VitCoreError

__all__ = ["AnalysisActor", "run_batch_on_ray"]


class AnalysisActor:
    """A Ray Data callable class: loads the model once, then analyses batches of image paths."""

    def __init__(self, model_args: dict, settings: RolloutSettings, relevance: bool) -> None:
        from .loading import load_model

        self.loaded = load_model(**model_args)
        self.settings = settings
        self.relevance = relevance

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        paths = [str(p) for p in batch["path"]]
        files = _ImageFiles(paths, self.loaded.data_config)  # the plain batch command's decoding, errors and all
        decoded = [files[i] for i in range(len(files))]
        pixels = [tensor for _, tensor, _ in decoded if tensor is not None]
        reasons = [reason for _, _, reason in decoded]
        rows: dict[str, np.ndarray] = {"path": np.asarray(paths), "failed_reason": np.asarray(reasons)}
        if not pixels:
            return rows
        stacked = torch.stack(pixels).to(self.loaded.device, self.loaded.dtype)

        def run(x):
            return analyze_reduced(self.loaded.model, x, settings=self.settings, relevance=self.relevance)

        arrays = split_on_out_of_memory(run, stacked)
        ok = np.asarray([r == "" for r in reasons])
        for key, value in arrays.items():
            if key in MODEL_KEYS:
                continue
            full = np.zeros((len(paths), *value.shape[1:]), dtype=value.dtype)
            full[ok] = value
            rows[key] = full
        return rows


def run_batch_on_ray(args, paths: Sequence[Path], settings: RolloutSettings) -> BatchReport:
    """Analyse `paths` with Ray Data and write the same result file as the plain batch command."""
    import os
    import time

    try:
        import ray
    except ImportError as error:
        raise VitCoreError("Ray is not installed; run pip install -r requirements-ray.txt, or drop --ray.") from error

    from .loading import load_model

    started = time.perf_counter()
    model_args = {
        "name": args.model,
        "checkpoint": args.checkpoint,
        "device": args.device,
        "dtype": args.dtype,
        "pretrained": not args.random_weights,
    }
    probe = load_model(**{**model_args, "device": "cpu", "dtype": "float32"})  # fail fast, read geometry
    geometry = probe.geometry
    address = os.environ.get("RAY_ADDRESS") or None  # a cluster's head, or None for a local instance
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else args.ray_workers, include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    gpus = ray.cluster_resources().get("GPU", 0)
    dataset = ray.data.from_items([{"path": str(p)} for p in paths])
    results = dataset.map_batches(
        AnalysisActor,
        fn_constructor_kwargs={"model_args": model_args, "settings": settings, "relevance": not args.no_relevance},
        batch_size=args.batch_size,
        compute=ray.data.ActorPoolStrategy(size=args.ray_workers),
        num_gpus=1 if gpus else 0,
        num_cpus=1,
        batch_format="numpy",
    )
    rows = results.take_all()
    order = {str(p): i for i, p in enumerate(paths)}
    rows.sort(key=lambda row: order[str(row["path"])])
    ok = [row for row in rows if not row["failed_reason"]]
    failed = {str(row["path"]): str(row["failed_reason"]) for row in rows if row["failed_reason"]}
    arrays: dict[str, np.ndarray] = {
        "path": np.asarray([str(r["path"]) for r in ok], dtype=str),
        "failed_path": np.asarray(list(failed), dtype=str),
        "failed_reason": np.asarray(list(failed.values()), dtype=str),
        "num_prefix_tokens": np.asarray(geometry.num_prefix_tokens, dtype=np.int64),
        "grid_size": np.asarray(geometry.grid_size, dtype=np.int64),
        "patch_size": np.asarray(geometry.patch_size, dtype=np.int64),
    }
    if ok:
        for key in ok[0]:
            if key not in ("path", "failed_reason"):
                arrays[key] = np.stack([np.asarray(r[key]) for r in ok])
        if probe.label_names is not None:
            arrays["top5_label"] = np.asarray(probe.label_names)[arrays["top5_index"]]
    write_npz_atomically(Path(args.out), arrays)
    return BatchReport(done=len(ok), skipped=0, failed=failed, seconds=time.perf_counter() - started)
