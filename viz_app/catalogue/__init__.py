"""Every sentence the app shows, in English and Korean, and the one lookup function ``t``.

One module per area (``classroom``, ``sidebar``, ``pages``, ``figures``, ``inside``), each with an ``EN`` and a ``KO`` dict
under the same keys and ``{fields}`` (tests/test_i18n.py fails otherwise; tests/test_catalogue_scan.py fails
when a sentence is written as a literal in the app instead). No streamlit here, so the figure builders and
``findings`` can ask for text too: the current language comes from the source ``viz_app.i18n`` registers
(the session's language switch), English until then.

Not translated, on purpose:
- most error sentences raised by ``vit_core`` (the library speaks English to scripts and notebooks alike); those a
  person can cause from the app (an image or a checkpoint they chose) carry a key, and ``errors`` holds their Korean
  (``error_sentence``); the app's own framing around them is translated;
- the provenance line of exported PNG files; their captions are in the app's language where the machine has a
  Hangul font (``viz_app.export.caption_language``; Pillow's bundled font has none), else in English;
- names: models, methods ("Grad-CAM", "LRP"), papers, colour maps, file names, class names from the model.
"""

from __future__ import annotations

from collections.abc import Callable

from . import classroom, errors, figures, inside, pages, sidebar

__all__ = ["LANGUAGES", "NAMES", "CATALOGUE", "t", "error_sentence", "language", "read_language_from"]

LANGUAGES = ("en", "ko")
NAMES = {"en": "English", "ko": "한국어"}
AREAS = (classroom, sidebar, pages, figures, inside)


def _merge(language: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for area in AREAS:
        entries = getattr(area, language.upper())
        twice = set(merged) & set(entries)
        if twice:
            raise ValueError(f"catalogue keys defined twice: {sorted(twice)}")
        merged.update(entries)
    return merged


CATALOGUE: dict[str, dict[str, str]] = {lang: _merge(lang) for lang in LANGUAGES}

_source: Callable[[], str | None] = lambda: None  # noqa: E731 - replaced by viz_app.i18n in the app


def read_language_from(source: Callable[[], str | None]) -> None:
    """Where the current language comes from (the app passes its session's language switch)."""
    global _source
    _source = source


def language() -> str:
    """The current language, English where the source gives none or an unknown one."""
    lang = _source()
    return lang if lang in LANGUAGES else LANGUAGES[0]


def t(key: str, *, lang: str | None = None, **values) -> str:
    """The sentence `key` in `lang` (default: the current language) with its ``{fields}`` filled.

    A missing key raises KeyError. `lang` is for text that leaves the app in another language (exported PNG captions).
    """
    return CATALOGUE[lang or language()][key].format(**values)


def error_sentence(error: Exception, *, lang: str | None = None) -> str:
    """An error's sentence in `lang` (default: the current language): the catalogue's translation of its ``key``
    filled with its ``values`` (``vit_core.errors.VitCoreError``), else its own English message."""
    translated = errors.ERRORS.get(lang or language(), {}).get(getattr(error, "key", None) or "")
    return translated.format(**error.values) if translated else str(error)
