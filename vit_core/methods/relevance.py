"""Class-specific relevance (Chefer, Gur, Wolf, ICCV 2021, "Generic Attention-model Explainability for
Interpreting Bi-Modal and Encoder-Decoder Transformers", GAE, arXiv 2103.15679), for self-attention encoders. Not
the same authors' CVPR 2021 Transformer Attribution (:mod:`vit_core.methods.transformer_attribution`: the LRP
relevance of each attention map in place of the attention itself).

Per layer l: ``Abar_l = mean_h clamp(dy_c/dA[l,h] * A[l,h], min=0)`` and ``R <- R + Abar_l R`` from ``R = I``,
with y_c the pre-softmax logit of the target class. The gradients of every layer come from ONE backward
pass for the whole batch (the sum of each image's target logit; images do not interact in a ViT), taken
with ``torch.autograd.grad`` on the captured probabilities themselves, so no backward hook order can pair a
layer's attention with another layer's gradient (vit-explain #6). An attention-pool ("map") head's weights get
the same rule, ``clamp(dy_c/dA_pool * A_pool, min=0)``, before they read the patch relevance out of R; its
gradient comes from the pool's output (the pool mixes values linearly), so the pool keeps its fused kernel.
A head on the class token and the mean patch token (DINOv2's classifiers) reads R's class row and mean patch
row weighted by each half's share of the target logit (``readout.class_token_share``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..attention.capture import AttentionCapture, attention_modules, forward_checkpointed
from ..attention.capture import fused_scale as _scale
from ..errors import SettingsError
from ..models.geometry import geometry_of
from ..models.predict import require_classifier
from ..models.types import CLASS_AND_MEAN_POOL, Geometry
from .readout import DistilledReadout, class_token_share, head_input, readout, readout_weights, split_tokens

__all__ = ["Relevance", "relevance_from_gradients", "resolve_targets", "class_relevance", "streamed_relevance"]


@dataclass(frozen=True)
class Relevance:
    """Class-specific relevance of one batch.

    Attributes:
        heatmap: ``[batch, gh, gw]`` relevance of the patches for the target class (not normalised).
        prefix_weights: ``[batch, prefix]`` relevance on the prefix tokens.
        matrix: ``[batch, query, key]`` the full relevance matrix R, or None from :func:`streamed_relevance`
            (which pushes the readout row through the layers and never forms R).
        target_class: ``[batch]`` class index explained for each image.
        logits: ``[batch, classes]`` logits of the (non-fused) forward pass used for the gradients.
        geometry: token layout of that forward pass.
    """

    heatmap: torch.Tensor
    prefix_weights: torch.Tensor
    matrix: torch.Tensor | None
    target_class: torch.Tensor
    logits: torch.Tensor
    geometry: Geometry


def relevance_from_gradients(
    attention: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor | None]
) -> torch.Tensor:
    """Chefer et al.'s rule over layers in forward order (GAE; Transformer Attribution passes its LRP maps as A).

    Args:
        attention: per layer, ``[batch, head, query, key]`` probabilities A_l, first layer first (Transformer
            Attribution: the LRP relevance of each A_l instead).
        gradients: per layer, ``[batch, head, query, key]`` dy_c/dA_l (None: the layer has no influence).

    Returns:
        ``[batch, query, key]`` float32 relevance R (no row normalisation, as in the authors' ViT notebook).
    """
    if len(attention) != len(gradients) or not attention:
        raise SettingsError("pass one gradient per attention layer, for at least one layer.")
    first = attention[0]
    batch, tokens = first.shape[0], first.shape[-1]
    eye = torch.eye(tokens, device=first.device, dtype=torch.float32)
    relevance = eye.expand(batch, tokens, tokens).clone()  # [batch, query, key]
    for probs, grad in zip(attention, gradients, strict=True):
        if grad is None:
            continue
        weighted = (grad.detach().float() * probs.detach().float()).clamp(min=0).mean(dim=1)  # [batch, query, key]
        relevance = relevance + weighted @ relevance
    return relevance


def resolve_targets(logits: torch.Tensor, target_class: int | Sequence[int] | torch.Tensor | None) -> torch.Tensor:
    """Target class per image ``[batch]``: top-1 when None, one class for all, or one class per image."""
    batch, classes = logits.shape
    if target_class is None:
        return logits.detach().argmax(dim=-1)
    target = torch.as_tensor(target_class, dtype=torch.long, device=logits.device).reshape(-1)
    if target.numel() == 1:
        target = target.expand(batch)
    if target.numel() != batch:
        raise SettingsError(f"{target.numel()} target classes for {batch} images; give one class or one per image.")
    if bool(((target < 0) | (target >= classes)).any()):
        raise SettingsError(
            f"target class {target.tolist()} is outside 0 to {classes - 1}; pick a class of this model."
        )
    return target


CHECKPOINT_ABOVE_BYTES = 256 << 20  # streamed relevance checkpoints the blocks above this much attention


def _prepare(model: nn.Module, pixel_values: torch.Tensor) -> tuple[Geometry, torch.Tensor]:
    """Refuse what relevance cannot explain; (geometry, the input as a leaf that keeps a graph even when the
    parameters are frozen)."""
    if model.training:
        raise SettingsError("the model is in training mode (dropout is random); call model.eval() first.")
    require_classifier(model, "class-specific relevance (Chefer et al. 2021)")
    return geometry_of(model, tuple(pixel_values.shape[-2:])), pixel_values.detach().requires_grad_(True)


def class_relevance(
    model: nn.Module,
    pixel_values: torch.Tensor,
    *,
    target_class: int | Sequence[int] | torch.Tensor | None = None,
    distilled: DistilledReadout = "mean",
    keep_matrix: bool = False,
) -> Relevance:
    """Class-specific relevance maps for a batch, from one forward and one backward pass.

    By default through :func:`streamed_relevance` (the fused kernel, memory linear in the tokens, no R).
    With ``keep_matrix`` the forward runs the layers' non-fused attention (``AttentionCapture(with_grad=True)``)
    so the probabilities sit in the autograd graph and the full relevance matrix R is formed (the reference
    the streamed path is tested against); the model's parameters are not modified and need not require
    gradients.

    Args:
        model: a timm VisionTransformer in eval mode.
        pixel_values: ``[batch, 3, h, w]`` on the model's device and dtype.
        target_class: None for each image's top-1 class, one class index for all, or one per image.
        distilled: readout for distilled models: "cls", "dist" or "mean".

        keep_matrix: form the full relevance matrix R (``[batch, query, key]``: memory N^2 per layer).

    Returns:
        :class:`Relevance` with the patch heatmap ``[batch, gh, gw]`` (and the full matrix with ``keep_matrix``).

    Example:
        >>> rel = class_relevance(model, pixel_values, target_class=207)
        >>> rel.heatmap.shape  # [batch, gh, gw]
    """
    if not keep_matrix:
        return streamed_relevance(model, pixel_values, target_class=target_class, distilled=distilled)[0]
    geometry, inputs = _prepare(model, pixel_values)
    with torch.enable_grad():
        with AttentionCapture(model, with_grad=True) as cap, head_input(model) as features:
            logits = model(inputs)
        cap.check_complete()
        attention = cap.attention_list  # per layer [batch, head, query, key], in the graph
        target = resolve_targets(logits, target_class)
        score = logits.gather(1, target[:, None]).sum()  # one backward for the whole batch
        pool_output = cap.pool_output  # attention ("map") pooling: its weights get the rule too
        inputs = attention + ([pool_output] if pool_output is not None else [])
        gradients = list(torch.autograd.grad(score, inputs, allow_unused=True))
    with torch.no_grad():
        pool_weights = cap.pool_attention
        if pool_output is not None and (pool_gradient := gradients.pop()) is not None:
            # the pool's Abar before the head mean: clamp(dy_c/dA * A, min=0), read out like the weights themselves
            pool_weights = (cap.pool_attention_gradient(pool_gradient) * cap.pool_attention.float()).clamp(min=0)
        matrix = relevance_from_gradients(attention, gradients)
        two_halves = geometry.global_pool == CLASS_AND_MEAN_POOL
        heatmap, prefix = readout(
            matrix,
            geometry,
            distilled=distilled,
            pool_attention=pool_weights,
            pool_include_prefix=geometry.pool_include_prefix,
            cls_share=class_token_share(model.head, features[0], target) if two_halves else None,
        )
    return Relevance(
        heatmap=heatmap,
        prefix_weights=prefix,
        matrix=matrix,
        target_class=target,
        logits=logits.detach().float(),
        geometry=geometry,
    )


def streamed_relevance(
    model: nn.Module,
    pixel_values: torch.Tensor,
    *,
    target_class: int | Sequence[int] | torch.Tensor | None = None,
    distilled: DistilledReadout = "mean",
    sink=None,
    checkpoint: bool | None = None,
) -> tuple[Relevance, torch.Tensor | None]:
    """:func:`class_relevance`'s map in memory that grows with the tokens, through the fused kernel.

    One forward pass keeps each layer's q, k, v and attention output o (the fused kernel runs; with
    `checkpoint` each block is recomputed in the backward, so only one block's activations live at a time);
    one backward gives ``dy/do`` per layer; ``dy/dA = (dy/do) v^T`` and ``A = softmax(q k^T * scale)`` are
    rebuilt block by block of query rows, and the readout row is pushed through ``I + Abar_l`` from the last
    layer down (:func:`vit_core.attention.store.push_relevance_row`). The map equals class_relevance's; R
    itself is never formed (``matrix`` is None).

    Args:
        model: a timm VisionTransformer in eval mode.
        pixel_values: ``[batch, 3, h, w]`` on the model's device and dtype.
        target_class: None for each image's top-1 class, one class index for all, or one per image.
        distilled: readout for distilled models: "cls", "dist" or "mean".
        sink: a capture sink that also sees this forward pass (the analysis' statistics), or None.
        checkpoint: recompute each block in the backward instead of keeping its activations; None (default):
            where every layer's attention would exceed :data:`CHECKPOINT_ABOVE_BYTES` (at 197 tokens the
            recomputation cost 20% and saved nothing that mattered).

    Returns:
        (the relevance, the attention pool's weights ``[batch, pool_head, latent, key]`` or None).
    """
    geometry, inputs = _prepare(model, pixel_values)
    if checkpoint is None:
        checkpoint = geometry.attention_bytes(pixel_values.shape[0]) > CHECKPOINT_ABOVE_BYTES
    with torch.enable_grad():
        with AttentionCapture(model, sink=sink, keep_for_gradients=True) as cap, head_input(model) as features:
            logits = forward_checkpointed(model, inputs) if checkpoint else model(inputs)
        cap.check_complete()
        qkv, outputs = cap.qkv, cap.attention_outputs
        target = resolve_targets(logits, target_class)
        score = logits.gather(1, target[:, None]).sum()  # one backward for the whole batch
        pool_output = cap.pool_output
        gradients = list(torch.autograd.grad(score, outputs + ([pool_output] if pool_output is not None else []),
                                             allow_unused=True))
    del outputs
    with torch.no_grad():
        pool_weights = cap.pool_attention
        if pool_output is not None and (pool_gradient := gradients.pop()) is not None:
            pool_weights = (cap.pool_attention_gradient(pool_gradient) * cap.pool_attention.float()).clamp(min=0)
        heads = geometry.num_heads
        per_head = [  # [batch, token, head * head_dim] -> [batch, head, token, head_dim]
            None if g is None else g.reshape(g.shape[0], g.shape[1], heads, -1).transpose(1, 2) for g in gradients
        ]
        scales = [_scale(m, q) for m, (q, _, _) in zip(attention_modules(model), qkv, strict=True)]
        two_halves = geometry.global_pool == CLASS_AND_MEAN_POOL
        weights = readout_weights(
            geometry, pixel_values.shape[0], logits.device, distilled=distilled, pool_attention=pool_weights,
            pool_include_prefix=geometry.pool_include_prefix,
            cls_share=class_token_share(model.head, features[0], target) if two_halves else None,
        )  # [batch, token]
        from ..attention.store import push_relevance_row  # here: attention.store imports methods (a cycle)

        row = push_relevance_row(
            weights, [q for q, _, _ in qkv], [k for _, k, _ in qkv], [v for _, _, v in qkv], per_head, scales
        )
        heatmap, prefix = split_tokens(row, geometry)
    relevance = Relevance(
        heatmap=heatmap, prefix_weights=prefix, matrix=None, target_class=target, logits=logits.detach().float(),
        geometry=geometry,
    )
    return relevance, cap.pool_attention
