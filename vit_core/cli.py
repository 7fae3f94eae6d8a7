"""Command line: ``python -m vit_core analyze IMAGE [IMAGE ...] --model NAME --out RESULT.npz`` (and ``batch``,
``evaluate``, ``inspect``).

Errors print one line and exit non-zero without leaving a partial output file.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from .errors import SettingsError, VitCoreError

__all__ = ["main", "build_parser"]


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    from .models.loading import DEMO_MODEL_NAME

    parser.add_argument(
        "--model", default=DEMO_MODEL_NAME,
        help="timm model name, hf-hub:org/name (a timm or transformers repository, e.g. hf-hub:facebook/dinov2-small) "
        f"or a transformers save_pretrained folder (default: {DEMO_MODEL_NAME})",
    )
    parser.add_argument("--checkpoint", type=Path, help="local weights for --model (.safetensors, .pth, .pt, .bin, .npz)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--random-weights", action="store_true", help="random weights instead of pretrained ones")
    parser.add_argument(
        "--image-size", type=int, metavar="PX",
        help="input side in pixels, e.g. 518 for DINOv2 (position embeddings resampled; default: the model's own)",
    )


def _add_rollout_options(parser: argparse.ArgumentParser) -> None:
    from .methods.rollout import HEAD_FUSIONS, RolloutSettings

    default = RolloutSettings()  # the one home of rollout's defaults
    parser.add_argument("--head-fusion", default=default.head_fusion, choices=HEAD_FUSIONS)
    parser.add_argument("--discard-ratio", type=float, default=default.discard_ratio,
                        help="per row, drop this fraction of patch weights")
    parser.add_argument("--residual-weight", type=float, default=default.residual_weight,
                        help=f"a in (1-a) A + a I (default {default.residual_weight})")
    parser.add_argument("--start-layer", type=int, default=default.start_layer, help="first layer of the rollout product")


def _target_class(text: str) -> int | None:
    """``--target-class``: a class index, or 'predicted' (each image's top-1, the default)."""
    if text == "predicted":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a class index nor 'predicted'") from None


def _add_target_option(parser: argparse.ArgumentParser, *aliases: str) -> None:
    """``--target-class``, the same option in every command: the class the class-specific maps explain."""
    from .methods.registry import REGISTRY

    specific = ", ".join(name for name, spec in REGISTRY.items() if spec.class_specific)
    parser.add_argument(
        "--target-class", *aliases, dest="target_class", type=_target_class, metavar="K",
        help=f"class the class-specific maps ({specific}) explain: an index or 'predicted' "
        "(default: each image's top-1)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vit_core", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    analyze = commands.add_parser("analyze", help="analyse images and write every array to one .npz")
    analyze.add_argument("images", nargs="+", type=Path)
    analyze.add_argument("--out", type=Path, required=True, help="RESULT.npz")
    analyze.add_argument(
        "--attention", choices=["auto", "full", "qk", "none"], default="auto",
        help="what the file keeps of the attention: full [B,L,H,N,N]; qk: each layer's q and k, which rebuild any "
        "slice exactly (AnalysisResult.attention_slice); none; auto (default): full up to 256 MB per image, else qk",
    )
    analyze.add_argument("--no-attention", action="store_const", const="none", dest="attention",
                         help="the same as --attention none")
    from .methods.registry import ANALYZE_DEFAULT, ANALYZE_METHODS, sources

    others = [m for m in ANALYZE_METHODS if m not in ANALYZE_DEFAULT]
    analyze.add_argument(
        "--methods",
        help=f"maps to write: {','.join(ANALYZE_DEFAULT)} (default; rollout alone for a model without a classifier) "
        f"and any of {','.join(others)} (papers: {sources(ANALYZE_METHODS)})",
    )
    _add_model_options(analyze)
    _add_rollout_options(analyze)
    _add_target_option(analyze)

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
    _add_target_option(batch)
    _add_evaluate_command(commands)
    _add_inspect_command(commands)
    return parser


def _add_inspect_command(commands) -> None:
    from .inside.norms import MAD_K

    inspect = commands.add_parser(
        "inspect", help="token norms, high-norm outliers and attention sinks per layer and head, to one .npz")
    inspect.add_argument("images", nargs="+", type=Path)
    inspect.add_argument("--out", type=Path, required=True, help="FILE.npz")
    inspect.add_argument(
        "--cut", type=float, metavar="NORM",
        help="call a token an outlier above this norm (Darcet et al.'s rule; default: 150 for DINOv2 ViT-g, "
        f"median + {MAD_K:g} MAD of each layer's patch norms for other models)",
    )
    inspect.add_argument("--mad-k", type=float, metavar="K", help=f"the MAD multiple of the robust cut (default {MAD_K:g})")
    inspect.add_argument("--outlier-layer", type=int, default=-1,
                         help="the block whose output the listed outliers are above the cut in (default: the last)")
    inspect.add_argument("--attention", choices=["auto", "full", "qk"], default="auto",
                         help="the store the sink mass is read from (default auto: full up to 256 MB per image, else qk)")
    _add_model_options(inspect)
    inspect.add_argument("--target-class", dest="target_class", type=_target_class, metavar="K",
                         help="the class whose logit the head-importance tables measure: an index or 'predicted' "
                         "(default: each image's top-1)")
    add_ablation_options(inspect)


def add_ablation_options(parser: argparse.ArgumentParser) -> None:
    """The ablation flags of ``inspect``: heads switched off (zero or mean), tokens masked, the reference set."""
    parser.add_argument("--ablate", default="", metavar="L:H,...",
                        help="heads to zero before the attention's output projection for the ablation run, e.g. 3:5,11:0")
    parser.add_argument("--mean-ablate", default="", metavar="L:H,...",
                        help="heads to replace by their mean output over the reference images for the ablation run")
    parser.add_argument("--mask-tokens", default="", metavar="T,...",
                        help="tokens no query may attend to in the ablation run (prefix tokens first, then patches)")
    parser.add_argument("--reference", metavar="FOLDER",
                        help="images whose mean head outputs mean ablation uses (default: the bundled samples)")
    parser.add_argument("--no-head-importance", action="store_true",
                        help="skip the head-importance tables (head_importance, head_importance_mean)")


def ablation_options(args, loaded, size: tuple[int, int]) -> dict:
    """``--ablate``, ``--mean-ablate``, ``--mask-tokens``, ``--reference`` as keyword arguments of
    :func:`vit_core.inside.ablation_arrays.ablation_arrays` (reference images preprocessed at `size`)."""
    from .inside.ablation import parse_heads, parse_tokens, sample_reference
    from .models.geometry import geometry_of

    geometry = geometry_of(loaded.model, size)
    zero = parse_heads(args.ablate, geometry.depth, geometry.num_heads)
    mean = parse_heads(args.mean_ablate, geometry.depth, geometry.num_heads)
    tokens = parse_tokens(args.mask_tokens, geometry.num_tokens)
    importance = not args.no_head_importance
    reference = None
    if importance or mean:
        folder = None if args.reference is None else Path(args.reference)
        if folder is not None and not folder.is_dir():
            raise SettingsError(f"--reference {folder} is not a folder; give a folder of images.")
        reference = sample_reference(loaded.data_config, size, folder).to(loaded.device, loaded.dtype)
    return {"reference": reference, "importance": importance, "zero_heads": zero, "mean_heads": mean,
            "masked_tokens": tokens, "target": args.target_class}


def _add_evaluate_command(commands) -> None:
    from .faithfulness.localisation import TOP_FRACTION
    from .methods.legrad import DEFAULT_START_LAYER
    from .methods.registry import DEFAULT_METHODS, METHODS, sources

    evaluate = commands.add_parser("evaluate", help="measure how faithful each explanation method is on a set of images")
    evaluate.add_argument("source", help="a folder of images or a glob such as 'scenes/*.png'")
    evaluate.add_argument("--out", type=Path, required=True, help="REPORT.json")
    evaluate.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                          help=f"comma-separated: {','.join(METHODS)} (default: all); papers: {sources(METHODS)}")
    evaluate.add_argument("--masks", type=Path, help="folder of object masks named like the images (demo scenes need none)")
    evaluate.add_argument("--curves", type=Path, help="also write the per-image curves to CURVES.npz")
    evaluate.add_argument("--markdown", type=Path, help="also write the table as Markdown (README, model card) to TABLE.md")
    evaluate.add_argument("--batch-size", type=int, default=25)
    evaluate.add_argument("--fill", default="blur", choices=["blur", "mean"], help="pixel deletion/insertion fill")
    evaluate.add_argument("--top-fraction", type=float, default=TOP_FRACTION, help="share of patches for mask IoU")
    evaluate.add_argument("--lrp-rule", default="cp", choices=["cp", "attnlrp"])
    evaluate.add_argument("--gradcam-block", type=int, help="Grad-CAM block (default: the last that reaches the readout)")
    evaluate.add_argument("--legrad-start", type=int, default=DEFAULT_START_LAYER,
                          help=f"LeGrad's first block, negative from the end (default {DEFAULT_START_LAYER}: the last "
                          f"{-DEFAULT_START_LAYER}, as its published code)")
    evaluate.add_argument("--sanity", type=int, default=0, metavar="N", help="cascading randomisation on the first N images")
    evaluate.add_argument("--flow-workers", type=int, default=min(os.cpu_count() or 1, 4),
                          help="processes for attention flow's max-flow problems (default: the CPU count, at most 4)")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_model_options(evaluate)
    _add_rollout_options(evaluate)
    _add_target_option(evaluate, "--target")  # --target: the name evaluate had before, the same option


def _model_request(args):
    from .models.loading import ModelRequest

    return ModelRequest(
        name=args.model, checkpoint=args.checkpoint, device=args.device, dtype=args.dtype,
        pretrained=not args.random_weights, image_size=args.image_size,
    )


def _rollout_settings(args):
    from .runs.analysis import RolloutSettings

    return RolloutSettings(
        head_fusion=args.head_fusion,
        discard_ratio=args.discard_ratio,
        residual_weight=args.residual_weight,
        start_layer=args.start_layer,
    )


def _print_top5(names: list[str], logits: np.ndarray, label_names, class_output: str = "softmax") -> None:
    import torch

    from .models.predict import top_k

    for name, row in zip(names, top_k(torch.from_numpy(logits), label_names, k=5, output=class_output), strict=True):
        print(f"{name}: " + ", ".join(f"{p.label} {p.probability:.1%}" for p in row))


def _refuse_target_class(args, uses_it: bool, what: str) -> None:
    """``--target-class`` where no class-specific map is made would be ignored: refuse it in one sentence."""
    if args.target_class is not None and not uses_it:
        raise SettingsError(f"--target-class applies to class-specific maps only and {what}; drop --target-class.")


def run_analyze(args) -> int:
    import torch

    from .methods.registry import ANALYZE_DEFAULT, REGISTRY, ExplainSettings, parse_methods
    from .models.images import load_image, preprocess_batch
    from .models.predict import feature_note
    from .runs.analysis import analyze
    from .runs.evaluate import method_arrays

    settings = _rollout_settings(args)
    methods = parse_methods(",".join(ANALYZE_DEFAULT) if args.methods is None else args.methods)
    _refuse_target_class(args, any(REGISTRY[m].class_specific for m in methods),
                         f"--methods {','.join(methods)} names none")
    images = [load_image(path) for path in args.images]  # fail on a bad image before any model work
    loaded = _model_request(args).load()
    if args.methods is None and not loaded.has_classifier:  # a backbone: nothing class-specific unless asked for
        methods = ("rollout",)
    pixel_values, _ = preprocess_batch(images, loaded.data_config)
    target = None if args.target_class is None else torch.full((len(images),), args.target_class, dtype=torch.long)
    result = analyze(
        loaded, pixel_values, rollout=settings, target_class=args.target_class, attention=args.attention,
        relevance="relevance" in methods,
    )
    on_device = pixel_values.to(loaded.device, loaded.dtype)
    explain = ExplainSettings(rollout=settings)
    extra = method_arrays(loaded.model, on_device, methods, target, explain)
    if extra:  # the provenance names the methods too, so a file says which maps it holds and how they were made
        settings_used = {**result.provenance.settings, "methods": list(methods), "explain": explain.describe()}
        result = dataclasses.replace(
            result, **extra, provenance=dataclasses.replace(result.provenance, settings=settings_used)
        )
    result.to_npz(args.out)
    if loaded.has_classifier:
        _print_top5([p.name for p in args.images], result.logits, loaded.label_names, loaded.class_output)
    else:
        print(feature_note(loaded.geometry))
    print(_attention_line(args.attention, result, loaded.geometry))
    print(f"wrote {args.out}")
    return 0


def _attention_line(requested: str, result, geometry) -> str:
    """One line on what the file keeps of the attention, and why."""
    from .runs.analysis import FULL_ATTENTION_BYTES, attention_bytes

    full = attention_bytes(geometry, result.batch_size)
    why = "asked for" if requested != "auto" else (
        f"{'under' if full <= FULL_ATTENTION_BYTES * result.batch_size else 'over'} "
        f"{FULL_ATTENTION_BYTES >> 20} MB per image"
    )
    if result.attention is not None:
        return f"attention: the full [B,L,H,N,N] array, {_mb(full)} ({why})"
    if result.attention_q is not None:
        kept = result.attention_q.nbytes + result.attention_k.nbytes
        return (f"attention: each layer's q and k, {_mb(kept)}, instead of the full {_mb(full)} ({why}); "
                "AnalysisResult.attention_slice(layer, head, rows) rebuilds any slice exactly")
    return f"attention: not kept ({why}; the full array would be {_mb(full)})"


def _mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.0f} MB" if nbytes < 2**30 else f"{nbytes / 2**30:.2f} GB"


