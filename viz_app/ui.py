"""Streamlit glue shared by the pages: error display, common controls and labels, the router's page helpers.

The sidebar (model and image) is :mod:`viz_app.sidebar`; everything here is a view control or a label.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from vit_core.errors import HubUnavailableError, VitCoreError
from vit_core.methods import RolloutSettings
from vit_core.models import predict
from vit_core.models.loading import DEMO_MODEL_NAME

from . import export, projector, resources, state
from .byte_cache import ByteLRU
from .catalogue import error_sentence
from .figures import COLORSCALES
from .i18n import language, t
from .page_registry import PAGE_CONTROLS
from .rendering import HEAT, MASK, PAPER, PATCHES, RENDERING_IDS, RENDERINGS, RenderSettings, rendering_name
from .state import MEAN_OF_HEADS, ROLLED_OUT, Context, RenderKeys

__all__ = [
    "require_context",
    "show_error",
    "colormap_select",
    "plotly",
    "shared_figure",
    "patch_from_selection",
    "weights_label",
]

PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def show_error(error: Exception) -> None:
    """One readable sentence, never a traceback."""
    if isinstance(error, HubUnavailableError):  # its way out in the app's words, not the command line's
        # what the GUI user does next, with the sidebar's own labels (no environment variable, no --flag)
        key = "error.offline_config" if error.what == "config" else "error.offline"
        message = t(key, name=error.name or t("this_model"), random=t("sidebar.random"),
                    checkpoint=model_label(state.CHECKPOINT))
    elif isinstance(error, VitCoreError):
        message = error_sentence(error)  # the library's sentence, in Korean where the catalogue has it
    else:
        message = t("error.unexpected", kind=type(error).__name__)
    if _is_plain_word(message.split(" ", 1)[0]):  # sentence case, but names (resnet50, a file, timm) as written
        message = message[:1].upper() + message[1:]
    st.error(message)


def _is_plain_word(word: str) -> bool:
    """Whether `word` is an ordinary lower-case word, not a name (of a model, a file, a library) to keep as written."""
    import timm

    return word.isalpha() and word.islower() and word != "timm" and not timm.is_model(word)


def plotly(fig, *, key: str | None = None, on_select=None, height: int | None = None, shared: bool = False) -> object:
    """``st.plotly_chart`` with the app's defaults; clickable when `on_select` is given. `shared`: a figure from
    :func:`shared_figure`, enlarged for the projector already and never mutated here (other sessions draw it)."""
    if not shared:
        fig = projector.enlarge(fig)
    kwargs = {"key": key, "config": PLOT_CONFIG, "theme": "streamlit"}
    if on_select is not None:
        kwargs.update(on_select=on_select, selection_mode="points")
    return st.plotly_chart(fig, **kwargs)


SHARED_FIGURE_BYTES = 64 << 20  # the figures every session draws alike, by the bytes of their JSON


@st.cache_resource(show_spinner=False)
def _shared_figures() -> ByteLRU:
    """Figures built once per process and drawn by every session (a class on the lesson's same step): one
    computation per key, least recently used out first (a resource: the clear-cache menu clears it)."""
    return ByteLRU(SHARED_FIGURE_BYTES, size=lambda entry: entry[1])


def shared_figure(ctx: Context, parts: tuple, build) -> go.Figure:
    """The figure ``build()`` makes for this model and image, `parts` (what else it depends on: the step, a layer),
    the language and the projector mode, built once for every session that asks (plotly's validation of a figure
    cost 5 to 10 ms, paid once per student and rerun before). Draw it with ``plotly(fig, shared=True)``."""
    def made() -> tuple[go.Figure, int]:
        fig = projector.enlarge(build())
        return fig, len(fig.to_json())

    key = (ctx.key, *parts, language(), projector.is_on())
    return _shared_figures().get_or_compute(key, made)[0]


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
    return st.selectbox(t("render.colormap"), COLORSCALES, key=key, disabled=disabled)


MODEL_LABELS = {  # model-menu values whose label is translated (the curated models' names are shown as they are)
    state.DEMO_LABEL: "model.demo",
    state.TINY_RANDOM_LABEL: "model.tiny_random",
    state.OTHER_TIMM: "model.other_timm",
    state.HF_TRANSFORMERS: "model.hf",
    state.HF_OTHER: "model.hf_other",
    state.CHECKPOINT: "model.checkpoint",
}


def model_label(choice: str) -> str:
    """A model-menu entry as shown: its value stays English (links and tests name it), the label is translated."""
    return t(MODEL_LABELS[choice]) if choice in MODEL_LABELS else choice


def render_controls(keys: RenderKeys, columns: int = 4, stacked: bool = False) -> RenderSettings:
    """The rendering picker and its settings, laid out in a row of `columns` (or one under another, `stacked`);
    returns what they say."""
    cells = [st.container()] * columns if stacked else st.columns(columns)
    names = {style: rendering_name(style) for style in RENDERINGS}
    style = cells[0].selectbox(t("render.style"), RENDERINGS, key=keys.style, format_func=names.get,
                               help=t("render.help", **{RENDERING_IDS[s]: names[s] for s in RENDERINGS}))
    coloured = style in (HEAT, PATCHES)
    with cells[1]:
        colorscale = colormap_select(keys.colorscale, disabled=not coloured)
    opacity = cells[2].slider(t("render.opacity"), 0.0, 1.0, 0.5, 0.05, key=keys.opacity, disabled=not coloured)
    mass = st.session_state.get(keys.mass, 0.6)
    blur = bool(st.session_state.get(keys.blur, False))
    with cells[min(3, columns - 1)]:
        if style == MASK:
            mass = st.slider(t("render.mass"), 0.1, 0.95, 0.6, 0.05, key=keys.mass, help=t("render.mass_help"))
        elif style == PAPER:
            blur = st.toggle(t("render.blur"), key=keys.blur)
    return RenderSettings(style=style, colorscale=colorscale, opacity=opacity, mass=mass,
                          blur_patches=1.0 if blur else 0.0)


def rollout_settings(depth: int) -> RolloutSettings:
    """The rollout page's settings as its controls hold them now (the paper's where it was never opened)."""
    get, paper = st.session_state.get, RolloutSettings()
    return RolloutSettings(head_fusion=get(state.FUSION, paper.head_fusion),
                           discard_ratio=get(state.DISCARD, paper.discard_ratio),
                           residual_weight=get(state.RESIDUAL, paper.residual_weight),
                           start_layer=min(int(get(state.START_LAYER, paper.start_layer)), depth - 1))


def describe_rollout(settings: RolloutSettings, lang: str | None = None) -> str:
    return t("render.rollout_settings", lang=lang, fusion=t(f"fusion.{settings.head_fusion}", lang=lang), discard=f"{settings.discard_ratio:.2f}",
             residual=f"{settings.residual_weight:.2f}", start=settings.start_layer)


def png_language() -> str:
    """The language of exported PNG captions: the app's, where this machine has a font for it, else English."""
    return export.caption_language(language())


