"""Streamlit glue shared by the pages: the sidebar (model and image), error display, common controls.

The sidebar is the only place that changes what a forward pass computes (model, weights, precision,
image); everything on the pages is a view control inside a fragment.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import streamlit as st
import torch
import tqdm

from vit_core.errors import HubUnavailableError, VitCoreError
from vit_core.loading import DEMO_MODEL_NAME, RANDOM_SEED, download_hub_weights
from vit_core.methods import RolloutSettings

from . import export, image_sources, projector, resources, state
from .figures import COLORSCALES
from .i18n import t
from .rendering import HEAT, MASK, PAPER, PATCHES, RENDERINGS, RenderSettings
from .state import Context, ImageSpec, ModelSpec, RenderKeys

__all__ = [
    "render_sidebar",
    "require_context",
    "show_error",
    "colormap_select",
    "plotly",
    "patch_from_selection",
    "weights_label",
]

PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def show_error(error: Exception) -> None:
    """One readable sentence, never a traceback."""
    if isinstance(error, HubUnavailableError):  # its way out in the app's words, not the command line's
        message = (
            f"{error.reason}; with no network, choose “{state.CHECKPOINT}” in the Model menu"
            + (f" or the “{state.DEMO_LABEL}”" if resources.demo_available() else "")
            + "."
        )
    elif isinstance(error, VitCoreError):
        message = str(error)
    else:
        message = f"something went wrong ({type(error).__name__}); try another model or image."
    if _is_plain_word(message.split(" ", 1)[0]):  # sentence case, but names (resnet50, a file, timm) as written
        message = message[:1].upper() + message[1:]
    st.error(message)


def _is_plain_word(word: str) -> bool:
    """Whether `word` is an ordinary lower-case word, not a name (of a model, a file, a library) to keep as written."""
    import timm

    return word.isalpha() and word.islower() and word != "timm" and not timm.is_model(word)


def plotly(fig, *, key: str | None = None, on_select=None, height: int | None = None) -> object:
    """``st.plotly_chart`` with the app's defaults; clickable when `on_select` is given."""
    fig = projector.enlarge(fig)
    kwargs = {"key": key, "config": PLOT_CONFIG, "theme": "streamlit"}
    if on_select is not None:
        kwargs.update(on_select=on_select, selection_mode="points")
    return st.plotly_chart(fig, **kwargs)


def patch_from_selection(chart_key: str) -> tuple[int, int] | None:
    """(row, col) of the patch a click selected on a figure with patch markers (customdata [i, row, col, ...]).

    Returns None when nothing usable was selected; never raises (it runs inside widget callbacks).
    """
    try:
        event = st.session_state.get(chart_key)
        if event is None:
            return None
        selection = event["selection"] if "selection" in event else getattr(event, "selection", {})
        for point in selection.get("points", []):
            custom = point.get("customdata")
            if isinstance(custom, dict):  # a typed array arrives as {"0": v0, "1": v1, ...}
                custom = [custom[k] for k in sorted(custom, key=int)]
            if custom is not None and len(custom) >= 3:
                return int(custom[1]), int(custom[2])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return None


def colormap_select(key: str = state.COLORMAP, disabled: bool = False) -> str:
    return st.selectbox("Colour map", COLORSCALES, key=key, disabled=disabled)


RENDERING_HELP = (
    f"{HEAT}: colours blended 50/50 over the image, smooth between patch centres, the weakest 10% left clear. "
    f"{PAPER}: the image darkened where the map is low (the ViT paper's Figure 6). "
    f"{MASK}: only the patches holding the top share of the map's mass (DINO's Figure 3). "
    f"{PATCHES}: one coloured block per patch, the exact per-patch values."
)


