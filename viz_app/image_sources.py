"""Images from the room: the browser's camera and a drawing canvas, beside samples and uploads.

Both hand PNG/JPEG bytes to ``resources.image_from_bytes``, the path an upload takes, so a photo or a drawing
is decoded and checked (size, format, frames) exactly as an uploaded file is. The canvas is
``streamlit-drawable-canvas`` (Fabric.js; 0.13 is a Streamlit components-v2 package that works with Streamlit
1.67, checked in Chromium): a well-kept component rather than a hand-written one.
"""

from __future__ import annotations

import streamlit as st

from . import resources, state
from .i18n import t
from .state import ImageSpec

__all__ = ["SOURCES", "camera_image", "drawing_image", "CANVAS_PX"]

# Values of the image-source radio (stable identifiers; the label shown comes from the catalogue).
SOURCES = ("Sample", "Upload", "Camera", "Draw")  # English labels: AppTest matches values by str()
CANVAS_PX = 224  # the canvas is square: the models' input size, so a drawing is not rescaled much


def camera_image() -> ImageSpec | None:
    """A photo from the browser's camera (the browser asks the user's permission first)."""
    shot = st.camera_input(t("source.camera_label"), key=state.CAMERA)
    if shot is None:
        st.caption(t("source.camera_hint"))
        return None
    return resources.image_from_bytes(shot.getvalue(), "camera.jpg")


def drawing_image() -> ImageSpec | None:
    """A drawing on a white canvas; None until something is drawn."""
    from streamlit_drawable_canvas import st_canvas  # imported here: registering the component needs a running app

    colour = st.color_picker(t("source.pen_colour"), "#1f3a93", key=state.PEN_COLOUR)
    width = st.slider(t("source.pen_width"), 2, 40, 14, key=state.PEN_WIDTH)
    result = st_canvas(
        stroke_width=width,
        stroke_color=colour,
        background_color="#ffffff",
        height=CANVAS_PX,
        width=CANVAS_PX,
        drawing_mode="freedraw",
        key=state.CANVAS,
        return_image_data=True,
    )
    objects = (result.json_data or {}).get("objects", []) if result is not None else []
    if not objects:
        st.caption(t("source.draw_hint"))
        return None
    return resources.image_from_bytes(result.image_bytes, "drawing.png")
