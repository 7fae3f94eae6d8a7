"""The lesson's arithmetic: the rollout step-through, the removal race of the faithfulness step, and the answers
of its predict-then-reveal questions.

Every answer is computed from the current model and image (never written in), so a question stays right
whatever the model is. No Streamlit here; the page ``viz_app/pages/lesson.py`` draws the lesson.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import torch

from vit_core.faithfulness import FRACTIONS
from vit_core.methods import RolloutSettings
from vit_core.methods.rollout import rollout_layer_matrix

from .ground_truth import SceneObject, object_at_peak

__all__ = [
    "STEPS",
    "RolloutStep",
    "rollout_steps",
    "most_similar_is_neighbour",
    "heads_agree",
    "local_heads_early",
    "strongest_quarter",
    "matrix_figure",
    "relevance_peak",
    "contrast_class",
    "RemovalRace",
    "removal_race",
    "QUARTERS",
    "BACKGROUND",
    "RACE_METHODS",
    "has_outlier",
]

STEPS = ("patches", "embedding", "position", "attention", "distance", "rollout", "relevance", "faithfulness",
         "registers")

QUARTERS = ("top_left", "top_right", "bottom_left", "bottom_right")
BACKGROUND = "background"  # the answer "on no object" of the relevance step's question on a scene
RACE_METHODS = ("rollout", "random")  # the faithfulness step: rollout's order against a random one


@dataclass(frozen=True)
class RolloutStep:
    """One layer of the rollout product: B_l = norm((1 − a)·fuse(A_l) + a·I) and R_l = B_l · R_{l−1}."""

    layer: int
    factor: np.ndarray  # [query, key] B_l
    product: np.ndarray  # [query, key] R_l = B_l ... B_s


def rollout_steps(attention: np.ndarray, settings: RolloutSettings, num_prefix_tokens: int) -> list[RolloutStep]:
    """Each layer's head-fused factor and the running product, from ``[1, layer, head, query, key]`` attention.

    The last product is ``vit_core.methods.attention_rollout``'s result (tests check it).
    """
    attention_t = torch.from_numpy(np.asarray(attention[0], dtype=np.float32))  # [layer, head, query, key]
    steps: list[RolloutStep] = []
    product: torch.Tensor | None = None
    for layer in range(settings.start_layer, attention_t.shape[0]):
        factor = rollout_layer_matrix(attention_t[layer], settings, num_prefix_tokens=num_prefix_tokens)  # [N, N]
        product = factor if product is None else factor @ product
        steps.append(RolloutStep(layer, factor.numpy(), product.numpy()))
    return steps


def most_similar_is_neighbour(similarity: np.ndarray, row: int, col: int) -> bool:
    """Whether the patch whose position embedding is most like (row, col)'s is one of its 8 neighbours.

    Args:
        similarity: ``[gh, gw, gh, gw]`` cosine similarity of position embeddings.
    """
    tile = np.array(similarity[row, col], dtype=np.float64)  # [gh, gw]
    tile[row, col] = -np.inf
    best_row, best_col = np.unravel_index(int(np.argmax(tile)), tile.shape)
    return max(abs(int(best_row) - row), abs(int(best_col) - col)) <= 1


def heads_agree(maps: np.ndarray, threshold: float = 0.5) -> bool:
    """Whether the heads' maps ``[head, gh, gw]`` look at the same patches: mean pairwise correlation > threshold."""
    flat = np.asarray(maps, dtype=np.float64).reshape(maps.shape[0], -1)
    if flat.shape[0] < 2:
        return True
    corr = np.corrcoef(flat)
    corr = np.nan_to_num(corr, nan=0.0)
    off_diagonal = corr[~np.eye(len(corr), dtype=bool)]
    return float(off_diagonal.mean()) > threshold