def render_controls(keys: RenderKeys, columns: int = 4) -> RenderSettings:
    """The rendering picker and its settings, laid out in a row of `columns`; returns what they say."""
    cells = st.columns(columns)
    style = cells[0].selectbox("Rendering", RENDERINGS, key=keys.style, help=RENDERING_HELP)
    coloured = style in (HEAT, PATCHES)
    with cells[1]:
        colorscale = colormap_select(keys.colorscale, disabled=not coloured)
    opacity = cells[2].slider("Opacity", 0.0, 1.0, 0.5, 0.05, key=keys.opacity, disabled=not coloured)
    mass = st.session_state.get(keys.mass, 0.6)
    blur = bool(st.session_state.get(keys.blur, False))
    with cells[min(3, columns - 1)]:
        if style == MASK:
            mass = st.slider("Mass kept", 0.1, 0.95, 0.6, 0.05, key=keys.mass,
                             help="Keep the fewest patches that hold this share of the map's total.")
        elif style == PAPER:
            blur = st.toggle("Blur about one patch", key=keys.blur)
    return RenderSettings(style=style, colorscale=colorscale, opacity=opacity, mass=mass,
                          blur_patches=1.0 if blur else 0.0)


def rollout_settings(depth: int) -> RolloutSettings:
    """The rollout page's settings as its controls hold them now (the paper's where it was never opened)."""
    get = st.session_state.get
    return RolloutSettings(head_fusion=get(state.FUSION, "mean"), discard_ratio=get(state.DISCARD, 0.0),
                           residual_weight=get(state.RESIDUAL, 0.5),
                           start_layer=min(int(get(state.START_LAYER, 0)), depth - 1))


def describe_rollout(settings: RolloutSettings) -> str:
    return (f"rollout: {settings.head_fusion} of heads, discard {settings.discard_ratio:.2f}, residual "
            f"{settings.residual_weight:.2f}, from layer {settings.start_layer}")


def png_download(ctx: Context, heat: np.ndarray, render: RenderSettings, what: str, settings_text: str, *,
                 key: str, width: int = export.DEFAULT_WIDTH, file_stem: str | None = None) -> None:
    """A download button for `heat` rendered exactly as on screen, `width` px wide, with colour bar and caption."""
    caption = [f"{what} - {image_label(ctx)}", f"{render.describe()}; {settings_text}.", resources.provenance(ctx)]
    stem = file_stem or f"{Path(ctx.image.label).stem}_{what.split()[0].lower()}"
    st.download_button(f"Download PNG ({width} px)", lambda: export.overlay_png(ctx.view, heat, render, width=width,
                                                                                   caption=caption),
                       file_name=f"{stem}.png", mime="image/png", key=key)


def render_settings(keys: RenderKeys) -> RenderSettings:
    """The settings a page's rendering controls hold now (defaults where the page was never opened)."""
    get = st.session_state.get
    return RenderSettings(style=get(keys.style, RENDERINGS[0]), colorscale=get(keys.colorscale, COLORSCALES[0]),
                          opacity=get(keys.opacity, 0.5), mass=get(keys.mass, 0.6),
                          blur_patches=1.0 if get(keys.blur, False) else 0.0)


def head_label(head: int | str) -> str:
    """The one way heads are named in the app: "head 3" (or a label such as "mean of heads" as is)."""
    return head if isinstance(head, str) else f"head {int(head)}"


def class_probabilities(ctx: Context) -> np.ndarray:
    """``[class]`` softmax of the model's logits for this image."""
    logits = np.asarray(ctx.analysis.logits[0], dtype=np.float64)
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def class_name(ctx: Context, index: int) -> str:
    names = ctx.loaded.label_names
    return names[int(index)] if names else f"class {int(index)}"


