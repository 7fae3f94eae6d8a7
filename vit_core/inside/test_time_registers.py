"""Test-time registers (Jiang et al. 2025, "Vision Transformers Don't Need Trained Registers", arXiv 2506.08010).

Algorithm 1, batched (every image of a batch is treated on its own; the authors' public hooks act on the first
image only):

1. Outliers: the patch tokens whose L2 norm in the output of block ``detect_layer`` exceeds ``norm_threshold``.
2. Each MLP neuron (a hidden unit of ``mlp.fc1``, after the activation) of blocks ``0..top_layer`` is scored by
   its mean absolute activation at that image's outlier positions; the scores are averaged over the images that
   have outliers (:func:`find_register_neurons`).
3. The ``k`` best neurons are the register neurons.
4. One extra token, zero-initialised, is appended after the position embedding; in every block with a register
   neuron, the extra token's activation of that neuron is set to the neuron's largest activation over the patch
   tokens of the same image, and the neuron is zeroed at the patches (:class:`TestTimeRegister`). The head never
   reads the extra token: it is removed before the final norm.

Where this departs from the paper's code is listed in docs/METHODS.md ("Test-time registers").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from timm.layers import Mlp
from timm.models.vision_transformer import VisionTransformer

from ..attention.capture import AttentionCapture, attention_modules
from ..attention.hooks import HookOwner
from ..errors import SettingsError, UnsupportedModelError
from ..models.geometry import geometry_of

__all__ = ["Neuron", "RegisterNeurons", "RegisterComparison", "TestTimeRegister", "find_register_neurons",
           "compare_with_register"]

Neuron = tuple[int, int]  # (layer, hidden unit of that block's MLP)


@dataclass(frozen=True)
class RegisterNeurons:
    """What :func:`find_register_neurons` found.

    Attributes:
        neurons: the top-k (layer, neuron) pairs, best first.
        scores: ``[top_layer + 1, hidden]`` mean absolute activation at the outlier positions, averaged over images.
        images_with_outliers: how many of the images had at least one patch above the norm cut.
        detect_layer, norm_threshold, top_layer: the settings that produced them.
    """

    neurons: tuple[Neuron, ...]
    scores: torch.Tensor
    images_with_outliers: int
    detect_layer: int
    norm_threshold: float
    top_layer: int


@dataclass(frozen=True)
class RegisterComparison:
    """Maps of the same images without and with the test-time register (patch grids ``[batch, gh, gw]``).

    ``norms_*``: each patch token's L2 norm in block ``detect_layer``'s output; ``cls_attention_*``: the last
    layer's attention from the first token (class token, or the first prefix / patch token where there is none),
    mean over heads; ``register_norm`` ``[batch]`` and ``register_attention`` ``[batch]``: the extra token's norm
    and the attention it receives from the first token; ``logits_*`` ``[batch, classes]``.
    """

    norms_before: torch.Tensor
    norms_after: torch.Tensor
    cls_attention_before: torch.Tensor
    cls_attention_after: torch.Tensor
    register_norm: torch.Tensor
    register_attention: torch.Tensor
    logits_before: torch.Tensor
    logits_after: torch.Tensor


def _mlps(model: VisionTransformer) -> list[Mlp]:
    attention_modules(model)  # refuses what is not a standard timm ViT
    mlps = [block.mlp for block in model.blocks]
    for index, mlp in enumerate(mlps):
        if type(mlp) is not Mlp:
            raise UnsupportedModelError(
                f"block {index}'s MLP is {type(mlp).__name__}, whose neurons test-time registers do not define; "
                "choose a model with timm's standard MLP (fc1, activation, fc2).")
    return mlps


def _check_layer(name: str, layer: int, depth: int) -> int:
    if not 0 <= layer < depth:
        raise SettingsError(f"{name} {layer} does not exist; this model has layers 0 to {depth - 1}.",
                            key="registers.bad_layer", layer=layer, last=depth - 1)
    return layer


def _forward_recording(model: VisionTransformer, pixel_values: torch.Tensor, top_layer: int, detect_layer: int):
    """Clean forward: (activations per block ``[batch, token, hidden]`` up to top_layer, block ``detect_layer``'s output)."""
    mlps = _mlps(model)
    acts: dict[int, torch.Tensor] = {}
    out: dict[str, torch.Tensor] = {}
    handles = [mlps[i].act.register_forward_hook(lambda m, a, o, i=i: acts.__setitem__(i, o.detach().float()))
               for i in range(top_layer + 1)]
    handles.append(model.blocks[detect_layer].register_forward_hook(lambda m, a, o: out.__setitem__("x", o.detach().float())))
    try:
        with torch.no_grad():
            model(pixel_values)
    finally:
        for handle in handles:
            handle.remove()
    return [acts[i] for i in range(top_layer + 1)], out["x"]


def find_register_neurons(
    model: VisionTransformer,
    images: torch.Tensor,
    detect_layer: int,
    norm_threshold: float,
    top_layer: int | None = None,
    k: int = 10,
    batch_size: int = 8,
) -> RegisterNeurons:
    """Algorithm 1's neuron search over ``images`` ``[images, 3, h, w]`` (on the model's device and dtype).

    Args:
        detect_layer: the block whose output norms mark the outliers.
        norm_threshold: the norm cut (absolute, as the paper's).
        top_layer: the last block whose neurons are scored (default: ``detect_layer``).
        k: how many neurons to keep.

    Raises:
        SettingsError: no image has a patch above the cut (lower the cut or give more images).
    """
    depth = len(model.blocks)
    detect_layer = _check_layer("detection layer", int(detect_layer), depth)
    top_layer = detect_layer if top_layer is None else _check_layer("top layer", int(top_layer), depth)
    prefix = model.num_prefix_tokens
    total: torch.Tensor | None = None
    counted = 0
    for start in range(0, images.shape[0], batch_size):
        acts, output = _forward_recording(model, images[start:start + batch_size], top_layer, detect_layer)
        outliers = (output[:, prefix:].norm(dim=-1) > norm_threshold).float()  # [batch, patch]
        count = outliers.sum(dim=1)  # [batch]
        has = count > 0
        if not has.any():
            continue
        # per image: mean |activation| over its outlier positions, [batch, layer, hidden]
        stacked = torch.stack([a[:, prefix:].abs() for a in acts], dim=1)  # [batch, layer, patch, hidden]
        per_image = torch.einsum("blph,bp->blh", stacked, outliers) / count.clamp_min(1)[:, None, None]
        part = per_image[has].sum(dim=0)
        total = part if total is None else total + part
        counted += int(has.sum())
    if counted == 0:
        raise SettingsError(
            f"no patch's norm at layer {detect_layer} exceeds {norm_threshold:g} in any image; lower the norm cut or "
            "give more images.", key="registers.no_outliers", layer=detect_layer, threshold=norm_threshold)
    scores = total / counted
    k = max(1, min(int(k), scores.numel()))
    top = scores.flatten().topk(k).indices
    hidden = scores.shape[1]
    neurons = tuple((int(i) // hidden, int(i) % hidden) for i in top)
    return RegisterNeurons(neurons=neurons, scores=scores, images_with_outliers=counted, detect_layer=detect_layer,
                           norm_threshold=float(norm_threshold), top_layer=top_layer)


class TestTimeRegister(HookOwner):
    """Context manager: one extra token appended and the register neurons' activations moved into it.

    While open, ``model(pixel_values)`` runs with a sequence one token longer (the extra token last); the head
    reads the sequence without it. :attr:`register_output` holds the extra token's final-block output.

    Args:
        neurons: (layer, neuron) pairs (e.g. :attr:`RegisterNeurons.neurons`).
        init: the extra token's start, "zero" (the issue's choice) or "mean" (the mean patch token, as the
            authors' released code initialises it).
    """

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, model: VisionTransformer, neurons: Sequence[Neuron], init: Literal["zero", "mean"] = "zero") -> None:
        mlps = _mlps(model)
        self.model = model
        self.by_layer: dict[int, list[int]] = {}
        for layer, neuron in neurons:
            _check_layer("layer", int(layer), len(mlps))
            hidden = mlps[int(layer)].fc1.out_features
            if not 0 <= int(neuron) < hidden:
                raise SettingsError(f"neuron {neuron} does not exist; block {layer}'s MLP has neurons 0 to {hidden - 1}.",
                                    key="registers.bad_neuron", neuron=int(neuron), last=hidden - 1)
            self.by_layer.setdefault(int(layer), []).append(int(neuron))
        if init not in ("zero", "mean"):
            raise SettingsError(f"register start '{init}' is unknown; choose 'zero' or 'mean'.", key="registers.bad_init")
        self.init = init
        self._mlps = mlps
        self._handles: list = []
        self._owner: int | None = None
        self.register_output: torch.Tensor | None = None

    def _mine(self) -> bool:
        return threading.get_ident() == self._owner

    def _append(self, module, args, output):
        if not self._mine():
            return None
        prefix = self.model.num_prefix_tokens
        start = output[:, prefix:].mean(dim=1, keepdim=True) if self.init == "mean" else torch.zeros_like(output[:, :1])
        return torch.cat([output, start], dim=1)

    def _neuron_hook(self, neurons: list[int]):
        def hook(module, args, output):
            if not self._mine():
                return None
            prefix = self.model.num_prefix_tokens
            out = output.clone()
            patches = out[:, prefix:-1, neurons]  # [batch, patch, k]: this image's patches only
            out[:, -1, neurons] = patches.max(dim=1).values  # per image, never the first image's
            out[:, prefix:-1, neurons] = 0
            return out

        return hook

    def _strip(self, module, args):
        if not self._mine():
            return None
        x = args[0]
        self.register_output = x[:, -1].detach()
        return (x[:, :-1],)

    def __enter__(self) -> TestTimeRegister:
        self._owner = threading.get_ident()
        try:
            self._handles.append(self.model.norm_pre.register_forward_hook(self._append))
            for layer, neurons in self.by_layer.items():
                self._handles.append(self._mlps[layer].act.register_forward_hook(self._neuron_hook(neurons)))
            self._handles.append(self.model.norm.register_forward_pre_hook(self._strip))
        except BaseException:
            self.remove()
            raise
        return self



def _maps(model: VisionTransformer, pixel_values: torch.Tensor, detect_layer: int):
    """(block detect_layer's token norms [batch, token], the last layer's first-token attention [batch, key], logits)."""
    seen: dict[str, torch.Tensor] = {}
    handle = model.blocks[detect_layer].register_forward_hook(lambda m, a, o: seen.__setitem__("x", o.detach().float()))
    last = len(model.blocks) - 1
    try:
        with AttentionCapture(model, layers=[last], pool=False) as cap, torch.no_grad():
            logits = model(pixel_values).float()
    finally:
        handle.remove()
    attention = cap.attention[:, 0, :, 0].mean(dim=1)  # [batch, key]
    return seen["x"].norm(dim=-1), attention, logits


def compare_with_register(
    model: VisionTransformer, pixel_values: torch.Tensor, neurons: Sequence[Neuron], detect_layer: int,
    init: Literal["zero", "mean"] = "zero",
) -> RegisterComparison:
    """The norms, class-token attention and logits of ``pixel_values`` without and with the test-time register."""
    geometry = geometry_of(model, tuple(pixel_values.shape[-2:]))
    detect_layer = _check_layer("detection layer", int(detect_layer), geometry.depth)
    prefix, grid = geometry.num_prefix_tokens, geometry.grid_size
    batch = pixel_values.shape[0]
    norms0, attn0, logits0 = _maps(model, pixel_values, detect_layer)
    with TestTimeRegister(model, neurons, init):
        norms1, attn1, logits1 = _maps(model, pixel_values, detect_layer)
    return RegisterComparison(
        norms_before=norms0[:, prefix:].reshape(batch, *grid),
        norms_after=norms1[:, prefix:-1].reshape(batch, *grid),
        cls_attention_before=attn0[:, prefix:].reshape(batch, *grid),
        cls_attention_after=attn1[:, prefix:-1].reshape(batch, *grid),
        register_norm=norms1[:, -1],
        register_attention=attn1[:, -1],
        logits_before=logits0,
        logits_after=logits1,
    )
