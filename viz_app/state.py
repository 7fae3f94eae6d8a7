"""Widget keys as constants, and the frozen values the sidebar hands to every page.

Every widget in the app has one of these keys, so tests drive widgets by key (``at.selectbox(key=...)``)
and pages read settings from one place. Keys of view controls (layer, head, opacity, query patch, ...)
belong to fragments; changing them never re-runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vit_core.results.result import AnalysisResult

__all__ = [
    "CURATED_MODELS",
    "OTHER_TIMM",
    "HF_TRANSFORMERS",
    "TRANSFORMERS_MODELS",
    "CHECKPOINT",
    "DEMO_LABEL",
    "ModelSpec",
    "ImageSpec",
    "AnalysisSettings",
    "Context",
    "CONTEXT",
]

# -- sidebar: model -------------------------------------------------------------------------------
MODEL_CHOICE = "model_choice"
MODEL_NAME = "model_name"
CHECKPOINT_ARCH = "checkpoint_arch"
CHECKPOINT_PATH = "checkpoint_path"
CHECKPOINT_UPLOAD = "checkpoint_upload"
RANDOM_WEIGHTS = "random_weights"
HF_PRESET = "hf_preset"
HF_NAME = "hf_name"
PRECISION = "precision"
IMAGE_SIZE = "image_size"
IMAGE_SIZE_FOR = "_image_size_for"  # (model key without size, size chosen): survives runs that do not draw the control

# -- sidebar: image -------------------------------------------------------------------------------
IMAGE_SOURCE = "image_source"
SAMPLE = "sample_image"
UPLOAD = "image_upload"
CAMERA = "image_camera"
CANVAS = "image_canvas"
PEN_COLOUR = "pen_colour"
PEN_WIDTH = "pen_width"

# -- classroom: language, projector mode, lesson ---------------------------------------------------
LANG = "lang"
PROJECTOR = "projector_mode"
LESSON_STEP = "lesson_step"  # index into viz_app.lesson.STEPS; a link's `step` is 1-based

LESSON_ANSWER = "lesson_answer"  # one radio per step: f"{LESSON_ANSWER}_{step}"
LESSON_LAYER = "lesson_rollout_layer"

# -- overview page --------------------------------------------------------------------------------
SHOW_INDICES = "show_token_indices"

# -- rollout page ---------------------------------------------------------------------------------
FUSION = "rollout_fusion"
DISCARD = "rollout_discard"
RESIDUAL = "rollout_residual"
START_LAYER = "rollout_start_layer"
OPACITY = "overlay_opacity"
COLORMAP = "overlay_colormap"
RENDERING = "overlay_rendering"
MASS = "overlay_mass"
BLUR = "overlay_blur"
TARGET_CLASS = "relevance_class"
ROLLOUT_CHART = "rollout_chart"
SHOW_TRUTH = "show_ground_truth"
ROLLOUT_APPLY = "rollout_apply"  # the button that applies the rollout's sliders together
CLASS_FROM_LINK = "from a link"  # f"{class picker key}.question" when a link chose the class (kept for this image)

# Word values of the layer and head menus (links write them as `layer=rolled`, `head=mean`)
MEAN_OF_HEADS = "mean of heads"
ROLLED_OUT = "rolled out"

# -- class-token attention page -------------------------------------------------------------------
CLS_MODE = "cls_mode"
CLS_LAYER = "cls_layer"
CLS_HEAD = "cls_head"
CLS_NORMALISE = "cls_normalise"
CLS_COLORMAP = "cls_colormap"
CLS_OPACITY = "cls_opacity"
CLS_RENDERING = "cls_rendering"
CLS_MASS = "cls_mass"
CLS_BLUR = "cls_blur"

# -- faithfulness page ----------------------------------------------------------------------------
FAITH_METHODS = "faith_methods"
FAITH_TARGET = "faith_target"
FAITH_COLORMAP = "faith_colormap"
FAITH_OPACITY = "faith_opacity"
FAITH_RENDERING = "faith_rendering"
FAITH_MASS = "faith_mass"
FAITH_BLUR = "faith_blur"

# -- query-a-patch page ---------------------------------------------------------------------------
QUERY_CHART = "query_chart"
QUERY_ROW = "query_row"
QUERY_COL = "query_col"
QUERY_LAYER = "query_layer"
QUERY_HEAD = "query_head"
QUERY_COLORMAP = "query_colormap"
QUERY_OPACITY = "query_opacity"
QUERY_RENDERING = "query_rendering"
QUERY_MASS = "query_mass"
QUERY_BLUR = "query_blur"

# -- position embeddings --------------------------------------------------------------------------
POS_CHART = "pos_chart"
POS_ROW = "pos_row"
POS_COL = "pos_col"
POS_RANGE = "pos_range"
POS_CENTRE = "pos_subtract_mean"

# -- heads at a glance ----------------------------------------------------------------------------
HEADS_ALL_SAMPLES = "heads_all_samples"

# -- token norms & sinks --------------------------------------------------------------------------
INSIDE_LAYER = "inside_layer"
INSIDE_HEAD = "inside_head"
INSIDE_COMPARE = "inside_compare"  # toggle: a second model side by side
INSIDE_OTHER = "inside_other"  # which one (DEMO_LABEL or a CURATED_MODELS label)
INSIDE_OTHER_RANDOM = "inside_other_random"  # with random weights (offline)

# -- switch off heads & tokens -------------------------------------------------------------------
ABLATE_HEADS = "ablate_heads"
ABLATE_TOKENS = "ablate_tokens"
ABLATE_MODE = "ablate_mode"
ABLATE_IMPORTANCE = "ablate_importance"
REGISTER_SHOW = "register_show"
REGISTER_LAYER = "register_layer"
REGISTER_MADS = "register_mads"
REGISTER_K = "register_k"

# -- compare, export -----------------------------------------------------------------------------
COMPARE_CHOICE = "compare_choice"
EXPORT_FIGURE = "export_figure"
EXPORT_WIDTH = "export_width"


@dataclass(frozen=True)
class RenderKeys:
    """Widget keys of one page's rendering controls (see viz_app.ui.render_controls)."""

    style: str
    colorscale: str
    opacity: str
    mass: str
    blur: str

    def all(self) -> tuple[str, ...]:
        return (self.style, self.colorscale, self.opacity, self.mass, self.blur)