def class_select(ctx: Context, key: str = state.TARGET_CLASS) -> int:
    """Pick the class to explain: the top 5 first, then every other class by name; the chosen class's probability
    is the caption underneath.

    The options are labelled by class name only: Streamlit's frontend keeps showing a selected option's old text
    when only its label changes (streamlit/streamlit#13788; seen in Chromium: "ring (75.3%)" stayed after switching
    to random weights, where ring has 13.1%). For the same reason a new class vocabulary (another model) starts
    a new choice, while the same vocabulary (the random-weights control) keeps the chosen class.
    """
    probs = class_probabilities(ctx)
    names = tuple(class_name(ctx, i) for i in range(len(probs)))
    vocabulary = hashlib.sha256("\n".join(names).encode()).hexdigest()
    if st.session_state.get(f"{key}.vocabulary") != vocabulary:
        st.session_state.pop(key, None)
        st.session_state[f"{key}.vocabulary"] = vocabulary
    top = [int(p.index) for p in ctx.predictions]
    rest = sorted((i for i in range(len(probs)) if i not in set(top)), key=lambda i: names[i].lower())
    chosen = st.selectbox("Explain class (relevance)", [*top, *rest], format_func=names.__getitem__, key=key,
                          help="The five most probable first, then every class by name.")
    rank = top.index(chosen) + 1 if chosen in top else None
    st.caption(f"{names[chosen]}: {100 * probs[chosen]:.1f}% for this image"
               + (f" (top-{rank})." if rank is not None else "."))
    return chosen


PRETRAINED_OFFER = "ViT-S/16 AugReg (ImageNet-21k -> 1k)"  # a curated pretrained model, 88 MB


def outside_domain(ctx: Context) -> bool:
    """Whether the bundled shapes model is looking at something other than one of its generated sample scenes."""
    demo = ctx.loaded.source == "demo" or ctx.spec.name.split(".")[0] == DEMO_MODEL_NAME
    return demo and ctx.image.sha256 not in resources.scene_ground_truth()


def _switch_to_pretrained() -> None:
    st.session_state[state.MODEL_CHOICE] = PRETRAINED_OFFER


def domain_notice(ctx: Context, key: str = "domain_switch") -> None:
    """Say plainly that the bundled model knows six synthetic shapes only, and offer a pretrained model."""
    classes = ", ".join(ctx.loaded.label_names or ()) or "six shapes"
    name = state.CURATED_MODELS[PRETRAINED_OFFER]
    cached = resources.model_is_downloaded(name)
    needs = ("already on this machine" if cached else
             "downloads about 88 MB once, so it needs the network the first time")
    st.warning(
        f"This image is not one of the bundled model's generated scenes. That model knows only six synthetic "
        f"shapes ({classes}) on generated backgrounds, so the probabilities below are only its pick among those "
        f"shapes, however confident they look. For photos, use a pretrained ImageNet model ({needs}), or "
        "“Local checkpoint” in the sidebar for a weights file on this machine.",
    )
    st.button(f"Use {PRETRAINED_OFFER}", on_click=_switch_to_pretrained, key=key)


def keep_view_controls(current_page: str) -> None:
    """Keep the view controls of the pages not drawn in this run (Streamlit would drop their state).

    Re-assigning a widget's value through the Session State API makes it survive a run that does not draw the
    widget; the current page's own controls are left alone (assigning them too would fight the widgets).
    """
    for page, keys in state.PAGE_CONTROLS.items():
        if page == current_page:
            continue
        for key in keys:
            if key in st.session_state:
                st.session_state[key] = st.session_state[key]


def require_context() -> Context:
    """The Context the router prepared; stops the page (the error is already shown) when there is none."""
    ctx = st.session_state.get(state.CONTEXT)
    if ctx is None:
        st.info("Choose a model and an image in the sidebar to begin.")
        st.stop()
    return ctx


