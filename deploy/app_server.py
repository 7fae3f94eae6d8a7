"""Start and stop the app's Streamlit server on a loopback port: the one way the replicas, the benchmarks and the
browser tests run it (``streamlit run streamlit_app.py``, headless, offline unless told otherwise)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ROOT", "free_port", "wait_http", "start_app", "stop"]

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, limit: float, process: subprocess.Popen | None = None) -> None:
    """Until `url` answers 200 (or `limit` seconds pass, or `process` exits: both raise RuntimeError)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, process.args[:4]))} exited with {process.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                if response.status == 200:
                    return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {limit:.0f} s")


def start_app(port: int, *, env: dict[str, str] | None = None, args: Sequence[str] = (), log: Path | None = None,
              limit: float = 180.0) -> subprocess.Popen:
    """The app on 127.0.0.1:`port`, waited for through ``/_stcore/health``.

    `env` is added to this process' environment (``HF_HUB_OFFLINE=1`` unless it or the environment says otherwise);
    `args` are further ``streamlit run`` options; `log` gets the server's output (else it is dropped).
    """
    environment = {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), **os.environ, "PYTHONUNBUFFERED": "1",
                   **(env or {})}
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false", *args],
        cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", limit, process)
    except RuntimeError:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen | None) -> None:
    """Terminate `process` (then kill it after 15 s); nothing when it has already exited."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
