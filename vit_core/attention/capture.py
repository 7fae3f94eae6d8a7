"""Capture the exact attention probabilities of a timm ViT while it keeps its fused attention.

timm's ``Attention.forward`` computes q and k, passes them through ``q_norm``/``k_norm`` (``nn.Identity``
when unused; hooks still fire) and calls ``F.scaled_dot_product_attention``. A forward hook on ``k_norm``
sees the very q and k the fused kernel used, so ``softmax(q k^T * scale + mask)`` rebuilds the
probabilities without touching the prediction path (the fix for vit-explain #23).

For gradients (class-specific relevance) the attention must be inside the autograd graph: with
``with_grad=True`` a forward hook on each attention module replaces its output by timm's own
non-fused computation, built from the module's own submodules, and keeps the probabilities.

Hooks live in a context manager, are removed in ``finally``, and act only for the thread that opened
the context, so one cached model can serve several threads at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from timm.layers import Attention, AttentionPoolLatent
from timm.models.vision_transformer import VisionTransformer
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import CaptureError, UnsupportedModelError
from ..models.geometry import geometry_of
from ..models.types import Capture
from .logits import attention_logits

__all__ = ["AttentionCapture", "AttentionSink", "attention_modules", "capture", "eager_attention", "embed_tokens", "forward_checkpointed", "fused_scale"]


# sink(layer_index, probabilities [batch, head, query, key]) -> None. A sink whose ``takes_logits`` attribute is
# true is called as sink(layer, probs, logits) on the fused path, logits being the pre-softmax scores (float32,
# masked entries at float32's lowest value): entropy from logits needs no per-element log. A sink with a
# ``reduce_qk`` method is first offered each layer's q and k, as reduce_qk(layer, q, k, scale, mask) -> bool;
# when it returns True it has reduced the layer itself (vit_core.attention.fused_stats) and nothing is rebuilt. A sink
# whose ``computes_attention(q)`` is true is instead handed q, k and v as reduce_qkv(layer, q, k, v, scale, mask)
# and returns the attention output [batch, head, token, head_dim] itself, which replaces the fused kernel's call
# for this thread (attention computed once: on a CPU the fused kernel is no faster than the explicit softmax).
AttentionSink = Callable[..., None]


class _AttentionComputedOnce(TorchFunctionMode):
    """For one thread: each layer's ``scaled_dot_product_attention`` call answered by the sink's ``reduce_qkv``,
    which computes the probabilities once for the statistics and the output alike."""

    def __init__(self, owner: AttentionCapture) -> None:
        super().__init__()
        self.owner = owner

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        pending = self.owner._once_pending
        if func is F.scaled_dot_product_attention and pending is not None:
            self.owner._once_pending = None
            layer, q, k, scale, mask = pending
            plain_call = not kwargs.get("is_causal") and not kwargs.get("dropout_p") and kwargs.get("scale") in (None, scale)
            if args[0] is q and args[1] is k and plain_call:
                out = self.owner._sink.reduce_qkv(layer, q, k, args[2], scale, mask)
                self.owner._seen.add(layer)
                return out.to(args[2].dtype)
            self.owner._rebuild_and_emit(layer, q, k, scale, mask)  # not the call the hooks saw: as without the mode
        return func(*args, **kwargs)


def attention_modules(model: nn.Module) -> list[Attention]:
    """The attention module of every block, in depth order, or a clear refusal.

    Raises:
        UnsupportedModelError: the model is not a timm VisionTransformer with standard attention blocks
            (EVA's rotary attention or BEiT's relative-position bias would give wrong maps here).
    """
    if not isinstance(model, VisionTransformer):
        raise UnsupportedModelError(
            f"{type(model).__name__} is not a timm VisionTransformer; choose a ViT, DeiT, DINO/DINOv2 or CLIP ViT model."
        )
    modules = []
    for index, block in enumerate(model.blocks):
        attn = getattr(block, "attn", None)
        if type(attn) is not Attention:
            kind = type(attn).__name__ if attn is not None else type(block).__name__
            raise UnsupportedModelError(
                f"block {index} uses {kind}, whose attention this tool cannot rebuild exactly; "
                "choose a model with standard timm attention blocks (ViT, DeiT, DINO, DINOv2, CLIP)."
            )
        modules.append(attn)
    return modules


def fused_scale(module: nn.Module, q: torch.Tensor) -> float:
    # The fused kernel is called without scale=, so it uses 1/sqrt(head_dim), whatever module.scale says.
    return q.shape[-1] ** -0.5 if module.fused_attn else float(module.scale)


def eager_attention(
    module: Attention, x: torch.Tensor, attn_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """timm's non-fused ``Attention`` path: (output [batch, tokens, dim], probs [batch, head, query, key]).

    The scale is the one the fused kernel uses for this module, so gradients explain the prediction's attention.
    """
    batch, tokens, _ = x.shape
    gate = module.gate(x).sigmoid() if getattr(module, "gate", None) is not None else None
    qkv = module.qkv(x).reshape(batch, tokens, 3, module.num_heads, module.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = module.q_norm(q), module.k_norm(k)
    logits = (q * fused_scale(module, q)) @ k.transpose(-2, -1)  # the scale the prediction's kernel uses
    if attn_mask is not None:
        logits = logits.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else logits + attn_mask
    probs = logits.softmax(dim=-1)
    out = module.attn_drop(probs) @ v
    out = out.transpose(1, 2).reshape(batch, tokens, module.attn_dim)
    out = module.norm(out)
    if gate is not None:
        out = out * gate
    return module.proj_drop(module.proj(out)), probs


class AttentionCapture:
    """Context manager that records (or streams) each chosen layer's attention probabilities.

    Args:
        model: a timm VisionTransformer.
        layers: block indices to capture; None for all. Fewer layers, less memory.
        sink: called as ``sink(layer, probs)`` with probs [batch, head, query, key] float32; when given,
            nothing is stored (reduce on the device as the forward goes). Default: store all.
        with_grad: keep the probabilities in the autograd graph (runs the non-fused path).
        pool: also capture an attention-pool ("map") head's weights.
        keep_for_gradients: keep, per layer, what rebuilds the gradient of the attention exactly while the
            fused kernel runs: q, k, v (:attr:`qkv`, detached) and the attention output (:attr:`attention_outputs`,
            in the graph: differentiate the score with respect to it). Memory grows with the tokens, not their
            square. Not with ``with_grad``. Without a sink the layers' probabilities are then not rebuilt at all
            (:attr:`attention` refuses): the caller rebuilds the blocks it needs from q and k.

    Example:
        >>> with AttentionCapture(model) as cap:
        ...     logits = model(pixel_values)
        >>> cap.attention.shape  # [batch, layer, head, query, key]
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[int] | None = None,
        sink: AttentionSink | None = None,
        with_grad: bool = False,
        pool: bool = True,
        keep_for_gradients: bool = False,
    ) -> None:
        if with_grad and keep_for_gradients:
            raise CaptureError("keep_for_gradients replaces with_grad's non-fused path; choose one of them.")
        self.model = model
        modules = attention_modules(model)
        depth = len(modules)
        chosen = range(depth) if layers is None else sorted(set(int(i) for i in layers))
        for i in chosen:
            if not 0 <= i < depth:
                raise CaptureError(f"layer {i} does not exist; this model has layers 0 to {depth - 1}.")
        self.layers: tuple[int, ...] = tuple(chosen)
        self._modules = modules
        self._sink = sink
        self.with_grad = with_grad
        self._pool = pool and isinstance(getattr(model, "attn_pool", None), AttentionPoolLatent)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._owner: int | None = None
        self._stored: dict[int, torch.Tensor] = {}
        self._seen: set[int] = set()
        self._pool_probs: torch.Tensor | None = None
        self._pending_q: dict[int, torch.Tensor] = {}
        self._pending_mask: dict[int, torch.Tensor | None] = {}
        self._pool_values: torch.Tensor | None = None  # with_grad: the pool's kv output [batch, key, 2 * dim]
        self._pool_mixed: torch.Tensor | None = None  # with_grad: the pool's attention output [batch, latent, dim]
        self.keep_for_gradients = keep_for_gradients
        self._qkv: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}  # layer -> q, k, v detached
        self._pending_v: dict[int, torch.Tensor] = {}
        self._outputs: dict[int, torch.Tensor] = {}  # layer -> attention output [batch, token, head * head_dim]
        self._once_pending: tuple | None = None  # (layer, q, k, scale, mask) for the next attention call
        self._once_mode: _AttentionComputedOnce | None = None

    # -- hooks ---------------------------------------------------------------------------------
    def _mine(self) -> bool:
        return threading.get_ident() == self._owner

    def _emit(self, layer: int, probs: torch.Tensor, logits: torch.Tensor | None = None) -> None:
        self._seen.add(layer)
        if self._sink is None:
            self._stored[layer] = probs
        elif logits is not None and getattr(self._sink, "takes_logits", False):
            self._sink(layer, probs, logits)
        else:
            self._sink(layer, probs)

    # Hooks take (module, args, *rest): torch decides between the with-kwargs and plain signatures from a live
    # table, so a thread running a snapshot of another thread's just-removed hook can call it either way.
    def _hook_mask(self, layer: int):
        def hook(module, args, *rest):
            if self._mine():
                kwargs = rest[0] if rest else {}
                self._pending_mask[layer] = kwargs.get("attn_mask", args[1] if len(args) > 1 else None)

        return hook

    def _hook_q(self, layer: int):
        def hook(module, args, output):
            if self._mine():
                self._pending_q[layer] = output

        return hook

    def _hook_k(self, layer: int, attn: nn.Module):
        def hook(module, args, output):
            if not self._mine():
                return
            q = self._pending_q.pop(layer)
            scale, mask = fused_scale(attn, q), self._pending_mask.pop(layer, None)
            if self.keep_for_gradients and layer >= 0:
                # compact copies: views would keep each layer's whole [batch, token, 3 * dim] qkv output alive
                q, output = q.detach().contiguous(), output.detach().contiguous()
                self._qkv[layer] = (q, output, self._pending_v.pop(layer))
                if self._sink is None:  # nothing asks for the probabilities: the caller rebuilds blocks from q, k
                    self._seen.add(layer)
                    return
            if layer >= 0 and self._once_mode is not None and self._sink.computes_attention(q):
                self._once_pending = (layer, q, output, scale, mask)  # answered at the layer's attention call
                return
            reduce_qk = getattr(self._sink, "reduce_qk", None) if layer >= 0 else None
            if reduce_qk is not None and reduce_qk(layer, q, output, scale, mask):
                self._seen.add(layer)
                return
            self._rebuild_and_emit(layer, q, output, scale, mask)

        return hook

    def _rebuild_and_emit(self, layer: int, q, k, scale: float, mask) -> None:
        with torch.no_grad():
            logits = attention_logits(q, k, scale, mask)
            probs = logits.softmax(dim=-1)
        if layer >= 0:
            self._emit(layer, probs, logits)
        else:
            self._pool_probs = probs

    def _hook_eager(self, layer: int):
        def hook(module, args, *rest):
            if not self._mine():
                return None
            kwargs = rest[0] if len(rest) == 2 else {}
            x = args[0]
            mask = kwargs.get("attn_mask", args[1] if len(args) > 1 else None)
            out, probs = eager_attention(module, x, mask)
            self._emit(layer, probs)
            return out

        return hook

    def _hook_v(self, layer: int, attn: nn.Module):
        def hook(module, args, output):
            if self._mine():
                batch, tokens, _ = output.shape
                qkv = output.detach().reshape(batch, tokens, 3, attn.num_heads, attn.head_dim)
                self._pending_v[layer] = qkv[:, :, 2].transpose(1, 2).contiguous()  # [batch, head, token, head_dim]

        return hook

    def _hook_output(self, layer: int):
        def hook(module, args, *rest):
            if self._mine():
                self._outputs[layer] = args[0]  # [batch, token, head * head_dim], before the layer's norm

        return hook

    def _hook_pool_values(self, module, args, output):
        if self._mine():
            self._pool_values = output

    def _hook_pool_mixed(self, module, args, *rest):
        if self._mine():
            self._pool_mixed = args[0]

    def _watch_qk(self, key: int, attn: nn.Module) -> None:
        add = self._handles.append
        add(attn.register_forward_pre_hook(self._hook_mask(key), with_kwargs=True))
        add(attn.q_norm.register_forward_hook(self._hook_q(key)))
        add(attn.k_norm.register_forward_hook(self._hook_k(key, attn)))

    # -- context -------------------------------------------------------------------------------
    def __enter__(self) -> AttentionCapture:
        if self._handles:
            raise CaptureError("this AttentionCapture is already open; open a new one for each forward pass.")
        self._owner = threading.get_ident()
        try:
            for layer in self.layers:
                attn = self._modules[layer]
                if self.with_grad:
                    self._handles.append(attn.register_forward_hook(self._hook_eager(layer), with_kwargs=True))
                else:
                    self._watch_qk(layer, attn)
                if self.keep_for_gradients:
                    self._handles.append(attn.qkv.register_forward_hook(self._hook_v(layer, attn)))
                    self._handles.append(attn.norm.register_forward_pre_hook(self._hook_output(layer)))
            if self._pool:
                pool = self.model.attn_pool
                self._watch_qk(-1, pool)
                if self.with_grad or self.keep_for_gradients:  # what the pool's attention gradient needs (see pool_attention_gradient)
                    self._handles.append(pool.kv.register_forward_hook(self._hook_pool_values))
                    self._handles.append(pool.proj.register_forward_pre_hook(self._hook_pool_mixed))
            on_cpu = all(p.device.type == "cpu" for p in self.model.patch_embed.parameters())
            if on_cpu and not (self.with_grad or self.keep_for_gradients) and hasattr(self._sink, "reduce_qkv"):
                self._once_mode = _AttentionComputedOnce(self)
                self._once_mode.__enter__()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this capture added (idempotent)."""
        if self._once_mode is not None:
            self._once_mode.__exit__(None, None, None)
            self._once_mode, self._once_pending = None, None
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._pending_q.clear()
        self._pending_mask.clear()
        self._pending_v.clear()

    # -- results -------------------------------------------------------------------------------
    def check_complete(self) -> None:
        """Raise unless every chosen layer produced attention (never return nothing silently)."""
        missing = [i for i in self.layers if i not in self._seen]
        if missing:
            raise CaptureError(
                f"no attention was captured for layers {missing}; run the model's forward inside the capture context."
            )

    @property
    def attention(self) -> torch.Tensor:
        """[batch, layer, head, query, key] for ``self.layers``; raises if nothing was captured."""
        self.check_complete()
        if self._sink is not None:
            raise CaptureError("attention was streamed to a sink and not stored; read it from the sink.")
        if self.keep_for_gradients:
            raise CaptureError("keep_for_gradients keeps q, k and v, not the probabilities; rebuild rows with "
                               "vit_core.attention.store.attention_rows.")
        return torch.stack([self._stored[i] for i in self.layers], dim=1)

    @property
    def attention_list(self) -> list[torch.Tensor]:
        """Per captured layer, [batch, head, query, key] (in the autograd graph when with_grad)."""
        self.check_complete()
        return [self._stored[i] for i in self.layers]

    @property
    def qkv(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """With ``keep_for_gradients``: per captured layer (q, k, v), each ``[batch, head, token, head_dim]``,
        detached, as the fused kernel saw them."""
        self.check_complete()
        return [self._qkv[i] for i in self.layers]

    @property
    def attention_outputs(self) -> list[torch.Tensor]:
        """With ``keep_for_gradients``: per captured layer, the attention output ``[batch, token, head * head_dim]``
        (``A v`` of every head, in the autograd graph)."""
        self.check_complete()
        return [self._outputs[i] for i in self.layers]

    @property
    def pool_attention(self) -> torch.Tensor | None:
        """[batch, pool_head, latent, key] of an attention-pool head, or None."""
        return self._pool_probs

    @property
    def pool_output(self) -> torch.Tensor | None:
        """With ``with_grad``: the attention pool's mixed values ``[batch, latent, dim]`` (in the graph), or None.

        Differentiate the score with respect to this, then call :meth:`pool_attention_gradient`.
        """
        return self._pool_mixed

    def pool_attention_gradient(self, output_gradient: torch.Tensor) -> torch.Tensor:
        """d score / d pool attention ``[batch, pool_head, latent, key]`` from d score / d :attr:`pool_output`.

        The pool mixes its values linearly, out[q] = sum_k A[q, k] v[k] per head, so the gradient of the
        weights is exact without running the pool's attention outside its fused kernel:
        dA[q, k] = d out[q] . v[k].
        """
        if self._pool_values is None or self._pool_mixed is None:
            raise CaptureError("no attention-pool pass was captured with gradients; use with_grad=True and pool=True.")
        pool = self.model.attn_pool
        batch, latent, _ = output_gradient.shape
        heads, head_dim = pool.num_heads, pool.head_dim
        values = self._pool_values.detach().reshape(batch, -1, 2, heads, head_dim)[:, :, 1]  # [batch, key, head, hd]
        grad = output_gradient.detach().reshape(batch, latent, heads, head_dim)  # [batch, latent, head, hd]
        return torch.einsum("bqhd,bkhd->bhqk", grad.float(), values.float())


def embed_tokens(model: VisionTransformer, pixel_values: torch.Tensor) -> torch.Tensor:
    """The first block's input ``[batch, token, dim]``: timm's ``forward_features`` before its blocks (patch
    embedding, prefix tokens and position embedding, patch dropout, pre-norm)."""
    x = model.patch_embed(pixel_values)
    x = model._pos_embed(x)
    x = model.patch_drop(x)
    return model.norm_pre(x)


def forward_checkpointed(model: VisionTransformer, pixel_values: torch.Tensor) -> torch.Tensor:
    """timm's ``VisionTransformer.forward`` with each block checkpointed: the forward keeps only the blocks'
    inputs for the backward, and the backward recomputes one block at a time, so a gradient pass holds one
    block's activations instead of every block's (what bounds the memory of gradients at 1,000+ tokens)."""
    from torch.utils.checkpoint import checkpoint

    x = embed_tokens(model, pixel_values)
    for block in model.blocks:
        x = checkpoint(block, x, use_reentrant=False) if torch.is_grad_enabled() else block(x)
    x = model.norm(x)
    return model.forward_head(x)


def capture(
    model: nn.Module,
    pixel_values: torch.Tensor,
    layers: Sequence[int] | None = None,
    sink: AttentionSink | None = None,
) -> Capture:
    """Run one fused forward pass and return logits, attention and geometry.

    Args:
        model: a timm VisionTransformer in eval mode.
        pixel_values: [batch, 3, h, w] on the model's device and dtype.
        layers: block indices to keep; None for all.
        sink: stream each layer's [batch, head, query, key] probabilities instead of storing them.
    """
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    with AttentionCapture(model, layers=layers, sink=sink) as cap, torch.no_grad():
        logits = model(pixel_values)
    cap.check_complete()
    attention = cap.attention if sink is None else None
    return Capture(
        logits=logits.float(),
        attention=attention,
        layers=cap.layers,
        geometry=geometry,
        pool_attention=cap.pool_attention,
    )


_fused_scale = fused_scale
