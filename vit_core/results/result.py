"""What :func:`vit_core.runs.analysis.analyze` returns: every array of one analysed batch, typed, with its provenance.

The field names are the keys of the .npz that ``python -m vit_core analyze`` and the app's export write, so
``np.load(path)["rollout"]`` and ``AnalysisResult.from_npz(path).rollout`` read the same array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ResultFileError
from .files import NpzResult
from .provenance import Provenance

__all__ = ["AnalysisResult"]


@dataclass(frozen=True)
class AnalysisResult(NpzResult):
    """Every array of one analysed batch (float32 unless noted; B images, L layers, H heads, grid gh x gw).

    Attributes:
        logits: ``[B, classes]`` model output.
        rollout: ``[B, gh, gw]`` attention rollout read out as the model pools.
        prefix_weights: ``[B, P]`` rollout mass on the P prefix tokens (class, distillation, registers).
        mean_attention_distance: ``[B, L, H]`` in input pixels.
        attention_entropy: ``[B, L, H]`` in nats.
        num_prefix_tokens: ``()`` int64.
        grid_size: ``[2]`` int64 (gh, gw).
        patch_size: ``[2]`` int64 (ph, pw).
        pixel_values: ``[B, 3, h, w]`` the model input, or None when not kept.
        attention: ``[B, L, H, N, N]`` every layer's probabilities (N tokens), or None when not kept (read any
            slice with :meth:`attention_slice`, which rebuilds it from ``attention_q``/``attention_k``).
        attention_q, attention_k: ``[B, L, H, N, D]`` each layer's queries and keys as the fused kernel saw
            them (D = head width), kept instead of ``attention`` where that would be large; or None.
        attention_scale: ``[L]`` the scale of each layer's logits, with ``attention_q``; or None.
        pool_attention: ``[B, pool_head, latent, key]`` the attention pool's weights (attention-pool "map" heads),
            kept with ``attention``: reading another rollout out of it needs them; else None.
        cls_attention: ``[B, L, H, gh, gw]`` class-token attention to the patches, or None without a class token.
        relevance: ``[B, gh, gw]`` class-specific relevance (GAE: Chefer et al. ICCV 2021), or None when not asked for.
        relevance_target: ``[B]`` int64 class each relevance map explains, or None.
        pos_embed_similarity: ``[gh, gw, gh, gw]`` cosine similarity of learned position embeddings, or None.
        patch_embed_pcs: ``[k, 3, ph, pw]`` principal components of the patch-embedding filters, or None.
        patch_embed_pcs_variance: ``[k]`` their explained variance ratios, or None.
        raw_attention, attention_flow, gradcam, lrp, legrad, transformer_attribution (Chefer et al. CVPR 2021):
            ``[B, gh, gw]`` the other explanation methods' maps (``analyze --methods``,
            :mod:`vit_core.methods.registry`), or None when not asked for.
        provenance: what produced these numbers (model, weights hash, settings, versions), or None for a file
            written before provenance was recorded.
    """

    logits: np.ndarray
    rollout: np.ndarray
    prefix_weights: np.ndarray
    mean_attention_distance: np.ndarray
    attention_entropy: np.ndarray
    num_prefix_tokens: np.ndarray
    grid_size: np.ndarray
    patch_size: np.ndarray
    pixel_values: np.ndarray | None = None
    attention: np.ndarray | None = None
    attention_q: np.ndarray | None = None
    attention_k: np.ndarray | None = None
    attention_scale: np.ndarray | None = None
    pool_attention: np.ndarray | None = None
    cls_attention: np.ndarray | None = None
    relevance: np.ndarray | None = None
    relevance_target: np.ndarray | None = None
    pos_embed_similarity: np.ndarray | None = None
    patch_embed_pcs: np.ndarray | None = None
    patch_embed_pcs_variance: np.ndarray | None = None
    raw_attention: np.ndarray | None = None
    attention_flow: np.ndarray | None = None
    gradcam: np.ndarray | None = None
    lrp: np.ndarray | None = None
    legrad: np.ndarray | None = None
    transformer_attribution: np.ndarray | None = None
    provenance: Provenance | None = None

    NOT_THIS_KIND = "{file} is not an analysis file (no {missing}); read a batch result with numpy."

    @property
    def batch_size(self) -> int:
        return int(self.logits.shape[0])

    @property
    def has_attention(self) -> bool:
        """Whether any attention slice can be read (:meth:`attention_slice`): full or rebuilt from q and k."""
        return self.attention is not None or self.attention_q is not None

    @property
    def attention_shape(self) -> tuple[int, int, int, int, int]:
        """``(B, L, H, N, N)`` of the attention, whether kept in full or as q and k."""
        if self.attention is not None:
            return tuple(self.attention.shape)  # type: ignore[return-value]
        if self.attention_q is None:
            raise ResultFileError("this result keeps no attention; analyse again with the attention kept.")
        b, layers, heads, tokens, _ = self.attention_q.shape
        return b, layers, heads, tokens, tokens

    def attention_slice(self, layer: int, head: int | slice | None = None, rows=None, image: int = 0) -> np.ndarray:
        """Attention probabilities of one layer ``[head, rows, key]`` (``[rows, key]`` for one head), float32.

        Read from ``attention`` when the result keeps it, else rebuilt exactly from ``attention_q`` and
        ``attention_k`` (softmax of ``q k^T * scale``, the capture's own arithmetic): memory of the slice only.

        Args:
            layer: block index.
            head: one head, a slice of heads, or None for all.
            rows: query token indices (an int, a slice, a list), or None for all.
            image: index in the batch.
        """
        heads = slice(None) if head is None else head
        query = slice(None) if rows is None else ([rows] if isinstance(rows, int | np.integer) else rows)
        if self.attention is not None:
            out = self.attention[image, layer][heads][..., query, :]
        else:
            if self.attention_q is None:
                raise ResultFileError("this result keeps no attention; analyse again with the attention kept.")
            out = _rebuild(self.attention_q[image, layer][heads], self.attention_k[image, layer][heads],
                           float(self.attention_scale[layer]), query)
        return out[..., 0, :] if isinstance(rows, int | np.integer) else out

    def token_rows(self, token: int, image: int = 0) -> np.ndarray:
        """Attention of query `token` in every layer and head ``[layer, head, key]`` float32, from either store
        (one row per layer and head rebuilt: never a layer's ``[head, query, key]``)."""
        layers = self.attention_shape[1]
        return np.stack([self.attention_slice(layer, rows=int(token), image=image) for layer in range(layers)])


def _rebuild(q: np.ndarray, k: np.ndarray, scale: float, rows) -> np.ndarray:
    """softmax(q[rows] k^T * scale) for q, k ``[..., token, head_dim]`` -> ``[..., rows, key]`` float32."""
    import torch

    from ..attention.logits import attention_logits

    q_rows = torch.from_numpy(np.ascontiguousarray(q[..., rows, :]))
    k_all = torch.from_numpy(np.ascontiguousarray(k))
    while q_rows.dim() < 4:  # attention_logits takes [batch, head, rows, head_dim]
        q_rows, k_all = q_rows.unsqueeze(0), k_all.unsqueeze(0)
    probs = attention_logits(q_rows, k_all, scale, None).softmax(dim=-1)
    return probs.reshape(*q[..., rows, :].shape[:-1], k.shape[-2]).numpy()
