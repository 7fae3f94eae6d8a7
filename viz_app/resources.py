"""All caching of the app in one module: models once per process, analyses per (model, image, settings).

- ``get_model``: ``st.cache_resource`` (shared by every session; the model is never mutated).
- ``analyze_image``: one process-wide :class:`~viz_app.byte_cache.ByteLRU` (held by ``st.cache_resource``),
  bounded by bytes (``VIT_EXPLORER_ANALYSIS_CACHE_MB``, default 2048): read-only arrays shared by all
  sessions, so a class of 30 on one model and image runs one analysis and reruns copy nothing; keyed by the
  model's key, the image's SHA-256 and the analysis settings. This is the only place a forward pass runs for the
  main view; ``FORWARD_CALLS`` counts real runs (cache misses), so tests can prove that view controls never
  re-run the model.
- View-level reductions (rollout for other fusion/discard/residual/start-layer settings, relevance for
  another class) are cached too, keyed by the analysis key and their settings; the large attention array
  is passed unhashed (leading underscore).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import streamlit as st
import torch

import vit_core
import vit_core.results.rollout_layers
from vit_core.errors import ImageError, ModelLoadError
from vit_core.inside.inspection import InspectionResult, inspect
from vit_core.methods import RolloutSettings, class_relevance
from vit_core.methods.readout import readout_weights, split_tokens
from vit_core.models.images import PixelMapping, load_image, model_view, preprocess
from vit_core.models.loading import DEMO_MODEL_NAME, LoadedModel, load_model
from vit_core.models.predict import top_k
from vit_core.results.provenance import file_sha256 as provenance_file_sha256
from vit_core.results.rollout_layers import FusedLayers
from vit_core.runs.analysis import AnalysisResult, analyze

from .byte_cache import ByteLRU, CacheInfo
from .catalogue import t
from .state import AnalysisSettings, Context, ImageSpec, ModelSpec

__all__ = [
    "FORWARD_CALLS",
    "forward_count",
    "SAMPLES_DIR",
    "IMAGE_TYPES",
    "demo_available",
    "default_model_spec",
    "get_model",
    "model_download_mb",
    "sample_images",
    "image_from_bytes",
    "save_checkpoint_upload",
    "analyze_image",
    "ANALYSIS_CACHE_ENV",
    "analysis_cache_limit_bytes",
    "analysis_cache_info",
    "prepare_context",
    "fused_layers",
    "rollout_rows",
    "running_rollout_rows",
    "rollout_map",
    "relevance_map",
    "sample_head_metrics",
    "npz_bytes",
    "inspection",
    "model_inspection",
    "shared_tensor",
    "with_checkpoint_hash",
]

# What actually ran (cache misses), by kind; tests read it through forward_count().
FORWARD_CALLS: Counter[str] = Counter()

ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = ROOT / "assets" / "samples"
IMAGE_TYPES = ("png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff")
FALLBACK_MODEL = "test_vit"  # tiny timm ViT, random weights: only while the demo model is not installed
_CHECKPOINT_DIR = Path(tempfile.gettempdir()) / "vit_explorer_checkpoints"


def forward_count() -> int:
    """Model forward passes run so far by this process (analyses, relevance passes, sample sweeps)."""
    return sum(FORWARD_CALLS.values())


# -- models ---------------------------------------------------------------------------------------
def demo_available() -> bool:
    """True when the bundled demo model is registered with timm and its weights file is present."""
    import timm

    try:
        from vit_core.demo import WEIGHTS_FILE
    except Exception:  # noqa: BLE001 - a broken demo package must not take the app down
        return False
    return timm.is_model(DEMO_MODEL_NAME) and Path(WEIGHTS_FILE).is_file()


def default_model_spec() -> ModelSpec:
    """The bundled demo model, or a tiny random ViT while the demo model is not installed."""
    if demo_available():
        return ModelSpec(DEMO_MODEL_NAME)
    return ModelSpec(FALLBACK_MODEL, pretrained=False)


@st.cache_resource(max_entries=3, show_spinner=False)
def get_model(spec: ModelSpec) -> LoadedModel:
    """Load (and download on first use) one model; shared by all sessions, at most three kept.

    Keyed by the whole spec, the checkpoint's content hash included (see :func:`with_checkpoint_hash`).
    """
    sized = {} if spec.image_size is None else {"img_size": spec.image_size}  # position embeddings resampled
    return load_model(spec.name, spec.checkpoint, dtype=spec.dtype, pretrained=spec.pretrained, **sized)


def with_checkpoint_hash(spec: ModelSpec) -> ModelSpec:
    """`spec` with the content hash of its checkpoint file filled in (unchanged without a readable file).

    The model and analysis caches are keyed by it: overwrite the file and the next run loads the new weights.
    A missing file keeps no hash; loading it then says so in one sentence.
    """
    if spec.checkpoint is None:
        return spec
    return dataclasses.replace(spec, checkpoint_sha256=file_sha256(spec.checkpoint))


@st.cache_data(max_entries=64, show_spinner=False)
def model_download_mb(name: str) -> float | None:
    """Approximate size of the float32 weights in MB (from the architecture, no download), or None."""
    import timm

    if vit_core.models.loading.hub_repository(name) is not None:
        return None  # the architecture is in the repository's config.json: not known before a download
    try:
        with torch.device("meta"):
            model = timm.create_model(name.split(".", 1)[0], pretrained=False)
    except Exception:  # noqa: BLE001 - unknown names are reported by load_model with a proper sentence
        return None
    return sum(p.numel() for p in model.parameters()) * 4 / 2**20


def model_is_downloaded(name: str) -> bool | None:
    """Whether the hub weights of `name` are in the local Hugging Face cache; None when it has none to download
    (a misspelled name or tag: loading it then says so, with no download announced first)."""
    try:
        return vit_core.models.loading.hub_weights_cached(name)
    except Exception:  # noqa: BLE001 - only a hint for the UI
        return None


def save_checkpoint_upload(name: str, data: bytes) -> str:
    """Store an uploaded checkpoint under a content-addressed folder, with its own file name, and return the path."""
    suffix = Path(name).suffix.lower()
    if suffix not in vit_core.models.loading.CHECKPOINT_SUFFIXES:
        raise ModelLoadError(t("error.checkpoint_type", name=name,
                                 suffixes=", ".join(vit_core.models.loading.CHECKPOINT_SUFFIXES)))
    folder = _CHECKPOINT_DIR / hashlib.sha256(data).hexdigest()[:24]  # content-addressed, the name kept for errors
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(name).name
    if not path.exists():
        path.write_bytes(data)
    return str(path)


# -- images ---------------------------------------------------------------------------------------
def image_from_bytes(data: bytes, label: str) -> ImageSpec:
    """Wrap image bytes with their content hash (the cache key); decoding happens in the analysis."""
    return ImageSpec(data=data, sha256=hashlib.sha256(data).hexdigest(), label=label)


@st.cache_data(show_spinner=False)
def sample_images() -> dict[str, bytes]:
    """Sample images by name: the files in assets/samples, or one generated scene when there are none."""
    files = sorted(p for p in SAMPLES_DIR.glob("*") if p.suffix.lower().lstrip(".") in IMAGE_TYPES)
    samples = {p.name: p.read_bytes() for p in files}
    if samples:
        return samples
    from PIL import Image

    from vit_core.demo.scenes import render_scene

    for index in range(3):
        image, _, _ = render_scene(seed=4, index=index)
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
        samples[f"generated scene {index + 1}.png"] = buffer.getvalue()
    return samples


@st.cache_data(show_spinner=False)
def scene_ground_truth() -> dict[str, dict]:
    """Known objects of the bundled generated scenes, by the file's sha256 (so an upload of the same file counts):
    ``{"classes": [...], "boxes_xyxy": [[x0, y0, x1, y1], ...]}`` in original-image pixels."""
    try:
        scenes = json.loads((SAMPLES_DIR / "scenes.json").read_text())
    except (OSError, ValueError):
        return {}
    known = {}
    for name, scene in scenes.items():
        path = SAMPLES_DIR / name
        if path.is_file() and {"classes", "boxes_xyxy"} <= set(scene):
            known[hashlib.sha256(path.read_bytes()).hexdigest()] = scene
    return known


# -- analyses -------------------------------------------------------------------------------------
def model_input(loaded: LoadedModel, data: bytes) -> tuple[torch.Tensor, np.ndarray, PixelMapping]:
    """(model input [1, 3, h, w], the model's view [h, w, 3] uint8, its mapping back to the original pixels)."""
    image = load_image(data)
    pixel_values, mapping = preprocess(image, loaded.data_config)
    view = np.asarray(model_view(image, loaded.data_config).convert("RGB"), dtype=np.uint8)
    return pixel_values[None].to(device=loaded.device, dtype=loaded.dtype), view, mapping


def shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor view of a cached, read-only array, without a copy; callers only read it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def _has_classifier(loaded: LoadedModel) -> bool:
    return loaded.has_classifier


ANALYSIS_CACHE_ENV = "VIT_EXPLORER_ANALYSIS_CACHE_MB"
ANALYSIS_CACHE_DEFAULT_MB = 2048


def analysis_cache_limit_bytes() -> int:
    """The analysis cache's bound: ``VIT_EXPLORER_ANALYSIS_CACHE_MB`` megabytes (2048 when unset or not a positive
    number)."""
    try:
        mb = float(os.environ.get(ANALYSIS_CACHE_ENV, ANALYSIS_CACHE_DEFAULT_MB))
    except ValueError:
        mb = ANALYSIS_CACHE_DEFAULT_MB
    return int((mb if mb > 0 else ANALYSIS_CACHE_DEFAULT_MB) * 2**20)


@st.cache_resource(show_spinner=False)
def _analyses() -> ByteLRU:
    """The one analysis cache of this process (a resource: every session shares it; the clear-cache menu clears
    it)."""
    return ByteLRU(analysis_cache_limit_bytes())


def analysis_cache_info() -> CacheInfo:
    """Bytes held by the shared analyses, their bound and their number (the sidebar's diagnostics line)."""
    return _analyses().info()


def analyze_image(
    model_key: str, image_sha256: str, settings: AnalysisSettings, loaded: LoadedModel, data: bytes
) -> tuple[AnalysisResult, np.ndarray, PixelMapping, FusedLayers | None]:
    """One forward (and one gradient) pass: ``vit_core.runs.analysis.analyze``'s result, the model's view, its mapping,
    and the mean-fused layers ``[layer, query, key]`` the same pass made (None where they would be over
    :data:`vit_core.results.rollout_layers.FUSED_BYTES`), which the rollout views push rows through.

    Cached by (model key, image hash, settings) in the process-wide, byte-bounded analysis cache; `loaded` and
    `data` are determined by the keys. Sessions asking for the same key at once wait for one computation. The same
    arrays are returned to every rerun and session without unpickling the [1, L, H, N, N] attention (22 MB for
    ViT-B/16, 510 MB for ViT-L/16 at 384), so every array is made read-only.
    """
    return _analyses().get_or_compute((model_key, image_sha256, settings), lambda: _analyze(loaded, data, settings))


def _analyze(loaded: LoadedModel, data: bytes, settings: AnalysisSettings
             ) -> tuple[AnalysisResult, np.ndarray, PixelMapping, FusedLayers | None]:
    pixel_values, view, mapping = model_input(loaded, data)
    FORWARD_CALLS["analyze"] += 1
    g = loaded.geometry
    keeps_layers = vit_core.results.rollout_layers.layers_bytes(g.depth, g.num_tokens) > 0
    kept: list[FusedLayers] | None = [] if keeps_layers else None
    result = analyze(
        loaded,  # the LoadedModel: its weights file's hash goes into the export's provenance
        pixel_values,
        relevance=settings.relevance and _has_classifier(loaded),
        attention="auto",
        pcs_k=settings.pcs_k,
        fused_out=kept,  # kept where fused_layers would keep them (the rollout views push through them)
    )
    for array in (*result.arrays().values(), view):
        array.flags.writeable = False
    return result, view, mapping, kept[0] if kept else None


def prepare_context(spec: ModelSpec, image: ImageSpec, settings: AnalysisSettings | None = None) -> Context:
    """Load the model (cached), analyse the image (cached) and bundle what the pages need.

    Raises:
        VitCoreError: with one readable sentence (bad image, unknown model, offline, bad checkpoint).
    """
    settings = settings or AnalysisSettings()
    spec = with_checkpoint_hash(spec)
    loaded = get_model(spec)
    try:
        result, view, mapping, layers = analyze_image(spec.key, image.sha256, settings, loaded, image.data)
    except (OSError, ValueError) as error:  # decoder errors that slipped past load_image
        raise ImageError(t("error.image", kind=type(error).__name__)) from error
    predictions = []
    if _has_classifier(loaded):
        predictions = top_k(shared_tensor(result.logits), loaded.label_names, k=5, output=loaded.class_output)[0]
    geometry = loaded.geometry
    labels = tuple(geometry.token_label(i) for i in range(geometry.num_prefix_tokens))
    return Context(
        spec=spec,
        loaded=loaded,
        image=image,
        view=view,
        mapping=mapping,
        analysis=result,
        predictions=predictions,
        prefix_labels=labels,
        layers=layers,
    )


def other_fusions_bytes() -> int:
    """The bound of the fusions other than the analysis' own (which travel with it in the analysis cache): half of
    :data:`vit_core.results.rollout_layers.FUSED_BYTES`, one other fusion at a time for ViT-B/14 at 518 px."""
    return vit_core.results.rollout_layers.FUSED_BYTES // 2


@st.cache_resource(show_spinner=False)
def _fused() -> ByteLRU:
    """The head-fused layers of recent (analysis, fusion) pairs for fusions the analysis did not make (max, min),
    within :func:`other_fusions_bytes` together (layers over the guard hold nothing and cost nothing here);
    shared by every session, least recently used out first."""
    return ByteLRU(other_fusions_bytes(), size=lambda layers: layers.nbytes)


def fused_layers(ctx: Context, head_fusion: str) -> FusedLayers:
    """Every layer's head-fused attention ``[layer, query, key]`` of the analysed image (90 MB for ViT-B/14 at
    518 px): the analysis' own for its fusion, else rebuilt from the attention it keeps (q and k at 518 px); what
    any rollout row is pushed through."""
    if ctx.layers is not None and ctx.layers.head_fusion == head_fusion:
        return ctx.layers
    cache, key = _fused(), (ctx.key, head_fusion)
    if key not in cache:  # room first: at the peak the old fusion and the new one were both held (+90 MB)
        cache.make_room(vit_core.results.rollout_layers.kept_bytes(ctx.analysis))
    return cache.get_or_compute(key, lambda: vit_core.results.rollout_layers.fused_layers(ctx.analysis, head_fusion))


def rollout_rows(ctx: Context, settings: RolloutSettings, tokens: list[int]) -> np.ndarray:
    """Rows of R = B_L ... B_s for the query `tokens` ``[n, key]`` (no forward, R never formed)."""
    return fused_layers(ctx, settings.head_fusion).token_rows(tokens, settings)


@st.cache_data(max_entries=8, show_spinner=False)
def _running_rows(context_key: str, token: int, _ctx: Context) -> np.ndarray:
    return fused_layers(_ctx, "mean").running_rows(token, RolloutSettings())


def running_rollout_rows(ctx: Context, token: int) -> np.ndarray:
    """Row `token` of each running product ``R_l = B_l ... B_0`` (the paper's settings) ``[layer, key]``."""
    return _running_rows(ctx.key, int(token), ctx)


@st.cache_data(max_entries=32, show_spinner=False)
def _rollout_readout(context_key: str, settings: RolloutSettings, _ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    g = _ctx.geometry
    pool = _ctx.analysis.pool_attention  # [1, pool_head, latent, key], attention-pool ("map") heads only
    weights = readout_weights(g, 1, "cpu", pool_attention=None if pool is None else shared_tensor(pool),
                              pool_include_prefix=g.pool_include_prefix)  # [1, token]
    row = fused_layers(_ctx, settings.head_fusion).push(weights, settings)
    heat, prefix = split_tokens(row, g)
    return heat[0].numpy(), prefix[0].numpy()


def rollout_map(ctx: Context, settings: RolloutSettings) -> tuple[np.ndarray, np.ndarray]:
    """Rollout map ``[gh, gw]`` and prefix weights ``[P]`` read out as the model pools (no forward)."""
    if settings == RolloutSettings():
        return ctx.analysis.rollout[0], ctx.analysis.prefix_weights[0]
    return _rollout_readout(ctx.key, settings, ctx)


@st.cache_data(max_entries=32, show_spinner=False)
def _relevance(context_key: str, target: int, _loaded: LoadedModel, _data: bytes) -> np.ndarray:
    pixel_values, _, _ = model_input(_loaded, _data)
    FORWARD_CALLS["relevance"] += 1
    result = class_relevance(_loaded.model, pixel_values, target_class=int(target))
    return result.heatmap[0].detach().float().cpu().numpy()


def relevance_map(ctx: Context, target: int) -> np.ndarray | None:
    """Class-specific relevance ``[gh, gw]`` for `target`; the top-1 map comes with the analysis.

    Another class needs one gradient pass, cached per (model, image, class).
    """
    if ctx.analysis.relevance is None:
        return None
    if int(ctx.analysis.relevance_target[0]) == int(target):
        return ctx.analysis.relevance[0]
    return _relevance(ctx.key, int(target), ctx.loaded, ctx.image.data)


@st.cache_data(max_entries=8, show_spinner=False)
def sample_head_metrics(model_key: str, _loaded: LoadedModel) -> dict[str, np.ndarray]:
    """Mean attention distance and entropy ``[layer, head]`` over every sample image: mean and std."""
    distances, entropies = [], []
    for data in sample_images().values():
        pixel_values, _, _ = model_input(_loaded, data)
        FORWARD_CALLS["samples"] += 1
        result = analyze(
            _loaded.model, pixel_values, relevance=False, attention="none", model_views=False, keep_pixels=False
        )
        distances.append(result.mean_attention_distance[0])
        entropies.append(result.attention_entropy[0])
    d, e = np.stack(distances), np.stack(entropies)
    return {
        "distance_mean": d.mean(0),
        "distance_std": d.std(0),
        "entropy_mean": e.mean(0),
        "entropy_std": e.std(0),
        "count": np.asarray(len(distances)),
    }


@st.cache_resource(max_entries=8, show_spinner=False)
def _inspection(context_key: str, _loaded: LoadedModel, _data: bytes) -> InspectionResult:
    pixel_values, _, _ = model_input(_loaded, _data)
    FORWARD_CALLS["inspect"] += 1
    return inspect(_loaded, pixel_values, keep_pixels=False)


def inspection(ctx: Context) -> InspectionResult:
    """Token norms, outliers and sinks of the current model and image (one forward pass, cached per both)."""
    return _inspection(ctx.key, ctx.loaded, ctx.image.data)


def model_inspection(spec: ModelSpec, image: ImageSpec) -> tuple[LoadedModel, np.ndarray, InspectionResult]:
    """(the model, its view of the image ``[h, w, 3]`` uint8, its inspection) for another model on the same image."""
    loaded = get_model(spec)
    _, view, _ = model_input(loaded, image.data)
    return loaded, view, _inspection(f"{spec.key}|{image.sha256}", loaded, image.data)


@st.cache_data(max_entries=2, show_spinner=False)
def npz_bytes(context_key: str, _result: AnalysisResult) -> bytes:
    """The analysis as a compressed .npz (the keys of ``python -m vit_core analyze``, provenance included)."""
    return _result.npz_bytes(compressed=True)


def file_sha256(path: str | Path) -> str | None:
    """SHA-256 of the file at `path` (read once per change of size and mtime), or None when it cannot be read."""
    try:
        return provenance_file_sha256(path)
    except OSError:
        return None


def provenance(ctx: Context, made: str | None = None) -> str:
    """One line saying what produced a result: the analysis's own provenance (model, weights hash, versions) and
    the image; `made` (UTC, ISO 8601) is when this result was made, e.g. an export's time (default: the analysis')."""
    image = f"Image {Path(ctx.image.label).name} sha256 {ctx.image.sha256[:12]}."
    recorded = ctx.analysis.provenance
    if recorded is not None and made is not None:
        recorded = dataclasses.replace(recorded, created=made)
    return f"{recorded.describe()} {image}" if recorded is not None else image


@st.cache_data(max_entries=8, show_spinner=False)
def centred_pos_similarity(model_key: str, grid_size: tuple[int, int], _loaded: LoadedModel) -> np.ndarray:
    """``[gh, gw, gh, gw]`` cosine similarity of the position embeddings after removing their mean."""
    from vit_core.methods.pos_embed import pos_embed_similarity

    return pos_embed_similarity(_loaded.model, grid_size, subtract_mean=True).numpy()
