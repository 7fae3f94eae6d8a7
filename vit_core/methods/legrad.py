"""LeGrad (Bousselham, Boggust, Chaybouti, Strobelt, Kuehne 2024, "LeGrad: An Explainability Method for Vision
Transformers via Feature Formation Sensitivity", arXiv 2404.03214).

Per layer l of the layers that enter: the class score ``s^l`` read from layer l's output tokens through the
model's own final norm and head (``model.forward_head(model.norm(x^l))``: its own pooling, class token, average,
attention pool or class and mean patch token; for the last layer ``s^l`` is the model's logit), the gradient of
``s^l`` (the target logit) with respect to layer l's attention probabilities ``A^l [batch, head, query, key]``,
its positive part averaged over the heads and over every query row, the prefix columns dropped:

    E^l = mean_{h, q} clamp(d s^l / d A^l[h, q, :], min=0)[patch keys]     map = minmax(sum_l E^l)

No product with A. The published code's default (``LeWrapper(layer_index=-2)``) lets the last two layers enter;
so does :data:`DEFAULT_START_LAYER`.

How it is computed (fused attention kept, memory linear in the tokens): ``s^l`` depends on ``A^l`` only through
layer l's attention output ``o^l = A^l v^l``, so ``d s^l / d A^l = (d s^l / d o^l) (v^l)^T`` exactly, and
``d s^l / d o^l`` needs a backward through layer l's tail only (out-projection, residual, MLP, final norm, head),
not through the network. One forward without gradients keeps each entering layer's input tokens; each entering
block is then run again with gradients (q, k, v and o kept by ``AttentionCapture(keep_for_gradients=True)``,
nothing else), one local backward gives ``d s^l / d o^l`` for the whole batch, and ``(d s / d o) v^T`` is formed
block by block of query rows (:func:`vit_core.attention.store.attention_gradient_rows`), reduced as it goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..attention.capture import AttentionCapture, attention_modules, embed_tokens
from ..errors import SettingsError
from ..models.geometry import geometry_of
from ..models.predict import require_classifier
from .relevance import resolve_targets

__all__ = ["DEFAULT_START_LAYER", "LeGrad", "legrad_layers", "min_max", "legrad"]

DEFAULT_START_LAYER = -2  # the published code's layer_index: the last two layers enter


@dataclass(frozen=True)
class LeGrad:
    """LeGrad maps of one batch.

    Attributes:
        heatmap: ``[batch, gh, gw]`` in [0, 1] (min-max per image; all 0 where the sum is constant).
        layers: the blocks that entered, first to last.
        target_class: ``[batch]`` class explained.
        logits: ``[batch, classes]`` the model's logits.
    """

    heatmap: torch.Tensor
    layers: tuple[int, ...]
    target_class: torch.Tensor
    logits: torch.Tensor


def legrad_layers(depth: int, start_layer: int = DEFAULT_START_LAYER) -> tuple[int, ...]:
    """The blocks that enter: ``start_layer`` (negative counts from the end) to the last."""
    start = int(start_layer)
    if not -depth <= start < depth:
        raise SettingsError(f"LeGrad's start layer {start} does not exist; choose one of -{depth} to {depth - 1}.")
    return tuple(range(start % depth, depth))


def min_max(maps: torch.Tensor) -> torch.Tensor:
    """``[batch, ...]`` scaled to [0, 1] per image; a constant map becomes 0 (the published code divides by 0)."""
    flat = maps.flatten(1)
    low, high = flat.amin(dim=1), flat.amax(dim=1)
    span = (high - low).reshape(-1, *[1] * (maps.dim() - 1))
    scaled = (maps - low.reshape(span.shape)) / span.clamp(min=torch.finfo(maps.dtype).tiny)
    return torch.where(span > 0, scaled, torch.zeros_like(maps))


def _layer_sensitivity(
    model: nn.Module, layer: int, tokens: torch.Tensor, target: torch.Tensor, budget: int | None
) -> torch.Tensor:
    """``[batch, token]``: ``mean_{h, q} clamp(d s^l / d A^l, min=0)`` of one layer, from its input tokens."""
    from ..attention.store import attention_gradient_rows, query_blocks  # here: attention.store imports methods

    with torch.enable_grad():
        with AttentionCapture(model, layers=[layer], keep_for_gradients=True, pool=False) as cap:
            out = model.blocks[layer](tokens.detach().requires_grad_(True))
        score = model.forward_head(model.norm(out)).gather(1, target[:, None]).sum()  # the batch's scores at once
        ((_, _, v),), (output,) = cap.qkv, cap.attention_outputs
        (grad,) = torch.autograd.grad(score, output, allow_unused=True)
    batch, heads, tokens_n, _ = v.shape
    total = v.new_zeros(batch, tokens_n, dtype=torch.float32)
    if grad is None:  # the score does not read this layer's attention
        return total
    per_head = grad.reshape(batch, tokens_n, heads, -1).transpose(1, 2)  # [batch, head, token, head_dim]
    for rows in query_blocks(batch, heads, tokens_n, budget):
        total += attention_gradient_rows(per_head, v, rows).clamp_(min=0).sum(dim=(1, 2))  # [batch, key]
    return total / (heads * tokens_n)


def legrad(
    model: nn.Module,
    pixel_values: torch.Tensor,
    *,
    target_class: int | Sequence[int] | torch.Tensor | None = None,
    start_layer: int = DEFAULT_START_LAYER,
    budget: int | None = None,
) -> LeGrad:
    """LeGrad maps for a batch (see the module docstring).

    Args:
        model: a timm VisionTransformer with a classifier, in eval mode.
        pixel_values: ``[batch, 3, h, w]`` on the model's device and dtype.
        target_class: None for each image's top-1 class, one class index for all, or one per image.
        start_layer: the first block that enters (negative counts from the end); default the last two.
        budget: bytes of one block of ``[batch, head, rows, key]`` gradients (default
            :data:`vit_core.attention.store.BLOCK_BYTES`).

    Example:
        >>> legrad(model, pixel_values, target_class=207).heatmap.shape  # [batch, gh, gw]
    """
    if model.training:
        raise SettingsError("the model is in training mode (dropout is random); call model.eval() first.")
    require_classifier(model, "LeGrad")
    attention_modules(model)  # refuses what the capture cannot rebuild exactly
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    layers = legrad_layers(len(model.blocks), start_layer)
    inputs: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        x = embed_tokens(model, pixel_values)
        for index, block in enumerate(model.blocks):
            if index in layers:
                inputs[index] = x  # [batch, token, dim]: each entering block runs again from here, with gradients
            x = block(x)
        logits = model.forward_head(model.norm(x))
    target = resolve_targets(logits, target_class)
    total = sum(_layer_sensitivity(model, layer, inputs.pop(layer), target, budget) for layer in layers)
    p = geometry.num_prefix_tokens
    heatmap = min_max(total[:, p:].reshape(-1, *geometry.grid_size))
    return LeGrad(heatmap=heatmap, layers=layers, target_class=target, logits=logits.detach().float())
