"""``python -m vit_core evaluate``: how faithful each explanation method is on a set of images.

For every batch: the maps of all methods (:mod:`vit_core.explain`), then the perturbation curves with one
forward pass per step for all images and methods (:mod:`vit_core.faithfulness`), and on images with masks
the localisation measures. The report gives each method's mean and standard error per measure, says which
methods beat the random and centre baselines, and carries the conventions, the model and every setting.

Masks come from ``--masks DIR`` (``DIR/<image stem>.png``, any non-zero pixel is the object, put through the
model's own resize and crop), or, for demo scenes written by :mod:`vit_core.demo.scene_files`, are rendered
again from the file name.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .errors import ImageError, NotAvailableError, SettingsError
from .explain import BASELINES, ExplainSettings, explanation_maps, parse_methods
from .faithfulness import (
    convention,
    energy_pointing,
    mask_iou,
    pixel_curves,
    pointing_game,
    token_removal_curves,
)
from .faithfulness.localisation import GROW, TOP_FRACTION

__all__ = [
    "MEASURES",
    "LOWER_IS_BETTER",
    "evaluate_batch",
    "summarise",
    "format_table",
    "format_markdown",
    "find_mask",
    "add_evaluate_command",
    "run_evaluate",
    "method_arrays",
]

CURVE_MEASURES = ("positive_auc", "negative_auc", "positive_top1_auc", "negative_top1_auc", "deletion_auc", "insertion_auc")
MASK_MEASURES = ("pointing_game", "energy_pointing", "mask_iou")
MEASURES = CURVE_MEASURES + MASK_MEASURES
LOWER_IS_BETTER = frozenset({"positive_auc", "positive_top1_auc", "deletion_auc"})
MASK_SUFFIXES = (".png", ".bmp", ".gif", ".tif", ".tiff", ".jpg", ".jpeg", ".webp")


def evaluate_batch(
    model: nn.Module,
    pixel_values: torch.Tensor,
    methods: Sequence[str],
    target: torch.Tensor,
    *,
    settings: ExplainSettings | None = None,
    masks: np.ndarray | None = None,
    fill: str = "blur",
    top_fraction: float = TOP_FRACTION,
    chunk: int | None = None,
    flow_progress: Callable[[int, int], None] | None = None,
    step_progress: Callable[[], None] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]]]:
    """Maps, per-image measures and curves of every method for one batch.

    Args:
        masks: ``[batch, h, w]`` bool object masks at the input's size (rows of NaN measures where a mask is
            empty), or None for no localisation measures.

    Returns:
        (maps {method: [batch, gh, gw]}, measures {method: {measure: [batch]}},
        curves {method: {"positive" | "negative" | "deletion" | "insertion" (probability) and
        "positive_top1" | "negative_top1": [batch, step]}}).
    """
    methods = parse_methods(methods)
    maps = explanation_maps(model, pixel_values, methods, target=target, settings=settings, flow_progress=flow_progress)
    stacked = torch.stack([maps[name] for name in methods])  # [method, batch, gh, gw]
    kwargs = dict(chunk=chunk, progress=step_progress)
    positive = token_removal_curves(model, pixel_values, stacked, target, order="positive", **kwargs)
    negative = token_removal_curves(model, pixel_values, stacked, target, order="negative", **kwargs)
    deletion = pixel_curves(model, pixel_values, stacked, target, mode="deletion", fill=fill, **kwargs)
    insertion = pixel_curves(model, pixel_values, stacked, target, mode="insertion", fill=fill, **kwargs)
    per_method = {
        "positive_auc": positive.auc(),
        "negative_auc": negative.auc(),
        "positive_top1_auc": positive.top1_auc(),
        "negative_top1_auc": negative.top1_auc(),
        "deletion_auc": deletion.auc(),
        "insertion_auc": insertion.auc(),
    }  # each [method, batch]
    if masks is not None:
        has = masks.reshape(len(masks), -1).any(1)
        for name, values in (
            ("pointing_game", pointing_game(stacked, masks).astype(np.float64)),
            ("energy_pointing", energy_pointing(stacked, masks)),
            ("mask_iou", mask_iou(stacked, masks, top_fraction=top_fraction)),
        ):
            per_method[name] = np.where(has[None], values, np.nan)
    measures = {name: {m: v[i] for m, v in per_method.items()} for i, name in enumerate(methods)}
    curves = {
        name: {
            "positive": positive.probability[i],
            "negative": negative.probability[i],
            "positive_top1": positive.top1[i],
            "negative_top1": negative.top1[i],
            "deletion": deletion.probability[i],
            "insertion": insertion.probability[i],
        }
        for i, name in enumerate(methods)
    }
    return maps, measures, curves


def _better(measure: str, value: float, baseline: float) -> bool:
    return value < baseline if measure in LOWER_IS_BETTER else value > baseline


def summarise(measures: dict[str, dict[str, np.ndarray]]) -> dict[str, dict]:
    """Per method and measure: mean, standard error and image count; and the measures where it beats each baseline."""
    summary: dict[str, dict] = {}
    for method, values in measures.items():
        entry: dict = {}
        for measure, per_image in values.items():
            finite = per_image[np.isfinite(per_image)]
            if len(finite):
                sem = float(finite.std(ddof=1) / np.sqrt(len(finite))) if len(finite) > 1 else None
                entry[measure] = {"mean": float(finite.mean()), "sem": sem, "images": int(len(finite))}
        summary[method] = entry
    for method, entry in summary.items():
        for baseline in BASELINES:
            if baseline in summary and baseline != method:
                entry[f"beats_{baseline}"] = [
                    m for m in MEASURES if m in entry and m in summary[baseline]
                    and _better(m, entry[m]["mean"], summary[baseline][m]["mean"])
                ]
    return summary


def beats_both_baselines(summary: dict[str, dict], method: str, measure: str) -> bool:
    """Whether `method` (not itself a baseline) beats every baseline the summary holds on `measure`."""
    entry = summary[method]
    return method not in BASELINES and all(
        measure in entry.get(f"beats_{b}", []) for b in BASELINES if b in summary and b != method
    )


def format_table(summary: dict[str, dict]) -> str:
    """Method x measure means; '*' marks a measure where the method beats both baselines."""
    shown = [m for m in MEASURES if any(m in e for e in summary.values())]
    short = {m: m.replace("_auc", "").replace("positive", "pos").replace("negative", "neg") for m in shown}
    arrows = {m: ("v" if m in LOWER_IS_BETTER else "^") for m in shown}
    header = f"{'method':<10}" + "".join(f"{short[m] + ' ' + arrows[m]:>14}" for m in shown)
    lines = [header, "-" * len(header)]
    for method, entry in summary.items():
        cells = []
        for m in shown:
            if m not in entry:
                cells.append(f"{'-':>14}")
                continue
            star = "*" if beats_both_baselines(summary, method, m) else " "
            cells.append(f"{entry[m]['mean']:>13.4f}{star}")
        lines.append(f"{method:<10}" + "".join(cells))
    lines.append("v: lower is better, ^: higher is better; *: better than both the random and the centre baseline")
    return "\n".join(lines)


MARKDOWN_COLUMNS = {  # the measures of the README's and the model card's table, in their words
    "positive_auc": "removal, most relevant first",
    "negative_auc": "removal, least relevant first",
    "deletion_auc": "deletion",
    "insertion_auc": "insertion",
    "pointing_game": "pointing game",
    "energy_pointing": "energy in box",
    "mask_iou": "mask IoU, top 10%",
}


def format_markdown(summary: dict[str, dict]) -> str:
    """The method x measure table as Markdown (README, model card), bold where a method beats both baselines."""
    shown = [m for m in MARKDOWN_COLUMNS if any(m in e for e in summary.values())]
    head = [f"{MARKDOWN_COLUMNS[m]} {'↓' if m in LOWER_IS_BETTER else '↑'}" for m in shown]
    lines = ["| method | " + " | ".join(head) + " |", "|---" * (len(shown) + 1) + "|"]
    for method, entry in summary.items():
        cells = []
        for m in shown:
            if m not in entry:
                cells.append("-")
                continue
            value = f"{entry[m]['mean']:.3f}"
            cells.append(f"**{value}**" if beats_both_baselines(summary, method, m) else value)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def find_mask(image_path: Path, masks_dir: Path | None, data_config: dict) -> np.ndarray | None:
    """The object mask of one image at the model's input size (bool [h, w]), or None when it has none."""
    from .demo.scene_files import scene_mask
    from .images import model_view

    picture = None
    if masks_dir is not None:
        for suffix in MASK_SUFFIXES:
            candidate = masks_dir / f"{image_path.stem}{suffix}"
            if candidate.is_file():
                try:
                    picture = Image.open(candidate).convert("L")
                except OSError as error:
                    raise ImageError(f"the mask {candidate} cannot be read ({error}); save it as a PNG.") from error
                picture = Image.fromarray(np.asarray(picture) > 0)
                break
    if picture is None:
        rendered = scene_mask(image_path)
        if rendered is None:
            return None
        picture = Image.fromarray(rendered)
    view = model_view(picture.convert("L"), data_config)  # the same resize and crop as the image
    return np.asarray(view) > 127


