"""Everything ``python -m vit_core analyze`` writes, from one fused forward pass plus one gradient pass.

The fused pass streams each layer's attention through a sink that updates the rollout, the class-token
grid, mean attention distance and entropy on the device as the layers run, so ``keep_attention=False``
never holds ``[batch, layer, head, query, key]`` at all; with ``keep_attention=True`` each layer is copied
to host memory as it arrives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .capture import capture
from .errors import NotAvailableError
from .geometry import geometry_of
from .methods.distance import attention_entropy, mean_attention_distance, patch_distances
from .methods.patch_embed import patch_embed_components
from .methods.pos_embed import pos_embed_similarity
from .methods.readout import DistilledReadout, readout
from .methods.relevance import class_relevance
from .methods.rollout import RolloutSettings, RolloutSink
from .methods.token_attention import token_attention
from .types import Geometry

__all__ = ["RolloutSettings", "AnalysisSink", "analyze", "model_view_arrays"]


class AnalysisSink:
    """Capture sink that reduces each layer on the device: rollout, class-token grid, distance, entropy.

    Args:
        geometry: token layout of the forward pass.
        settings: rollout settings.
        keep_attention: also copy each layer's ``[batch, head, query, key]`` to host memory.
    """

    def __init__(self, geometry: Geometry, settings: RolloutSettings, keep_attention: bool = True) -> None:
        self.geometry = geometry
        self.rollout = RolloutSink(settings, num_prefix_tokens=geometry.num_prefix_tokens)
        self.keep_attention = keep_attention
        self.attention: list[torch.Tensor] = []  # per layer [batch, head, query, key], host memory
        self.cls_attention: list[torch.Tensor] = []  # per layer [batch, head, gh, gw]
        self.distance: list[torch.Tensor] = []  # per layer [batch, head]
        self.entropy: list[torch.Tensor] = []  # per layer [batch, head]
        self._distances: torch.Tensor | None = None  # [patch, patch], made once per forward pass

    takes_logits = True  # the capture passes the pre-softmax scores too: entropy without a per-element log

    def __call__(self, layer: int, probs: torch.Tensor, logits: torch.Tensor | None = None) -> None:
        probs = probs.detach()
        self.rollout(layer, probs)
        if self._distances is None:
            self._distances = patch_distances(self.geometry, probs.device)
        self.distance.append(mean_attention_distance(probs, self.geometry, self._distances))
        self.entropy.append(attention_entropy(probs, logits))
        if self.geometry.has_class_token:
            self.cls_attention.append(token_attention(probs, self.geometry, "cls"))
        if self.keep_attention:
            self.attention.append(probs.float().cpu())


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def analyze(
    model: nn.Module,
    pixel_values: torch.Tensor,
    *,
    rollout: RolloutSettings = RolloutSettings(),  # noqa: B008 (frozen, so a shared default is safe)
    target_class: int | Sequence[int] | torch.Tensor | None = None,
    relevance: bool = True,
    keep_attention: bool = True,
    pcs_k: int = 28,
    distilled: DistilledReadout = "mean",
    model_views: bool = True,
) -> dict[str, np.ndarray]:
    """All arrays of the analysis file for one batch.

    Args:
        model: a timm VisionTransformer in eval mode.
        pixel_values: ``[batch, 3, h, w]`` model input on the model's device and dtype.
        rollout: rollout settings (head fusion, discard ratio, residual weight, start layer).
        target_class: class explained by the relevance map: None for each image's top-1, one index, or one per image.
        relevance: compute the class-specific relevance (one extra forward and backward pass).
        keep_attention: include the full ``attention`` array ``[batch, layer, head, query, key]``.
        pcs_k: number of patch-embedding principal components.
        distilled: readout for distilled models: "cls", "dist" or "mean".
        model_views: also compute the per-model arrays (position-embedding similarity, patch-embedding PCA),
            which do not depend on the images; batch loops compute them once instead.

    Returns:
        name -> array: ``pixel_values`` [B,3,h,w], ``logits`` [B,C], ``attention`` [B,L,H,N,N] (when kept),
        ``num_prefix_tokens`` (), ``grid_size`` [2], ``patch_size`` [2], ``rollout`` [B,gh,gw],
        ``prefix_weights`` [B,P] (rollout mass on prefix tokens), ``relevance`` [B,gh,gw] and
        ``relevance_target`` [B] (when asked), ``cls_attention`` [B,L,H,gh,gw] (class-token models),
        ``mean_attention_distance`` [B,L,H] (pixels), ``attention_entropy`` [B,L,H] (nats),
        ``pos_embed_similarity`` [gh,gw,gh,gw] (learned absolute position embeddings only),
        ``patch_embed_pcs`` [k,3,ph,pw], ``patch_embed_pcs_variance`` [k]. Floats are float32.

    Example:
        >>> arrays = analyze(model, pixel_values, rollout=RolloutSettings(discard_ratio=0.9))
        >>> np.savez(path, **arrays)
    """
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    rollout.check_depth(geometry.depth)
    sink = AnalysisSink(geometry, rollout, keep_attention=keep_attention)
    result = capture(model, pixel_values, sink=sink)
    rolled_map, prefix_weights = readout(
        sink.rollout.result,
        geometry,
        distilled=distilled,
        pool_attention=result.pool_attention,
        pool_include_prefix=bool(getattr(model, "pool_include_prefix", False)),
    )
    arrays: dict[str, np.ndarray] = {
        "pixel_values": _numpy(pixel_values),
        "logits": _numpy(result.logits),
        "num_prefix_tokens": np.asarray(geometry.num_prefix_tokens, dtype=np.int64),
        "grid_size": np.asarray(geometry.grid_size, dtype=np.int64),
        "patch_size": np.asarray(geometry.patch_size, dtype=np.int64),
        "rollout": _numpy(rolled_map),
        "prefix_weights": _numpy(prefix_weights),
        "mean_attention_distance": _numpy(torch.stack(sink.distance, dim=1)),
        "attention_entropy": _numpy(torch.stack(sink.entropy, dim=1)),
    }
    if keep_attention:
        arrays["attention"] = torch.stack(sink.attention, dim=1).numpy()
    if sink.cls_attention:
        arrays["cls_attention"] = _numpy(torch.stack(sink.cls_attention, dim=1))
    if relevance:
        rel = class_relevance(model, pixel_values, target_class=target_class, distilled=distilled)
        arrays["relevance"] = _numpy(rel.heatmap)
        arrays["relevance_target"] = rel.target_class.cpu().numpy().astype(np.int64)
    if model_views:
        arrays.update(model_view_arrays(model, geometry, pcs_k))
    return arrays


def model_view_arrays(model: nn.Module, geometry: Geometry, pcs_k: int = 28) -> dict[str, np.ndarray]:
    """Arrays that depend on the model alone: ``pos_embed_similarity`` (when available) and patch-embedding PCs."""
    arrays: dict[str, np.ndarray] = {}
    try:
        arrays["pos_embed_similarity"] = _numpy(pos_embed_similarity(model, geometry.grid_size))
    except NotAvailableError:
        pass
    components, variance = patch_embed_components(model, pcs_k)
    arrays["patch_embed_pcs"] = _numpy(components)
    arrays["patch_embed_pcs_variance"] = _numpy(variance)
    return arrays
