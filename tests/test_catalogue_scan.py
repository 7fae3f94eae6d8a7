"""No sentence escapes the catalogue: an AST scan of the app for text written as a literal where a person reads it.

Flagged: a string literal (or an f-string's literal part) holding a word of two or more letters, passed as the
text of a Streamlit display or widget call (``st.title("...")``, ``cells[0].slider("Opacity", ...)``), as a
label, help, placeholder, title or hover text keyword of any call (figure titles, axis titles, progress text),
or as a "title"/"text"/"hovertemplate" entry of a dict (plotly layouts). Such text must come from ``t(...)``.
The allow-list holds what is not a sentence in any language: names and placeholders written as code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# calls whose first argument (or every list element, for tabs) is text shown on the page
TEXT_CALLS = {
    "title", "header", "subheader", "markdown", "caption", "write", "info", "warning", "error", "success", "toast",
    "button", "download_button", "page_link", "selectbox", "multiselect", "slider", "select_slider", "radio",
    "checkbox", "toggle", "text_input", "number_input", "file_uploader", "camera_input", "color_picker",
    "segmented_control", "expander", "popover", "tabs", "spinner", "progress", "metric", "set_page_config",
}
TEXT_KEYWORDS = {"label", "help", "placeholder", "text", "title", "page_title", "x_title", "y_title",
                 "colorbar_title", "caption", "hovertemplate"}
TEXT_DICT_KEYS = {"title", "text", "hovertemplate", "label"}
WORD = re.compile(r"[A-Za-z]{2,}")
# Not sentences: names of code and models shown as written (placeholders that are a timm or hub name).
ALLOWED = {"vit_small_patch16_224"}
MARKUP = re.compile(r"%\{[^}]*\}|<[^>]*>")  # plotly's hover placeholders and tags are not words


def _literal_parts(node: ast.AST) -> list[str]:
    """The literal text of a string constant, an f-string, or a `+`-joined sum of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal_parts(node.left) + _literal_parts(node.right)
    if isinstance(node, ast.IfExp):
        return _literal_parts(node.body) + _literal_parts(node.orelse)
    return []


def _is_sentence(text: str) -> bool:
    return text.strip() not in ALLOWED and bool(WORD.search(MARKUP.sub("", text)))


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def escaped_sentences(source: str, filename: str = "<source>") -> list[str]:
    """'file:line: text' for every sentence written as a literal where the app shows it."""
    found: list[tuple[int, str]] = []

    def check(node: ast.AST) -> None:
        for part in _literal_parts(node):
            if _is_sentence(part):
                found.append((node.lineno, part))

    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in TEXT_CALLS and node.args:
                first = node.args[0]
                for item in first.elts if isinstance(first, (ast.List, ast.Tuple)) and name == "tabs" else [first]:
                    check(item)
            for keyword in node.keywords:
                if keyword.arg in TEXT_KEYWORDS or (name == "Page" and keyword.arg == "title"):
                    check(keyword.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in TEXT_DICT_KEYS:
                    check(value)
    return [f"{filename}:{line}: {text!r}" for line, text in sorted(found)]


def _app_sources() -> list[Path]:
    return sorted(p for p in (ROOT / "viz_app").rglob("*.py") if "catalogue" not in p.parts) + [ROOT / "streamlit_app.py"]


def test_no_sentence_escapes_the_catalogue():
    escaped = [hit for path in _app_sources() for hit in escaped_sentences(path.read_text(), str(path.relative_to(ROOT)))]
    assert escaped == [], f"{len(escaped)} sentences outside the catalogue:\n" + "\n".join(escaped)


def test_the_scan_finds_literals():
    """Guard against a scan that passes because it sees nothing."""
    source = '''
import streamlit as st
st.title("Attention rollout")
cells[0].slider("Opacity", 0.0, 1.0)
st.caption(f"{n} layers of attention")
fig.update_layout(title="probability")
layout = {"xaxis": {"title": "network depth"}}
st.progress(0.5, text="Loading " + name)
st.tabs(["One", "Two"])
st.Page("p.py", title="Query a patch")
st.title(t("page.rollout"))
st.caption(f"{a} × {b}")
st.markdown("**")
'''
    hits = escaped_sentences(source)
    assert len(hits) == 9, hits
    assert not any("page.rollout" in h for h in hits)
