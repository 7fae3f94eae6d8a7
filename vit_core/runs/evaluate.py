"""``python -m vit_core evaluate``: how faithful each explanation method is on a set of images.

For every batch: the maps of all methods (:mod:`vit_core.methods.registry`), then the perturbation curves with one
forward pass per step for all images and methods (:mod:`vit_core.faithfulness`), and on images with masks
the localisation measures. The report gives each method's mean and standard error per measure, says which
methods beat the random and centre baselines, and carries the conventions, the model and every setting.

The computation is here; the summary and tables are :mod:`vit_core.runs.evaluate_report`'s, the options' parsing is
the command line's (:mod:`vit_core.cli`).

Masks come from ``--masks DIR`` (``DIR/<image stem>.png``, any non-zero pixel is the object, put through the
model's own resize and crop), or, for demo scenes written by :mod:`vit_core.demo.scene_files`, are rendered
again from the file name.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..errors import ImageError, NotAvailableError, SettingsError
from ..faithfulness import (
    convention,
    energy_pointing,
    mask_iou,
    pixel_curves,
    pointing_game,
    token_removal_curves,
)
from ..faithfulness.localisation import GROW, TOP_FRACTION
from ..methods.registry import DEFAULT_METHODS, REGISTRY, ExplainSettings, explanation_maps, parse_methods, refusals
from .evaluate_report import (
    CURVE_MEASURES,
    LOWER_IS_BETTER,
    MASK_MEASURES,
    MEASURES,
    beats_both_baselines,
    format_markdown,
    format_table,
    summarise,
)

__all__ = [
    "CURVE_MEASURES",
    "MASK_MEASURES",
    "MEASURES",
    "LOWER_IS_BETTER",
    "EvaluateOptions",
    "evaluate_batch",
    "summarise",
    "beats_both_baselines",
    "format_table",
    "format_markdown",
    "find_mask",
    "run_evaluate",
    "method_arrays",
]

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


def find_mask(image_path: Path, masks_dir: Path | None, data_config: dict) -> np.ndarray | None:
    """The object mask of one image at the model's input size (bool [h, w]), or None when it has none."""
    from ..demo.scene_files import scene_mask
    from ..models.images import model_view

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


@dataclass(frozen=True)
class EvaluateOptions:
    """What ``evaluate`` measures and where it writes (the model is a :class:`vit_core.models.loading.ModelRequest`).

    Attributes:
        source: a folder of images or a glob.
        out: REPORT.json.
        methods: the methods to compare (names of :data:`vit_core.methods.registry.REGISTRY`).
        target_class: the class every map explains and every curve follows; None: each image's top-1.
        masks: a folder of object masks named like the images (demo scenes need none).
        curves: also write the per-image curves to this .npz.
        markdown: also write the table as Markdown to this file.
        explain: every method's settings.
        fill: pixel deletion / insertion fill, "blur" or "mean".
        top_fraction: share of patches for mask IoU.
        sanity: cascading randomisation on the first this many images (0: none).
        progress: draw a progress bar on stderr.
        command: the command line that asked for it (recorded in the report), or None.
    """

    source: str
    out: Path
    methods: tuple[str, ...] = DEFAULT_METHODS
    target_class: int | None = None
    masks: Path | None = None
    curves: Path | None = None
    markdown: Path | None = None
    batch_size: int = 25
    explain: ExplainSettings = field(default_factory=ExplainSettings)
    fill: str = "blur"
    top_fraction: float = TOP_FRACTION
    sanity: int = 0
    progress: bool = True
    command: str | None = None

    def check(self) -> None:
        """Refuse settings that cannot run, in one sentence, before any model work."""
        parse_methods(self.methods)
        if self.batch_size < 1:
            raise SettingsError(f"--batch-size {self.batch_size} must be at least 1.")
        if self.masks is not None and not Path(self.masks).is_dir():
            raise SettingsError(f"--masks {self.masks} is not a folder; give the folder that holds the masks.")
        if self.fill not in ("blur", "mean"):
            raise SettingsError(f"fill {self.fill!r} is unknown; choose 'blur' or 'mean'.")


def _provenance(loaded, options: EvaluateOptions) -> dict:
    """The project's provenance record (:func:`vit_core.results.provenance.provenance_of`) plus the command and the
    model's token geometry."""
    from ..results.provenance import provenance_of

    record = asdict(provenance_of(loaded, options.explain.describe()))
    record["command"] = options.command
    record["geometry"] = {
        "grid_size": list(loaded.geometry.grid_size),
        "patch_size": list(loaded.geometry.patch_size),
        "prefix_tokens": list(loaded.geometry.prefix_kinds),
        "global_pool": loaded.geometry.global_pool,
    }
    return record


def _targets(target_class: int | None, logits: torch.Tensor) -> torch.Tensor:
    """``[batch]`` the class each image's maps explain: its top-1, or `target_class` for all (checked)."""
    if target_class is None:
        return logits.argmax(dim=-1)
    if not 0 <= target_class < logits.shape[-1]:
        raise SettingsError(
            f"--target-class {target_class} is outside 0 to {logits.shape[-1] - 1}; pick a class of this model."
        )
    return torch.full((logits.shape[0],), target_class, dtype=torch.long, device=logits.device)