ROLLOUT_RENDER = RenderKeys(RENDERING, COLORMAP, OPACITY, MASS, BLUR)
CLS_RENDER = RenderKeys(CLS_RENDERING, CLS_COLORMAP, CLS_OPACITY, CLS_MASS, CLS_BLUR)
QUERY_RENDER = RenderKeys(QUERY_RENDERING, QUERY_COLORMAP, QUERY_OPACITY, QUERY_MASS, QUERY_BLUR)
FAITH_RENDER = RenderKeys(FAITH_RENDERING, FAITH_COLORMAP, FAITH_OPACITY, FAITH_MASS, FAITH_BLUR)

# Choice widgets whose option labels are translated (the value stays, the label follows the language): the
# language switch re-asserts them so a switch keeps every choice (see viz_app.i18n).
TRANSLATED_CHOICES: tuple[str, ...] = (
    IMAGE_SOURCE, MODEL_CHOICE, FUSION, CLS_MODE, CLS_HEAD, QUERY_LAYER, QUERY_HEAD, POS_RANGE, COMPARE_CHOICE,
    INSIDE_HEAD, INSIDE_OTHER,
    EXPORT_FIGURE, TARGET_CLASS, FAITH_METHODS, ABLATE_MODE,
    *(keys.style for keys in (ROLLOUT_RENDER, CLS_RENDER, QUERY_RENDER, FAITH_RENDER)),
)
TRANSLATED_CHOICE_PREFIXES: tuple[str, ...] = (LESSON_ANSWER,)

# Session-state slot (not a widget) where the router leaves the current Context for the pages.
CONTEXT = "_vit_context"

# Model-menu values (English: links and tests name them); the label shown is translated (viz_app.ui.model_label).
DEMO_LABEL = "Bundled demo model (shapes)"
TINY_RANDOM_LABEL = "Tiny random ViT (demo model not installed)"
OTHER_TIMM = "Other timm ViT name..."
CHECKPOINT = "Local checkpoint (path or upload)..."
# label -> timm name: pretrained ViTs whose attention this tool rebuilds exactly.
CURATED_MODELS: dict[str, str] = {
    "ViT-B/16 AugReg (ImageNet-21k -> 1k)": "vit_base_patch16_224.augreg2_in21k_ft_in1k",
    "ViT-S/16 AugReg (ImageNet-21k -> 1k)": "vit_small_patch16_224.augreg_in21k_ft_in1k",
    "DeiT-S/16 (ImageNet-1k)": "deit_small_patch16_224.fb_in1k",
    "DeiT-B/16 distilled (ImageNet-1k)": "deit_base_distilled_patch16_224.fb_in1k",
    "DINO ViT-S/16 (self-supervised)": "vit_small_patch16_224.dino",
    "DINO ViT-B/16 (self-supervised)": "vit_base_patch16_224.dino",
    "DINOv2 ViT-S/14 (518 px)": "vit_small_patch14_dinov2.lvd142m",
    "DINOv2 ViT-S/14 with registers (518 px)": "vit_small_patch14_reg4_dinov2.lvd142m",
    "DINOv2 ViT-B/14 (518 px)": "vit_base_patch14_dinov2.lvd142m",
    "DINOv2 ViT-B/14 with registers (518 px)": "vit_base_patch14_reg4_dinov2.lvd142m",
    "DINOv2 ViT-L/14 (518 px)": "vit_large_patch14_dinov2.lvd142m",
    "DINOv2 ViT-L/14 with registers (518 px)": "vit_large_patch14_reg4_dinov2.lvd142m",
    "CLIP ViT-B/16 image tower (OpenAI, fine-tuned on ImageNet-1k)": "vit_base_patch16_clip_224.openai_ft_in1k",
}

