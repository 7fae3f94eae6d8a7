"""Everything ``python -m vit_core analyze`` writes, from one fused forward pass plus one gradient pass.

The fused pass streams each layer's attention through a sink that updates the rollout, the class-token
grid, mean attention distance and entropy on the device as the layers run, so ``keep_attention=False``
never holds ``[batch, layer, head, query, key]`` at all; with ``keep_attention=True`` each layer is copied
to host memory as it arrives.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import torch
from torch import nn

from . import fused_stats
from .capture import capture
from .errors import CaptureError, NotAvailableError
from .geometry import geometry_of
from .loading import LoadedModel
from .methods.distance import attention_entropy, entropy_uses_logits, mean_attention_distance, patch_distances
from .methods.patch_embed import patch_embed_components
from .methods.pos_embed import pos_embed_similarity
from .methods.readout import DistilledReadout, read_out_product
from .methods.relevance import class_relevance
from .methods.rollout import RolloutSettings, RolloutSink
from .methods.token_attention import grid_of_keys, token_attention
from .provenance import provenance_of
from .result import AnalysisResult
from .types import Geometry

__all__ = ["AnalysisResult", "RolloutSettings", "AnalysisSink", "analysis_settings", "analyze", "model_view_arrays"]

# (device type, dtype, tokens, head_dim) for which the fused kernel failed here (a Triton or GPU it cannot be
# compiled for, too little shared memory): later passes of that shape rebuild at once.
_KERNEL_FAILED: set[tuple] = set()


class AnalysisSink:
    """Capture sink that reduces the layers on the device: rollout, class-token grid, distance, entropy.

    On a GPU, layers are gathered into chunks of up to ``chunk_bytes`` and reduced with one batched call per
    chunk, so a small batch costs a few dozen kernel launches instead of a few dozen per layer; on a CPU
    each layer is reduced as it arrives, while it is still in the cache.

    Args:
        geometry: token layout of the forward pass.
        settings: rollout settings.
        keep_attention: also copy each layer's ``[batch, head, query, key]`` to host memory.
        chunk_bytes: most bytes of probabilities (plus logits) held for one batched reduction; default
            64 MiB on a GPU and 0 (each layer on its own) on a CPU.
        fused_kernel: reduce each layer from q and k with one Triton kernel (:mod:`vit_core.fused_stats`)
            that never writes the probabilities; None (default): on a GPU where Triton is installed and the
            full attention is not kept. False: always rebuild, then reduce.
    """

    takes_logits = True  # the capture passes the pre-softmax scores too: entropy without a per-element log

    def __init__(
        self,
        geometry: Geometry,
        settings: RolloutSettings,
        keep_attention: bool = True,
        chunk_bytes: int | None = None,
        fused_kernel: bool | None = None,
    ) -> None:
        self.geometry = geometry
        self.settings = settings
        self.fused_kernel = fused_kernel
        self._rollout = RolloutSink(settings, num_prefix_tokens=geometry.num_prefix_tokens)
        self.keep_attention = keep_attention
        self.chunk_bytes = chunk_bytes
        self.attention: list[torch.Tensor] = []  # per layer [batch, head, query, key], host memory
        self._cls: list[torch.Tensor] = []  # per chunk [batch, layer, head, gh, gw]
        self._distance: list[torch.Tensor] = []  # per chunk [batch, layer, head]
        self._entropy: list[torch.Tensor] = []  # per chunk [batch, layer, head]
        self._pending: list[tuple[int, torch.Tensor, torch.Tensor | None]] = []
        self._pending_bytes = 0
        self._distances: torch.Tensor | None = None  # [patch, patch], made once per forward pass
        self._token_distances: torch.Tensor | None = None  # [token, token], for the fused kernel
        self._kernel_rows: list[fused_stats.FusedStats] = []  # per layer, when the fused kernel reduced it
        self._kernel_used: bool | None = None  # decided at the first layer, the same for all

    def reduce_qk(self, layer: int, q: torch.Tensor, k: torch.Tensor, scale: float, mask: torch.Tensor | None) -> bool:
        """Reduce one layer straight from q and k with the fused kernel; False: rebuild the probabilities instead."""
        use = self._kernel_wanted(q, mask)
        if self._kernel_used is not None and use != self._kernel_used:
            raise CaptureError("layers of one forward pass differ in mask or device; analyse each pass on its own.")
        if use:
            stats = self._run_kernel(q, k, scale)
            use = stats is not None
            if use:
                self._rollout.fold_fused([layer], stats.fused.unsqueeze(1), is_factor=stats.is_factor)
                self._kernel_rows.append(stats)
        self._kernel_used = use
        return use

    @property
    def used_fused_kernel(self) -> bool:
        """Whether the layers seen so far were reduced by the fused kernel (False before the first layer)."""
        return bool(self._kernel_used)

    def _kernel_wanted(self, q: torch.Tensor, mask: torch.Tensor | None) -> bool:
        if self.fused_kernel is False or self.keep_attention or mask is not None or _kernel_key(q) in _KERNEL_FAILED:
            return False
        interpreted = self.fused_kernel is True and fused_stats.interpreting() and q.shape[-2] <= fused_stats.MAX_TOKENS
        return fused_stats.available(q) or interpreted

    def _run_kernel(self, q: torch.Tensor, k: torch.Tensor, scale: float) -> fused_stats.FusedStats | None:
        geometry, settings = self.geometry, self.settings
        if self._token_distances is None:
            distances = patch_distances(geometry, q.device)
            self._token_distances = fused_stats.token_distances(distances, geometry.num_prefix_tokens)
        try:
            return fused_stats.fused_attention_stats(
                q.detach(),
                k.detach(),
                scale,
                self._token_distances,
                num_prefix_tokens=geometry.num_prefix_tokens,
                cls_index=geometry.token_index("cls") if geometry.has_class_token else None,
                head_fusion=settings.head_fusion,
                residual_weight=None if settings.discard_ratio > 0 else float(settings.residual_weight),
            )
        except Exception as error:  # a Triton or driver this kernel was never compiled with: rebuild instead
            if self._kernel_used:  # failed after earlier layers succeeded: not a compile problem
                raise
            _KERNEL_FAILED.add(_kernel_key(q))
            warnings.warn(f"the fused attention kernel failed ({error!r}); rebuilding attention instead.", stacklevel=2)
            return None

    def __call__(self, layer: int, probs: torch.Tensor, logits: torch.Tensor | None = None) -> None:
        probs = probs.detach()
        if self.keep_attention:
            self.attention.append(probs.float().cpu())
        if not entropy_uses_logits(probs):
            logits = None  # hold less
        self._pending.append((layer, probs, logits))
        self._pending_bytes += probs.nbytes + (0 if logits is None else logits.nbytes)
        limit = self.chunk_bytes if self.chunk_bytes is not None else (64 << 20 if probs.is_cuda else 0)
        if self._pending_bytes >= limit:
            self.flush()

    def flush(self) -> None:
        """Reduce the layers held so far (the last, partial chunk is flushed by the result properties)."""
        if not self._pending:
            return
        layers = [layer for layer, _, _ in self._pending]
        probs = _stack_layers([p for _, p, _ in self._pending])  # [batch, layer, head, query, key]
        logits = None
        if all(z is not None for _, _, z in self._pending):
            logits = _stack_layers([z for _, _, z in self._pending])
        self._pending, self._pending_bytes = [], 0
        self._rollout.fold_layers(layers, probs)
        if self._distances is None:
            self._distances = patch_distances(self.geometry, probs.device)
        self._distance.append(mean_attention_distance(probs, self.geometry, self._distances))
        self._entropy.append(attention_entropy(probs, logits))
        if self.geometry.has_class_token:
            self._cls.append(token_attention(probs, self.geometry, "cls").clone())  # a view would keep all of probs

    @property
    def rollout(self) -> RolloutSink:
        """The rollout sink, every layer seen so far folded in (read ``.result``)."""
        self.flush()
        return self._rollout

    @property
    def distance(self) -> torch.Tensor:
        """Mean attention distance ``[batch, layer, head]`` in pixels."""
        self.flush()
        if self._kernel_rows:
            return torch.stack([s.distance_rows for s in self._kernel_rows], dim=1).mean(dim=-1)
        return torch.cat(self._distance, dim=1)

    @property
    def entropy(self) -> torch.Tensor:
        """Attention entropy ``[batch, layer, head]`` in nats."""
        self.flush()
        if self._kernel_rows:
            return torch.stack([s.entropy_rows for s in self._kernel_rows], dim=1).mean(dim=-1)
        return torch.cat(self._entropy, dim=1)

    @property
    def cls_attention(self) -> torch.Tensor | None:
        """Class-token attention ``[batch, layer, head, gh, gw]``, or None without a class token."""
        self.flush()
        if self._kernel_rows and self.geometry.has_class_token:
            rows = torch.stack([s.cls_row for s in self._kernel_rows], dim=1)  # [batch, layer, head, key]
            return grid_of_keys(rows, self.geometry)
        return torch.cat(self._cls, dim=1) if self._cls else None


def _kernel_key(q: torch.Tensor) -> tuple:
    return q.device.type, q.dtype, q.shape[-2], q.shape[-1]


def _stack_layers(tensors: list[torch.Tensor]) -> torch.Tensor:
    """[batch, head, query, key] per layer -> [batch, layer, head, query, key]; no copy for one layer."""
    return tensors[0].unsqueeze(1) if len(tensors) == 1 else torch.stack(tensors, dim=1)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def _to_host(tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """float32 numpy arrays of device tensors through one device-to-host copy (one wait instead of one each)."""
    flat = torch.cat([t.detach().float().reshape(-1) for t in tensors.values()]).cpu().numpy()
    arrays, start = {}, 0
    for name, tensor in tensors.items():
        arrays[name] = flat[start : start + tensor.numel()].reshape(tensor.shape)
        start += tensor.numel()
    return arrays


def analysis_settings(
    rollout: RolloutSettings, relevance: bool, keep_attention: bool, pcs_k: int, distilled: str, model_views: bool,
    keep_pixels: bool,
) -> dict:
    """The method settings of an :func:`analyze` call by name, as its provenance records them (batch runs
    build theirs here too, before any image, to check a result they would resume)."""
    return {**asdict(rollout), "relevance": relevance, "keep_attention": keep_attention, "pcs_k": pcs_k,
            "distilled": distilled, "model_views": model_views, "keep_pixels": keep_pixels}


def analyze(
    model: nn.Module | LoadedModel,
    pixel_values: torch.Tensor,
    *,
    rollout: RolloutSettings = RolloutSettings(),  # noqa: B008 (frozen, so a shared default is safe)
    target_class: int | Sequence[int] | torch.Tensor | None = None,
    relevance: bool = True,
    keep_attention: bool = True,
    pcs_k: int = 28,
    distilled: DistilledReadout = "mean",
    model_views: bool = True,
    keep_pixels: bool = True,
    fused_kernel: bool | None = None,
) -> AnalysisResult:
    """Every array of the analysis file for one batch, with its provenance.

    Args:
        model: a :class:`~vit_core.loading.LoadedModel` (its weights file's hash goes into the provenance, and
            `pixel_values` are moved to its device and dtype), or a timm VisionTransformer in eval mode.
        pixel_values: ``[batch, 3, h, w]`` model input (on the model's device and dtype for a bare module).
        rollout: rollout settings (head fusion, discard ratio, residual weight, start layer).
        target_class: class explained by the relevance map: None for each image's top-1, one index, or one per image.
        relevance: compute the class-specific relevance (one extra forward and backward pass).
        keep_attention: include the full ``attention`` array ``[batch, layer, head, query, key]``.
        pcs_k: number of patch-embedding principal components.
        distilled: readout for distilled models: "cls", "dist" or "mean".
        model_views: also compute the per-model arrays (position-embedding similarity, patch-embedding PCA),
            which do not depend on the images; batch loops compute them once instead.
        keep_pixels: include ``pixel_values`` (what the overlays are drawn on); batch runs, which keep
            reduced results only, leave it out (on a GPU, copying the input back dominated the analysis).
        fused_kernel: reduce each layer with one Triton kernel from q and k (see :class:`AnalysisSink`);
            None: where it can run (a GPU, Triton installed, attention not kept).

    Returns:
        An :class:`~vit_core.result.AnalysisResult`: its fields (shapes documented there) are the .npz keys.

    Example:
        >>> result = analyze(loaded, pixel_values, rollout=RolloutSettings(discard_ratio=0.9))
        >>> result.rollout.shape  # [batch, gh, gw]
        >>> result.to_npz("result.npz")
    """
    settings = analysis_settings(
        rollout=rollout, relevance=relevance, keep_attention=keep_attention, pcs_k=pcs_k, distilled=distilled,
        model_views=model_views, keep_pixels=keep_pixels,
    )
    provenance = provenance_of(model, settings, _recorded_target(target_class))
    if isinstance(model, LoadedModel):
        pixel_values = pixel_values.to(model.device, model.dtype)
        model = model.model
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    rollout.check_depth(geometry.depth)
    sink = AnalysisSink(geometry, rollout, keep_attention=keep_attention, fused_kernel=fused_kernel)
    result = capture(model, pixel_values, sink=sink)
    rolled_map, prefix_weights = read_out_product(  # weights @ B_L ... B_s, never the full R
        sink.rollout.left_product, geometry, pixel_values.shape[0], result.logits.device, distilled=distilled,
        pool_attention=result.pool_attention,
    )
    reduced = {
        "logits": result.logits,
        "rollout": rolled_map,
        "prefix_weights": prefix_weights,
        "mean_attention_distance": sink.distance,
        "attention_entropy": sink.entropy,
    }
    cls_attention = sink.cls_attention
    if cls_attention is not None:
        reduced["cls_attention"] = cls_attention
    arrays = _to_host(reduced)  # one copy: on a GPU each copy waits for the device
    arrays["num_prefix_tokens"] = np.asarray(geometry.num_prefix_tokens, dtype=np.int64)
    arrays["grid_size"] = np.asarray(geometry.grid_size, dtype=np.int64)
    arrays["patch_size"] = np.asarray(geometry.patch_size, dtype=np.int64)
    if keep_pixels:
        arrays["pixel_values"] = _numpy(pixel_values)
    if keep_attention:
        arrays["attention"] = torch.stack(sink.attention, dim=1).numpy()
        if result.pool_attention is not None:  # what reading a rollout out of "attention" needs on a "map" head
            arrays["pool_attention"] = _numpy(result.pool_attention)
    if relevance:
        rel = class_relevance(model, pixel_values, target_class=target_class, distilled=distilled)
        arrays["relevance"] = _numpy(rel.heatmap)
        arrays["relevance_target"] = rel.target_class.cpu().numpy().astype(np.int64)
    if model_views:
        arrays.update(model_view_arrays(model, geometry, pcs_k))
    return AnalysisResult(**arrays, provenance=provenance)


def _recorded_target(target_class) -> int | list[int] | None:
    """The target class as JSON-friendly provenance: None, one index, or one per image."""
    if target_class is None:
        return None
    if isinstance(target_class, torch.Tensor):
        target_class = target_class.tolist()
    if isinstance(target_class, int | np.integer):
        return int(target_class)
    values = [int(t) for t in target_class]
    return values[0] if values and all(v == values[0] for v in values) else values




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
