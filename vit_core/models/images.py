"""Decode whatever a person uploads into a safe, upright RGB image, and preprocess it as the model expects.

Preprocessing is timm's own eval transform for the model's data config; ``PixelMapping`` records how each
model-input pixel maps back to the uploaded image so overlays line up with what the person sees.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from timm.data import create_transform

from ..errors import ImageError

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_ASPECT_RATIO",
    "PixelMapping",
    "load_image",
    "preprocess",
    "preprocess_batch",
    "model_view",
]

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # the app's upload limit, too
MAX_IMAGE_PIXELS = 40_000_000  # about 6,300 x 6,300: far above any camera photo, far below a bomb
MAX_ASPECT_RATIO = 20.0


def _read_bytes(source: str | Path | bytes | BinaryIO) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"no image file at {path}; check the path.", key="image.missing", path=str(path))
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise ImageError(f"{path.name} is larger than {MAX_IMAGE_BYTES // 2**20} MB; use a smaller image.",
                             key="image.file_too_large", name=path.name, limit=MAX_IMAGE_BYTES // 2**20)
        data = path.read_bytes()
    else:
        data = source.read(MAX_IMAGE_BYTES + 1)
    if len(data) == 0:
        raise ImageError("the file is empty; choose an image file (PNG, JPEG, WebP, BMP, GIF or TIFF).", key="image.empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"the image is larger than {MAX_IMAGE_BYTES // 2**20} MB; use a smaller image.", key="image.too_large",
                         limit=MAX_IMAGE_BYTES // 2**20)
    return data


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: 16-bit and float scaled, transparency composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            scaled = values / 257.0
        else:
            low, high = float(values.min()), float(values.max())
            scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
        image = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def load_image(source: str | Path | bytes | BinaryIO) -> Image.Image:
    """Decode an image file into an upright 8-bit RGB PIL image.

    Accepts PNG, JPEG, WebP, BMP, GIF (first frame), TIFF and anything else Pillow reads; applies EXIF
    orientation; converts grayscale, palette, RGBA, CMYK and 16-bit images to RGB.

    Raises:
        ImageError: empty, truncated, not an image, too large, or too elongated.
    """
    data = _read_bytes(source)
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise ImageError(
            "this file is not an image Pillow can read; choose a PNG, JPEG, WebP, BMP, GIF or TIFF file.", key="image.unreadable"
        ) from error
    except Exception as error:  # noqa: BLE001 - any decoder failure is a bad file, not a crash
        raise ImageError(f"this image could not be opened ({type(error).__name__}); try another file.",
                         key="image.unopenable", kind=type(error).__name__) from error
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"the image is {width} x {height} pixels, more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels; "
            "downscale it first.", key="image.too_many_pixels", width=width, height=height, limit=MAX_IMAGE_PIXELS // 1_000_000
        )
    if min(width, height) < 1 or max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ImageError(
            f"the image is {width} x {height} pixels, too elongated to cut into patches; crop it to a ratio under "
            f"{MAX_ASPECT_RATIO:g}:1.", key="image.elongated", width=width, height=height, ratio=f"{MAX_ASPECT_RATIO:g}"
        )
    try:
        image.seek(0)  # first frame of an animation
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb(image)
    except Exception as error:  # noqa: BLE001 - truncated data, broken chunks, decoder limits
        raise ImageError(
            f"this image is damaged or truncated ({type(error).__name__}); re-save or re-download it.",
            key="image.damaged", kind=type(error).__name__,
        ) from error


@dataclass(frozen=True)
class PixelMapping:
    """Model-input pixel (x, y) -> original image pixel (offset_x + scale_x * x, offset_y + scale_y * y).

    Attributes:
        input_size: (h, w) of the model input.
        original_size: (h, w) of the decoded image.
        scale: (scale_y, scale_x) original pixels per model pixel.
        offset: (offset_y, offset_x) original pixel of the model input's top-left corner.
    """

    input_size: tuple[int, int]
    original_size: tuple[int, int]
    scale: tuple[float, float]
    offset: tuple[float, float]

    def to_original(self, y: float, x: float) -> tuple[float, float]:
        return (self.offset[0] + self.scale[0] * y, self.offset[1] + self.scale[1] * x)

    def to_input(self, y: float, x: float) -> tuple[float, float]:
        """Original image pixel (y, x) -> model-input pixel: the inverse of :meth:`to_original`."""
        return ((y - self.offset[0]) / self.scale[0], (x - self.offset[1]) / self.scale[1])

    def box_in_original(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the region of the original image the model sees."""
        top, left = self.to_original(0, 0)
        bottom, right = self.to_original(*self.input_size)
        return (left, top, right, bottom)


def _eval_transform(data_config: dict):
    keys = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")
    return create_transform(**{k: data_config[k] for k in keys if k in data_config}, is_training=False)


def _geometric_steps(data_config: dict):
    """Split timm's eval transform into its PIL-geometric steps and the tensor tail."""
    steps = list(_eval_transform(data_config).transforms)
    for index, step in enumerate(steps):
        if "ToTensor" in type(step).__name__:
            return steps[:index], steps[index:]
    raise ImageError("this model's preprocessing has no tensor conversion; it cannot be used here.")


def _apply_geometry(image: Image.Image, data_config: dict):
    """Run the geometric steps, tracking an axis-aligned affine map back to the original pixels."""
    geometric, tail = _geometric_steps(data_config)
    scale = [1.0, 1.0]  # y, x: original pixels per current pixel
    offset = [0.0, 0.0]
    current = image
    for step in geometric:
        before = (current.height, current.width)
        current = step(current)
        after = (current.height, current.width)
        name = type(step).__name__
        if "Crop" in name or "Trim" in name:
            for axis in (0, 1):
                shift = int(round((before[axis] - after[axis]) / 2.0)) if "Center" in name else 0
                if "Trim" in name:
                    shift = (before[axis] - after[axis]) // 2
                offset[axis] += scale[axis] * shift
        elif before != after:  # a resize
            for axis in (0, 1):
                scale[axis] *= before[axis] / after[axis]
    mapping = PixelMapping(
        input_size=(current.height, current.width),
        original_size=(image.height, image.width),
        scale=(scale[0], scale[1]),
        offset=(offset[0], offset[1]),
    )
    return current, tail, mapping


def model_view(image: Image.Image, data_config: dict) -> Image.Image:
    """The image as the model sees it: after resize and crop, before normalisation."""
    view, _, _ = _apply_geometry(image, data_config)
    return view


def preprocess(image: Image.Image, data_config: dict) -> tuple[torch.Tensor, PixelMapping]:
    """timm's eval preprocessing: (pixel_values [3, h, w] float32, mapping back to the original)."""
    view, tail, mapping = _apply_geometry(image, data_config)
    tensor = view
    for step in tail:
        tensor = step(tensor)
    return tensor.float(), mapping


def preprocess_batch(images: list[Image.Image], data_config: dict) -> tuple[torch.Tensor, list[PixelMapping]]:
    """Preprocess several images: ([batch, 3, h, w], mappings)."""
    results = [preprocess(image, data_config) for image in images]
    return torch.stack([r[0] for r in results]), [r[1] for r in results]
