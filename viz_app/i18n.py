"""The language switch (kept in the URL as ``lang=en|ko``) and the catalogue's lookup for the app.

``t(key, **values)`` (from ``viz_app.catalogue``, where every sentence and what is left untranslated are
described) returns the sentence in the session's language. This module connects the catalogue to the session:
the language is the switch's value, set from the link's ``lang`` on the first run.
"""

from __future__ import annotations

import streamlit as st

from . import catalogue
from .catalogue import CATALOGUE, LANGUAGES, NAMES, t
from .state import LANG, TRANSLATED_CHOICE_PREFIXES, TRANSLATED_CHOICES

__all__ = ["LANGUAGES", "CATALOGUE", "t", "language", "language_switch"]


def _session_language() -> str | None:
    try:
        return st.session_state.get(LANG)
    except Exception:  # noqa: BLE001 - outside a Streamlit run (scripts, tests of the catalogue)
        return None


catalogue.read_language_from(_session_language)
language = catalogue.language


def _keep_choices() -> None:
    """Re-assert the choices of widgets whose option labels are translated.

    The browser sends a choice as its label; after the labels change, that label is no longer an option, so the
    app would fall back to the default and the browser show no option chosen (seen in Chromium with Streamlit
    1.67). Assigning the value through the Session State API sends it to the browser again.
    """
    for key in list(st.session_state):
        if key in TRANSLATED_CHOICES or str(key).startswith(TRANSLATED_CHOICE_PREFIXES):
            st.session_state[key] = st.session_state[key]


def language_switch() -> str:
    """English | 한국어, in the sidebar; the link keeps it as ``lang``."""
    st.session_state.setdefault(LANG, LANGUAGES[0])  # the state, not `default=`: a link may have set it already
    return st.segmented_control(t("lang.label"), LANGUAGES, format_func=NAMES.get, key=LANG,
                                label_visibility="collapsed", on_change=_keep_choices) or LANGUAGES[0]
