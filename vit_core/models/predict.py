"""Class probabilities and top-k classes from logits, labelled when the model knows its labels.

How logits become probabilities is a property of the model's training, recorded as its ``class_output``:

* ``softmax``: one class per image; the probabilities of an image sum to 1 (ImageNet classifiers);
* ``sigmoid``: each class present or not, on its own (multi-label training; the bundled demo model's last phase
  trains a presence detector per class, so a scene with two shapes can score both near 1).

A model without a classifier (a backbone: timm's ``num_classes=0``, a transformers ``Dinov2Model`` folder, DINO,
DINOv2 or CLIP image towers) outputs its pooled feature, not logits: it has no classes to rank, and the maps that
explain a class (relevance, Grad-CAM, LRP) refuse it (:func:`require_classifier`); the class-agnostic maps explain
where that feature draws from (:func:`feature_note`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import NotAvailableError
from .types import Geometry

__all__ = [
    "CLASS_OUTPUTS", "Prediction", "class_probabilities", "feature_note", "has_classifier", "require_classifier",
    "top_k",
]

CLASS_OUTPUTS = ("softmax", "sigmoid")


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


def class_probabilities(logits: torch.Tensor, output: str = "softmax") -> torch.Tensor:
    """``[batch, classes]`` logits -> probabilities in float32, as the model's `output` (``CLASS_OUTPUTS``) reads them."""
    if output not in CLASS_OUTPUTS:
        raise ValueError(f"class output {output!r} is unknown; use one of {', '.join(CLASS_OUTPUTS)}.")
    logits = logits.float()
    return logits.softmax(dim=-1) if output == "softmax" else logits.sigmoid()


def top_k(
    logits: torch.Tensor, label_names: tuple[str, ...] | None, k: int = 5, output: str = "softmax"
) -> list[list[Prediction]]:
    """Per image, the k most probable classes. logits: [batch, classes]; output: the model's class output."""
    probs = class_probabilities(logits, output)
    values, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [
        [
            Prediction(int(i), label_names[int(i)] if label_names else f"class {int(i)}", float(p))
            for p, i in zip(row_values.tolist(), row_indices.tolist(), strict=True)
        ]
        for row_values, row_indices in zip(values, indices, strict=True)
    ]


def has_classifier(model: nn.Module) -> bool:
    """Whether `model` ends in a classifier (timm's ``num_classes`` above 0), so that its output is logits."""
    return int(getattr(model, "num_classes", 0) or 0) > 0


def require_classifier(model: nn.Module, method: str) -> None:
    """Refuse, in one sentence, a `method` that explains a class on a model without a classifier.

    Raises:
        NotAvailableError: `model` outputs features, not logits.
    """
    if not has_classifier(model):
        raise NotAvailableError(
            f"{method} explains a class, and this model has no classifier (it outputs features); "
            "choose rollout, raw attention or attention flow."
        )


_POOLED = {"token": "its class token", "": "its class token", "avg": "the mean of its patch tokens",
           "avgmax": "the mean and maximum of its patch tokens", "max": "the maximum of its patch tokens",
           "map": "its attention pool's output"}


def feature_note(geometry: Geometry) -> str:
    """One sentence for a model without a classifier: what it outputs, and what its maps explain instead of a class."""
    pooled = _POOLED.get(geometry.global_pool, "its pooled tokens")
    return (
        f"No classes: this model has no classifier and outputs a {geometry.embed_dim}-number feature ({pooled}); "
        "rollout, raw attention and attention flow show where that feature draws from, and class-specific maps "
        "(relevance, Grad-CAM, LRP) are not offered."
    )
