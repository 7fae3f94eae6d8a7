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
