"""Transformer Attribution (Chefer, Gur & Wolf, CVPR 2021, "Transformer Interpretability Beyond Attention
Visualization", arXiv 2012.09838), following their code (hila-chefer/Transformer-Explainability,
``baselines/ViT``: ``generate_LRP(method="transformer_attribution")``, start layer 0).

Not the project's ``relevance`` (the same authors' ICCV 2021 GAE: gradient x attention, no LRP). Here:

1. one forward pass keeps every block's attention probabilities A_l ``[batch, head, query, key]`` in the graph;
   one backward pass gives ``dy_c/dA_l`` (y_c the target's logit);
2. an LRP pass from the one-hot target at the logits back through the whole network with their rules
   (:mod:`vit_core.methods.relprop`): the head's linear layer, the class-token selection, the final norm, and
   per block from the top: the MLP's residual sum, fc2, GELU, fc1, norm2, the copy, the attention's residual sum,
   proj, ``A v``, softmax, ``q k^T``, qkv, norm1, the copy. The relevance reaching A (the A of ``A v``, already
   halved) is the layer's map ``cam_l``;
3. ``Abar_l = mean_h (cam_l * dy_c/dA_l)^+`` and ``R <- R + Abar_l R`` from ``R = I`` over every layer
   (their ``compute_rollout_attention``, no row normalisation); the class token's row of R over the patches.

A functional pass over timm's own submodules (no hooks, no modified model). The rules cover timm's
``VisionTransformer`` with plain pre-norm ``Block``s (``Attention`` with or without q/k LayerNorm, ``Mlp`` with a
GELU), LayerNorm, and a linear head on the class token (the distillation token's head too: the two heads' mean is
a sum, split by their ``Add`` rule; registers ride along as tokens). Everything else is refused before any
work (:func:`check_transformer_attribution_support`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from timm.layers import Attention, DropPath, Mlp
from timm.layers.activations import GELU, GELUTanh, QuickGELU
from timm.models.vision_transformer import Block, VisionTransformer
from torch import nn

from ..attention.capture import fused_scale
from ..attention.logits import attention_logits
from ..errors import NotAvailableError, SettingsError
from ..models.geometry import geometry_of
from ..models.memory import available_memory_bytes
from ..models.predict import require_classifier
from ..models.types import Geometry
from .lrp import NORM_TYPES
from .readout import DistilledReadout, readout
from .relevance import relevance_from_gradients, resolve_targets
from .relprop import add_rule, linear_rule, matmul_rule

__all__ = ["TransformerAttribution", "transformer_attribution", "check_transformer_attribution_support"]

NAME = "Transformer Attribution (Chefer et al. CVPR 2021)"
ATTENTION_COPIES = 3  # every layer's A, dy/dA and LRP map are held at once (their rollout needs all of them)
GELU_TYPES: tuple[type, ...] = (nn.GELU, GELU, GELUTanh, QuickGELU)  # their GELU rule: relevance unchanged
_PASS_THROUGH = (nn.Identity, nn.Dropout, DropPath, *NORM_TYPES)  # modules their rules pass relevance through unchanged


@dataclass(frozen=True)
class TransformerAttribution:
    """Transformer Attribution of one batch.

    Attributes:
        heatmap: ``[batch, gh, gw]`` the readout row of the rolled-out relevance over the patches (not normalised).
        prefix_weights: ``[batch, prefix]`` that row on the prefix tokens.
        token_relevance: ``[batch, token]`` the LRP relevance reaching the first block's input (summed over width).
        block_sums: ``[batch, depth + 1]`` the sum of LRP relevance at each block boundary, first block's input
            first, the last block's output last (their rules conserve it: 1, the one-hot target, throughout).
        target_class: ``[batch]``.
        logits: ``[batch, classes]`` of the functional forward pass.
        geometry: its token layout.
    """

    heatmap: torch.Tensor
    prefix_weights: torch.Tensor
    token_relevance: torch.Tensor
    block_sums: torch.Tensor
    target_class: torch.Tensor
    logits: torch.Tensor
    geometry: Geometry


def _uncovered(model: nn.Module) -> list[str]:
    """What in `model` their rules do not cover (empty: covered)."""
    found = []
    if getattr(model, "attn_pool", None) is not None or model.global_pool != "token":
        found.append(f"the head's '{model.global_pool}' pooling (their rules follow the class token to the head)")
    heads = [model.head] + ([model.head_dist] if hasattr(model, "head_dist") else [])
    if not all(type(h) is nn.Linear for h in heads):
        found.append(f"a {type(model.head).__name__} head")
    for name in ("norm", "fc_norm", "head_drop"):
        if not isinstance(getattr(model, name, nn.Identity()), _PASS_THROUGH):
            found.append(f"a {type(getattr(model, name)).__name__} as {name}")
    for block in model.blocks:
        if type(block) is not Block:
            found.append(f"{type(block).__name__} blocks")
            continue
        attn, mlp = block.attn, block.mlp
        if type(attn) is not Attention or getattr(attn, "gate", None) is not None:
            found.append(f"{type(attn).__name__} attention" + (" with a gate" if type(attn) is Attention else ""))
        if not all(isinstance(m, nn.Identity) for m in (block.ls1, block.ls2)):
            found.append("LayerScale")
        if type(mlp) is not Mlp or type(mlp.act) not in GELU_TYPES or not all(
                type(fc) is nn.Linear for fc in (mlp.fc1, mlp.fc2)):
            found.append(f"a {type(mlp).__name__} MLP" + (f" with {type(mlp.act).__name__}" if type(mlp) is Mlp else ""))
        for sub in (block.norm1, block.norm2, block.drop_path1, block.drop_path2, getattr(attn, "q_norm", None),
                    getattr(attn, "k_norm", None), getattr(attn, "norm", None), getattr(mlp, "norm", None)):
            if sub is not None and not isinstance(sub, _PASS_THROUGH):
                found.append(f"{type(sub).__name__}")
    return list(dict.fromkeys(found))


def check_transformer_attribution_support(model: nn.Module) -> None:
    """Refuse, in one sentence and before any work, a model their rules do not cover."""
    if not isinstance(model, VisionTransformer):
        raise NotAvailableError(f"{NAME} needs a timm VisionTransformer, not {type(model).__name__}; "
                                "choose relevance (GAE), Grad-CAM or LRP.")
    require_classifier(model, NAME)
    uncovered = _uncovered(model)
    if uncovered:
        raise NotAvailableError(
            f"{NAME} has no rule for {', '.join(uncovered)} in this model (its rules cover plain pre-norm blocks "
            "with a GELU MLP and LayerNorm, read at the class token); choose relevance (GAE), Grad-CAM or LRP."
        )


def _check_memory(geometry: Geometry, pixel_values: torch.Tensor) -> None:
    """Refuse, before any work, an input whose full attention copies would not fit the device's free memory."""
    needed = ATTENTION_COPIES * geometry.attention_bytes(pixel_values.shape[0]) * pixel_values.element_size() // 4
    free = available_memory_bytes(pixel_values.device)
    if free is not None and needed > free:
        raise NotAvailableError(
            f"{NAME} holds {ATTENTION_COPIES} copies of every layer's full attention, {needed / 2**30:.1f} GB for "
            f"this input, and the {pixel_values.device.type} has {free / 2**30:.1f} GB free; choose a smaller image "
            "size, fewer images at once, or class-specific relevance (which streams its attention)."
        )


