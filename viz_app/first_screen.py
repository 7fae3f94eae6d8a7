"""The first screen: the app's name, what it does, what a ViT is, and which model is loaded and what it knows."""

from __future__ import annotations

import streamlit as st

from .i18n import t
from .state import Context

__all__ = ["intro"]


def intro(ctx: Context | None, lesson_page) -> None:
    """The introduction above the default page; `lesson_page` is the ``st.Page`` the start button opens."""
    st.markdown(f"## {t('intro.name')}\n{t('intro.sentence')}")
    with st.container(border=True):
        st.markdown(t("intro.what"))
        if ctx is not None:
            g = ctx.geometry
            knows = t("intro.knows_none")
            if ctx.predictions:
                top = ctx.predictions[0]
                knows = t("intro.knows_classes", n=ctx.num_classes, top=top.label, p=f"{100 * top.probability:.1f}%")
            st.markdown(
                t("intro.model", name=ctx.loaded.name, depth=g.depth, heads=g.num_heads, gh=g.grid_size[0],
                  gw=g.grid_size[1], ph=g.patch_size[0]) + " " + knows
            )
        st.page_link(lesson_page, label=t("intro.start"), icon=":material/school:")
