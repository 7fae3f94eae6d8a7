"""How a per-patch map is drawn over an image: pure numpy and Pillow, no streamlit, no plotly figures.

One function, :func:`render`, turns (image ``[h, w, 3]`` uint8, map ``[gh, gw]``) into the RGB picture a
person sees, for the screen and for the PNG export alike (so the two cannot differ). Four renderings:

- ``HEAT``: a perceptual colour map (Turbo by default) blended about 50/50 over a dimmed greyscale copy of the
  image, upsampled bilinearly from the patch centres; values below a small floor stay transparent (fading in
  above it), so the image shows there. Grey adds the same amount to R, G and B, so a blend keeps the map's hue
  (its colour minus its grey is the bar's colour minus its grey, times the opacity): a colour on screen reads
  back to one value on the colour bar, whatever the image's own colours (a green background blended with
  Turbo read as 0.45 everywhere).
- ``PAPER``: the ViT paper's Figure 6 recipe (as in the authors' notebook): the map divided by its maximum,
  resized smoothly to the image and multiplied into it, optionally blurred by about one patch. The object
  stays lit, the rest goes dark.
- ``MASK``: DINO's Figure 3 recipe: keep the patches that hold the top X% of the map's mass (60% by default);
  the rest of the image is dimmed and the kept region outlined.
- ``PATCHES``: one block per patch, min-max scaled, blended at the chosen opacity over the same greyscale copy:
  the exact per-patch values.

Colour maps come from plotly's named scales (:func:`colour_stops`, :func:`colour_lut`), written as
``rgb(r, g, b)`` so nothing downstream mistakes a stop for a placeholder colour (Streamlit swaps ``#000004``,
Inferno's black, for a theme colour: docs/ARCHITECTURE.md, "Front-end facts checked in a real browser").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from plotly.colors import get_colorscale, hex_to_rgb, sample_colorscale, unlabel_rgb

from .catalogue import t

__all__ = [
    "HEAT",
    "PAPER",
    "MASK",
    "PATCHES",
    "RENDERINGS",
    "RENDERING_IDS",
    "rendering_name",
    "DEFAULT_RENDERING",
    "RenderSettings",
    "colour_stops",
    "colour_lut",
    "minmax",
    "max_normalise",
    "upsample",
    "gaussian_blur",
    "greyscale",
    "GREY_DIM",
    "mass_mask",
    "render",
    "head_composite",
    "HEAD_COLOURS",
    "token_strip",
    "is_constant",
]

HEAT, PAPER, MASK, PATCHES = "Heat blend", "Paper (Figure 6)", "Mask (top mass)", "Patches"
RENDERINGS: tuple[str, ...] = (HEAT, PAPER, MASK, PATCHES)  # the values (English); the names shown are translated
RENDERING_IDS = {HEAT: "heat", PAPER: "paper", MASK: "mask", PATCHES: "patches"}  # catalogue: render.name.<id>
# Heat blend reads at a glance: the peak is the warmest colour on a colour bar with numbers, the rest of the
# image stays visible underneath, and it works on dark and bright images alike (Paper darkens a dark image
# further; Mask hides how strong the kept patches are; Patches shows 16 px blocks whose edges draw the eye).
DEFAULT_RENDERING = HEAT
HEAD_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
)  # Sasha Trubetskoy's distinct colours, one per head (DINO colours each head's mask alike)


@dataclass(frozen=True)
class RenderSettings:
    """How to draw a map; every field is a view control (nothing here re-runs the model).

    Attributes:
        style: one of RENDERINGS.
        colorscale: plotly scale name for HEAT and PATCHES.
        opacity: the colour's weight in HEAT and PATCHES (0.5 is a 50/50 blend).
        floor: HEAT leaves min-max scaled values below this transparent and fades the colour in up to twice
            the floor (a hard edge would outline the clear areas, which then look highlighted).
        mass: MASK keeps the patches holding this fraction of the map's mass.
        blur_patches: PAPER's optional Gaussian blur, in patches (sigma); 0 for none.
    """

    style: str = DEFAULT_RENDERING
    colorscale: str = "Turbo"
    opacity: float = 0.5
    floor: float = 0.1
    mass: float = 0.6
    blur_patches: float = 0.0

    def __post_init__(self) -> None:
        if self.style not in RENDERINGS:
            raise ValueError(f"style must be one of {RENDERINGS}, got {self.style!r}")

    @property
    def has_colour_bar(self) -> bool:
        return self.style in (HEAT, PATCHES, PAPER)

    @property
    def colour_bar_scale(self) -> str:
        """The scale the colour bar shows: PAPER's brightness is a grey ramp from black (0) to the image (1)."""
        return "Greys_r" if self.style == PAPER else self.colorscale

    def colour_bar_title(self, lang: str | None = None) -> str:
        """What the colour bar's numbers mean (in `lang`, default the current language)."""
        key = {HEAT: "render.bar_minmax", PATCHES: "render.bar_minmax", PAPER: "render.bar_paper"}.get(self.style)
        return t(key, lang=lang) if key else ""

    def describe(self, lang: str | None = None) -> str:
        """One line naming the rendering and its settings (for captions; exported files ask for English)."""
        name = rendering_name(self.style, lang)
        if self.style == PAPER:
            blur = (t("render.blur_on", lang=lang, patches=f"{self.blur_patches:g}") if self.blur_patches
                    else t("render.blur_off", lang=lang))
            return t("render.describe.paper", lang=lang, name=name, blur=blur)
        return t(f"render.describe.{RENDERING_IDS[self.style]}", lang=lang, name=name, scale=self.colorscale,
                 opacity=f"{self.opacity:.2f}", floor=f"{self.floor:.2f}", mass=f"{self.mass:.0%}")


