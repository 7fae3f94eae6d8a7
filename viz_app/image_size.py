"""The sidebar's image-size control: run a model at another input size (its position embeddings resampled).

Shown for a model with square inputs and patches, from its own size in steps of one patch; a size that is not a
whole number of patches is refused in one sentence before anything is loaded. The sized model is loaded through
the cached loader (``resources.get_model``), so going back to a size already seen costs nothing.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from vit_core.models.loading import check_patch_multiple

from . import links, resources, state
from .catalogue import t
from .state import ModelSpec

__all__ = ["MAX_PATCHES", "sized_spec"]

MAX_PATCHES = 74  # largest grid side offered (1,036 px at 14 px patches): the rollout views hold [layer, N, N]


def sized_spec(spec: ModelSpec) -> ModelSpec:
    """`spec` at the size the sidebar's control says (the model's own size unless changed).

    Loads the model at its own size first (cached) to learn that size and the patch.

    Raises:
        ModelLoadError: a size that is not a multiple of the patch, in one sentence.
    """
    native = dataclasses.replace(spec, image_size=None)
    geometry = resources.get_model(resources.with_checkpoint_hash(native)).geometry
    (h, w), (ph, pw) = geometry.img_size, geometry.patch_size
    if h != w or ph != pw:
        return native  # non-square inputs or patches: the model's own size only
    # The size chosen lives in a plain session slot, not in the widget's own state: a run that does not draw the
    # control (an upload in progress, no image yet) drops widget state, and the control then came back at its
    # minimum (16 px: one patch) instead of the size the student had.
    chosen = st.session_state.get(state.IMAGE_SIZE_FOR)
    high = int(max(h, MAX_PATCHES * ph))
    if (linked := links.linked_image_size(int(ph), high)) is not None:  # a link's size= (read once per session)
        chosen = (native.key, linked)
        st.session_state.pop(state.IMAGE_SIZE, None)
    elif not chosen or chosen[0] != native.key:  # another model: its own size
        chosen = (native.key, int(h))
        st.session_state.pop(state.IMAGE_SIZE, None)
    with st.sidebar:
        size = st.number_input(t("sidebar.image_size"), min_value=int(ph), max_value=high,
                               value=int(chosen[1]), step=int(ph), key=state.IMAGE_SIZE,
                               help=t("sidebar.image_size_help", size=h, patch=ph))
    st.session_state[state.IMAGE_SIZE_FOR] = (native.key, int(size))
    if int(size) == int(h):
        return native
    check_patch_multiple(int(size), (int(ph), int(pw)))
    return dataclasses.replace(native, image_size=int(size))
