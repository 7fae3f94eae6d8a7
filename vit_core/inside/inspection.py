"""``inspect``: token norms, high-norm outliers and attention sinks of one batch from one analysis, and the
.npz that ``python -m vit_core inspect`` writes.

One forward pass (:func:`vit_core.runs.analysis.analyze` without the gradient pass) gives both: hooks on the blocks
keep each token's norm (:class:`~vit_core.inside.norms.NormRecorder`), and the analysis' bounded-memory store
(the full attention while small, each layer's q and k above) gives the sink mass block by block of query rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import SettingsError
from ..models.geometry import geometry_of
from ..models.loading import LoadedModel
from ..results.files import NpzResult
from ..results.provenance import Provenance, provenance_of
from ..runs.analysis import AttentionKept, analyze, attention_kept
from .norms import NormRecorder, OutlierRule, default_rule, find_outliers
from .sinks import share_of, sink_mass, top_sinks

__all__ = ["InspectionResult", "inspect", "TOP_SINKS"]

TOP_SINKS = 5  # sink tokens listed per layer and head


@dataclass(frozen=True)
class InspectionResult(NpzResult):
    """Norms, outliers and sinks of one batch (B images, L layers, H heads, N tokens, K outliers in all).

    The field names are the .npz keys (``np.load(path)["sink_mass"]`` and ``InspectionResult.from_npz(path)
    .sink_mass`` read the same array); float32 unless noted.

    Attributes:
        logits: ``[B, classes]`` model output.
        token_norms: ``[B, L, N]`` L2 norm of every token in block l's output.
        feature_norms: ``[B, N]`` L2 norm of every token the model returns (after its final norm).
        sink_mass: ``[B, L, H, N]`` attention each key token receives, the mean over the queries (sums to 1).
        sink_top: ``[B, L, H, T]`` int64 the T key tokens that receive most, largest first.
        sink_top_mass: ``[B, L, H, T]`` their sink mass.
        prefix_share: ``[B, L, H]`` sink mass on the prefix tokens (class, distillation, registers).
        outlier_share: ``[B, L, H]`` sink mass on the listed outlier patches of each image.
        outlier_cut: ``[B, L]`` each layer's norm cut.
        outlier_mask: ``[B, L, N]`` bool, token above its layer's cut.
        outlier_image, outlier_token: ``[K]`` int64 image and sequence index of each outlier (above the cut at
            ``outlier_layer``).
        outlier_row, outlier_col: ``[K]`` int64 its grid position, -1 for a prefix token.
        outlier_first_layer: ``[K]`` int64 the first layer at which it is above its layer's cut.
        outlier_norm: ``[K]`` its norm at ``outlier_layer``.
        outlier_cls_share: ``[K]`` the class token's attention it receives in the last layer, the mean over
            heads (NaN without a class token).
        outlier_cls_share_layers: ``[K, L]`` the same in every layer.
        outlier_layer: ``()`` int64 the detection layer.
        outlier_rule: ``()`` str, the rule in words (:meth:`OutlierRule.describe`).
        num_prefix_tokens: ``()`` int64; grid_size, patch_size: ``[2]`` int64.
        prefix_kinds: ``[P]`` str, each prefix token's kind ("cls", "dist", "reg").
        pixel_values: ``[B, 3, h, w]`` the model input, or None when not kept.
        provenance: what produced these numbers (model, weights hash, the rule and settings, versions).
    """

    logits: np.ndarray
    token_norms: np.ndarray
    feature_norms: np.ndarray
    sink_mass: np.ndarray
    sink_top: np.ndarray
    sink_top_mass: np.ndarray
    prefix_share: np.ndarray
    outlier_share: np.ndarray
    outlier_cut: np.ndarray
    outlier_mask: np.ndarray
    outlier_image: np.ndarray
    outlier_token: np.ndarray
    outlier_row: np.ndarray
    outlier_col: np.ndarray
    outlier_first_layer: np.ndarray
    outlier_norm: np.ndarray
    outlier_cls_share: np.ndarray
    outlier_cls_share_layers: np.ndarray
    outlier_layer: np.ndarray
    outlier_rule: np.ndarray
    num_prefix_tokens: np.ndarray
    grid_size: np.ndarray
    patch_size: np.ndarray
    prefix_kinds: np.ndarray
    pixel_values: np.ndarray | None = None
    provenance: Provenance | None = None

    NOT_THIS_KIND = "{file} is not an inspection file (no {missing}); write one with python -m vit_core inspect."

    @property
    def batch_size(self) -> int:
        return int(self.logits.shape[0])

    def token_label(self, token: int) -> str:
        """'cls', 'dist', 'reg0', or 'patch (r, c)' for a sequence index."""
        p = int(self.num_prefix_tokens)
        if token < p:
            kinds = [str(k) for k in self.prefix_kinds]
            return f"reg{kinds[:token].count('reg')}" if kinds[token] == "reg" else kinds[token]
        r, c = divmod(int(token) - p, int(self.grid_size[1]))
        return f"patch ({r}, {c})"


def _model_name(model: nn.Module | LoadedModel) -> str:
    if isinstance(model, LoadedModel):
        return model.name
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(model).__name__)


def inspect(
    model: nn.Module | LoadedModel,
    pixel_values: torch.Tensor,
    *,
    rule: OutlierRule | None = None,
    outlier_layer: int = -1,
    attention: AttentionKept = "auto",
    top: int = TOP_SINKS,
    keep_pixels: bool = True,
) -> InspectionResult:
    """Token norms, high-norm outliers and attention sinks of a batch, from one forward pass.

    Args:
        model: a :class:`~vit_core.models.loading.LoadedModel` or a timm VisionTransformer in eval mode.
        pixel_values: ``[batch, 3, h, w]`` model input.
        rule: the outlier rule; None: :func:`~vit_core.inside.norms.default_rule` of the model's name (Darcet et
            al.'s cut of 150 for DINOv2 ViT-g, median + 10 MAD elsewhere).
        outlier_layer: the block whose output the listed outliers are above the cut in (default: the last).
        attention: the store the sink mass is read from: "full", "qk" or "auto" (full while at most 256 MB per
            image); "none" is refused (the sinks need the attention).
        top: sink tokens listed per layer and head.
        keep_pixels: include ``pixel_values``.

    Example:
        >>> found = inspect(loaded, pixel_values)
        >>> found.token_norms.shape, found.sink_mass.shape  # [B, L, N], [B, L, H, N]
        >>> found.to_npz("inside.npz")
    """
    if attention == "none":
        raise SettingsError("the sink mass is read from the attention; keep it (attention 'auto', 'full' or 'qk').")
    if top < 1:
        raise SettingsError(f"top must be at least 1, got {top}.")
    rule = rule or default_rule(_model_name(model))
    module = model.model if isinstance(model, LoadedModel) else model
    geometry = geometry_of(module, tuple(pixel_values.shape[-2:]))
    kept = attention_kept(attention, geometry)
    with NormRecorder(module) as recorder:
        analysis = analyze(model, pixel_values, relevance=False, attention=kept, model_views=False, keep_pixels=keep_pixels)
    norms = recorder.token_norms
    found = find_outliers(norms, geometry, rule, outlier_layer)
    mass = sink_mass(analysis)
    order, order_mass = top_sinks(mass, top)
    batch, p = norms.shape[0], geometry.num_prefix_tokens
    prefix = np.zeros(norms.shape[::2], dtype=bool)  # [B, N]
    prefix[:, :p] = True
    listed = np.zeros_like(prefix)
    listed[found.image, found.token] = True
    cls_layers = np.full((len(found.token), geometry.depth), np.nan, dtype=np.float32)
    if geometry.has_class_token:
        cls = geometry.token_index("cls")
        for image in range(batch):
            rows = analysis.token_rows(cls, image=image).mean(axis=1)  # [L, N], the mean over heads
            here = found.image == image
            cls_layers[here] = rows[:, found.token[here]].T
    settings = {"outlier_rule": rule.describe(), "rule": rule.kind, "cut": rule.cut, "k": rule.k,
                "outlier_layer": found.layer, "attention": kept, "top": top, "keep_pixels": keep_pixels}
    return InspectionResult(
        logits=analysis.logits,
        token_norms=norms,
        feature_norms=recorder.feature_norms,
        sink_mass=mass,
        sink_top=order,
        sink_top_mass=order_mass,
        prefix_share=share_of(mass, prefix),
        outlier_share=share_of(mass, listed & ~prefix),
        outlier_cut=found.cuts,
        outlier_mask=found.mask,
        outlier_image=found.image,
        outlier_token=found.token,
        outlier_row=found.row,
        outlier_col=found.col,
        outlier_first_layer=found.first_layer,
        outlier_norm=found.norm,
        outlier_cls_share=cls_layers[:, -1].copy(),
        outlier_cls_share_layers=cls_layers,
        outlier_layer=np.asarray(found.layer, dtype=np.int64),
        outlier_rule=np.asarray(rule.describe()),
        num_prefix_tokens=np.asarray(p, dtype=np.int64),
        grid_size=np.asarray(geometry.grid_size, dtype=np.int64),
        patch_size=np.asarray(geometry.patch_size, dtype=np.int64),
        prefix_kinds=np.asarray(geometry.prefix_kinds, dtype=str).reshape(p),
        pixel_values=analysis.pixel_values,
        provenance=provenance_of(model, settings),
    )