def run_evaluate(request, options: EvaluateOptions) -> dict:
    """Measure every method on every image of ``options.source``; write REPORT.json (and the curves and
    Markdown table if asked); return the report.

    Args:
        request: the model, a :class:`vit_core.models.loading.ModelRequest` (the same request ``batch`` takes).
        options: what to measure and where to write it.
    """
    from tqdm import tqdm

    from ..faithfulness import FRACTIONS, PIXEL_FRACTIONS, cascading_randomisation
    from ..models.images import load_image, preprocess_batch
    from ..results.files import write_npz_atomically
    from .batch import find_images

    options.check()
    methods = parse_methods(options.methods)
    settings = options.explain
    paths = find_images(options.source)
    loaded = request.load()
    model = loaded.model
    if not loaded.has_classifier:  # every measure follows the target class's probability
        raise NotAvailableError(
            "evaluate measures how a class's probability falls as patches go, and this model has no classifier; "
            "choose a model with one."
        )
    refused = refusals(model, methods)  # methods that do not cover this model: left out, said and recorded
    methods = tuple(name for name in methods if name not in refused)
    if refused and all(REGISTRY[name].baseline for name in methods):
        raise next(iter(refused.values()))
    for name, error in refused.items():
        print(f"{name} left out: {error}", file=sys.stderr)
    measures: dict[str, dict[str, list]] = {name: {} for name in methods}
    curves: dict[str, dict[str, list]] = {name: {} for name in methods}
    targets, names, sanity_pixels, sanity_targets = [], [], [], []
    bar = tqdm(total=len(paths), unit="img", disable=not options.progress, dynamic_ncols=True, file=sys.stderr)
    for start in range(0, len(paths), options.batch_size):
        chunk = paths[start : start + options.batch_size]
        pixels, _ = preprocess_batch([load_image(p) for p in chunk], loaded.data_config)
        pixels = pixels.to(loaded.device, loaded.dtype)
        found = [find_mask(p, options.masks, loaded.data_config) for p in chunk]
        masks = None
        if any(m is not None for m in found):
            h, w = pixels.shape[-2:]
            masks = np.stack([m if m is not None else np.zeros((h, w), bool) for m in found])
        with torch.no_grad():
            target = _targets(options.target_class, model(pixels))

        def flow_step(done: int, total: int) -> None:
            bar.set_postfix_str(f"attention flow {done}/{total}", refresh=done == total or done % 50 == 0)

        _, batch_measures, batch_curves = evaluate_batch(
            model, pixels, methods, target, settings=settings, masks=masks, fill=options.fill,
            top_fraction=options.top_fraction, flow_progress=flow_step if "flow" in methods else None,
        )
        for name in methods:
            for key, values in batch_measures[name].items():
                measures[name].setdefault(key, []).append(values)
            for key, values in batch_curves[name].items():
                curves[name].setdefault(key, []).append(values)
        targets.append(target.cpu().numpy())
        names.extend(str(p) for p in chunk)
        if len(sanity_pixels) * options.batch_size < options.sanity:
            sanity_pixels.append(pixels.cpu())
            sanity_targets.append(target.cpu())
        bar.set_postfix_str("")
        bar.update(len(chunk))
    bar.close()
    joined = {n: {k: np.concatenate(v) for k, v in m.items()} for n, m in measures.items()}
    summary = summarise(joined)
    report = {
        "produced_by": _provenance(loaded, options),
        "convention": {
            **convention(),
            "target": "each image's top-1 class on the unperturbed image" if options.target_class is None
            else f"class {options.target_class}",
            "pointing_game": f"peak patch centre inside the object's bounding box grown by {GROW} px",
            "energy_pointing": "share of the map's positive mass inside the object's bounding box",
            "mask_iou": f"IoU of the top {options.top_fraction:.0%} of patches (by the map) with the object mask",
            "summary": "mean over images, sem = standard deviation / sqrt(images); baselines compared by their means",
        },
        "images": len(names),
        "images_with_masks": int(np.isfinite(joined[methods[0]].get("mask_iou", np.zeros(0))).sum()),
        "methods": summary,
    }
    if refused:
        report["not_computed"] = {name: str(error) for name, error in refused.items()}
    if options.sanity > 0:
        pixels = torch.cat(sanity_pixels)[: options.sanity].to(loaded.device, loaded.dtype)
        target = torch.cat(sanity_targets)[: options.sanity].to(loaded.device)
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
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    if options.curves is not None:
        arrays = {"image": np.asarray(names), "target": np.concatenate(targets)}
        arrays["token_fractions"] = FRACTIONS
        arrays["pixel_fractions"] = PIXEL_FRACTIONS
        arrays["convention"] = np.asarray(json.dumps(report["convention"]))
        for name in methods:
            for key, values in curves[name].items():
                arrays[f"{name}_{key}"] = np.concatenate(values)
        write_npz_atomically(options.curves, arrays)
    if options.markdown is not None:
        Path(options.markdown).write_text(format_markdown(summary) + "\n")
    return report


def method_arrays(
    model: nn.Module, pixel_values: torch.Tensor, methods: Sequence[str], target, settings: ExplainSettings
) -> dict[str, np.ndarray]:
    """The arrays of ``analyze --methods`` beyond rollout and relevance, by their result field: ``raw_attention``,
    ``attention_flow``, ``gradcam``, ``lrp`` as [B, gh, gw] float32 (the target is the relevance's)."""
    from ..methods.registry import ANALYZE_KEYS

    extra = [m for m in parse_methods(methods) if not REGISTRY[m].in_analysis]
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
