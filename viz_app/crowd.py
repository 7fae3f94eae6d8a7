"""A full classroom on one server: how many views are being prepared, the 'your view is coming' notice, and the
diagnostics line (the shared analysis cache's bytes and entries).

Streamlit runs every session's script on its own thread of one process, so 100 students opening a link in the
same minute share a few cores: while more runs are in flight than ``VIT_EXPLORER_BUSY_AT`` (default: 2 per CPU,
at least 4), a run that starts draws a notice first, then its view, and removes the notice when done, so a
student waiting in the queue sees that the page is coming rather than an empty one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import streamlit as st

from . import resources
from .i18n import t

__all__ = ["BUSY_ENV", "busy_at", "running", "views_running", "diagnostics"]

BUSY_ENV = "VIT_EXPLORER_BUSY_AT"
_lock = threading.Lock()
_running = 0


def busy_at() -> int:
    """Runs in flight above which a new run shows the notice."""
    try:
        value = int(os.environ.get(BUSY_ENV, ""))
    except ValueError:
        value = 0
    return value if value > 0 else max(4, 2 * (os.cpu_count() or 1))


def views_running() -> int:
    """Script runs of this process in flight now (every session's full runs)."""
    return _running


@contextmanager
def running() -> Iterator[None]:
    """Count this run while it lasts; show the notice first when the server is saturated."""
    global _running
    with _lock:
        _running += 1
        now = _running
    notice = None
    try:
        if now > busy_at():
            notice = st.empty()
            notice.info(t("busy.coming", n=now))
        yield
    finally:
        with _lock:
            _running -= 1
        if notice is not None:
            with suppress(Exception):  # a run stopped for a rerun: the next run draws the page anew
                notice.empty()


def diagnostics() -> None:
    """One caption: the shared analysis cache's bytes of its bound, its analyses, the views running now."""
    info = resources.analysis_cache_info()
    st.caption(t("diag.cache", used=f"{info.bytes / 2**20:,.0f}", limit=f"{info.limit / 2**20:,.0f}", n=info.entries,
                 running=views_running()))