def utc_now() -> str:
    """Now, UTC, ISO 8601 to the second (as the provenance's times)."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def png_download(ctx: Context, heat: np.ndarray, render: RenderSettings, what: str, settings_text: str, lang: str, *,
                 key: str, file_stem: str, width: int = export.DEFAULT_WIDTH, boxes: Sequence[export.Box] = ()) -> None:
    """A download button for `heat` rendered exactly as on screen, `width` px wide, with the true `boxes` the screen
    shows, colour bar and caption.

    `what` and `settings_text` go into the PNG's caption, written in `lang` (the caller's ``png_language()``); its
    provenance line says when the picture was made: at the click (the bytes are made then), not the analysis' time.
    """
    head = [f"{what} - {image_label(ctx)}", f"{render.describe(lang)}; {settings_text}."]
    st.download_button(t("export.png_button", width=width),
                       lambda: export.overlay_png(ctx.view, heat, render, width=width, lang=lang, boxes=boxes,
                                                  caption=[*head, resources.provenance(ctx, made=utc_now())]),
                       file_name=f"{file_stem}.png", mime="image/png", key=key)


def render_settings(keys: RenderKeys) -> RenderSettings:
    """The settings a page's rendering controls hold now (defaults where the page was never opened)."""
    get = st.session_state.get
    return RenderSettings(style=get(keys.style, RENDERINGS[0]), colorscale=get(keys.colorscale, COLORSCALES[0]),
                          opacity=get(keys.opacity, 0.5), mass=get(keys.mass, 0.6),
                          blur_patches=1.0 if get(keys.blur, False) else 0.0)


CHOICE_LABELS = {MEAN_OF_HEADS: "head.mean", ROLLED_OUT: "layer.rolled"}  # layer and head menus' word values


def head_label(head: int | str) -> str:
    """The one way heads are named in the app: "head 3" (or "mean of heads", in the current language)."""
    return t(CHOICE_LABELS[head]) if head in CHOICE_LABELS else t("head.n", head=int(head))


def layer_label(layer: int | str) -> str:
    """"layer 3", or "rolled out" (over all layers), in the current language."""
    return t(CHOICE_LABELS[layer]) if layer in CHOICE_LABELS else t("layer.n", layer=int(layer))


def class_probabilities(ctx: Context) -> np.ndarray:
    """``[class]`` probabilities of this image, read from the logits as the model's class output (softmax or sigmoid)."""
    logits = torch.from_numpy(np.asarray(ctx.analysis.logits[:1], dtype=np.float64))
    return predict.class_probabilities(logits, ctx.loaded.class_output)[0].numpy()


