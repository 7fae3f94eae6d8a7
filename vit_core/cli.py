"""Command line: ``python -m vit_core analyze IMAGE [IMAGE ...] --model NAME --out RESULT.npz``.

Errors print one line and exit non-zero without leaving a partial output file.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from .errors import VitCoreError

__all__ = ["main", "build_parser"]


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    from .loading import DEMO_MODEL_NAME

    parser.add_argument(
        "--model", default=DEMO_MODEL_NAME,
        help="timm model name, hf-hub:org/name (a timm or transformers repository, e.g. hf-hub:facebook/dinov2-small) "
        f"or a transformers save_pretrained folder (default: {DEMO_MODEL_NAME})",
    )
    parser.add_argument("--checkpoint", type=Path, help="local weights for --model (.safetensors, .pth, .pt, .bin, .npz)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--random-weights", action="store_true", help="random weights instead of pretrained ones")


def _add_rollout_options(parser: argparse.ArgumentParser) -> None:
    from .methods.rollout import HEAD_FUSIONS

    parser.add_argument("--head-fusion", default="mean", choices=HEAD_FUSIONS)
    parser.add_argument("--discard-ratio", type=float, default=0.0, help="per row, drop this fraction of patch weights")
    parser.add_argument("--residual-weight", type=float, default=0.5, help="a in (1-a) A + a I (default 0.5)")
    parser.add_argument("--start-layer", type=int, default=0, help="first layer of the rollout product")
    parser.add_argument("--target-class", type=int, help="class for the class-specific relevance (default: top-1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vit_core", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    analyze = commands.add_parser("analyze", help="analyse images and write every array to one .npz")
    analyze.add_argument("images", nargs="+", type=Path)
    analyze.add_argument("--out", type=Path, required=True, help="RESULT.npz")
    analyze.add_argument("--no-attention", action="store_true", help="leave out the full [B,L,H,N,N] attention")
    analyze.add_argument(
        "--methods",
        help="maps to write: rollout,relevance (default; rollout alone for a model without a classifier) and any of "
        "raw,flow,gradcam,lrp",
    )
    _add_model_options(analyze)
    _add_rollout_options(analyze)

    batch = commands.add_parser("batch", help="analyse many images into reduced maps (resumable)")
    batch.add_argument("source", help="a folder of images or a glob such as 'photos/*.jpg'")
    batch.add_argument(
        "--out", type=Path, required=True,
        help="RESULT.npz (consolidated at the end) or a folder of Parquet shards; rerun the same command to resume",
    )
    batch.add_argument("--overwrite", action="store_true", help="replace an existing --out instead of resuming it")
    batch.add_argument("--batch-size", type=int, default=32)
    batch.add_argument("--workers", type=int, help="image-decoding processes (default: up to 4)")
    batch.add_argument("--no-relevance", action="store_true", help="skip the class-specific relevance (no backward)")
    batch.add_argument("--ray", action="store_true", help="run on a Ray cluster (needs requirements-ray.txt)")
    batch.add_argument("--ray-workers", type=int, default=2, help="Ray actors (one per GPU when there are GPUs)")
    _add_model_options(batch)
    _add_rollout_options(batch)

    from .evaluate import add_evaluate_command

    add_evaluate_command(commands, _add_model_options, _add_rollout_options)
    return parser


def _model_request(args):
    from .loading import ModelRequest

    return ModelRequest(
        name=args.model, checkpoint=args.checkpoint, device=args.device, dtype=args.dtype,
        pretrained=not args.random_weights,
    )


def _rollout_settings(args):
    from .analysis import RolloutSettings

    return RolloutSettings(
        head_fusion=args.head_fusion,
        discard_ratio=args.discard_ratio,
        residual_weight=args.residual_weight,
        start_layer=args.start_layer,
    )


def _print_top5(names: list[str], logits: np.ndarray, label_names, class_output: str = "softmax") -> None:
    import torch

    from .predict import top_k

    for name, row in zip(names, top_k(torch.from_numpy(logits), label_names, k=5, output=class_output), strict=True):
        print(f"{name}: " + ", ".join(f"{p.label} {p.probability:.1%}" for p in row))


def run_analyze(args) -> int:
    import torch

    from .analysis import analyze
    from .evaluate import method_arrays
    from .explain import ExplainSettings, parse_methods
    from .images import load_image, preprocess_batch
    from .predict import feature_note

    settings = _rollout_settings(args)
    methods = parse_methods("rollout,relevance" if args.methods is None else args.methods)
    images = [load_image(path) for path in args.images]  # fail on a bad image before any model work
    loaded = _model_request(args).load()
    if args.methods is None and not loaded.has_classifier:  # a backbone: nothing class-specific unless asked for
        methods = ("rollout",)
    pixel_values, _ = preprocess_batch(images, loaded.data_config)
    target = None if args.target_class is None else torch.full((len(images),), args.target_class, dtype=torch.long)
    result = analyze(
        loaded, pixel_values, rollout=settings, target_class=args.target_class, keep_attention=not args.no_attention,
        relevance="relevance" in methods,
    )
    on_device = pixel_values.to(loaded.device, loaded.dtype)
    extra = method_arrays(loaded.model, on_device, methods, target, ExplainSettings(rollout=settings))
    if extra:  # the provenance names the methods too, so a file says which maps it holds and how they were made
        settings_used = {**result.provenance.settings, "methods": list(methods)}
        result = dataclasses.replace(
            result, **extra, provenance=dataclasses.replace(result.provenance, settings=settings_used)
        )
    result.to_npz(args.out)
    if loaded.has_classifier:
        _print_top5([p.name for p in args.images], result.logits, loaded.label_names, loaded.class_output)
    else:
        print(feature_note(loaded.geometry))
    print(f"wrote {args.out}")
    return 0


def run_batch_command(args) -> int:
    from .batch import find_images, run_batch

    settings = _rollout_settings(args)
    paths = find_images(args.source)
    from .batch import BatchOptions

    options = BatchOptions(
        rollout=settings, relevance=not args.no_relevance, target_class=args.target_class,
        batch_size=args.batch_size, overwrite=args.overwrite,
    )
    if args.ray:
        from .distributed import run_batch_on_ray

        report = run_batch_on_ray(_model_request(args), paths, args.out, options, workers=args.ray_workers)
    else:
        report = run_batch(_model_request(args).load(), paths, args.out, options, workers=args.workers)
    for path, reason in report.failed.items():
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(f"{report.done} analysed, {report.skipped} already done, {len(report.failed)} failed "
          f"in {report.seconds:.1f} s; wrote {args.out}")
    return 0


def run_evaluate_command(args) -> int:
    from .evaluate import run_evaluate
    from .result_files import write_npz_atomically

    return run_evaluate(
        args, load=lambda parsed: _model_request(parsed).load(), rollout_settings=_rollout_settings,
        write_npz=write_npz_atomically,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"analyze": run_analyze, "batch": run_batch_command, "evaluate": run_evaluate_command}
    try:
        return handlers[args.command](args)
    except VitCoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written.", file=sys.stderr)
        return 130