# -- sidebar --------------------------------------------------------------------------------------
def _model_spec() -> ModelSpec | None:
    default = resources.default_model_spec()
    demo_label = state.DEMO_LABEL if default.name == DEMO_MODEL_NAME else "Tiny random ViT (demo model not installed)"
    options = [demo_label, *state.CURATED_MODELS, state.OTHER_TIMM, state.HF_TRANSFORMERS, state.CHECKPOINT]
    choice = st.selectbox("Model", options, key=state.MODEL_CHOICE)
    if choice == demo_label:
        spec = default
    elif choice in state.CURATED_MODELS:
        spec = ModelSpec(state.CURATED_MODELS[choice])
    elif choice == state.OTHER_TIMM:
        name = st.text_input(
            "timm model name", key=state.MODEL_NAME, placeholder="e.g. vit_base_patch16_384.augreg_in21k_ft_in1k"
        ).strip()
        if not name:
            st.caption(
                "Type the name of any timm ViT (see `timm.list_pretrained('vit_*')`) or a hub repository with a timm "
                "config, as `hf-hub:org/name`."
            )
            return None
        spec = ModelSpec(name)
    elif choice == state.HF_TRANSFORMERS:
        spec = _transformers_spec()
        if spec is None:
            return None
    else:
        arch = st.text_input("Architecture (timm name)", key=state.CHECKPOINT_ARCH, placeholder="vit_small_patch16_224")
        path = st.text_input("Checkpoint path on this machine", key=state.CHECKPOINT_PATH).strip()
        upload = st.file_uploader(
            "…or upload a checkpoint", type=["safetensors", "pth", "pt", "bin", "npz"], key=state.CHECKPOINT_UPLOAD
        )
        if not arch.strip() or not (path or upload):
            st.caption("Give the architecture and a .safetensors/.pth/.npz file; nothing is downloaded.")
            return None
        checkpoint = resources.save_checkpoint_upload(upload.name, upload.getvalue()) if upload else path
        spec = ModelSpec(arch.strip(), checkpoint=checkpoint)
    random_weights = st.toggle(
        "Random weights (untrained control)",
        key=state.RANDOM_WEIGHTS,
        help=f"The same architecture with timm's own random initialisation (seed {RANDOM_SEED}), never these "
        "weights: a map that survives randomisation explains nothing about what the model learned.",
    )
    precisions = ["float32"] + (["bfloat16", "float16"] if torch.cuda.is_available() else [])
    dtype = st.selectbox("Precision", precisions, key=state.PRECISION, disabled=len(precisions) == 1)
    return ModelSpec(spec.name, spec.checkpoint, pretrained=spec.pretrained and not random_weights, dtype=dtype)


def _transformers_spec() -> ModelSpec | None:
    """A transformers-format ViT: one of the well-known hub repositories, another one, or a save_pretrained folder."""
    preset = st.selectbox("Repository", [*state.TRANSFORMERS_MODELS, state.HF_OTHER], key=state.HF_PRESET)
    if preset in state.TRANSFORMERS_MODELS:
        st.caption(state.TRANSFORMERS_MODELS[preset])
        return ModelSpec(f"hf-hub:{preset}")
    name = st.text_input(
        "Hub repository or folder", key=state.HF_NAME, placeholder="e.g. org/name, or /path/to/saved/model"
    ).strip()
    if not name:
        st.caption(
            "A ViT, DeiT or DINOv2 in the transformers format: a hub repository (`org/name`, optionally `@revision`) "
            "or a folder on this machine written by `save_pretrained` (config.json and model.safetensors)."
        )
        return None
    is_folder = name.startswith(("/", ".", "~")) or Path(name).expanduser().is_dir()
    return ModelSpec(name if is_folder or name.startswith("hf-hub:") else f"hf-hub:{name}")


# First sample shown: a two-object scene for the bundled shapes model (its ground truth is drawn), a photo otherwise.
FIRST_SCENE, FIRST_PHOTO = "pair_ring_star.png", "chelsea.png"


def _image_spec(model: ModelSpec | None = None) -> ImageSpec | None:
    source = st.radio(t("source.label"), image_sources.SOURCES, key=state.IMAGE_SOURCE, horizontal=True,
                      format_func=lambda s: t(f"source.{s}"))
    if source == "Camera":
        return image_sources.camera_image()
    if source == "Draw":
        return image_sources.drawing_image()
    if source == "Sample":
        samples = resources.sample_images()
        names = list(samples)
        demo = model is not None and model.name.split(".")[0] == DEMO_MODEL_NAME
        first = FIRST_SCENE if demo else FIRST_PHOTO
        name = st.selectbox("Sample image", names, index=names.index(first) if first in names else 0, key=state.SAMPLE)
        return resources.image_from_bytes(samples[name], name)
    upload = st.file_uploader("Upload an image", type=list(resources.IMAGE_TYPES), key=state.UPLOAD)
    if upload is None:
        st.caption("PNG, JPEG, WebP, BMP, GIF (first frame) or TIFF, up to 20 MB.")
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
                bar.progress(min(1.0, self.n / self.total), text=f"Downloading {name}: {done:,.0f} of {total:,.0f} MB")
            return shown

    return StreamlitProgress