def class_name(ctx: Context, index: int) -> str:
    names = ctx.loaded.label_names
    return names[int(index)] if names else t("class.n", index=int(index))


def class_select(ctx: Context, key: str = state.TARGET_CLASS, label: str | None = None) -> int:
    """Pick the class to explain: the top 5 first, then every other class by name; the chosen class's probability
    is the caption underneath.

    The options are labelled by class name only: Streamlit's frontend keeps showing a selected option's old text
    when only its label changes (streamlit/streamlit#13788; seen in Chromium: "ring (75.3%)" stayed after switching
    to random weights, where ring has 13.1%). A new image or a new class vocabulary (another model) starts again
    at the image's top-1 class, while the same image under the same vocabulary (the random-weights control) keeps
    the chosen class.
    """
    probs = class_probabilities(ctx)
    names = tuple(class_name(ctx, i) for i in range(len(probs)))
    question = hashlib.sha256("\n".join([ctx.image.sha256, *names]).encode()).hexdigest()
    asked = st.session_state.get(f"{key}.question")
    if asked != question:
        if asked != state.CLASS_FROM_LINK:  # a link's class is kept for the image the link opened
            st.session_state.pop(key, None)
        st.session_state[f"{key}.question"] = question
    top = [int(p.index) for p in ctx.predictions]
    rest = sorted((i for i in range(len(probs)) if i not in set(top)), key=lambda i: names[i].lower())
    chosen = st.selectbox(label or t("class.explain"), [*top, *rest], format_func=names.__getitem__, key=key,
                          help=t("class.help"))
    rank = top.index(chosen) + 1 if chosen in top else None
    st.caption(t("class.probability", name=names[chosen], percent=f"{100 * probs[chosen]:.1f}")
               + (t("class.rank", rank=rank) if rank is not None else "."))
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
    classes = ", ".join(ctx.loaded.label_names or ()) or t("domain.six_shapes")
    name = state.CURATED_MODELS[PRETRAINED_OFFER]
    cached = resources.model_is_downloaded(name)
    needs = t("domain.cached") if cached else t("domain.download")
    st.warning(t("domain.notice", classes=classes, needs=needs, checkpoint=model_label(state.CHECKPOINT)))
    st.button(t("domain.use", name=PRETRAINED_OFFER), on_click=_switch_to_pretrained, key=key)


FAILED = "_context_failed"  # session slot: this run's model or image could not be loaded (an error is shown)
_DRAWN_PAGE = "_drawn_page"  # session slot: the url path of the page this run draws


def keep_view_controls(current_page: str) -> None:
    """Keep the view controls of the pages not drawn in this run (Streamlit would drop their state).

    Re-assigning a widget's value through the Session State API makes it survive a run that does not draw the
    widget; the current page's own controls are left alone (assigning them too would fight the widgets).
    """
    st.session_state[_DRAWN_PAGE] = current_page
    for page, keys in PAGE_CONTROLS.items():
        if page == current_page:
            continue
        for key in keys:
            if key in st.session_state:
                st.session_state[key] = st.session_state[key]


def forget_view_controls(page: str) -> None:
    """Drop the view controls of `page`: it stops before drawing them (no model or image yet).

    st.stop() keeps a widget's value on the server while the browser forgets the widget; drawn again (after an
    upload) the controls showed their defaults while the map, its caption and the link still used the old values
    (issue 33). Dropped, they start again at their defaults on both sides.
    """
    for key in PAGE_CONTROLS.get(page, ()):
        st.session_state.pop(key, None)


def require_context() -> Context:
    """The Context the router prepared; stops the page (the error is already shown) when there is none."""
    ctx = st.session_state.get(state.CONTEXT)
    if ctx is None:
        forget_view_controls(st.session_state.get(_DRAWN_PAGE, ""))
        # after a failed load the error above says what to do; "choose a model and an image" would be wrong there
        st.info(t("sidebar.after_error" if st.session_state.get(FAILED) else "sidebar.begin"))
        st.stop()
    return ctx


def weights_label(loaded) -> str:
    """Where a loaded model's weights came from, in the app's words; random weights name their seed."""
    if loaded.source == "random":
        return t("weights.random", seed=loaded.seed)
    if loaded.source in ("demo", "hub", "checkpoint"):
        return t(f"weights.{loaded.source}")
    return loaded.source


def image_label(ctx: Context) -> str:
    return Path(ctx.image.label).name


def percent(value: float) -> str:
    return f"{100 * float(value):.1f}%"


def prefix_mass(weights: np.ndarray, labels: tuple[str, ...]) -> str:
    """'cls 3.1%, reg0 20.4%' for the weights a map put on the prefix tokens."""
    return ", ".join(f"{label} {percent(w)}" for label, w in zip(labels, weights, strict=False)) or t("none")