def rendering_name(style: str, lang: str | None = None) -> str:
    """A rendering's name as shown (its value, `style`, stays English)."""
    return t(f"render.name.{RENDERING_IDS[style]}", lang=lang)


def _rgb_tuple(colour: str) -> tuple[int, int, int]:
    if colour.startswith("#"):
        return tuple(int(v) for v in hex_to_rgb(colour))
    return tuple(int(round(float(v))) for v in unlabel_rgb(colour)[:3])


def colour_stops(name: str) -> list[list]:
    """Plotly's named scale (``"Inferno"``, ``"Turbo_r"``, ...) as explicit ``[position, "rgb(r, g, b)"]`` stops."""
    return [[float(p), "rgb({}, {}, {})".format(*_rgb_tuple(c))] for p, c in get_colorscale(name)]


def colour_lut(name: str, size: int = 256) -> np.ndarray:
    """``[size, 3]`` float32 RGB in [0, 255]: the scale sampled evenly from 0 to 1 (plotly's own interpolation)."""
    colours = sample_colorscale(get_colorscale(name), np.linspace(0.0, 1.0, size), colortype="tuple")
    return np.asarray(colours, dtype=np.float32) * 255.0


def minmax(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] (a constant array becomes zeros)."""
    values = np.asarray(values, dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def max_normalise(values: np.ndarray) -> np.ndarray:
    """Divide by the maximum (negative values clipped to 0 first): the authors' Figure 6 normalisation."""
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, None)
    top = float(values.max())
    return values / top if top > 0 else np.zeros_like(values)


