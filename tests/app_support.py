"""What the AppTest files share: the app's script and a first run with query parameters (as a link gives them)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
TIMEOUT = 120  # first model load and analysis on a shared 2-core CPU


def run_app(**params) -> AppTest:
    """The app run once with these query parameters (``page=``, ``lang=``, ...), and no exception on the way."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


_WIDGETS = ("button", "checkbox", "toggle", "radio", "selectbox", "multiselect", "slider", "select_slider",
            "number_input", "text_input", "text_area", "segmented_control", "button_group", "pills", "color_picker",
            "date_input", "time_input", "file_uploader", "download_button", "camera_input", "chat_input")


def view(at: AppTest) -> list[tuple[str, str]]:
    """What a person sees, in page order: every text element's words (headings, captions, alerts, code, metrics),
    every chart's figure data and every image, and each widget's label and the value it shows after the run (a
    widget the app ignored shows its old value)."""
    seen: list[tuple[str, str]] = []

    def walk(node) -> None:
        kind = getattr(node, "type", "")
        proto = getattr(node, "proto", None)
        if kind == "plotly_chart":
            seen.append((kind, proto.spec))
        elif kind in _WIDGETS:
            seen.append((kind, f"{getattr(node, 'label', '')}={getattr(node, 'value', None)!r}"))
        elif kind in ("image", "imgs"):
            seen.append((kind, str(proto)))
        elif kind in ("expander", "tab"):
            seen.append((kind, str(getattr(node, "label", ""))))
        elif kind not in ("root", "main", "sidebar", "event", "column", "flex_container", "container", "block"):
            value = getattr(node, "value", None)
            if value is not None:
                seen.append((kind, str(value)))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return seen


def interact(at: AppTest, action, *, timeout: float | None = None) -> AppTest:
    """Run `action` (a set_value, click or input on `at`'s widgets), rerun the app and assert that the view changed
    as a person would see it: an interaction the app ignored (e.g. a segmented control given an index) fails here."""
    before = view(at)
    action()
    at.run(timeout=timeout)
    assert not at.exception, [e.value for e in at.exception]
    assert view(at) != before, "the interaction changed nothing on screen"
    return at


def choose(at: AppTest, widget, value) -> AppTest:
    """Set the widget `widget()` to `value` as a person would: nothing to do when it shows `value` already (a set-up
    step), else an :func:`interact` that must change the view."""
    if widget().value == value:
        return at
    return interact(at, lambda: widget().set_value(value))