def _provenance(args, loaded, settings: ExplainSettings) -> dict:
    """The project's provenance record (:func:`vit_core.provenance.provenance_of`) plus the command and the
    model's token geometry."""
    from .provenance import provenance_of

    record = asdict(provenance_of(loaded, settings.describe()))
    record["command"] = "python -m vit_core " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0] else None
    record["geometry"] = {
        "grid_size": list(loaded.geometry.grid_size),
        "patch_size": list(loaded.geometry.patch_size),
        "prefix_tokens": list(loaded.geometry.prefix_kinds),
        "global_pool": loaded.geometry.global_pool,
    }
    return record


def add_evaluate_command(commands, add_model_options: Callable, add_rollout_options: Callable) -> None:
    """Register the ``evaluate`` subcommand (the model and rollout options are the other commands' own)."""
    evaluate = commands.add_parser("evaluate", help="measure how faithful each explanation method is on a set of images")
    evaluate.add_argument("source", help="a folder of images or a glob such as 'scenes/*.png'")
    evaluate.add_argument("--out", type=Path, required=True, help="REPORT.json")
    evaluate.add_argument(
        "--methods", default=",".join(("raw", "rollout", "flow", "relevance", "gradcam", "lrp", "random", "centre")),
        help="comma-separated: raw,rollout,flow,relevance,gradcam,lrp,random,centre (default: all)",
    )
    evaluate.add_argument("--target", default="predicted", help="'predicted' (each image's top-1) or a class index")
    evaluate.add_argument("--masks", type=Path, help="folder of object masks named like the images (demo scenes need none)")
    evaluate.add_argument("--curves", type=Path, help="also write the per-image curves to CURVES.npz")
    evaluate.add_argument("--markdown", type=Path, help="also write the table as Markdown (README, model card) to TABLE.md")
    evaluate.add_argument("--batch-size", type=int, default=25)
    evaluate.add_argument("--fill", default="blur", choices=["blur", "mean"], help="pixel deletion/insertion fill")
    evaluate.add_argument("--top-fraction", type=float, default=TOP_FRACTION, help="share of patches for mask IoU")
    evaluate.add_argument("--lrp-rule", default="cp", choices=["cp", "attnlrp"])
    evaluate.add_argument("--gradcam-block", type=int, help="Grad-CAM block (default: the last that reaches the readout)")
    evaluate.add_argument("--sanity", type=int, default=0, metavar="N", help="cascading randomisation on the first N images")
    evaluate.add_argument("--flow-workers", type=int, default=min(os.cpu_count() or 1, 4),
                          help="processes for attention flow's max-flow problems (default: the CPU count, at most 4)")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_model_options(evaluate)
    add_rollout_options(evaluate)


