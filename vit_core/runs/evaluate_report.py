"""How ``evaluate``'s measures are summarised and shown: per method and measure the mean and standard error, which
baselines a method beats, and the method x measure table as text (the command line) and Markdown (README, model
card). No torch: numbers in, numbers and text out."""

from __future__ import annotations

import numpy as np

from ..methods.registry import BASELINES

__all__ = [
    "CURVE_MEASURES",
    "MASK_MEASURES",
    "MEASURES",
    "LOWER_IS_BETTER",
    "summarise",
    "beats_both_baselines",
    "format_table",
    "format_markdown",
]

CURVE_MEASURES = ("positive_auc", "negative_auc", "positive_top1_auc", "negative_top1_auc", "deletion_auc", "insertion_auc")
MASK_MEASURES = ("pointing_game", "energy_pointing", "mask_iou")
MEASURES = CURVE_MEASURES + MASK_MEASURES
LOWER_IS_BETTER = frozenset({"positive_auc", "positive_top1_auc", "deletion_auc"})


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