def run_batch_command(args) -> int:
    from .runs.batch import find_images, run_batch

    settings = _rollout_settings(args)
    _refuse_target_class(args, not args.no_relevance, "--no-relevance leaves none")
    paths = find_images(args.source)
    from .runs.batch import BatchOptions

    options = BatchOptions(
        rollout=settings, relevance=not args.no_relevance, target_class=args.target_class,
        batch_size=args.batch_size, overwrite=args.overwrite,
    )
    if args.ray:
        from .runs.distributed import run_batch_on_ray

        report = run_batch_on_ray(_model_request(args), paths, args.out, options, workers=args.ray_workers)
    else:
        report = run_batch(_model_request(args).load(), paths, args.out, options, workers=args.workers)
    for path, reason in report.failed.items():
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(f"{report.done} analysed, {report.skipped} already done, {len(report.failed)} failed "
          f"in {report.seconds:.1f} s; wrote {args.out}")
    return 0


def evaluate_options(args):
    """The parsed ``evaluate`` arguments as typed options."""
    from .methods.registry import ExplainSettings, parse_methods
    from .runs.evaluate import EvaluateOptions

    explain = ExplainSettings(rollout=_rollout_settings(args), gradcam_block=args.gradcam_block,
                              lrp_rule=args.lrp_rule, flow_workers=max(1, args.flow_workers),
                              legrad_start=args.legrad_start)
    return EvaluateOptions(
        source=args.source, out=args.out, methods=parse_methods(args.methods), target_class=args.target_class,
        masks=args.masks, curves=args.curves, markdown=args.markdown, batch_size=args.batch_size, explain=explain,
        fill=args.fill, top_fraction=args.top_fraction, sanity=args.sanity, progress=not args.no_progress,
        command="python -m vit_core " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0] else None,
    )


