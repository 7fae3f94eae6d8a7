"""The classroom load client against a real server: it speaks Streamlit's protocol well enough that what it counts
is real (runs finish, widget changes reach the app and change what it draws), and a saturated server shows a
student the 'your view is coming' notice first, then the view, the notice removed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import classroom_load  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def busy_server():
    """A server whose gate lets one full run through at a time, so a few sessions saturate it."""
    port = classroom_load.free_port()
    os.environ["VIT_EXPLORER_BUSY_AT"] = "1"
    try:
        server = classroom_load.start_server(port)
    finally:
        del os.environ["VIT_EXPLORER_BUSY_AT"]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(15)


def test_changes_reach_the_app(busy_server):
    _, base = busy_server

    async def student():
        s = classroom_load.Session(f"{base}/lesson?lang=en", 0, 120.0)
        await s.open()
        first = [t for t in s.texts if t.startswith("Patches")]  # the lesson's first step title
        await s.change("next")
        second = list(s.texts)
        await s.change("lang")
        korean = list(s.texts)
        await s.close()
        return s, first, second, korean

    s, first, second, korean = asyncio.run(student())
    assert not s.errors, s.errors
    assert first and "Linear embedding and its filters" in second  # Next moved the lesson one step
    assert "lang=ko" in s.query and any("선형 임베딩" in t for t in korean)  # the switch re-rendered in Korean
    assert len(s.changes_s) == 2 and all(0 < c < 120 for c in s.changes_s)


def test_a_saturated_server_shows_the_notice_then_the_view(busy_server):
    server, base = busy_server
    result = asyncio.run(classroom_load.classroom(f"{base}/lesson", 6, 1, ("next",), 120.0, server.pid))
    assert result["errors"] == 0, result["error_samples"]
    assert result["open_s"]["n"] == 6 and result["change_s"]["n"] == 6
    assert result["sessions_shown_busy"] >= 1  # six at once through a gate of one: someone waited
    assert result["busy_notices_left_on_screen"] == 0  # each run removed its notice
