"""The sidebar: the model (name, checkpoint, weights, precision) and the image, and the cached analysis they
give. It is the only place that changes what a forward pass computes; everything on the pages is a view control."""

from __future__ import annotations

import io
from pathlib import Path

import streamlit as st
import torch
import tqdm

from vit_core.models.loading import DEMO_MODEL_NAME, RANDOM_SEED, download_hub_weights

from . import crowd, image_size, image_sources, resources, state
from .i18n import t
from .state import Context, ImageSpec, ModelSpec
from .ui import FAILED, model_label, show_error, weights_label

__all__ = ["render_sidebar", "FIRST_SCENE", "FIRST_PHOTO"]


def _model_spec() -> ModelSpec | None:
    default = resources.default_model_spec()
    demo_label = state.DEMO_LABEL if default.name == DEMO_MODEL_NAME else state.TINY_RANDOM_LABEL
    options = [demo_label, *state.CURATED_MODELS, state.OTHER_TIMM, state.HF_TRANSFORMERS, state.CHECKPOINT]
    choice = st.selectbox(t("sidebar.model"), options, key=state.MODEL_CHOICE, format_func=model_label)
    if choice == demo_label:
        spec = default
    elif choice in state.CURATED_MODELS:
        spec = ModelSpec(state.CURATED_MODELS[choice])
    elif choice == state.OTHER_TIMM:
        name = st.text_input(t("sidebar.timm_name"), key=state.MODEL_NAME,
                             placeholder=t("sidebar.example", example="vit_base_patch16_384.augreg_in21k_ft_in1k")
                             ).strip()
        if not name:
            st.caption(t("sidebar.timm_hint"))
            return None
        spec = ModelSpec(name)
    elif choice == state.HF_TRANSFORMERS:
        spec = _transformers_spec()
        if spec is None:
            return None
    else:
        arch = st.text_input(t("sidebar.arch"), key=state.CHECKPOINT_ARCH, placeholder="vit_small_patch16_224")
        path = st.text_input(t("sidebar.checkpoint_path"), key=state.CHECKPOINT_PATH).strip()
        upload = st.file_uploader(
            t("sidebar.checkpoint_upload"), type=["safetensors", "pth", "pt", "bin", "npz"], key=state.CHECKPOINT_UPLOAD
        )
        if not arch.strip() or not (path or upload):
            st.caption(t("sidebar.checkpoint_hint"))
            return None
        checkpoint = resources.save_checkpoint_upload(upload.name, upload.getvalue()) if upload else path
        spec = ModelSpec(arch.strip(), checkpoint=checkpoint)
    random_weights = st.toggle(t("sidebar.random"), key=state.RANDOM_WEIGHTS,
                               help=t("sidebar.random_help", seed=RANDOM_SEED))
    precisions = ["float32"] + (["bfloat16", "float16"] if torch.cuda.is_available() else [])
    dtype = st.selectbox(t("sidebar.precision"), precisions, key=state.PRECISION, disabled=len(precisions) == 1)
    return ModelSpec(spec.name, spec.checkpoint, pretrained=spec.pretrained and not random_weights, dtype=dtype)


def _transformers_spec() -> ModelSpec | None:
    """A transformers-format ViT: one of the well-known hub repositories, another one, or a save_pretrained folder."""
    preset = st.selectbox(t("sidebar.repository"), [*state.TRANSFORMERS_MODELS, state.HF_OTHER], key=state.HF_PRESET,
                          format_func=model_label)
    if preset in state.TRANSFORMERS_MODELS:
        st.caption(t(state.TRANSFORMERS_MODELS[preset]))
        return ModelSpec(f"hf-hub:{preset}")
    name = st.text_input(t("sidebar.hf_name"), key=state.HF_NAME,
                         placeholder=t("sidebar.example", example="org/name, /path/to/saved/model")).strip()
    if not name:
        st.caption(t("sidebar.hf_hint"))
        return None
    is_folder = name.startswith(("/", ".", "~")) or Path(name).expanduser().is_dir()
    return ModelSpec(name if is_folder or name.startswith("hf-hub:") else f"hf-hub:{name}")


# First sample shown: a two-object scene for the bundled shapes model (its ground truth is drawn), a photo otherwise.
# The triangle-and-ring scene is one where each class's relevance peaks on its own object by a clear margin (the
# lesson's step 7 says so; tests/test_lesson.py checks it on the bundled model): on pair_ring_star.png the ring's
# relevance was 1.000 on the ring against 0.997 on the star.
FIRST_SCENE, FIRST_PHOTO = "pair_triangle_ring.png", "chelsea.png"