def run_evaluate_command(args) -> int:
    from .runs.evaluate import run_evaluate
    from .runs.evaluate_report import format_table

    options = evaluate_options(args)
    report = run_evaluate(_model_request(args), options)
    print(format_table(report["methods"]))
    for name, survives in report.get("sanity_check", {}).get("survives", {}).items():
        if survives:
            print(f"sanity check: the {name} map survives randomising every layer, so it explains nothing about the model.")
    print(f"wrote {options.out}" + (f" and {options.curves}" if options.curves else ""))
    return 0


def _outlier_rule(args):
    from .inside.norms import OutlierRule

    if args.cut is not None and args.mad_k is not None:
        raise SettingsError("--cut and --mad-k are two rules; pass one of them.")
    if args.cut is not None:
        return OutlierRule(kind="absolute", cut=args.cut)
    return None if args.mad_k is None else OutlierRule(kind="mad", k=args.mad_k)


def run_inspect(args) -> int:
    from dataclasses import replace

    from .inside.ablation_arrays import ablation_arrays
    from .inside.inspection import inspect
    from .models.images import load_image, preprocess_batch
    from .results.files import with_provenance, write_npz_atomically

    rule = _outlier_rule(args)
    _refuse_target_class(args, not args.no_head_importance, "--no-head-importance leaves no head-importance table")
    images = [load_image(path) for path in args.images]  # fail on a bad image before any model work
    loaded = _model_request(args).load()
    pixel_values, _ = preprocess_batch(images, loaded.data_config)
    options = ablation_options(args, loaded, tuple(pixel_values.shape[-2:]))  # refuse bad head lists before work
    found = inspect(loaded, pixel_values, rule=rule, outlier_layer=args.outlier_layer, attention=args.attention)
    ablation = ablation_arrays(loaded.model, pixel_values.to(loaded.device, loaded.dtype), **options)
    settings = {**found.provenance.settings, "ablate": args.ablate, "mean_ablate": args.mean_ablate,
                "mask_tokens": args.mask_tokens, "reference": args.reference or "bundled samples",
                "head_importance": not args.no_head_importance}
    arrays = {**found.arrays(), **{k: v for k, v in ablation.items() if k != "pixel_values"}}
    write_npz_atomically(args.out, with_provenance(arrays, replace(found.provenance, settings=settings, target_class=args.target_class)))
    print(f"outlier rule: {found.outlier_rule} (at block {int(found.outlier_layer)})")
    for index, path in enumerate(args.images):
        here = np.flatnonzero(found.outlier_image == index)
        listed = ", ".join(
            f"{found.token_label(int(found.outlier_token[i]))} norm {found.outlier_norm[i]:.1f} from block "
            f"{int(found.outlier_first_layer[i])}" for i in here[:5]
        )
        more = f" and {len(here) - 5} more" if len(here) > 5 else ""
        prefix = found.prefix_share[index, -1].mean()
        print(f"{path.name}: {len(here)} outliers{': ' + listed + more if len(here) else ''}; "
              f"last layer's attention to prefix tokens {prefix:.1%}")
        if "head_importance_mean" in ablation:
            table = ablation["head_importance_mean"][index]
            layer, head = np.unravel_index(table.argmax(), table.shape)
            print(f"{path.name}: the head the target logit needs most (mean ablation) is {layer}:{head}, "
                  f"{table.max():+.3f} logit")
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"analyze": run_analyze, "batch": run_batch_command, "evaluate": run_evaluate_command,
                "inspect": run_inspect}
    try:
        return handlers[args.command](args)
    except VitCoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written.", file=sys.stderr)
        return 130
