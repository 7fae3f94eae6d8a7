"""Switch attention heads and tokens off during a forward pass, keeping timm's fused attention.

Heads: a head's contribution is removed *before the attention's output projection*: a forward pre-hook on
``attn.proj`` rewrites the head's slice ``[h * head_dim, (h + 1) * head_dim)`` of the concatenated head outputs
(``A v`` per head), either to zero (zero ablation) or to the head's mean output over a reference set of images
(mean ablation, the default). The mean is taken per token position, over the reference images
(:func:`head_means`, ``[layer, token, head * head_dim]``): the class token's and the registers' outputs differ
systematically from the patches', so one mean over all positions would hand the class token a patch-typical
vector, a second intervention besides switching the head off. The per-position mean needs reference images at
the analysed input size (refused otherwise).

Tokens: ``masked_tokens`` blocks attention *to* a token in every layer (no query reads it as a key; it keeps its
own row, and the head's pooling still reads it where it pools that token); ``dropped_tokens`` removes the token
from the sequence after the position embedding (:func:`ablated_forward` only: it changes the token count, so
maps over the full grid are not defined for it). Both act in every layer.

Hooks act only for the thread that opened the context and are removed in ``finally``, as
:mod:`vit_core.attention.capture`'s are; :class:`Ablating` can wrap :func:`vit_core.runs.analysis.analyze` (head ablation and
token masks), so rollout, class-token attention and relevance are recomputed under the ablation by the project's
own functions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import torch
from timm.models.vision_transformer import VisionTransformer, global_pool_nlc
from torch import nn

from ..attention.capture import attention_modules
from ..attention.hooks import HookOwner
from ..errors import SettingsError
from ..models.geometry import geometry_of

__all__ = [
    "AblationMode", "ABLATION_MODES", "Head", "Ablating", "parse_heads", "check_heads", "parse_tokens", "check_tokens",
    "head_means", "sample_reference", "ablated_forward", "head_importance",
]

AblationMode = Literal["mean", "zero"]
ABLATION_MODES: tuple[AblationMode, ...] = ("mean", "zero")
Head = tuple[int, int]  # (layer, head)
BLOCK_BUDGET_BYTES = 512 << 20  # head_importance: activations of one chunk of ablated copies through one block


def parse_heads(text: str, depth: int, num_heads: int) -> tuple[Head, ...]:
    """``"L:H,L:H"`` -> ((L, H), ...), sorted and unique; an empty string gives ().

    Raises:
        SettingsError: one sentence saying which entry is wrong and what the valid range is.
    """
    heads: set[Head] = set()
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        layer_text, sep, head_text = entry.partition(":")
        if not sep or not layer_text.strip().isdigit() or not head_text.strip().isdigit():
            raise SettingsError(f"'{entry}' is not LAYER:HEAD; write heads as e.g. 3:5,11:0.",
                                key="ablation.bad_entry", entry=entry)
        heads.add((int(layer_text), int(head_text)))
    return check_heads(heads, depth, num_heads)


def check_heads(heads: Iterable[Sequence[int]], depth: int, num_heads: int) -> tuple[Head, ...]:
    """The heads as sorted unique (layer, head) pairs, or a refusal of one out of range."""
    checked: set[Head] = set()
    for layer, head in heads:
        if not 0 <= int(layer) < depth:
            raise SettingsError(f"layer {layer} does not exist; this model has layers 0 to {depth - 1}.",
                                key="ablation.bad_layer", layer=int(layer), last=depth - 1)
        if not 0 <= int(head) < num_heads:
            raise SettingsError(f"head {head} does not exist; this model has heads 0 to {num_heads - 1} in each layer.",
                                key="ablation.bad_head", head=int(head), last=num_heads - 1)
        checked.add((int(layer), int(head)))
    return tuple(sorted(checked))


def parse_tokens(text: str, num_tokens: int) -> tuple[int, ...]:
    """``"0,5,17"`` -> (0, 5, 17), sorted and unique; an empty string gives ().

    Raises:
        SettingsError: one sentence saying which entry is not a token index, or which token does not exist.
    """
    entries = [part.strip() for part in text.split(",") if part.strip()]
    bad = next((e for e in entries if not e.isdigit()), None)
    if bad is not None:
        raise SettingsError(f"'{bad}' is not a token index; write tokens as e.g. 0,5,17.")
    return check_tokens([int(e) for e in entries], num_tokens)


def check_tokens(tokens: Iterable[int], num_tokens: int) -> tuple[int, ...]:
    """Token indices (prefix tokens first, then patches row by row) sorted and unique, or a refusal."""
    checked = sorted({int(t) for t in tokens})
    for token in checked:
        if not 0 <= token < num_tokens:
            raise SettingsError(f"token {token} does not exist; this input has tokens 0 to {num_tokens - 1}.",
                                key="ablation.bad_token", token=token, last=num_tokens - 1)
    if len(checked) >= num_tokens:
        raise SettingsError("every token would be switched off; keep at least one token.", key="ablation.all_tokens")
    return tuple(checked)


def _check_separable(modules: Sequence[nn.Module]) -> None:
    for index, attn in enumerate(modules):
        if not isinstance(attn.norm, nn.Identity) or getattr(attn, "gate", None) is not None:
            raise SettingsError(
                f"block {index} normalises or gates the heads' outputs together before its projection, so one head "
                "cannot be switched off alone; choose a model without scale-norm or gated attention.",
                key="ablation.not_separable", block=index,
            )


def _proj_inputs(model: VisionTransformer, pixel_values: torch.Tensor) -> list[torch.Tensor]:
    """Each block's input to ``attn.proj`` ``[batch, token, head * head_dim]`` for one forward (float32)."""
    modules = attention_modules(model)
    seen: dict[int, torch.Tensor] = {}
    handles = []
    try:
        for layer, attn in enumerate(modules):
            handles.append(attn.proj.register_forward_pre_hook(
                lambda module, args, layer=layer: seen.__setitem__(layer, args[0].detach().float())))
        with torch.no_grad():
            model(pixel_values)
    finally:
        for handle in handles:
            handle.remove()
    return [seen[i] for i in range(len(modules))]


