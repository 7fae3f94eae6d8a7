"""What :func:`vit_core.analysis.analyze` returns: every array of one analysed batch, typed, with its provenance.

The field names are the keys of the .npz that ``python -m vit_core analyze`` and the app's export write, so
``np.load(path)["rollout"]`` and ``AnalysisResult.from_npz(path).rollout`` read the same array.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import ResultFileError
from .provenance import Provenance
from .result_files import PROVENANCE_KEY, with_provenance, write_npz_atomically

__all__ = ["AnalysisResult"]


@dataclass(frozen=True)
class AnalysisResult:
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
        attention: ``[B, L, H, N, N]`` every layer's probabilities (N tokens), or None when not kept.
        pool_attention: ``[B, pool_head, latent, key]`` the attention pool's weights (attention-pool "map" heads),
            kept with ``attention``: reading another rollout out of it needs them; else None.
        cls_attention: ``[B, L, H, gh, gw]`` class-token attention to the patches, or None without a class token.
        relevance: ``[B, gh, gw]`` class-specific relevance (Chefer et al.), or None when not asked for.
        relevance_target: ``[B]`` int64 class each relevance map explains, or None.
        pos_embed_similarity: ``[gh, gw, gh, gw]`` cosine similarity of learned position embeddings, or None.
        patch_embed_pcs: ``[k, 3, ph, pw]`` principal components of the patch-embedding filters, or None.
        patch_embed_pcs_variance: ``[k]`` their explained variance ratios, or None.
        raw_attention, attention_flow, gradcam, lrp: ``[B, gh, gw]`` the other explanation methods' maps
            (``analyze --methods``, :mod:`vit_core.explain`), or None when not asked for.
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
    provenance: Provenance | None = None

    @property
    def batch_size(self) -> int:
        return int(self.logits.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays present, by their .npz key (provenance not included)."""
        return {
            f.name: value
            for f in fields(self)
            if f.name != PROVENANCE_KEY and (value := getattr(self, f.name)) is not None
        }

    def to_npz(self, file: str | Path | BinaryIO, *, compressed: bool = False) -> None:
        """Write every array and the provenance (a JSON string under ``provenance``) to an .npz; a path is
        replaced atomically, a file object (e.g. ``io.BytesIO``) written in place."""
        arrays = with_provenance(self.arrays(), self.provenance)
        if isinstance(file, str | Path):
            write_npz_atomically(Path(file), arrays, compressed=compressed)
        else:
            (np.savez_compressed if compressed else np.savez)(file, **arrays)

    def npz_bytes(self, *, compressed: bool = True) -> bytes:
        """The .npz as bytes (what a download button serves)."""
        buffer = io.BytesIO()
        self.to_npz(buffer, compressed=compressed)
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, file: str | Path | BinaryIO) -> AnalysisResult:
        """Read an .npz that ``to_npz`` (or ``python -m vit_core analyze``) wrote.

        Raises:
            ResultFileError: unreadable, or not an analysis file (e.g. a batch result, read with numpy).
        """
        try:
            with np.load(file, allow_pickle=False) as data:
                stored = {key: data[key] for key in data.files}
        except (OSError, ValueError) as error:
            raise ResultFileError(f"{file} is not a readable .npz ({type(error).__name__}); check the path.") from error
        names = {f.name for f in fields(cls)} - {PROVENANCE_KEY}
        required = {f.name for f in fields(cls) if f.default is not None and f.name != PROVENANCE_KEY}
        missing = sorted(required - set(stored))
        if missing:
            raise ResultFileError(
                f"{file} is not an analysis file (no {', '.join(missing[:3])}); read a batch result with numpy."
            )
        provenance = Provenance.from_json(str(stored[PROVENANCE_KEY])) if PROVENANCE_KEY in stored else None
        return cls(**{k: v for k, v in stored.items() if k in names}, provenance=provenance)