def local_heads_early(distance: np.ndarray) -> bool:
    """Whether the most local head (smallest mean attention distance, ``[layer, head]``) is in the first half."""
    layer, _ = np.unravel_index(int(np.argmin(distance)), distance.shape)
    return int(layer) < distance.shape[0] / 2


def strongest_quarter(heat: np.ndarray) -> str:
    """The quarter of a ``[gh, gw]`` map with the most weight (a middle row or column is split evenly)."""
    heat = np.asarray(heat, dtype=np.float64)
    gh, gw = heat.shape
    rows = np.clip(np.arange(gh) - (gh - 1) / 2, -0.5, 0.5) + 0.5  # weight of each row on the bottom half
    cols = np.clip(np.arange(gw) - (gw - 1) / 2, -0.5, 0.5) + 0.5
    bottom, right = rows[:, None], cols[None, :]
    sums = {
        "top_left": ((1 - bottom) * (1 - right) * heat).sum(),
        "top_right": ((1 - bottom) * right * heat).sum(),
        "bottom_left": (bottom * (1 - right) * heat).sum(),
        "bottom_right": (bottom * right * heat).sum(),
    }
    return max(QUARTERS, key=lambda q: sums[q])


def matrix_figure(matrix: np.ndarray, title: str, *, height: int = 360) -> go.Figure:
    """A token-by-token matrix ``[query, key]`` as a heatmap (query down, key across)."""
    fig = px.imshow(matrix, color_continuous_scale="Viridis", labels={"x": "key", "y": "query", "color": ""})
    fig.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def relevance_peak(heat: np.ndarray, patch_size: tuple[int, int], objects: Sequence[SceneObject]) -> str:
    """The label of the scene object under the peak of a ``[gh, gw]`` map (the Rollout page's ground-truth check),
    or ``BACKGROUND``."""
    found = object_at_peak(heat, patch_size, objects)
    return found.label if found is not None else BACKGROUND


def contrast_class(top: int, label_names: Sequence[str], object_labels: Sequence[str], ranked: Sequence[int]) -> int | None:
    """The class whose relevance goes beside `top`'s: another object of the scene that the model knows by name,
    else the next class of `ranked` (the model's classes, most probable first); None when there is none."""
    for label in object_labels:
        if label in label_names and label_names.index(label) != top:
            return label_names.index(label)
    return next((int(c) for c in ranked if int(c) != top), None)


@dataclass(frozen=True)
class RemovalRace:
    """Token removal, most relevant first (Chefer et al. 2021), in rollout's order and in a random order."""

    fractions: np.ndarray  # [step] fraction of the patches removed
    rollout: np.ndarray  # [step] probability of the class, rollout's highest patches removed first
    random: np.ndarray  # [step] the same, the patches removed in a random order
    rollout_auc: float
    random_auc: float

    @property
    def rollout_faster(self) -> bool:
        """Whether the probability falls faster in rollout's order: a lower area under its curve."""
        return self.rollout_auc < self.random_auc


def removal_race(results: Mapping[str, dict]) -> RemovalRace:
    """The race from ``viz_app.faithfulness_data.method_results`` for ``RACE_METHODS`` (curves and AUCs as the
    Faithfulness page shows them)."""
    rollout, random = (results[m] for m in RACE_METHODS)
    return RemovalRace(
        fractions=np.asarray(FRACTIONS, dtype=np.float64),
        rollout=np.asarray(rollout["curves"]["positive"], dtype=np.float64),
        random=np.asarray(random["curves"]["positive"], dtype=np.float64),
        rollout_auc=float(rollout["measures"]["positive_auc"]),
        random_auc=float(random["measures"]["positive_auc"]),
    )


def has_outlier(outlier_image: np.ndarray, image: int = 0) -> bool:
    """The registers step's answer: whether image `image` has a high-norm outlier (an
    :class:`vit_core.inside.inspection.InspectionResult`'s ``outlier_image``)."""
    return bool(np.any(np.asarray(outlier_image) == image))
