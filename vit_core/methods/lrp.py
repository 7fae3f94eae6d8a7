"""Conservative propagation for transformers: CP-LRP (Ali et al. ICML 2022, "XAI for Transformers: Better
Explanations through Conservative Propagation") and, as an option, AttnLRP's attention rule (Achtibat et
al. ICML 2024).

Gradient x input at the input of the first block, with a modified backward pass that autograd computes
once the forward treats some factors as constants (``detach``):

- attention: the probabilities are constants, so relevance flows through the values only (CP-LRP); with
  ``rule="attnlrp"`` the softmax keeps its gradient (AttnLRP's softmax rule, x_i (R_i - s_i sum_j R_j), is
  the softmax's own gradient times its input) and each of the two products ``q k^T`` and ``A v`` passes half
  of the gradient to each operand (AttnLRP's uniform rule for bilinear products);
- LayerNorm: the standard deviation is a constant (the centring is linear);
- the MLP's activation: the ratio rule, f(x) = x * [f(x)/x] with the bracket a constant;
- a gated MLP (``GluMlp``, ``SwiGLUPacked``, ``SwiGLU``: value * act(gate)): the gate is a constant (CP-LRP), or,
  with ``rule="attnlrp"``, the ratio rule on the activation and the uniform rule (half the gradient to each
  operand) on the product.

Which rule each MLP and norm type gets is one table (:data:`MLP_RULES`, :data:`NORM_TYPES`); a model holding any
other MLP or norm type is refused before anything runs, never explained with a rule that does not fit it.

Then ``R_token = sum_d x[token, d] * grad[token, d]``. The network seen by this backward pass is linear in
x, so with every bias zero the relevances of all tokens sum to the target logit (conservation; CP-LRP only,
AttnLRP's softmax rule is not conservative). With biases, what is missing from the logit is reported as
``bias_relevance``; the part of each token's relevance carried by its position embedding is
``position_relevance`` (for models without ``norm_pre``).

Implemented as forward hooks that replace each module's output by the same value computed with the
constants detached: the model is not modified and every timm layout (class, distillation, registers,
average or attention pooling) goes through its own forward code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from timm.layers import Attention, AttentionPoolLatent, GluMlp, Mlp, SwiGLU
from timm.layers import LayerNorm as TimmLayerNorm
from torch import nn

from ..attention.capture import _fused_scale, attention_modules
from ..errors import NotAvailableError, SettingsError
from ..models.geometry import geometry_of
from ..models.predict import require_classifier
from .pos_embed import patch_position_embeddings
from .relevance import resolve_targets

__all__ = ["LrpRule", "Lrp", "lrp", "MLP_RULES", "NORM_TYPES", "check_lrp_support"]

LrpRule = Literal["cp", "attnlrp"]


@dataclass(frozen=True)
class Lrp:
    """Conservative-propagation relevance of one batch.

    Attributes:
        heatmap: ``[batch, gh, gw]`` relevance of the patch tokens (signed).
        prefix_relevance: ``[batch, prefix]`` relevance of the prefix tokens.
        target_logit: ``[batch]`` the logit explained.
        bias_relevance: ``[batch]`` target logit minus the sum of all tokens' relevance (what biases absorb).
        position_relevance: ``[batch]`` the share of the tokens' relevance carried by the position
            embeddings (NaN where a ``norm_pre`` layer or no learned table makes it undefined).
        target_class: ``[batch]``.
        logits: ``[batch, classes]``.
        rule: "cp" or "attnlrp".
    """

    heatmap: torch.Tensor
    prefix_relevance: torch.Tensor
    target_logit: torch.Tensor
    bias_relevance: torch.Tensor
    position_relevance: torch.Tensor
    target_class: torch.Tensor
    logits: torch.Tensor
    rule: str


class _HalfGradient(torch.autograd.Function):
    """Identity forward; half the gradient backward (AttnLRP's uniform rule for one operand of a product)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * 0.5


def _half(x: torch.Tensor) -> torch.Tensor:
    return _HalfGradient.apply(x)


def _mix(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, mask, rule: LrpRule) -> torch.Tensor:
    """softmax(q k^T scale + mask) v with the rule's constants: [batch, head, query, head_dim]."""
    if rule == "cp":  # probabilities constant: the fused kernel on detached q and k, O(tokens) memory
        return torch.nn.functional.scaled_dot_product_attention(q.detach(), k.detach(), v, attn_mask=mask, scale=scale)
    if rule == "attnlrp":
        q, k = _half(q), _half(k)
    logits = (q * scale) @ k.transpose(-2, -1)  # [batch, head, query, key]
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else logits + mask
    probs = logits.softmax(dim=-1)
    return _half(probs) @ _half(v)


def _attention(module: Attention, x: torch.Tensor, mask, rule: LrpRule) -> torch.Tensor:
    """timm's ``Attention.forward`` with the rule's constants; x: [batch, tokens, dim]."""
    batch, tokens, _ = x.shape
    qkv = module.qkv(x).reshape(batch, tokens, 3, module.num_heads, module.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = module.q_norm(q), module.k_norm(k)
    out = _mix(q, k, v, _fused_scale(module, q), mask, rule).transpose(1, 2).reshape(batch, tokens, module.attn_dim)
    out = module.norm(out)
    if getattr(module, "gate", None) is not None:
        out = out * module.gate(x).sigmoid()
    return module.proj(out)


def _pool(module: AttentionPoolLatent, x: torch.Tensor, rule: LrpRule) -> torch.Tensor:
    """timm's ``AttentionPoolLatent.forward`` with the rule's constants."""
    batch, tokens, dim = x.shape
    if module.pos_embed is not None:
        x = x + module.pos_embed.unsqueeze(0).to(x.dtype)
    q = module.q(module.latent.expand(batch, -1, -1))
    q = q.reshape(batch, module.latent_len, module.num_heads, module.head_dim).transpose(1, 2)
    k, v = module.kv(x).reshape(batch, tokens, 2, module.num_heads, module.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    q, k = module.q_norm(q), module.k_norm(k)
    out = _mix(q, k, v, _fused_scale(module, q), None, rule).transpose(1, 2).reshape(batch, module.latent_len, dim)
    out = module.proj(out)
    if module.mlp is not None:
        out = out + module.mlp(module.norm(out))
    if module.pool == "token":
        return out[:, 0]
    return out.mean(1) if module.pool == "avg" else out


def _layer_norm(module: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm whose standard deviation is a constant."""
    centred = x - x.mean(dim=-1, keepdim=True)
    std = (centred.pow(2).mean(dim=-1, keepdim=True) + module.eps).sqrt().detach()
    out = centred / std
    if module.weight is not None:
        out = out * module.weight
    return out + module.bias if module.bias is not None else out


def _ratio(x: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
    """f(x) = x * [f(x)/x], the bracket a constant (at x = 0 the slope 0.5 of GELU and SiLU at the origin)."""
    small = x.abs() < 1e-6
    ratio = torch.where(small, torch.full_like(x, 0.5), fx / torch.where(small, torch.ones_like(x), x))
    return x * ratio.detach()


def _mlp(module: Mlp, x: torch.Tensor) -> torch.Tensor:
    """timm's ``Mlp.forward`` with the ratio rule on the activation."""
    hidden = module.fc1(x)
    return module.drop2(module.fc2(module.norm(module.drop1(_ratio(hidden, module.act(hidden))))))


def _gated(value: torch.Tensor, gate: torch.Tensor, act: nn.Module, rule: LrpRule) -> torch.Tensor:
    """value * act(gate) with the rule's constants: the gate a constant (cp), or ratio and uniform rules (attnlrp)."""
    if rule == "cp":
        return value * act(gate).detach()
    return _half(value) * _half(_ratio(gate, act(gate)))


def _glu_mlp(module: GluMlp, x: torch.Tensor, rule: LrpRule) -> torch.Tensor:
    """timm's ``GluMlp.forward`` (``SwiGLUPacked`` too) with the rule's constants."""
    first, second = module.fc1(x).chunk(2, dim=module.chunk_dim)
    value, gate = (first, second) if module.gate_last else (second, first)
    return module.drop2(module.fc2(module.norm(module.drop1(_gated(value, gate, module.act, rule)))))


def _swiglu(module: SwiGLU, x: torch.Tensor, rule: LrpRule) -> torch.Tensor:
    """timm's ``SwiGLU.forward`` with the rule's constants."""
    hidden = _gated(module.fc1_x(x), module.fc1_g(x), module.act, rule)
    return module.drop2(module.fc2(module.norm(module.drop1(hidden))))


# MLP type -> its forward with the rule's constants (module, input, rule) -> output. Exact types: a subclass may
# compute something else. SwiGLUPacked is GluMlp with SiLU and the gate first.
MLP_RULES: dict[type, Callable[[nn.Module, torch.Tensor, LrpRule], torch.Tensor]] = {
    Mlp: lambda m, x, rule: _mlp(m, x),
    GluMlp: _glu_mlp,
    SwiGLU: _swiglu,
}
# Norm types LRP handles (LayerNorm: the standard deviation a constant); nn.Identity stands for no norm.
NORM_TYPES: tuple[type, ...] = (nn.LayerNorm, TimmLayerNorm)


def _mlps(model: nn.Module) -> list[nn.Module]:
    """Every MLP of the model: each block's ``mlp``, the attention pool's, and any module named like one."""
    found = [block.mlp for block in getattr(model, "blocks", ()) if getattr(block, "mlp", None) is not None]
    pool = getattr(model, "attn_pool", None)
    if pool is not None and getattr(pool, "mlp", None) is not None:
        found.append(pool.mlp)
    named = [m for m in model.modules() if type(m).__name__.endswith(("Mlp", "GLU", "Glu"))]
    return list({id(m): m for m in [*found, *named]}.values())


def check_lrp_support(model: nn.Module) -> None:
    """Refuse a model with an MLP or norm type that has no LRP rule here (one sentence, before any work)."""
    names = sorted({type(m).__name__ for m in _mlps(model) if type(m) not in MLP_RULES}
                   | {type(m).__name__ for m in model.modules() if "Norm" in type(m).__name__
                      and type(m) not in NORM_TYPES})
    if names:
        known = ", ".join(t.__name__ for t in (*MLP_RULES, *NORM_TYPES))
        raise NotAvailableError(
            f"LRP has no rule for {', '.join(names)} in this model (it handles {known}); choose another method."
        )


def _position_relevance(model: nn.Module, grad: torch.Tensor, geometry) -> torch.Tensor:
    """sum over tokens of pos_embed . grad ``[batch]``: the relevance the position embeddings carry (NaN if undefined)."""
    nan = torch.full(grad.shape[:1], float("nan"), device=grad.device)
    if not isinstance(model.norm_pre, nn.Identity):
        return nan  # a norm between the embeddings and the first block: the sum no longer splits
    try:
        patches = patch_position_embeddings(model, geometry.grid_size).to(grad.device)  # [gh, gw, dim]
    except NotAvailableError:
        return nan
    p = geometry.num_prefix_tokens
    share = (grad[:, p:].float() * patches.reshape(1, geometry.num_patches, -1)).sum(dim=(1, 2))
    if p and not getattr(model, "no_embed_class", False):  # the table covers the prefix tokens too
        share = share + (grad[:, :p].float() * model.pos_embed.detach().float()[:, :p]).sum(dim=(1, 2))
    return share


@contextmanager
def _propagation(model: nn.Module, rule: LrpRule):
    """Hooks that make autograd's backward pass the conservative one (removed on exit)."""
    handles = []

    def replace(fn):
        def hook(module, args, *rest):
            kwargs = rest[0] if len(rest) == 2 else {}
            return fn(module, args, kwargs)

        return hook

    try:
        for attn in attention_modules(model):
            handles.append(attn.register_forward_hook(
                replace(lambda m, a, kw: _attention(m, a[0], kw.get("attn_mask", a[1] if len(a) > 1 else None), rule)),
                with_kwargs=True,
            ))
        for module in model.modules():
            if type(module) in NORM_TYPES:
                handles.append(module.register_forward_hook(replace(lambda m, a, kw: _layer_norm(m, a[0]))))
            elif type(module) in MLP_RULES:
                rule_of = MLP_RULES[type(module)]
                handles.append(module.register_forward_hook(
                    replace(lambda m, a, kw, f=rule_of: f(m, a[0], rule))))
            elif isinstance(module, AttentionPoolLatent):
                handles.append(module.register_forward_hook(replace(lambda m, a, kw: _pool(m, a[0], rule))))
        yield
    finally:
        for handle in handles:
            handle.remove()


def lrp(
    model: nn.Module,
    pixel_values: torch.Tensor,
    *,
    target_class: int | Sequence[int] | torch.Tensor | None = None,
    rule: LrpRule = "cp",
) -> Lrp:
    """Conservative-propagation relevance of every token for a batch (one forward, one backward pass).

    Args:
        model: a timm VisionTransformer in eval mode (standard attention blocks).
        pixel_values: ``[batch, 3, h, w]``.
        target_class: None for each image's top-1, one class for all, or one per image.
        rule: "cp" (Ali et al. 2022) or "attnlrp" (Achtibat et al. 2024's softmax and uniform rules).

    Example:
        >>> r = lrp(model, pixels)
        >>> r.heatmap.sum((1, 2)) + r.prefix_relevance.sum(1) + r.bias_relevance  # == r.target_logit
    """
    if rule not in ("cp", "attnlrp"):
        raise SettingsError(f"LRP rule {rule!r} is unknown; choose 'cp' or 'attnlrp'.")
    if model.training:
        raise SettingsError("the model is in training mode (dropout is random); call model.eval() first.")
    require_classifier(model, "LRP")
    check_lrp_support(model)
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    seen: list[torch.Tensor] = []

    def keep_input(module, args):
        seen.append(args[0])

    handle = model.blocks[0].register_forward_pre_hook(keep_input)
    try:
        with torch.enable_grad(), _propagation(model, rule):
            logits = model(pixel_values.detach().requires_grad_(True))
            target = resolve_targets(logits, target_class)
            picked = logits.gather(1, target[:, None]).squeeze(1)  # [batch]
            (grad,) = torch.autograd.grad(picked.sum(), seen[0])
    finally:
        handle.remove()
    x = seen[0].detach()  # [batch, token, dim] the first block's input
    relevance = (x.float() * grad.float()).sum(dim=-1)  # [batch, token]
    p = geometry.num_prefix_tokens
    gh, gw = geometry.grid_size
    pos_share = _position_relevance(model, grad, geometry)
    target_logit = picked.detach().float()
    return Lrp(
        heatmap=relevance[:, p:].reshape(-1, gh, gw),
        prefix_relevance=relevance[:, :p],
        target_logit=target_logit,
        bias_relevance=target_logit - relevance.sum(dim=1),
        position_relevance=pos_share,
        target_class=target,
        logits=logits.detach().float(),
        rule=rule,
    )
