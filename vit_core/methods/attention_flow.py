"""Attention flow (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers", arXiv 2005.00928, section 3).

The layered graph has a node (l, i) for every layer boundary l = 0..L and token i, and an edge
(l, j) -> (l + 1, i) of capacity ``B_l[i, j]``: the rollout factor (heads fused, ``(1 - a) F + a I``, rows
renormalised; :func:`.rollout.rollout_layer_matrix`). The flow map of input patch j is the maximum flow from
(0, j) to the readout: the class token's node of the last boundary, or, for any other readout (distilled
mean, average pooling, attention pooling), a super-sink joined to each last-boundary node i with capacity
``w_i``, the readout's weight of token i (1/G per patch for average pooling). One max-flow problem per patch.

The solver is ``scipy.sparse.csgraph.maximum_flow`` (Dinic's algorithm; C code kept by SciPy, against a
hand-written augmenting-path loop in Python that would take minutes per image). It needs integer
capacities, so every capacity is multiplied by ``scale`` (default 2**20) and rounded; the flow is divided
by the same factor. Each rounded edge is off by at most 1/(2 scale), so a flow moves by at most
(edges in the minimum cut) / (2 scale): below 1e-3 for ViT-B/16 at the default scale; the tests show the
map does not change with the scale beyond that bound.

With a = 0.5 most patches reach a flow close to the sink's inflow (the residual chain keeps half of each
source alive), so flow maps are flatter than rollout's: that is the method, not a bug.

SciPy's solver holds the GIL, so ``workers > 1`` spreads the problems over processes (forked where the platform
allows, as PyTorch's DataLoader does; each builds the graph of its images itself): the same integers come out,
only sooner.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:  # SciPy is imported where a flow is solved: `analyze` and the app never pay for it
    from scipy.sparse import csr_matrix

from ..attention.capture import capture
from ..errors import NotAvailableError, SettingsError
from ..models.geometry import geometry_of
from ..models.types import Geometry
from .readout import DistilledReadout, readout_weights
from .rollout import RolloutSettings, RolloutSink

__all__ = [
    "MAX_FLOW_TOKENS",
    "check_flow_size",
    "DEFAULT_SCALE",
    "AttentionFlow",
    "flow_graph",
    "flow_map",
    "flow_maps",
    "attention_flow",
]

DEFAULT_SCALE = 2**20  # capacities are multiplied by this and rounded to integers (SciPy's solver needs int32)
_INT32_MAX = 2**31 - 1

Progress = Callable[[int, int], None]  # progress(done, total) after each solved max-flow problem


@dataclass(frozen=True)
class AttentionFlow:
    """Attention flow of one batch.

    Attributes:
        heatmap: ``[batch, gh, gw]`` maximum flow from each input patch to the readout (the readout's inflow is 1).
        scale: the integer scale the capacities were multiplied by.
        logits: ``[batch, classes]`` of the forward pass whose attention built the graphs.
    """

    heatmap: torch.Tensor
    scale: int
    logits: torch.Tensor


def flow_graph(factors: np.ndarray, readout_weights: np.ndarray, scale: int = DEFAULT_SCALE) -> tuple[csr_matrix, int]:
    """The layered capacity graph of one image as an integer CSR matrix, and its sink node.

    Args:
        factors: ``[layer, query, key]`` rollout factors B_l in forward order.
        readout_weights: ``[token]`` the readout's weight of each last-layer token (sums to 1).
        scale: capacities are ``round(B * scale)``.

    Returns:
        (graph over ``(layer + 1) * token (+ 1)`` nodes, node (l, i) at index ``l * token + i``; sink index).
    """
    layers, tokens, _ = factors.shape
    if scale < 1 or scale > _INT32_MAX // max(tokens, 1):
        raise SettingsError(f"flow scale {scale} is outside 1 to {_INT32_MAX // max(tokens, 1)}; use the default 2**20.")
    capacity = np.rint(factors.astype(np.float64) * scale).astype(np.int64)  # [layer, query i, key j]
    nonzero = np.flatnonzero(readout_weights)
    single = len(nonzero) == 1 and np.isclose(readout_weights[nonzero[0]], 1.0)
    if single:  # last-layer nodes other than the readout are dead ends: drop their in-edges (same flows, less work)
        keep_row = np.zeros(tokens, dtype=bool)
        keep_row[nonzero[0]] = True
        capacity[-1, ~keep_row] = 0
    l_idx, i_idx, j_idx = np.nonzero(capacity)
    rows = l_idx * tokens + j_idx  # from (l, j)
    cols = (l_idx + 1) * tokens + i_idx  # to (l + 1, i)
    data = capacity[l_idx, i_idx, j_idx]
    nodes = (layers + 1) * tokens
    if single:
        sink = layers * tokens + int(nonzero[0])
    else:  # a super-sink fed by every last-layer token with the readout's weight
        sink = nodes
        weights = np.rint(readout_weights.astype(np.float64) * scale).astype(np.int64)
        keep = np.flatnonzero(weights)
        rows = np.concatenate([rows, layers * tokens + keep])
        cols = np.concatenate([cols, np.full(len(keep), sink)])
        data = np.concatenate([data, weights[keep]])
        nodes += 1
    from scipy.sparse import csr_matrix

    graph = csr_matrix((data.astype(np.int32), (rows, cols)), shape=(nodes, nodes))
    return graph, sink


def flow_map(
    factors: np.ndarray,
    readout_weights: np.ndarray,
    sources: np.ndarray,
    scale: int = DEFAULT_SCALE,
    progress: Progress | None = None,
) -> np.ndarray:
    """Maximum flow from each input token in `sources` to the readout of one image: ``[len(sources)]`` float64."""
    from scipy.sparse.csgraph import maximum_flow

    graph, sink = flow_graph(factors, readout_weights, scale)
    flows = np.empty(len(sources))
    for n, source in enumerate(sources):
        flows[n] = maximum_flow(graph, int(source), sink, method="dinic").flow_value / scale
        if progress is not None:
            progress(n + 1, len(sources))
    return flows


def flow_maps(
    factors: np.ndarray,
    readout_weights: np.ndarray,
    sources: np.ndarray,
    scale: int = DEFAULT_SCALE,
    progress: Progress | None = None,
    workers: int = 1,
) -> np.ndarray:
    """:func:`flow_map` of every image of a batch, ``[batch, len(sources)]``, on `workers` processes.

    Args:
        factors: ``[batch, layer, query, key]`` rollout factors.
        readout_weights: ``[batch, token]``.
        progress: called as ``progress(done, total)`` over all images' problems.
    """
    batch = factors.shape[0]
    total = batch * len(sources)
    maps = np.empty((batch, len(sources)))
    if workers <= 1:
        for b in range(batch):
            step = None if progress is None else (lambda done, _n, b=b: progress(b * len(sources) + done, total))
            maps[b] = flow_map(factors[b], readout_weights[b], sources, scale, step)
        return maps
    chunks = np.array_split(np.arange(len(sources)), min(workers, len(sources)))  # each worker a share of every image
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    done = 0
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        futures = {
            pool.submit(flow_map, factors[b], readout_weights[b], sources[chunk], scale): (b, chunk)
            for b in range(batch)
            for chunk in chunks
        }
        for future in as_completed(futures):
            b, chunk = futures[future]
            maps[b, chunk] = future.result()
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return maps


MAX_FLOW_TOKENS = 600  # beyond this the layered graph's L x N^2 edges and N max-flow problems take hours


def check_flow_size(geometry: Geometry) -> None:
    """Refuse attention flow where its graph is too large to solve in minutes (:data:`MAX_FLOW_TOKENS`)."""
    tokens = geometry.num_tokens
    if tokens > MAX_FLOW_TOKENS:
        edges = geometry.depth * tokens**2
        raise NotAvailableError(
            f"attention flow is not computed at {tokens} tokens: its graph has {edges / 1e6:,.0f} million edges and "
            f"one max-flow problem per patch; use rollout, or an input of at most {MAX_FLOW_TOKENS} tokens."
        )


def attention_flow(
    model: nn.Module,
    pixel_values: torch.Tensor,
    *,
    settings: RolloutSettings | None = None,
    distilled: DistilledReadout = "mean",
    scale: int = DEFAULT_SCALE,
    progress: Progress | None = None,
    workers: int = 1,
) -> AttentionFlow:
    """Attention-flow maps of a batch: one fused forward pass on the model's device, then one max-flow problem
    per patch and image on the CPU (the expensive part: compute it only when asked).

    Args:
        model: a timm VisionTransformer in eval mode.
        pixel_values: ``[batch, 3, h, w]``.
        settings: rollout settings that build the capacities B_l (head fusion, discard ratio, residual, start layer).
        distilled: readout for distilled models: "cls", "dist" or "mean".
        scale: integer capacity scale (see the module docstring).
        progress: called as ``progress(done, total)`` over all images' problems.
        workers: processes solving the max-flow problems (the result does not depend on it).

    Example:
        >>> attention_flow(model, pixels).heatmap.shape  # [batch, gh, gw]
    """
    settings = settings or RolloutSettings()
    settings.check_depth(len(model.blocks))
    check_flow_size(geometry_of(model, tuple(pixel_values.shape[-2:])))
    sink = RolloutSink(settings, num_prefix_tokens=model.num_prefix_tokens)
    result = capture(model, pixel_values, sink=sink)
    geometry = result.geometry
    batch, tokens = pixel_values.shape[0], geometry.num_tokens
    weights = readout_weights(
        geometry,
        batch,
        result.logits.device,
        distilled=distilled,
        pool_attention=result.pool_attention,
        pool_include_prefix=geometry.pool_include_prefix,
    )  # [batch, token]
    factors = torch.stack(sink.factors, dim=1).cpu().numpy()  # [batch, layer, query, key]
    weights = weights.cpu().numpy()
    sources = np.arange(geometry.num_prefix_tokens, tokens)
    maps = flow_maps(factors, weights, sources, scale, progress, workers)
    gh, gw = geometry.grid_size
    heatmap = torch.from_numpy(maps.astype(np.float32)).reshape(batch, gh, gw)
    return AttentionFlow(heatmap=heatmap.to(pixel_values.device), scale=int(scale), logits=result.logits)
