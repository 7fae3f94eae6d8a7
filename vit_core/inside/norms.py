"""Token norms per layer and the high-norm outliers among them (Darcet et al. 2024, "Vision Transformers Need
Registers", ICLR).

Darcet et al. found that large ViTs turn a few low-information patches into global stores whose output norm
jumps far above the rest; on DINOv2 ViT-g they separate them with an absolute cut of 150 (2.37% of tokens above
it). That number belongs to that model: other models' norms live on other scales (a random-weight ViT-Ti's are
near 10), so elsewhere the cut is robust and per layer and image, ``median + k * MAD`` over that layer's patch
norms (MAD: the median absolute deviation from the median; :data:`MAD_K` = 10, so a token must lie about 6.7
standard deviations of a normal spread above the median). Every token, prefix tokens included, is compared with
the cut of its layer; the cut is computed from the patch tokens alone (the few prefix tokens are another
population).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from ..errors import CaptureError, SettingsError
from ..models.types import Geometry

__all__ = [
    "DARCET_CUT",
    "MAD_K",
    "NormRecorder",
    "OutlierRule",
    "Outliers",
    "default_rule",
    "find_outliers",
    "outlier_cuts",
]

DARCET_CUT = 150.0  # Darcet et al.'s norm cut on DINOv2 ViT-g (their Fig. 3)
MAD_K = 10.0  # median + k * MAD elsewhere


@dataclass(frozen=True)
class OutlierRule:
    """How a token is called a high-norm outlier.

    Attributes:
        kind: "absolute" (norm above `cut`, Darcet et al.'s rule) or "mad" (above ``median + k * MAD`` of the
            layer's patch norms, per image).
        cut: the absolute cut, for "absolute".
        k: the MAD multiple, for "mad".
    """

    kind: Literal["absolute", "mad"] = "mad"
    cut: float = DARCET_CUT
    k: float = MAD_K

    def __post_init__(self) -> None:
        if self.kind not in ("absolute", "mad"):
            raise SettingsError(f"outlier rule {self.kind!r} is unknown; choose 'absolute' or 'mad'.")
        if (self.cut if self.kind == "absolute" else self.k) <= 0:
            raise SettingsError("the outlier cut must be positive; pass a cut (absolute) or k (mad) above 0.")

    def describe(self) -> str:
        """The rule in one phrase, e.g. 'norm > 150 (Darcet et al.)' or 'norm > median + 10 MAD per layer'."""
        if self.kind == "absolute":
            return f"norm > {self.cut:g} (Darcet et al.'s cut)"
        return f"norm > median + {self.k:g} MAD of the layer's patch norms"


def default_rule(model_name: str) -> OutlierRule:
    """Darcet et al.'s absolute cut for DINOv2 ViT-g (the model it was measured on), the MAD rule elsewhere."""
    name = model_name.lower()
    if "dinov2" in name and ("giant" in name or "vitg" in name or "vit-g" in name):
        return OutlierRule(kind="absolute")
    return OutlierRule(kind="mad")


class NormRecorder:
    """Forward hooks that keep the L2 norm of every token of every block's output and of the features after the
    final norm, for the thread that opened it (a cached model may serve several threads at once).

    Use around one forward pass: ``with NormRecorder(model) as norms: model(x)``, then :attr:`token_norms`
    ``[batch, layer, token]`` and :attr:`feature_norms` ``[batch, token]`` (float32 numpy).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._thread = threading.get_ident()
        self._blocks: dict[int, torch.Tensor] = {}
        self._features: torch.Tensor | None = None
        self._handles: list = []

    def _keep(self, layer: int | None):
        def hook(module, args, output):
            if threading.get_ident() != self._thread:
                return
            if not isinstance(output, torch.Tensor) or output.dim() != 3:
                raise CaptureError("a block returned something other than [batch, token, width]; choose a timm ViT.")
            norms = output.detach().float().norm(dim=-1).cpu()  # [batch, token]
            if layer is None:
                self._features = norms
            elif layer not in self._blocks:  # a re-run block (a checkpointed backward) computes the same output
                self._blocks[layer] = norms
        return hook

    def __enter__(self) -> NormRecorder:
        self._thread = threading.get_ident()
        blocks = getattr(self.model, "blocks", None)
        if blocks is None:
            raise CaptureError("this model has no transformer blocks to read token norms from; choose a timm ViT.")
        self._handles = [block.register_forward_hook(self._keep(i)) for i, block in enumerate(blocks)]
        self._handles.append(self.model.norm.register_forward_hook(self._keep(None)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def token_norms(self) -> np.ndarray:
        """``[batch, layer, token]`` L2 norm of each token in each block's output."""
        depth = len(self.model.blocks)
        if sorted(self._blocks) != list(range(depth)):
            raise CaptureError("the forward pass did not run every block; run the model once inside the recorder.")
        return torch.stack([self._blocks[i] for i in range(depth)], dim=1).numpy()

    @property
    def feature_norms(self) -> np.ndarray:
        """``[batch, token]`` L2 norm of each token the model's final norm returns (its features)."""
        if self._features is None:
            raise CaptureError("the forward pass did not reach the final norm; run the model once inside the recorder.")
        return self._features.numpy()


def outlier_cuts(token_norms: np.ndarray, num_prefix_tokens: int, rule: OutlierRule) -> np.ndarray:
    """``[batch, layer]`` the norm above which a token is an outlier, per image and layer.

    Args:
        token_norms: ``[batch, layer, token]``.
        num_prefix_tokens: leading prefix tokens (left out of the median and MAD).
        rule: the outlier rule.
    """
    batch, layers, _ = token_norms.shape
    if rule.kind == "absolute":
        return np.full((batch, layers), rule.cut, dtype=np.float32)
    patches = token_norms[..., num_prefix_tokens:].astype(np.float64)
    median = np.median(patches, axis=-1)
    mad = np.median(np.abs(patches - median[..., None]), axis=-1)
    mad = np.maximum(mad, 1e-6 * np.abs(median))  # all patches alike: a cut just above them, not at them
    return (median + rule.k * mad).astype(np.float32)


@dataclass(frozen=True)
class Outliers:
    """The high-norm tokens of a batch, one entry per (image, token), flat over the batch.

    Attributes:
        mask: ``[B, L, N]`` bool, token above its layer's cut.
        cuts: ``[B, L]`` float32, each layer's cut.
        image: ``[K]`` int64, the image each outlier is in.
        token: ``[K]`` int64, its sequence index.
        row, col: ``[K]`` int64, its grid position (-1 for a prefix token).
        first_layer: ``[K]`` int64, the first layer whose output has it above that layer's cut.
        norm: ``[K]`` float32, its norm at the detection layer.
        layer: the detection layer (where the listed tokens are above the cut).
    """

    mask: np.ndarray
    cuts: np.ndarray
    image: np.ndarray
    token: np.ndarray
    row: np.ndarray
    col: np.ndarray
    first_layer: np.ndarray
    norm: np.ndarray
    layer: int


def find_outliers(token_norms: np.ndarray, geometry: Geometry, rule: OutlierRule, layer: int = -1) -> Outliers:
    """The tokens above the cut at the output of block `layer` (default: the last), with the first layer at which
    each crosses its cut.

    Args:
        token_norms: ``[batch, layer, token]``.
        geometry: the token layout (prefix tokens, grid).
        rule: the outlier rule.
        layer: the detection layer (negative counts from the end).
    """
    batch, layers, tokens = token_norms.shape
    if tokens != geometry.num_tokens:
        raise SettingsError(f"token norms hold {tokens} tokens but the model has {geometry.num_tokens}; pass matching ones.")
    if not -layers <= layer < layers:
        raise SettingsError(f"layer {layer} is outside the model's {layers} blocks; pick one from 0 to {layers - 1}.")
    layer = layer % layers
    cuts = outlier_cuts(token_norms, geometry.num_prefix_tokens, rule)
    mask = token_norms > cuts[..., None]
    image, token = np.nonzero(mask[:, layer])
    first = mask[image, :, token].argmax(axis=-1)  # [K]: the first layer above the cut (it is above at `layer`)
    p, gw = geometry.num_prefix_tokens, geometry.grid_size[1]
    patch = token - p
    row = np.where(token >= p, patch // gw, -1)
    col = np.where(token >= p, patch % gw, -1)
    return Outliers(
        mask=mask, cuts=cuts, image=image.astype(np.int64), token=token.astype(np.int64), row=row.astype(np.int64),
        col=col.astype(np.int64), first_layer=first.astype(np.int64),
        norm=token_norms[image, layer, token].astype(np.float32), layer=layer,
    )