def _target_for(text: str, logits: torch.Tensor) -> torch.Tensor:
    if text == "predicted":
        return logits.argmax(dim=-1)
    try:
        index = int(text)
    except ValueError:
        raise SettingsError(f"--target {text!r} is neither 'predicted' nor a class index; pass e.g. --target 3.") from None
    if not 0 <= index < logits.shape[-1]:
        raise SettingsError(f"--target {index} is outside 0 to {logits.shape[-1] - 1}; pick a class of this model.")
    return torch.full((logits.shape[0],), index, dtype=torch.long, device=logits.device)


def run_evaluate(args, load: Callable, rollout_settings: Callable, write_npz: Callable) -> int:
    """The ``evaluate`` command: table on stdout, REPORT.json, optional CURVES.npz.

    ``load``, ``rollout_settings`` and ``write_npz`` are the command line's own (passed in, so this module
    does not import the command line that registers it).
    """
    from tqdm import tqdm

    from .batch import find_images
    from .faithfulness import cascading_randomisation
    from .images import load_image, preprocess_batch

    methods = parse_methods(args.methods)
    if args.batch_size < 1:
        raise SettingsError(f"--batch-size {args.batch_size} must be at least 1.")
    if args.masks is not None and not args.masks.is_dir():
        raise SettingsError(f"--masks {args.masks} is not a folder; give the folder that holds the masks.")
    settings = ExplainSettings(rollout=rollout_settings(args), gradcam_block=args.gradcam_block, lrp_rule=args.lrp_rule,
                               flow_workers=max(1, args.flow_workers))
    paths = find_images(args.source)
    loaded = load(args)
    model = loaded.model
    if not loaded.has_classifier:  # every measure follows the target class's probability
        raise NotAvailableError(
            "evaluate measures how a class's probability falls as patches go, and this model has no classifier; "
            "choose a model with one."
        )
    measures: dict[str, dict[str, list]] = {name: {} for name in methods}
    curves: dict[str, dict[str, list]] = {name: {} for name in methods}
    targets, names, sanity_pixels, sanity_targets = [], [], [], []
    bar = tqdm(total=len(paths), unit="img", disable=args.no_progress, dynamic_ncols=True, file=sys.stderr)
    for start in range(0, len(paths), args.batch_size):
        chunk = paths[start : start + args.batch_size]
        pixels, _ = preprocess_batch([load_image(p) for p in chunk], loaded.data_config)
        pixels = pixels.to(loaded.device, loaded.dtype)
        found = [find_mask(p, args.masks, loaded.data_config) for p in chunk]
        masks = None
        if any(m is not None for m in found):
            h, w = pixels.shape[-2:]
            masks = np.stack([m if m is not None else np.zeros((h, w), bool) for m in found])
        with torch.no_grad():
            target = _target_for(args.target, model(pixels))

        def flow_step(done: int, total: int) -> None:
            bar.set_postfix_str(f"attention flow {done}/{total}", refresh=done == total or done % 50 == 0)

        _, batch_measures, batch_curves = evaluate_batch(
            model, pixels, methods, target, settings=settings, masks=masks, fill=args.fill,
            top_fraction=args.top_fraction, flow_progress=flow_step if "flow" in methods else None,
        )
        for name in methods:
            for key, values in batch_measures[name].items():
                measures[name].setdefault(key, []).append(values)
            for key, values in batch_curves[name].items():
                curves[name].setdefault(key, []).append(values)
        targets.append(target.cpu().numpy())
        names.extend(str(p) for p in chunk)
        if len(sanity_pixels) * args.batch_size < args.sanity:
            sanity_pixels.append(pixels.cpu())
            sanity_targets.append(target.cpu())
        bar.set_postfix_str("")
        bar.update(len(chunk))
    bar.close()
    joined = {n: {k: np.concatenate(v) for k, v in m.items()} for n, m in measures.items()}
    summary = summarise(joined)
    report = {
        "produced_by": _provenance(args, loaded, settings),
        "convention": {
            **convention(),
            "target": "each image's top-1 class on the unperturbed image" if args.target == "predicted" else f"class {args.target}",
            "pointing_game": f"peak patch centre inside the object's bounding box grown by {GROW} px",
            "energy_pointing": "share of the map's positive mass inside the object's bounding box",
            "mask_iou": f"IoU of the top {args.top_fraction:.0%} of patches (by the map) with the object mask",
            "summary": "mean over images, sem = standard deviation / sqrt(images); baselines compared by their means",
        },
        "images": len(names),
        "images_with_masks": int(np.isfinite(joined[methods[0]].get("mask_iou", np.zeros(0))).sum()),
        "methods": summary,
    }
    if args.sanity > 0:
        pixels = torch.cat(sanity_pixels)[: args.sanity].to(loaded.device, loaded.dtype)
        target = torch.cat(sanity_targets)[: args.sanity].to(loaded.device)
        fns = {
            name: (lambda m, x, t, name=name: explanation_maps(m, x, [name], target=t, settings=settings)[name])
            for name in methods
        }
        sanity = cascading_randomisation(model, pixels, target, fns)
        sanity["images"] = int(len(pixels))
        sanity["note"] = (
            "Spearman correlation with the trained model's map as the head, then the blocks from the top, are "
            "re-initialised; a method whose map survives (last correlation above 0.5) does not depend on what the "
            "model learned and explains nothing."
        )
        report["sanity_check"] = sanity
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.curves is not None:
        arrays = {"image": np.asarray(names), "target": np.concatenate(targets)}
        arrays["token_fractions"] = np.round(np.arange(10) / 10, 2)
        arrays["pixel_fractions"] = np.round(np.arange(11) / 10, 2)
        arrays["convention"] = np.asarray(json.dumps(report["convention"]))
        for name in methods:
            for key, values in curves[name].items():
                arrays[f"{name}_{key}"] = np.concatenate(values)
        write_npz(args.curves, arrays)
    print(format_table(summary))
    if args.markdown is not None:
        args.markdown.write_text(format_markdown(summary) + "\n")
    if "sanity_check" in report:
        for name, survives in report["sanity_check"]["survives"].items():
            if survives:
                print(f"sanity check: the {name} map survives randomising every layer, so it explains nothing about the model.")
    print(f"wrote {args.out}" + (f" and {args.curves}" if args.curves else ""))
    return 0


def method_arrays(
    model: nn.Module, pixel_values: torch.Tensor, methods: Sequence[str], target, settings: ExplainSettings
) -> dict[str, np.ndarray]:
    """The arrays of ``analyze --methods`` beyond rollout and relevance, by their result field: ``raw_attention``,
    ``attention_flow``, ``gradcam``, ``lrp`` as [B, gh, gw] float32 (the target is the relevance's)."""
    from .explain import ANALYZE_KEYS

    extra = [m for m in parse_methods(methods) if m not in ("rollout", "relevance")]
    baselines = [m for m in extra if m not in ANALYZE_KEYS]
    if baselines:
        raise SettingsError(f"analyze writes no {', '.join(baselines)} map; the baselines belong to evaluate.")
    if not extra:
        return {}
    if target is None:
        with torch.no_grad():
            target = model(pixel_values).argmax(dim=-1)
    maps = explanation_maps(model, pixel_values, extra, target=target.to(pixel_values.device), settings=settings)
    return {ANALYZE_KEYS[name]: values.cpu().numpy().astype(np.float32) for name, values in maps.items()}