def _download_weights(spec: ModelSpec) -> None:
    """Fetch uncached hub weights with a progress bar (what loading would refuse is refused before any bytes)."""
    if not _hub_weights_needed(spec) or resources.model_is_downloaded(spec.name) is not False:
        return
    bar = st.progress(0.0, text=f"Downloading {spec.name} on first use; later runs load it from the local cache…")
    try:
        path = download_hub_weights(spec.name, tqdm_class=_progress_class(bar, spec.name), dtype=spec.dtype)
    except Exception:
        bar.empty()  # the error is shown instead of a bar that stopped
        raise
    if path is not None:
        bar.progress(1.0, text=f"Downloaded {spec.name} ({Path(path).stat().st_size / 2**20:,.0f} MB).")


def _loading_message(spec: ModelSpec) -> str:
    if not _hub_weights_needed(spec):
        return f"Loading {spec.name}…"
    downloaded = resources.model_is_downloaded(spec.name)
    if downloaded is None:
        return f"Loading {spec.name}…"
    if downloaded:
        return f"Loading {spec.name} from the local cache…"
    size = resources.model_download_mb(spec.name)
    about = f" (about {size:,.0f} MB)" if size else ""
    return f"Downloading {spec.name}{about} on first use; later runs load it from the local cache…"


RANDOM_NOTE = ("Random weights: the untrained control. Whatever structure these pictures show comes from the "
               "architecture and the image, not from training.")


def render_sidebar() -> Context | None:
    """Model and image pickers; loads, analyses (both cached) and stores the Context for the pages."""
    st.session_state[state.CONTEXT] = None
    with st.sidebar:
        image_box = st.container()  # the image picker first: visible without scrolling (it needs the model spec)
        st.subheader("Model")
        spec = _model_spec()
    with image_box:
        image = _image_spec(spec)
    if spec is None or image is None:
        return None
    try:
        _download_weights(spec)
        with st.spinner(_loading_message(spec), show_time=True):
            ctx = resources.prepare_context(spec, image)
    except Exception as error:  # noqa: BLE001 - the app keeps running, whatever the model does
        show_error(error)
        return None
    loaded = ctx.loaded
    with st.sidebar:
        st.caption(
            f"**{loaded.name}** · {weights_label(loaded)} · "
            f"{loaded.device.type} · {str(loaded.dtype).removeprefix('torch.')}  \n"
            f"{ctx.geometry.depth} layers × {ctx.geometry.num_heads} heads · "
            f"{ctx.geometry.grid_size[0]}×{ctx.geometry.grid_size[1]} patches of "
            f"{ctx.geometry.patch_size[0]} px · prefix: {', '.join(ctx.prefix_labels) or 'none'}"
        )
    if loaded.source == "random":
        st.warning(RANDOM_NOTE)
    st.session_state[state.CONTEXT] = ctx
    return ctx


def weights_label(loaded) -> str:
    """Where a loaded model's weights came from, in the app's words; random weights name their seed."""
    if loaded.source == "random":
        return f"random weights (timm's initialisation, seed {loaded.seed})"
    return {"demo": "bundled", "hub": "pretrained", "checkpoint": "checkpoint"}.get(loaded.source, loaded.source)


def image_label(ctx: Context) -> str:
    return Path(ctx.image.label).name


def percent(value: float) -> str:
    return f"{100 * float(value):.1f}%"


def prefix_mass(weights: np.ndarray, labels: tuple[str, ...]) -> str:
    """'cls 3.1%, reg0 20.4%' for the weights a map put on the prefix tokens."""
    return ", ".join(f"{label} {percent(w)}" for label, w in zip(labels, weights, strict=False)) or "none"
