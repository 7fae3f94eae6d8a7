"""Class probabilities and top-k classes from logits, labelled when the model knows its labels.

How logits become probabilities is a property of the model's training, recorded as its ``class_output``:

* ``softmax``: one class per image; the probabilities of an image sum to 1 (ImageNet classifiers);
* ``sigmoid``: each class present or not, on its own (multi-label training; the bundled demo model's last phase
  trains a presence detector per class, so a scene with two shapes can score both near 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["CLASS_OUTPUTS", "Prediction", "class_probabilities", "top_k"]

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
