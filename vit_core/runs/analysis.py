"""Everything ``python -m vit_core analyze`` writes, from one fused forward pass (and its backward, for the
class-specific relevance).

The fused pass streams each layer's attention through a sink that reduces it, block by block of query rows,
to the class-token grid, mean attention distance, entropy and the rollout factor as the layers run. Memory
grows with the tokens: what is kept per layer is q and k (:mod:`vit_core.attention.store`), from which any
slice is rebuilt exactly, and the rollout's readout row is pushed through the layers as a vector. The full
``[batch, layer, head, query, key]`` attention is kept only where it is small (:func:`attention_kept`) or
asked for.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn

from ..attention import fused_stats
from ..attention.allocator import release_large_frees
from ..attention.capture import capture
from ..attention.store import push_rollout_row, row_stats
from ..errors import CaptureError, NotAvailableError, SettingsError
from ..methods.distance import attention_entropy, entropy_uses_logits, mean_attention_distance, patch_distances
from ..methods.patch_embed import patch_embed_components
from ..methods.pos_embed import pos_embed_similarity
from ..methods.readout import DistilledReadout, readout_weights, split_tokens
from ..methods.relevance import streamed_relevance
from ..methods.rollout import RolloutSettings, RolloutSink, fuse_heads
from ..methods.token_attention import grid_of_keys, token_attention
from ..models.geometry import geometry_of
from ..models.loading import LoadedModel
from ..models.types import Geometry
from ..results.provenance import provenance_of
from ..results.result import AnalysisResult
from ..results.rollout_layers import FusedLayers

__all__ = [
    "AnalysisResult", "RolloutSettings", "AnalysisSink", "AttentionKept", "ATTENTION_KEPT", "FULL_ATTENTION_BYTES",
    "attention_bytes", "attention_kept", "analysis_settings", "analyze", "model_view_arrays",
]

AttentionKept = Literal["auto", "full", "qk", "none"]
ATTENTION_KEPT: tuple[AttentionKept, ...] = get_args(AttentionKept)
FULL_ATTENTION_BYTES = 256 << 20  # per image: "auto" keeps the full attention up to here, q and k above
FACTOR_BYTES = 64 << 20  # rollout factors [batch, query, key] of every layer kept up to here, rebuilt above


def attention_bytes(geometry: Geometry, batch: int = 1) -> int:
    """Bytes of the full float32 attention ``[batch, layer, head, query, key]`` of one forward pass."""
    return geometry.attention_bytes(batch)


def attention_kept(requested: AttentionKept, geometry: Geometry) -> Literal["full", "qk", "none"]:
    """What an analysis keeps of the attention: "auto" is the full attention while it is at most
    :data:`FULL_ATTENTION_BYTES` per image, else each layer's q and k (which rebuild it exactly)."""
    if requested not in ATTENTION_KEPT:
        raise SettingsError(f"attention {requested!r} is unknown; choose one of {', '.join(ATTENTION_KEPT)}.")
    if requested != "auto":
        return requested
    return "full" if attention_bytes(geometry) <= FULL_ATTENTION_BYTES else "qk"

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
        fused_kernel: reduce each layer from q and k with one Triton kernel (:mod:`vit_core.attention.fused_stats`)
            that never writes the probabilities; None (default): on a GPU where Triton is installed and the
            full attention is not kept. False: always rebuild, then reduce.
        keep_qk: keep each layer's q and k (:attr:`qk`), from which any attention slice is rebuilt.
        keep_factors: keep the rollout factors of every layer (``[batch, query, key]`` each); False: keep
            none (read the rollout with :func:`vit_core.attention.store.push_rollout_row` from q and k).
        keep_fused: keep every layer's head-fused attention (``settings.head_fusion``) in :attr:`fused`
            ``[batch, layer, query, key]``, reduced in blocks of query rows (never by the fused kernel).
    """

    takes_logits = True  # the capture passes the pre-softmax scores too: entropy without a per-element log

    def __init__(
        self,
        geometry: Geometry,
        settings: RolloutSettings,
        keep_attention: bool = True,
        chunk_bytes: int | None = None,
        fused_kernel: bool | None = None,
        keep_qk: bool = False,
        keep_factors: bool = True,
        keep_fused: bool = False,
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
        self._kernel_rows: list = []  # per layer FusedStats or RowStats, when reduced from q and k
        self._kernel_used: bool | None = None  # decided at the first layer, the same for all
        self.keep_qk = keep_qk
        self.keep_factors = keep_factors
        self.qk: list[tuple[torch.Tensor, torch.Tensor, float]] = []  # per layer (q, k, scale), detached
        self.keep_fused = keep_fused
        self.fused: torch.Tensor | None = None  # [batch, layer, query, key] with keep_fused, host memory

    def reduce_qk(self, layer: int, q: torch.Tensor, k: torch.Tensor, scale: float, mask: torch.Tensor | None) -> bool:
        """Reduce one layer straight from q and k (the fused kernel on a GPU, blocks of query rows elsewhere);
        False: let the capture rebuild the probabilities instead."""
        q, k = q.detach(), k.detach()
        if self.keep_qk:
            if mask is not None:
                raise CaptureError("this layer ran with an attention mask, which q and k alone do not rebuild; "
                                   "keep the full attention instead.")
            self.qk.append((q.contiguous(), k.contiguous(), scale))  # a view would keep the layer's whole qkv
        with torch.no_grad():
            if self.keep_factors and self._kernel_wanted(q, mask) and self._reduce_with_kernel(layer, q, k, scale, mask):
                return True
            if self._blocks_wanted(q):
                return self._reduce_in_blocks(layer, q, k, scale, mask)
            return self._reduce_with_kernel(layer, q, k, scale, mask)  # False: the capture rebuilds the layer

    def computes_attention(self, q: torch.Tensor) -> bool:
        """Whether this sink computes the layer's attention output itself (:meth:`reduce_qkv`): on a CPU, where
        the fused kernel is no faster than the explicit softmax and computing attention twice is pure cost."""
        return not q.is_cuda and not (self.keep_factors and self._kernel_wanted(q, None))

    def reduce_qkv(self, layer: int, q, k, v, scale: float, mask) -> torch.Tensor:
        """Reduce one layer and return its attention output ``[batch, head, token, head_dim]`` from the same
        probabilities, block by block of query rows."""
        with torch.no_grad():
            q, k = q.detach(), k.detach()
            if self.keep_qk:
                self.qk.append((q.contiguous(), k.contiguous(), scale))
            return self._reduce_in_blocks(layer, q, k, scale, mask, values=v.detach())

    def _blocks_wanted(self, q: torch.Tensor) -> bool:
        """Blocks of query rows on a CPU (no kernel there) and wherever one layer's probabilities are large."""
        return not q.is_cuda or q.shape[-2] > fused_stats.MAX_TOKENS or not self.keep_factors or self.keep_fused

    def _fused_of(self, layer: int, batch: int, tokens: int) -> torch.Tensor | None:
        """Where `layer`'s head-fused attention ``[batch, query, key]`` goes (None without keep_fused)."""
        if not self.keep_fused:
            return None
        if self.fused is None:
            self.fused = torch.empty(batch, self.geometry.depth, tokens, tokens)
        return self.fused[:, layer]

    def fused_layers(self) -> list[FusedLayers]:
        """Each image's head-fused layers kept with ``keep_fused`` (views of :attr:`fused`, no copy)."""
        if self.fused is None:
            raise CaptureError("no layer's attention was kept; keep the head-fused layers before the forward pass.")
        batch, depth, tokens, _ = self.fused.shape
        return [FusedLayers(self.settings.head_fusion, self.geometry.num_prefix_tokens, depth, tokens,
                            fused=self.fused[image]) for image in range(batch)]

    def _reduce_in_blocks(self, layer: int, q, k, scale: float, mask, values=None):
        geometry = self.geometry
        if self._distances is None:
            self._distances = patch_distances(geometry, q.device)
        blocks: list[torch.Tensor] = []
        stats = row_stats(
            q, k, scale, mask,
            num_prefix_tokens=geometry.num_prefix_tokens,
            distances=self._distances,
            cls_index=geometry.token_index("cls") if geometry.has_class_token else None,
            settings=self.settings if self.keep_factors and layer >= self.settings.start_layer else None,
            on_block=(lambda rows, probs: blocks.append(probs.float().cpu())) if self.keep_attention else None,
            values=values,
            fused_out=self._fused_of(layer, q.shape[0], q.shape[-2]),
            fusion=self.settings.head_fusion,
        )
        if blocks:
            self.attention.append(blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=-2))
        if stats.factor is not None:
            self._rollout.fold_fused([layer], stats.factor.unsqueeze(1), is_factor=True)
        self._kernel_rows.append(dataclasses.replace(stats, output=None))
        return True if values is None else stats.output

    def _reduce_with_kernel(self, layer: int, q, k, scale: float, mask) -> bool:
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
        # the kernel writes neither the probabilities (keep_attention) nor the head-fused layers (keep_fused)
        if (self.fused_kernel is False or self.keep_attention or self.keep_fused or mask is not None
                or _kernel_key(q) in _KERNEL_FAILED):
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
        if self.keep_fused:
            self._fused_of(layer, probs.shape[0], probs.shape[-1])[:] = fuse_heads(probs.float(), self.settings.head_fusion)
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