def head_means(model: VisionTransformer, reference: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """Mean of every head's output over the reference images, per token position: ``[layer, token, head * head_dim]``.

    Args:
        reference: ``[images, 3, h, w]`` on the model's device and dtype (e.g. :func:`sample_reference`).
    """
    if reference.ndim != 4 or reference.shape[0] < 1:
        raise SettingsError("mean ablation needs at least one reference image [images, 3, h, w].",
                            key="ablation.no_reference")
    _check_separable(attention_modules(model))
    total: torch.Tensor | None = None
    for start in range(0, reference.shape[0], batch_size):
        inputs = torch.stack([x.sum(dim=0) for x in _proj_inputs(model, reference[start:start + batch_size])])
        total = inputs if total is None else total + inputs
    return total / reference.shape[0]


def sample_reference(data_config: dict, size: tuple[int, int] | None = None, folder: Path | None = None) -> torch.Tensor:
    """The documented reference set: every bundled sample image (``assets/samples``: the generated scenes and the
    photographs), preprocessed as the model's own ``data_config`` says, at ``size`` (h, w) when given."""
    from ..demo.registry import SAMPLES_DIR
    from ..models.images import load_image, preprocess_batch

    folder = SAMPLES_DIR if folder is None else Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"})
    config = dict(data_config)
    if size is not None:
        config["input_size"] = (config["input_size"][0], *size)
    pixels, _ = preprocess_batch([load_image(p) for p in files], config)
    return pixels


class Ablating(HookOwner):
    """Context manager: the chosen heads switched off (mean or zero) and the chosen tokens masked as keys.

    Args:
        model: a timm VisionTransformer.
        heads: (layer, head) pairs to ablate.
        mode: "mean" (replace by the head's mean output, ``means`` required) or "zero".
        means: :func:`head_means` ``[layer, token, head * head_dim]``.
        masked_tokens: token indices no query may attend to, in any layer.

    Example:
        >>> with Ablating(model, heads=[(3, 1)], mode="zero"):
        ...     result = analyze(model, pixel_values)  # rollout, relevance ... under the ablation
    """

    def __init__(
        self,
        model: VisionTransformer,
        heads: Iterable[Sequence[int]] = (),
        mode: AblationMode = "mean",
        means: torch.Tensor | None = None,
        masked_tokens: Iterable[int] = (),
        positions: torch.Tensor | None = None,
    ) -> None:
        if mode not in ABLATION_MODES:
            raise SettingsError(f"ablation mode '{mode}' is unknown; choose 'mean' or 'zero'.", key="ablation.bad_mode", mode=mode)
        self.modules = attention_modules(model)
        first = self.modules[0]
        self.heads = check_heads(heads, len(self.modules), first.num_heads)
        if self.heads:
            _check_separable(self.modules)
        if mode == "mean" and self.heads and means is None:
            raise SettingsError("mean ablation needs the heads' mean outputs over reference images; compute them "
                                "with head_means(model, reference) or choose zero ablation.", key="ablation.no_reference")
        self.mode, self.means, self.masked_tokens = mode, means, tuple(int(t) for t in masked_tokens)
        self.positions = positions  # the token positions present (dropped tokens removed), to index ``means``
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._owner: int | None = None

    def _mine(self) -> bool:
        return threading.get_ident() == self._owner

    def _head_hook(self, layer: int, heads: list[int]):
        attn = self.modules[layer]

        def hook(module, args):
            if not self._mine():
                return None
            x = args[0]
            batch, tokens, _ = x.shape
            view = x.reshape(batch, tokens, attn.num_heads, attn.head_dim).clone()
            if self.mode == "zero":
                view[:, :, heads] = 0
            else:
                mean = self.means[layer]
                if self.positions is not None:
                    mean = mean[self.positions]
                if mean.shape[0] != tokens:
                    raise SettingsError(
                        f"the reference means cover {mean.shape[0]} tokens but this input has {tokens}; compute them "
                        "from reference images at the same input size.", key="ablation.reference_size",
                        reference=mean.shape[0], tokens=tokens)
                mean = mean.to(x.device, x.dtype).reshape(tokens, attn.num_heads, attn.head_dim)
                view[:, :, heads] = mean[:, heads]
            return (view.reshape(batch, tokens, -1), *args[1:])

        return hook

    def _mask_hook(self, module, args, kwargs):
        if not self._mine():
            return None
        x = args[0]
        tokens = x.shape[1]
        blocked = check_tokens(self.masked_tokens, tokens)
        allowed = torch.ones(1, 1, 1, tokens, dtype=torch.bool, device=x.device)
        allowed[..., list(blocked)] = False
        given = kwargs.get("attn_mask", args[1] if len(args) > 1 else None)
        if given is not None:
            if given.dtype != torch.bool:
                raise SettingsError("this forward already passes an additive attention mask; mask tokens without it.",
                                    key="ablation.mask_conflict")
            allowed = allowed & given
        if len(args) > 1:
            args = (args[0], allowed, *args[2:])
        else:
            kwargs = {**kwargs, "attn_mask": allowed}
        return args, kwargs

    def __enter__(self) -> Ablating:
        if self._handles:
            raise SettingsError("this ablation is already open; open a new one for each forward pass.",
                                key="ablation.open")
        self._owner = threading.get_ident()
        try:
            by_layer: dict[int, list[int]] = {}
            for layer, head in self.heads:
                by_layer.setdefault(layer, []).append(head)
            for layer, heads in by_layer.items():
                self._handles.append(self.modules[layer].proj.register_forward_pre_hook(self._head_hook(layer, heads)))
            if self.masked_tokens:
                for attn in self.modules:  # prepend: any capture's own hook then sees the mask the kernel gets
                    self._handles.append(attn.register_forward_pre_hook(self._mask_hook, with_kwargs=True, prepend=True))
        except BaseException:
            self.remove()
            raise
        return self



def _pool_kept(model: VisionTransformer, x: torch.Tensor, prefix: int) -> torch.Tensor:
    """The head's pooling of a sequence with ``prefix`` prefix tokens left (some were dropped)."""
    from ..models.hf_transformers import CLASS_AND_MEAN_POOL

    pool = model.global_pool
    if pool == CLASS_AND_MEAN_POOL:
        return torch.cat([x[:, 0], x[:, prefix:].mean(dim=1)], dim=-1)
    if model.attn_pool is not None:
        return model.attn_pool(x if model.pool_include_prefix else x[:, prefix:])
    return global_pool_nlc(x, pool_type=pool, num_prefix_tokens=prefix, reduce_include_prefix=model.pool_include_prefix)


def ablated_forward(
    model: VisionTransformer,
    pixel_values: torch.Tensor,
    heads: Iterable[Sequence[int]] = (),
    mode: AblationMode = "mean",
    means: torch.Tensor | None = None,
    masked_tokens: Iterable[int] = (),
    dropped_tokens: Iterable[int] = (),
) -> torch.Tensor:
    """Logits ``[batch, classes]`` (float32) with the heads ablated, the tokens masked and the tokens dropped.

    Token indices count prefix tokens first, then patches row by row. A dropped token is removed after the position
    embedding (the head pools what is left); the class token cannot be dropped where the head reads it.
    """
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    dropped = check_tokens(dropped_tokens, geometry.num_tokens) if dropped_tokens else ()
    if not dropped:
        with Ablating(model, heads, mode, means, masked_tokens), torch.no_grad():
            return model(pixel_values).float()
    reads_class = geometry.global_pool == "token" or geometry.global_pool.startswith("class")
    if 0 in dropped and geometry.num_prefix_tokens and reads_class:
        raise SettingsError("the head reads the class token, so it cannot be dropped; mask it instead.",
                            key="ablation.drop_class")
    keep = torch.tensor([i for i in range(geometry.num_tokens) if i not in dropped], device=pixel_values.device)
    prefix = sum(1 for i in range(geometry.num_prefix_tokens) if i not in dropped)
    kept_masked = [int((keep == t).nonzero()) for t in masked_tokens if t not in dropped]
    with Ablating(model, heads, mode, means, kept_masked, positions=keep.cpu()), torch.no_grad():
        x = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(pixel_values))))[:, keep]
        x = model.norm(model.blocks(x))
        x = model.head(model.head_drop(model.fc_norm(_pool_kept(model, x, prefix))))
    return x.float()