@dataclass
class _Block:
    """What the LRP pass needs of one block's forward: each rule's inputs (detached) and A (in the graph)."""

    x: torch.Tensor  # [batch, token, dim] the block's input
    h1: torch.Tensor  # norm1(x)
    q: torch.Tensor  # [batch, head, token, head_dim] after q_norm
    k: torch.Tensor
    v: torch.Tensor
    probs: torch.Tensor  # [batch, head, query, key]
    mixed: torch.Tensor  # [batch, token, head * head_dim] the attention's output before proj (after attn.norm)
    branch1: torch.Tensor  # proj(mixed)
    h2: torch.Tensor  # norm2(x + branch1)
    fc2_in: torch.Tensor  # mlp.norm(act(fc1(h2)))
    branch2: torch.Tensor  # fc2(fc2_in)


def _block_forward(block: Block, x: torch.Tensor) -> tuple[torch.Tensor, _Block]:
    """timm's ``Block.forward`` (eval: dropout and drop-path identities) spelled out, keeping each rule's inputs."""
    attn, mlp = block.attn, block.mlp
    batch, tokens, _ = x.shape
    h1 = block.norm1(x)
    q, k, v = attn.qkv(h1).reshape(batch, tokens, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    probs = attention_logits(q, k, fused_scale(attn, q), None).softmax(dim=-1).to(v.dtype)
    mixed = attn.norm((probs @ v).transpose(1, 2).reshape(batch, tokens, attn.attn_dim))
    branch1 = attn.proj(mixed)
    middle = x + branch1
    h2 = block.norm2(middle)
    fc2_in = mlp.norm(mlp.act(mlp.fc1(h2)))
    branch2 = mlp.fc2(fc2_in)
    d = lambda t: t.detach()  # noqa: E731
    kept = _Block(d(x), d(h1), d(q), d(k), d(v), probs, d(mixed), d(branch1), d(h2), d(fc2_in), d(branch2))
    return middle + branch2, kept


def _block_relevance(block: Block, kept: _Block, relevance: torch.Tensor, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Their ``Block.relprop``: (relevance of the block's input, the relevance reaching A ``[batch, head, q, k]``)."""
    f = lambda t: t.to(dtype)  # noqa: E731
    attn, mlp = block.attn, block.mlp
    batch, tokens, _ = kept.x.shape
    residual, branch = add_rule(f(kept.x + kept.branch1), f(kept.branch2), relevance)
    branch = linear_rule(f(kept.fc2_in), f(mlp.fc2.weight), branch)  # mlp.norm, GELU: unchanged
    branch = linear_rule(f(kept.h2), f(mlp.fc1.weight), branch)  # norm2: unchanged
    relevance = residual + branch  # the copy of x + branch1 sums its two relevances
    residual, branch = add_rule(f(kept.x), f(kept.branch1), relevance)
    branch = linear_rule(f(kept.mixed), f(attn.proj.weight), branch)  # attn.norm: unchanged
    per_head = branch.reshape(batch, tokens, attn.num_heads, attn.head_dim).transpose(1, 2)
    cam, r_v = matmul_rule(f(kept.probs.detach()), f(kept.v), per_head)  # A v; cam: the relevance at A, halved
    r_q, r_k = matmul_rule(f(kept.q), f(kept.k).transpose(-2, -1), cam)  # softmax: unchanged; q k^T (the scale
    r_qkv = torch.stack([r_q, r_k.transpose(-2, -1), r_v], dim=2)  # is a constant): [batch, head, 3, token, hd]
    r_qkv = r_qkv.permute(0, 3, 2, 1, 4).reshape(batch, tokens, 3 * attn.attn_dim)  # qkv's (3, head, hd) layout
    branch = linear_rule(f(kept.h1), f(attn.qkv.weight), r_qkv)  # q_norm, k_norm, norm1: unchanged
    return residual + branch, cam


def _head_relevance(model: nn.Module, features: torch.Tensor, target: torch.Tensor, dtype) -> torch.Tensor:
    """The one-hot target at the logits, back to the final tokens ``[batch, token, dim]`` (head, token selection)."""
    f = lambda t: t.detach().to(dtype)  # noqa: E731
    one_hot = torch.zeros(features.shape[0], model.num_classes, dtype=dtype, device=features.device)
    one_hot.scatter_(1, target[:, None], 1.0)
    out = torch.zeros_like(features, dtype=dtype)
    if hasattr(model, "head_dist"):  # DeiT distilled: (head(x_cls) + head_dist(x_dist)) / 2, a sum of two halves
        halves = [0.5 * f(head(features[:, i])) for i, head in enumerate((model.head, model.head_dist))]
        shares = add_rule(*halves, one_hot)
        for i, (head, share) in enumerate(zip((model.head, model.head_dist), shares, strict=True)):
            out[:, i] = linear_rule(f(features[:, i]), f(head.weight), share)
        return out
    pooled = model.fc_norm(features[:, 0])  # the class token; fc_norm and head_drop: unchanged
    out[:, 0] = linear_rule(f(pooled), f(model.head.weight), one_hot)
    return out


def transformer_attribution(
    model: nn.Module,
    pixel_values: torch.Tensor,
    *,
    target_class: int | Sequence[int] | torch.Tensor | None = None,
    distilled: DistilledReadout = "mean",
) -> TransformerAttribution:
    """Transformer Attribution maps for a batch: one forward, one backward and one LRP pass.

    Args:
        model: a timm VisionTransformer in eval mode whose layers their rules cover.
        pixel_values: ``[batch, 3, h, w]`` on the model's device and dtype.
        target_class: None for each image's top-1 class, one class for all, or one per image.
        distilled: the readout row of R for a model with a distillation token: "cls", "dist" or their "mean".

    Example:
        >>> ta = transformer_attribution(model, pixels, target_class=207)
        >>> ta.heatmap.shape, ta.block_sums  # [batch, gh, gw]; every entry 1 (conservation)
    """
    if model.training:
        raise SettingsError("the model is in training mode (dropout is random); call model.eval() first.")
    check_transformer_attribution_support(model)
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    _check_memory(geometry, pixel_values)
    dtype = torch.float64 if pixel_values.dtype == torch.float64 else torch.float32
    with torch.enable_grad():
        x = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(pixel_values.detach()))))
        kept = []
        for block in model.blocks:
            x, record = _block_forward(block, x)
            kept.append(record)
        features = model.norm(x)
        logits = model.forward_head(features)
        target = resolve_targets(logits, target_class)
        score = logits.gather(1, target[:, None]).sum()  # one backward for the whole batch
        gradients = torch.autograd.grad(score, [k.probs for k in kept], allow_unused=True)
    with torch.no_grad():
        relevance = _head_relevance(model, features, target, dtype)  # the final norm: unchanged
        sums, cams = [relevance.sum(dim=(1, 2))], []
        for block, record in zip(reversed(model.blocks), reversed(kept), strict=True):
            relevance, cam = _block_relevance(block, record, relevance, dtype)
            sums.append(relevance.sum(dim=(1, 2)))
            cams.append(cam)
            record.probs = None  # A is used: free it before the next layer's temporaries
        matrix = relevance_from_gradients(cams[::-1], list(gradients))  # R <- R + mean_h (cam dy/dA)^+ R
        heatmap, prefix = readout(matrix, geometry, distilled=distilled)
    return TransformerAttribution(
        heatmap=heatmap,
        prefix_weights=prefix,
        token_relevance=relevance.sum(dim=-1).float(),
        block_sums=torch.stack(sums[::-1], dim=1),
        target_class=target,
        logits=logits.detach().float(),
        geometry=geometry,
    )