HF_TRANSFORMERS = "Hugging Face model (transformers)..."
HF_OTHER = "Another hub repository or a local folder..."
# Hub repository -> the catalogue key of what the model is: transformers-format ViTs (vit_core.models.hf_transformers
# maps them onto timm's ViT), loaded as hf-hub:<repository>. The note goes under the choice: the sidebar is too
# narrow for both.
TRANSFORMERS_MODELS: dict[str, str] = {
    "google/vit-base-patch16-224": "hf.vit_base",
    "google/vit-base-patch16-224-in21k": "hf.vit_base_in21k",
    "facebook/deit-base-distilled-patch16-224": "hf.deit_distilled",
    "facebook/dino-vitb16": "hf.dino",
    "facebook/dinov2-small": "hf.dinov2",
    "facebook/dinov2-with-registers-small": "hf.dinov2_registers",
}


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load: a timm name, optional local checkpoint, trained or random weights.

    ``checkpoint_sha256`` is the checkpoint file's content hash (``resources.with_checkpoint_hash`` fills it in):
    the caches are keyed by what the file holds, so an overwritten file is loaded afresh.
    """

    name: str
    checkpoint: str | None = None
    pretrained: bool = True
    dtype: str = "float32"
    checkpoint_sha256: str | None = None
    image_size: int | None = None  # input side in pixels; None: the model's own


    @property
    def key(self) -> str:
        """Stable cache key: a checkpoint is identified by its content hash (random weights keep its class count)."""
        checkpoint = f"ckpt={self.checkpoint_sha256 or self.checkpoint}|" if self.checkpoint else ""
        size = f"|{self.image_size}px" if self.image_size is not None else ""
        return f"{self.name}|{checkpoint}{'trained' if self.pretrained else 'random'}|{self.dtype}{size}"


@dataclass(frozen=True)
class ImageSpec:
    """The chosen image: its bytes, a content hash (the cache key) and a name to show."""

    data: bytes = field(repr=False)
    sha256: str
    label: str


@dataclass(frozen=True)
class AnalysisSettings:
    """Settings that change what a forward pass computes (the rest are view controls).

    Rollout settings (fusion, discard, residual, start layer) are *not* here: the view recomputes
    rollout from the stored attention, without a forward pass.
    """

    relevance: bool = True
    pcs_k: int = 28


@dataclass(frozen=True)
class Context:
    """What the router hands to every page after the model and image are ready.

    Attributes:
        spec: the model that was asked for.
        loaded: ``vit_core.LoadedModel`` (shared by all sessions; never mutate it).
        image: the chosen image.
        view: ``[h, w, 3]`` uint8, the image as the model sees it (after resize and crop).
        mapping: ``vit_core.models.images.PixelMapping`` from view pixels back to the original image's.
        analysis: ``vit_core.runs.analysis.analyze``'s result for this model and image (batch of one).
        predictions: top-5 ``vit_core.models.predict.Prediction`` list, empty when the model has no classifier.
        prefix_labels: readable name of every prefix token, in sequence order ("cls", "dist", "reg0", ...).
        layers: ``vit_core.results.rollout_layers.FusedLayers``, the head-fused layers the analysis made (mean
            fusion; shared, never mutate them), or None where they are rebuilt at each push.
    """

    spec: ModelSpec
    loaded: Any
    image: ImageSpec
    view: Any
    mapping: Any
    analysis: AnalysisResult
    predictions: list
    prefix_labels: tuple[str, ...]
    layers: Any = None

    @property
    def key(self) -> str:
        return f"{self.spec.key}|{self.image.sha256}"

    @property
    def geometry(self):
        return self.loaded.geometry

    @property
    def num_classes(self) -> int:
        return int(self.analysis.logits.shape[-1])
