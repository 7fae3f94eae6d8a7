"""Top-k classes from logits, labelled when the model knows its labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Prediction", "top_k"]


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


def top_k(logits: torch.Tensor, label_names: tuple[str, ...] | None, k: int = 5) -> list[list[Prediction]]:
    """Per image, the k most probable classes. logits: [batch, classes]."""
    probs = logits.float().softmax(dim=-1)
    values, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [
        [
            Prediction(int(i), label_names[int(i)] if label_names else f"class {int(i)}", float(p))
            for p, i in zip(row_values.tolist(), row_indices.tolist(), strict=True)
        ]
        for row_values, row_indices in zip(values, indices, strict=True)
    ]