def _image_spec(model: ModelSpec | None = None) -> ImageSpec | None:
    # The label is collapsed (its options name image sources) so the sample menu stays above the fold at 1280 x 720
    # under the fully shown 13-page menu; screen readers still hear it.
    source = st.radio(t("source.label"), image_sources.SOURCES, key=state.IMAGE_SOURCE, horizontal=True,
                      format_func=lambda s: t(f"source.{s}"), label_visibility="collapsed")
    if source == "Camera":
        return image_sources.camera_image()
    if source == "Draw":
        return image_sources.drawing_image()
    if source == "Sample":
        samples = resources.sample_images()
        names = list(samples)
        demo = model is not None and model.name.split(".")[0] == DEMO_MODEL_NAME
        first = FIRST_SCENE if demo else FIRST_PHOTO
        name = st.selectbox(t("sidebar.sample"), names, index=names.index(first) if first in names else 0, key=state.SAMPLE,
                            label_visibility="collapsed")  # the source above says "Sample": the menu in view
        return resources.image_from_bytes(samples[name], name)
    upload = st.file_uploader(t("sidebar.upload"), type=list(resources.IMAGE_TYPES), key=state.UPLOAD)
    if upload is None:
        st.caption(t("sidebar.upload_hint"))
        return None
    return resources.image_from_bytes(upload.getvalue(), upload.name)


def _hub_weights_needed(spec: ModelSpec) -> bool:
    """Whether loading `spec` reads pretrained weights from the Hugging Face hub (or its local cache)."""
    local = spec.checkpoint or not spec.pretrained or Path(spec.name).expanduser().is_dir()  # a model folder
    return not local and spec.name.split(".")[0] not in (DEMO_MODEL_NAME, resources.FALLBACK_MODEL)


def _progress_class(bar, name: str) -> type:
    """A tqdm class (what huggingface_hub reports downloads through) that moves a Streamlit progress bar."""

    class StreamlitProgress(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)  # huggingface_hub's own tqdm takes a name; plain tqdm does not
            super().__init__(*args, **{**kwargs, "file": io.StringIO(), "disable": False})

        def update(self, n=1):
            shown = super().update(n)
            if self.total:
                done, total = self.n / 2**20, self.total / 2**20
                bar.progress(min(1.0, self.n / self.total),
                             text=t("load.progress", name=name, done=f"{done:,.0f}", total=f"{total:,.0f}"))
            return shown

    return StreamlitProgress


def _download_weights(spec: ModelSpec) -> None:
    """Fetch uncached hub weights with a progress bar (what loading would refuse is refused before any bytes)."""
    if not _hub_weights_needed(spec) or resources.model_is_downloaded(spec.name) is not False:
        return
    bar = st.progress(0.0, text=t("load.first_download", name=spec.name, about=""))
    try:
        path = download_hub_weights(spec.name, tqdm_class=_progress_class(bar, spec.name), dtype=spec.dtype)
    except Exception:
        bar.empty()  # the error is shown instead of a bar that stopped
        raise
    if path is not None:
        bar.progress(1.0, text=t("load.downloaded", name=spec.name, mb=f"{Path(path).stat().st_size / 2**20:,.0f}"))


def _loading_message(spec: ModelSpec) -> str:
    if not _hub_weights_needed(spec):
        return t("load.loading", name=spec.name)
    downloaded = resources.model_is_downloaded(spec.name)
    if downloaded is None:
        return t("load.loading", name=spec.name)
    if downloaded:
        return t("load.from_cache", name=spec.name)
    size = resources.model_download_mb(spec.name)
    about = t("load.about", mb=f"{size:,.0f}") if size else ""
    return t("load.first_download", name=spec.name, about=about)


def render_sidebar(image_box=None) -> Context | None:
    """Model and image pickers; loads, analyses (both cached) and stores the Context for the pages.

    `image_box`: the sidebar container the image picker goes in (default: a new one, first after the navigation).
    """
    st.session_state[state.CONTEXT] = None
    st.session_state[FAILED] = False
    with st.sidebar:
        image_box = image_box or st.container()  # the image picker first: in view (it needs the model spec)
        st.subheader(t("sidebar.model"))
        spec = _model_spec()
    with image_box:
        image = _image_spec(spec)
    if spec is None or image is None:
        return None
    try:
        _download_weights(spec)
        with st.spinner(_loading_message(spec), show_time=True):
            spec = image_size.sized_spec(spec)  # the sidebar's image-size control (the model's own size by default)
            ctx = resources.prepare_context(spec, image)
    except Exception as error:  # noqa: BLE001 - the app keeps running, whatever the model does
        show_error(error)
        st.session_state[FAILED] = True
        return None
    loaded = ctx.loaded
    with st.sidebar:
        g = ctx.geometry
        st.caption(t("sidebar.loaded", name=loaded.name, weights=weights_label(loaded), device=loaded.device.type,
                     dtype=str(loaded.dtype).removeprefix("torch."), depth=g.depth, heads=g.num_heads,
                     gh=g.grid_size[0], gw=g.grid_size[1], ph=g.patch_size[0],
                     prefix=", ".join(ctx.prefix_labels) or t("none")))
        crowd.diagnostics()
    if loaded.source == "random":
        st.warning(t("sidebar.random_note"))
    st.session_state[state.CONTEXT] = ctx
    return ctx
