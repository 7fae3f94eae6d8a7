"""Sentences that state what this model and image show, measured from the arrays, next to what a paper reports.

Pure numpy, no streamlit: every function takes arrays and returns text (from ``viz_app.catalogue``) (and the numbers behind it), so a caption
that claims "the paper's pattern appears" is only shown when the data show it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalogue import t

__all__ = ["DistanceFinding", "distance_finding", "PositionFinding", "position_finding", "learned_tokens",
           "roughness", "FiltersFinding", "filters_finding", "SMOOTH_BELOW", "NOISY_ABOVE"]

SMOOTH_BELOW, NOISY_ABOVE = 0.3, 0.7  # roughness: a smooth, low-frequency basis below; noise-like above


@dataclass(frozen=True)
class DistanceFinding:
    """Mean attention distance of the first and last layer's heads ``[head]`` summarised."""

    first: tuple[float, float]  # (min, max) over layer 0's heads, pixels
    last: tuple[float, float]  # (min, max) over the last layer's heads
    pattern: bool  # the ViT paper's Figure 7 (right) pattern: near and far heads early, only far heads late
    text: str


def distance_finding(distance: np.ndarray) -> DistanceFinding:
    """Compare layer 0 with the last layer: ``distance`` is ``[layer, head]`` in pixels.

    The paper's pattern is called present when layer 0's heads spread at least twice as widely as the last
    layer's (and by at least 10% of the farthest distance), and layer 0's nearest head attends at most 60% as
    far as the last layer's median head: some heads look locally early on, all look far in the end.
    """
    distance = np.asarray(distance, dtype=np.float64)
    if distance.ndim != 2 or distance.shape[0] < 2:
        raise ValueError(f"distance must be [layer >= 2, head], got {distance.shape}")
    first, last = distance[0], distance[-1]
    spread_first, spread_last = float(np.ptp(first)), float(np.ptp(last))
    far = float(np.nanmax(distance))
    pattern = (spread_first >= 2 * spread_last and spread_first >= 0.1 * far
               and float(first.min()) <= 0.6 * float(np.median(last)))
    layers = distance.shape[0]
    measured = t("finding.distance", low=f"{first.min():.0f}", high=f"{first.max():.0f}", spread=f"{spread_first:.0f}",
                 last=layers - 1, last_low=f"{last.min():.0f}", last_high=f"{last.max():.0f}",
                 last_spread=f"{spread_last:.0f}")
    verdict = t("finding.distance_pattern" if pattern else "finding.distance_no_pattern")
    return DistanceFinding((float(first.min()), float(first.max())), (float(last.min()), float(last.max())),
                           pattern, f"{measured} {verdict}")


@dataclass(frozen=True)
class PositionFinding:
    neighbour_share: float  # share of patches whose most similar other embedding is one of its 8 grid neighbours
    chance: float  # that share for embeddings with no relation to the layout
    structured: bool
    low: float  # smallest cosine between two patches' embeddings
    text: str


def position_finding(similarity: np.ndarray, random_weights: bool = False) -> PositionFinding:
    """How much 2-D layout the position embeddings hold: ``similarity`` is ``[gh, gw, gh, gw]`` cosines."""
    sim = np.asarray(similarity, dtype=np.float64)
    gh, gw = sim.shape[:2]
    n = gh * gw
    flat = sim.reshape(n, n).copy()
    np.fill_diagonal(flat, -np.inf)
    best = flat.argmax(1)
    rows, cols = np.divmod(np.arange(n), gw)
    neighbour = (np.abs(rows[best] - rows) <= 1) & (np.abs(cols[best] - cols) <= 1)
    share = float(neighbour.mean())
    counts = [sum(1 for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                  if (dr or dc) and 0 <= r + dr < gh and 0 <= c + dc < gw) for r, c in zip(rows, cols, strict=True)]
    chance = float(np.mean(counts) / max(1, n - 1))
    structured = share >= 0.5 and share >= 3 * chance
    low = float(np.min(sim))
    measured = t("finding.position", share=f"{share:.0%}", chance=f"{chance:.0%}", low=f"{low:.2f}")
    if structured:
        verdict = t("finding.position_layout")
    else:
        verdict = t("finding.position_random" if random_weights else "finding.position_none")
    return PositionFinding(share, chance, structured, low, f"{measured} {verdict}")


def learned_tokens(count: int) -> str:
    """'1 learned token', '2 learned tokens', 'no learned token'."""
    if count == 0:
        return t("finding.no_token")
    return t("finding.one_token" if count == 1 else "finding.tokens", count=count)


def roughness(components: np.ndarray) -> np.ndarray:
    """``[k]``: each ``[3, ph, pw]`` component's mean squared difference between neighbouring pixels (both axes,
    every channel) over twice its variance: 1 for white noise, near 0 for a smooth, low-frequency pattern."""
    comps = np.asarray(components, dtype=np.float64)
    dy = np.diff(comps, axis=-2) ** 2
    dx = np.diff(comps, axis=-1) ** 2
    mean_sq = (dy.sum(axis=(1, 2, 3)) + dx.sum(axis=(1, 2, 3))) / (dy[0].size + dx[0].size)
    variance = comps.reshape(len(comps), -1).var(axis=1)
    return mean_sq / np.maximum(2 * variance, 1e-12)


@dataclass(frozen=True)
class FiltersFinding:
    """What the patch-embedding filters' principal components show, measured."""

    roughness: float  # median over the components shown
    kind: str  # "smooth", "noisy" or "mixed"
    text: str


def filters_finding(components: np.ndarray, variance: np.ndarray | None) -> FiltersFinding:
    """The components' smoothness and the variance they explain, in a sentence (the paper's trained ViT shows
    smooth, low-frequency bases; a small or untrained model may not)."""
    rough = float(np.median(roughness(components)))
    kind = "smooth" if rough < SMOOTH_BELOW else "noisy" if rough > NOISY_ABOVE else "mixed"
    shares = np.asarray(variance, dtype=np.float64) if variance is not None else None
    explained = (t("filters.explained", k=len(shares), total=f"{shares.sum():.1%}", first=f"{shares[0]:.1%}")
                 if shares is not None and len(shares) else "")
    text = t(f"filters.{kind}", roughness=f"{rough:.2f}", smooth=SMOOTH_BELOW, noisy=NOISY_ABOVE) + explained
    return FiltersFinding(rough, kind, text)