def is_constant(values: np.ndarray, rtol: float = 1e-5) -> bool:
    """Whether a map carries no spatial information (every value equal up to `rtol` of its magnitude)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.max() - values.min()) <= rtol * max(1e-12, float(np.abs(values).max()))


def upsample(values: np.ndarray, size: tuple[int, int], smooth: bool = True) -> np.ndarray:
    """``[gh, gw]`` -> ``[h, w]`` float32: bilinear between patch centres (edges held), or nearest (blocks).

    Pillow's bilinear resize samples output pixel centre x at input coordinate (x + 0.5) * gw / w - 0.5,
    i.e. the patch centres are the interpolation nodes.
    """
    h, w = size
    small = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), mode="F")
    method = Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST
    return np.asarray(small.resize((w, h), method), dtype=np.float32)


def gaussian_blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D float array, edges reflected (sigma in pixels; 0 returns a copy)."""
    values = np.asarray(values, dtype=np.float32)
    if sigma <= 0:
        return values.copy()
    radius = max(1, int(round(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = values
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if out.shape[axis] > radius else "edge")
        out = np.apply_along_axis(lambda v: np.convolve(v, taps, mode="valid"), axis, padded)
    return out.astype(np.float32)


def mass_mask(values: np.ndarray, mass: float) -> np.ndarray:
    """Boolean ``[gh, gw]``: the fewest, strongest patches whose values sum to at least `mass` of the total.

    Negative values count as zero (they hold no mass). DINO's Figure 3 keeps 60%.
    """
    flat = np.clip(np.asarray(values, dtype=np.float64), 0.0, None).reshape(-1)
    total = flat.sum()
    keep = np.zeros(flat.shape, dtype=bool)
    if total <= 0:
        return keep.reshape(np.shape(values))
    order = np.argsort(-flat, kind="stable")
    cumulative = np.cumsum(flat[order]) / total
    count = int(np.searchsorted(cumulative, min(max(mass, 0.0), 1.0) - 1e-12) + 1)
    keep[order[:count]] = True
    return keep.reshape(np.shape(values))


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of `mask` [h, w] that touch a pixel outside it (a 1-2 px boundary)."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    edge = mask & ~inner
    thick = edge.copy()
    thick[1:, :] |= edge[:-1, :]
    thick[:, 1:] |= edge[:, :-1]
    return thick


GREY_DIM = 0.75  # the greyscale copy under a colour map is dimmed to this share of its luminance: bright maps stand out


def greyscale(image: np.ndarray, dim: float = GREY_DIM) -> np.ndarray:
    """``[h, w, 3]`` float32: the image's luminance (ITU-R BT.601 weights) times `dim`, the same in R, G and B."""
    rgb = np.asarray(image, dtype=np.float32)
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.repeat((luma * dim)[..., None], 3, axis=-1)


def _fit_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = np.asarray(image, dtype=np.uint8)
    if image.shape[:2] == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.LANCZOS), dtype=np.uint8)


