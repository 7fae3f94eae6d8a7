"""Frozen value types that cross module boundaries: model geometry and a capture.

Token order is timm's everywhere: prefix tokens first (class, distillation, registers, in that
order), then the patch tokens in row-major order over the grid [gh, gw].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import SettingsError

__all__ = ["CLASS_AND_MEAN_POOL", "PrefixKind", "Geometry", "Capture"]

PrefixKind = Literal["cls", "dist", "reg"]
# The pooling of a head that reads the class token and the mean patch token side by side, [x_cls ; mean_k x_k]
# (transformers' DINOv2 image classifiers); timm has no such pooling, so vit_core.models.hf_transformers adds it.
CLASS_AND_MEAN_POOL = "token+avg"


@dataclass(frozen=True)
class Geometry:
    """Where every token of one forward pass sits.

    Attributes:
        patch_size: (ph, pw) in input pixels.
        grid_size: (gh, gw) patches for the input this geometry describes.
        img_size: (h, w) input pixels.
        prefix_kinds: kind of each prefix token, in sequence order, e.g. ("cls", "dist").
        no_embed_class: True when position embeddings cover the patch tokens only.
        global_pool: timm pooling of the head: "token", "avg", "avgmax", "max", "map" or "", or
            :data:`CLASS_AND_MEAN_POOL` (class token and mean patch token, concatenated).
        depth: number of transformer blocks.
        num_heads: attention heads per block.
        embed_dim: token width.
        pool_include_prefix: whether average pooling also averages the prefix tokens (timm's
            ``pool_include_prefix``); the readout of every map follows it.
    """

    patch_size: tuple[int, int]
    grid_size: tuple[int, int]
    img_size: tuple[int, int]
    prefix_kinds: tuple[PrefixKind, ...]
    no_embed_class: bool
    global_pool: str
    depth: int
    num_heads: int
    embed_dim: int
    pool_include_prefix: bool = False

    def __post_init__(self) -> None:
        gh, gw = self.grid_size
        if gh < 1 or gw < 1:
            raise SettingsError(f"grid_size must be positive, got {self.grid_size}")

    @property
    def num_prefix_tokens(self) -> int:
        return len(self.prefix_kinds)

    @property
    def num_patches(self) -> int:
        return self.grid_size[0] * self.grid_size[1]

    def attention_bytes(self, batch: int = 1) -> int:
        """Bytes of the full float32 attention ``[batch, layer, head, query, key]`` of one forward pass."""
        return batch * self.depth * self.num_heads * self.num_tokens**2 * 4

    @property
    def num_tokens(self) -> int:
        return self.num_prefix_tokens + self.num_patches

    @property
    def has_class_token(self) -> bool:
        return "cls" in self.prefix_kinds

    @property
    def has_dist_token(self) -> bool:
        return "dist" in self.prefix_kinds

    @property
    def num_registers(self) -> int:
        return self.prefix_kinds.count("reg")

    def token_index(self, kind: PrefixKind) -> int:
        """Sequence index of the first prefix token of this kind."""
        if kind not in self.prefix_kinds:
            raise SettingsError(f"this model has no {kind!r} token (prefix tokens: {self.prefix_kinds}).")
        return self.prefix_kinds.index(kind)

    def patch_token(self, row: int, col: int) -> int:
        """Sequence index of the patch at grid position (row, col)."""
        gh, gw = self.grid_size
        if not (0 <= row < gh and 0 <= col < gw):
            raise SettingsError(f"patch ({row}, {col}) is outside the {gh} x {gw} grid; pick a row below {gh} and a column below {gw}.")
        return self.num_prefix_tokens + row * gw + col

    def token_label(self, index: int) -> str:
        """Readable name of a token: 'cls', 'dist', 'reg0', or 'patch (r, c)'."""
        p = self.num_prefix_tokens
        if index < p:
            kind = self.prefix_kinds[index]
            return f"reg{self.prefix_kinds[:index].count('reg')}" if kind == "reg" else kind
        r, c = divmod(index - p, self.grid_size[1])
        return f"patch ({r}, {c})"


@dataclass
class Capture:
    """What one captured forward pass saw.

    Attributes:
        logits: [batch, classes] model output.
        attention: [batch, layer, head, query, key] post-softmax probabilities for `layers`,
            float32, or None when a streaming sink consumed them instead of storing.
        layers: block indices that `attention` holds, in order.
        pool_attention: [batch, pool_head, latent, key] for attention-pool ("map") heads, else None.
        geometry: token layout of this forward.
    """

    logits: torch.Tensor
    attention: torch.Tensor | None
    layers: tuple[int, ...]
    geometry: Geometry
    pool_attention: torch.Tensor | None = None
