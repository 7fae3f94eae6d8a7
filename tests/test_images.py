"""The image loader: every odd file a classroom uploads becomes RGB or one clear ImageError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vit_core.errors import ImageError
from vit_core.models.images import MAX_IMAGE_BYTES, load_image, model_view, preprocess

DATA_CONFIG = {
    "input_size": (3, 224, 224),
    "interpolation": "bicubic",
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
    "crop_pct": 0.875,
    "crop_mode": "center",
}


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def gradient(width=64, height=48) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    array = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 90)], -1)
    return Image.fromarray(array.astype(np.uint8))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_common_formats_decode_to_rgb(fmt):
    image = load_image(encode(gradient(), fmt))
    assert image.mode == "RGB" and image.size == (64, 48)


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "empty"),
        (b"hello, I am a text file renamed to .png\n" * 10, "not an image"),
    ],
)
def test_not_images(data, match):
    with pytest.raises(ImageError, match=match):
        load_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files(fmt):
    data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)), fmt)
    with pytest.raises(ImageError):
        load_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    # A 50,000 x 50,000 PNG header over a tiny body: refused from the header alone.
    bomb = Image.new("1", (50_000, 50_000))
    data = encode(bomb, "PNG", optimize=True)
    assert len(data) < 1_000_000
    with pytest.raises(ImageError, match="megapixels|not an image"):
        load_image(data)


def test_extreme_aspect_ratio_is_refused():
    with pytest.raises(ImageError, match="too elongated"):
        load_image(encode(Image.new("RGB", (4000, 1)), "PNG"))


def test_oversized_file_is_refused():
    with pytest.raises(ImageError, match="larger than"):
        load_image(b"\x89PNG" + b"\0" * (MAX_IMAGE_BYTES + 1))


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (32, 32), color) for color in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    pixel = load_image(data).getpixel((5, 5))
    assert pixel[0] > 200 and pixel[2] < 50


def test_sixteen_bit_png_keeps_its_range():
    array = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    image = load_image(encode(Image.fromarray(array), "PNG"))
    values = np.asarray(image)[..., 0]
    assert values.min() <= 1 and values.max() >= 254  # not clipped to white, not crushed to black


def test_cmyk_jpeg_and_palette_with_transparency():
    cmyk = load_image(encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"))
    assert cmyk.mode == "RGB" and cmyk.getpixel((8, 8))[0] > 200  # red
    palette = Image.new("P", (16, 16), 0)
    palette.putpalette([0, 255, 0] * 256)
    palette.info["transparency"] = 0
    flattened = load_image(encode(palette, "PNG", transparency=0))
    assert flattened.getpixel((3, 3)) == (255, 255, 255)  # fully transparent shown on white


def test_exif_rotated_photo_is_shown_upright():
    image = gradient(64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    upright = load_image(encode(image, "JPEG", exif=exif.tobytes()))
    assert upright.size == (48, 64)


def test_pixel_mapping_lines_up_with_the_original():
    # A bright square at a known place in a wide photo must map back onto itself.
    original = Image.new("RGB", (640, 360), (0, 0, 0))
    original.paste((255, 255, 255), (300, 150, 340, 190))
    view = np.asarray(model_view(original, DATA_CONFIG)).mean(-1)
    ys, xs = np.nonzero(view > 128)
    pixels, mapping = preprocess(original, DATA_CONFIG)
    assert pixels.shape == (3, 224, 224)
    top, left = mapping.to_original(ys.min(), xs.min())
    bottom, right = mapping.to_original(ys.max() + 1, xs.max() + 1)
    assert abs(left - 300) < 4 and abs(top - 150) < 4 and abs(right - 340) < 4 and abs(bottom - 190) < 4
    left_edge, top_edge, right_edge, bottom_edge = mapping.box_in_original()
    assert top_edge >= 0 and bottom_edge <= 360 and right_edge - left_edge == pytest.approx(bottom_edge - top_edge, rel=1e-3)


MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F"]


@st.composite
def valid_images(draw):
    mode = draw(st.sampled_from(MODES))
    width = draw(st.integers(1, 80))
    height = draw(st.integers(max(1, width // 20), min(80, width * 20)))
    seed = draw(st.integers(0, 2**16))
    rgb = Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8))
    image = rgb.convert(mode) if mode not in ("I;16",) else rgb.convert("L").convert("I;16")
    fmt = "TIFF" if mode in ("I", "F", "CMYK") else draw(st.sampled_from(["PNG", "TIFF"]))
    return encode(image, fmt)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=2048), valid_images()))
def test_loader_returns_rgb_or_its_own_error(data):
    try:
        image = load_image(data)
    except ImageError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert image.mode == "RGB" and image.width >= 1 and image.height >= 1