def _stack_releasing(qk: list[tuple[torch.Tensor, torch.Tensor, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Per layer (q, k) ``[batch, head, token, head_dim]`` -> two ``[batch, layer, head, token, head_dim]`` float32
    arrays, each layer's tensors dropped once copied (the store is never held twice)."""
    first = qk[0][0]
    shape = (first.shape[0], len(qk), *first.shape[1:])
    out_q, out_k = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32)
    for layer in range(len(qk)):
        q, k, scale = qk[layer]
        out_q[:, layer], out_k[:, layer] = _numpy(q), _numpy(k)
        qk[layer] = (None, None, scale)  # type: ignore[assignment]
    return out_q, out_k


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
    rollout: RolloutSettings, relevance: bool, attention: AttentionKept, pcs_k: int, distilled: str, model_views: bool,
    keep_pixels: bool,
) -> dict:
    """The method settings of an :func:`analyze` call by name, as its provenance records them (batch runs
    build theirs here too, before any image, to check a result they would resume)."""
    return {**asdict(rollout), "relevance": relevance, "attention": attention, "pcs_k": pcs_k,
            "distilled": distilled, "model_views": model_views, "keep_pixels": keep_pixels}


def analyze(
    model: nn.Module | LoadedModel,
    pixel_values: torch.Tensor,
    *,
    rollout: RolloutSettings = RolloutSettings(),  # noqa: B008 (frozen, so a shared default is safe)
    target_class: int | Sequence[int] | torch.Tensor | None = None,
    relevance: bool = True,
    attention: AttentionKept = "auto",
    pcs_k: int = 28,
    distilled: DistilledReadout = "mean",
    model_views: bool = True,
    keep_pixels: bool = True,
    fused_kernel: bool | None = None,
    fused_out: list[FusedLayers] | None = None,
) -> AnalysisResult:
    """Every array of the analysis file for one batch, with its provenance.

    Args:
        model: a :class:`~vit_core.models.loading.LoadedModel` (its weights file's hash goes into the provenance, and
            `pixel_values` are moved to its device and dtype), or a timm VisionTransformer in eval mode.
        pixel_values: ``[batch, 3, h, w]`` model input (on the model's device and dtype for a bare module).
        rollout: rollout settings (head fusion, discard ratio, residual weight, start layer).
        target_class: class explained by the relevance map: None for each image's top-1, one index, or one per image.
        relevance: compute the class-specific relevance (the backward of the same forward pass).
        attention: what to keep of the attention: "full" (``attention`` ``[batch, layer, head, query, key]``),
            "qk" (each layer's q and k, ``attention_q``/``attention_k``, which rebuild any slice exactly:
            :meth:`AnalysisResult.attention_slice`), "none", or "auto" (default): full while it is at most
            256 MB per image, q and k above (:func:`attention_kept`).
        pcs_k: number of patch-embedding principal components.
        distilled: readout for distilled models: "cls", "dist" or "mean".
        model_views: also compute the per-model arrays (position-embedding similarity, patch-embedding PCA),
            which do not depend on the images; batch loops compute them once instead.
        keep_pixels: include ``pixel_values`` (what the overlays are drawn on); batch runs, which keep
            reduced results only, leave it out (on a GPU, copying the input back dominated the analysis).
        fused_kernel: reduce each layer with one Triton kernel from q and k (see :class:`AnalysisSink`);
            None: where it can run (a GPU, Triton installed, attention not kept).
        fused_out: a list that receives each image's head-fused layers (:class:`FusedLayers` of the rollout's
            fusion, ``[layer, query, key]``: 90 MB per image at 518 px), what rollout rows for other settings
            and query tokens are pushed through; the rollout is then read from them, not rebuilt from q and k.

    Returns:
        An :class:`~vit_core.results.result.AnalysisResult`: its fields (shapes documented there) are the .npz keys.

    Example:
        >>> result = analyze(loaded, pixel_values, rollout=RolloutSettings(discard_ratio=0.9))
        >>> result.rollout.shape  # [batch, gh, gw]
        >>> result.to_npz("result.npz")
    """
    settings = analysis_settings(
        rollout=rollout, relevance=relevance, attention=attention, pcs_k=pcs_k, distilled=distilled,
        model_views=model_views, keep_pixels=keep_pixels,
    )
    provenance = provenance_of(model, settings, _recorded_target(target_class))
    if isinstance(model, LoadedModel):
        pixel_values = pixel_values.to(model.device, model.dtype)
        model = model.model
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    rollout.check_depth(geometry.depth)
    kept = attention_kept(attention, geometry)
    if attention_bytes(geometry) > FULL_ATTENTION_BYTES:
        release_large_frees()
    batch, tokens = pixel_values.shape[0], geometry.num_tokens
    keep_fused = fused_out is not None
    keep_factors = not keep_fused and batch * geometry.depth * tokens**2 * 4 <= FACTOR_BYTES
    sink = AnalysisSink(
        geometry, rollout, keep_attention=kept == "full", fused_kernel=fused_kernel,
        keep_qk=kept == "qk" or not (keep_factors or keep_fused), keep_factors=keep_factors, keep_fused=keep_fused,
    )
    rel = None
    if relevance:  # one forward pass for everything: the sink sees it, its backward gives the relevance
        rel, pool_attention = streamed_relevance(model, pixel_values, target_class=target_class, distilled=distilled,
                                                 sink=sink)
        logits = rel.logits
    else:
        result = capture(model, pixel_values, sink=sink)
        logits, pool_attention = result.logits, result.pool_attention
    weights = readout_weights(
        geometry, batch, logits.device, distilled=distilled, pool_attention=pool_attention,
        pool_include_prefix=geometry.pool_include_prefix,
    )  # [batch, token]: the readout is a row; pushed through the layers, never the full R
    if keep_fused:
        layers = sink.fused_layers()
        rows = [layers[image].push(weights[image : image + 1].cpu(), rollout) for image in range(batch)]
        row = torch.cat(rows).to(logits.device)
        fused_out.extend(layers)
    elif keep_factors:
        row = sink.rollout.left_product(weights)
    else:
        q, k, scales = zip(*sink.qk, strict=True)
        row = push_rollout_row(weights, q, k, scales, rollout, num_prefix_tokens=geometry.num_prefix_tokens)
    rolled_map, prefix_weights = split_tokens(row, geometry)
    reduced = {
        "logits": logits,
        "rollout": rolled_map,
        "prefix_weights": prefix_weights,
        "mean_attention_distance": sink.distance,
        "attention_entropy": sink.entropy,
    }
    cls_attention = sink.cls_attention
    if cls_attention is not None:
        reduced["cls_attention"] = cls_attention
    if rel is not None:
        reduced["relevance"] = rel.heatmap
    arrays = _to_host(reduced)  # one copy: on a GPU each copy waits for the device
    arrays["num_prefix_tokens"] = np.asarray(geometry.num_prefix_tokens, dtype=np.int64)
    arrays["grid_size"] = np.asarray(geometry.grid_size, dtype=np.int64)
    arrays["patch_size"] = np.asarray(geometry.patch_size, dtype=np.int64)
    if keep_pixels:
        arrays["pixel_values"] = _numpy(pixel_values)
    if kept == "full":
        arrays["attention"] = torch.stack(sink.attention, dim=1).numpy()
    if kept == "qk":
        arrays["attention_scale"] = np.asarray([scale for _, _, scale in sink.qk], dtype=np.float32)
        arrays["attention_q"], arrays["attention_k"] = _stack_releasing(sink.qk)
    sink.qk.clear()
    if kept != "none" and pool_attention is not None:  # what reading a rollout out of the attention needs on "map"
        arrays["pool_attention"] = _numpy(pool_attention)
    if rel is not None:
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
