"""A full classroom on one server: how many views are being prepared, the 'your view is coming' notice, and the
diagnostics line (the shared analysis cache's bytes and entries).

Streamlit runs every session's script on its own thread of one process, and the threads share one interpreter
lock: 100 students opening a link in the same minute all progressed together and all got their page at the very
end, having seen nothing before it (Streamlit sends a run's messages only when its event loop gets the lock, and
replaces a queued element by its newer version). So at most ``VIT_EXPLORER_BUSY_AT`` full runs (default: 2 per
CPU, at least 4) go at once; a run beyond them draws "your view is coming" first, waits its turn (releasing the
lock, so the notice reaches the browser), runs, and removes the notice. Runs are served roughly in arrival order:
the first students get their page in a second instead of everyone after the last one's. The wait is bounded
(``WAIT_LIMIT_S``): past it the run goes ahead rather than hang.
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
WAIT_LIMIT_S = 60.0
_lock = threading.Lock()
_running = 0  # full runs in flight, waiting ones included
_gate: threading.BoundedSemaphore | None = None


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


def _the_gate() -> threading.BoundedSemaphore:
    global _gate
    with _lock:
        if _gate is None:
            _gate = threading.BoundedSemaphore(busy_at())
        return _gate


@contextmanager
def running() -> Iterator[None]:
    """Count this run while it lasts; beyond ``busy_at()`` runs, show the notice and wait for a turn first."""
    global _running
    gate = _the_gate()
    with _lock:
        _running += 1
        now = _running
    notice = None
    entered = gate.acquire(blocking=False)
    try:
        if not entered:
            notice = st.empty()
            notice.info(t("busy.coming", n=now))
            entered = gate.acquire(timeout=WAIT_LIMIT_S)
        yield
    finally:
        if entered:
            gate.release()
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
