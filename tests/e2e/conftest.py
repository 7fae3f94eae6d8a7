"""Fixtures of the browser tests: a real Streamlit server on a free localhost port and Debian's Chromium."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest
from e2e_support import CHROMIUM, FLAGS, ROOT, SHOTS

sys.path.insert(0, str(ROOT / "deploy"))
from app_server import free_port, start_app, stop  # noqa: E402


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


@pytest.fixture(scope="module")
def app_server():
    SHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    try:
        server = start_app(port, log=SHOTS / "streamlit-e2e.log", limit=120)
    except RuntimeError as error:
        pytest.fail(f"the Streamlit server did not start: {error} (see out/streamlit-e2e.log)")
    try:
        yield Server(f"http://127.0.0.1:{port}", server.pid)
    finally:
        stop(server)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); this test needs a real browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()




@pytest.fixture(scope="module")
def app_url(app_server):
    return app_server.url