def render(
    image: np.ndarray, heat: np.ndarray, settings: RenderSettings, size: tuple[int, int] | None = None
) -> np.ndarray:
    """The picture for `heat` ``[gh, gw]`` over `image` ``[h, w, 3]`` uint8, as ``[H, W, 3]`` uint8.

    Args:
        size: (H, W) of the output (default: the image's); the image is resized to it (Lanczos) and the map
            upsampled straight to it, so an export at 4x stays sharp instead of enlarging a 224 px picture.
    """
    image = np.asarray(image, dtype=np.uint8)
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"heat must be [gh, gw], got {heat.shape}")
    size = tuple(size or image.shape[:2])
    base = _fit_image(image, size).astype(np.float32)
    style = settings.style
    if style in (HEAT, PATCHES):
        scaled = np.clip(upsample(minmax(heat), size, smooth=style == HEAT), 0.0, 1.0)
        colours = colour_lut(settings.colorscale)[np.rint(scaled * 255).astype(np.int64)]
        alpha = np.full(size, float(settings.opacity), dtype=np.float32)
        if style == HEAT and settings.floor > 0:  # clear below the floor, fading in up to twice the floor
            alpha = alpha * np.clip((scaled - settings.floor) / settings.floor, 0.0, 1.0)
        out = (1.0 - alpha[..., None]) * greyscale(base) + alpha[..., None] * colours  # grey keeps the bar's hue
    elif style == PAPER:
        brightness = np.clip(upsample(max_normalise(heat), size), 0.0, 1.0)
        if settings.blur_patches > 0:
            cell = size[0] / heat.shape[0]
            brightness = np.clip(gaussian_blur(brightness, settings.blur_patches * cell), 0.0, 1.0)
        out = base * brightness[..., None]
    else:  # MASK
        keep = upsample(mass_mask(heat, settings.mass).astype(np.float32), size, smooth=False) > 0.5
        out = np.where(keep[..., None], base, 0.25 * base)
        out[_outline(keep)] = (255.0, 255.0, 255.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def head_composite(image: np.ndarray, maps: np.ndarray, mass: float = 0.6) -> np.ndarray:
    """DINO's per-head picture: each head's top-`mass` patches painted in that head's colour over a dimmed image.

    Args:
        maps: ``[head, gh, gw]`` (e.g. the class token's attention in the last layer).
    Returns:
        ``[h, w, 3]`` uint8. Where several heads keep a patch, the head with the largest share of its own mass
        there wins, so every coloured region names one head (``HEAD_COLOURS[head % 12]``).
    """
    image = np.asarray(image, dtype=np.uint8)
    maps = np.clip(np.asarray(maps, dtype=np.float64), 0.0, None)
    size = image.shape[:2]
    share = maps / np.maximum(maps.sum(axis=(1, 2), keepdims=True), 1e-12)  # [head, gh, gw]
    kept = np.stack([mass_mask(m, mass) for m in maps])  # [head, gh, gw]
    score = np.where(kept, share, -1.0)
    winner = score.argmax(0)  # [gh, gw]
    covered = kept.any(0)
    palette = np.asarray([HEAD_COLOURS[h % len(HEAD_COLOURS)] for h in range(len(maps))], dtype=np.float32)
    colours = palette[winner]  # [gh, gw, 3]
    big_colours = np.stack([upsample(colours[..., c], size, smooth=False) for c in range(3)], axis=-1)
    big_cover = upsample(covered.astype(np.float32), size, smooth=False)[..., None] > 0.5
    base = image.astype(np.float32)
    out = np.where(big_cover, 0.45 * base + 0.55 * big_colours, 0.35 * base)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def token_strip(
    image: np.ndarray,
    grid_size: tuple[int, int],
    patch_size: tuple[int, int],
    prefix_labels: tuple[str, ...] | list[str],
    prefix_colours: dict[str, tuple[int, int, int]],
    *,
    cell: int = 32,
    gap: int = 3,
) -> np.ndarray:
    """The token sequence as one row of thumbnails ``[cell + 18, tokens * (cell + gap), 3]`` uint8.

    Prefix tokens are coloured squares with their name; then every patch, row-major, with its sequence index
    written under every row's first patch, so the row breaks of the image can be followed along the strip.
    """
    from PIL import ImageDraw, ImageFont

    image = np.asarray(image, dtype=np.uint8)
    gh, gw = grid_size
    ph, pw = patch_size
    tokens = len(prefix_labels) + gh * gw
    strip = Image.new("RGB", (tokens * (cell + gap) - gap, cell + 18), "white")
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default(size=11)
    for token in range(tokens):
        x0 = token * (cell + gap)
        if token < len(prefix_labels):
            label = prefix_labels[token]
            kind = "reg" if label.startswith("reg") else label
            draw.rectangle((x0, 0, x0 + cell - 1, cell - 1), fill=prefix_colours.get(kind, (90, 90, 90)))
            draw.text((x0 + cell / 2, cell / 2), label.upper() if kind != "reg" else label, fill="white",
                      font=font, anchor="mm")
            draw.text((x0 + cell / 2, cell + 9), str(token), fill="black", font=font, anchor="mm")
            continue
        r, c = divmod(token - len(prefix_labels), gw)
        patch = Image.fromarray(image[r * ph:(r + 1) * ph, c * pw:(c + 1) * pw]).resize((cell, cell),
                                                                                         Image.Resampling.NEAREST)
        strip.paste(patch, (x0, 0))
        if c == 0:
            draw.text((x0 + cell / 2, cell + 9), str(token), fill="black", font=font, anchor="mm")
    return np.asarray(strip, dtype=np.uint8)