def _block_inputs(model: VisionTransformer, pixel_values: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each block's input ``[batch, token, dim]`` of one clean forward, and its logits."""
    x = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(pixel_values))))
    inputs = []
    for block in model.blocks:
        inputs.append(x)
        x = block(x)
    return inputs, model.forward_head(model.norm(x))


def _copy_bytes(model: VisionTransformer, tokens: int) -> int:
    """A conservative estimate of one copy's activations through one block (qkv, MLP hidden, attention row)."""
    block = model.blocks[0]
    hidden = getattr(getattr(block.mlp, "fc1", None), "out_features", 4 * model.embed_dim)
    per_token = 6 * model.embed_dim + 2 * hidden + block.attn.num_heads * tokens
    return 4 * tokens * per_token


def head_importance(
    model: VisionTransformer,
    pixel_values: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor | None = None,
    mode: AblationMode = "mean",
    reference: torch.Tensor | None = None,
    budget_bytes: int = BLOCK_BUDGET_BYTES,
) -> torch.Tensor:
    """The target logit minus the same logit with head (l, h) ablated alone: ``[batch, layer, head]`` (float32).

    One clean forward keeps each block's input; then for each layer l, blocks l..L-1 run once on copies of the
    batch, each copy with one head of layer l ablated (chunked so that one chunk's activations stay near
    ``budget_bytes``): about L^2 / 2 * H block evaluations in all, ~78 forwards' worth for ViT-B's 144 heads.

    Args:
        target: the class whose logit is read: None for each image's clean top-1, one index, or one per image.
        mode: "mean" (replace the head's output by its per-position mean over ``reference``) or "zero".
        reference: mean ablation's reference, images ``[images, 3, h, w]`` at the same input size (e.g.
            :func:`sample_reference`) or :func:`head_means` already computed ``[layer, token, head * head_dim]``.
    """
    modules = attention_modules(model)
    _check_separable(modules)
    depth, num_heads, head_dim = len(modules), modules[0].num_heads, modules[0].head_dim
    if mode not in ABLATION_MODES:
        raise SettingsError(f"ablation mode '{mode}' is unknown; choose 'mean' or 'zero'.", key="ablation.bad_mode", mode=mode)
    means = None
    if mode == "mean":
        if reference is None:
            raise SettingsError("mean ablation needs reference images; pass reference= (e.g. the bundled samples, "
                                "sample_reference) or choose zero ablation.", key="ablation.no_reference")
        means = reference if reference.ndim == 3 else head_means(model, reference)
    with torch.no_grad():
        inputs, clean = _block_inputs(model, pixel_values)
        batch, tokens = pixel_values.shape[0], inputs[0].shape[1]
        if means is not None and means.shape[1] != tokens:
            raise SettingsError(f"the reference means cover {means.shape[1]} tokens but this input has {tokens}; "
                                "compute them from reference images at the same input size.",
                                key="ablation.reference_size", reference=means.shape[1], tokens=tokens)
        if target is None:
            chosen = clean.argmax(dim=-1)
        else:
            chosen = torch.as_tensor(target, device=clean.device).long().reshape(-1).expand(batch)
        clean_target = clean.float().gather(1, chosen[:, None])[:, 0]  # [batch]
        importance = torch.empty(batch, depth, num_heads, dtype=torch.float32, device=clean.device)
        chunk = max(1, budget_bytes // _copy_bytes(model, tokens))
        rows: dict[str, torch.Tensor] = {}  # the head each copy of the running chunk switches off

        owner = threading.get_ident()

        def hook(module, args):
            if threading.get_ident() != owner:  # one cached model may serve other threads meanwhile
                return None
            x = args[0]
            view = x.reshape(x.shape[0], tokens, num_heads, head_dim).clone()
            onehot = torch.zeros(x.shape[0], 1, num_heads, 1, dtype=x.dtype, device=x.device)
            onehot[torch.arange(x.shape[0]), 0, rows["head"], 0] = 1
            fill = 0 if means is None else means[rows["layer"]].to(x.device, x.dtype).reshape(1, tokens, num_heads, head_dim)
            view = view * (1 - onehot) + fill * onehot
            return (view.reshape(x.shape[0], tokens, -1),)

        pairs = torch.cartesian_prod(torch.arange(batch), torch.arange(num_heads))  # [batch * head, 2]: (image, head)
        for layer in range(depth):
            handle = modules[layer].proj.register_forward_pre_hook(hook)
            try:
                rows["layer"] = layer
                for start in range(0, len(pairs), chunk):
                    part = pairs[start:start + chunk]
                    images, heads = part[:, 0].to(clean.device), part[:, 1].to(clean.device)
                    rows["head"] = heads
                    x = inputs[layer][images]
                    for block in model.blocks[layer:]:
                        x = block(x)
                    logits = model.forward_head(model.norm(x)).float()
                    importance[images, layer, heads] = clean_target[images] - logits.gather(1, chosen[images][:, None])[:, 0]
            finally:
                handle.remove()
    return importance
