"""Shared fixtures: the device comes from TORCH_DEVICE (default cpu), models are tiny and random."""

from __future__ import annotations

import os

import pytest
import torch

# Hub downloads are impossible in tests; fail fast instead of retrying for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def device() -> torch.device:
    return torch.device(os.environ.get("TORCH_DEVICE", "cpu"))


class LocalHub:
    """A stand-in for huggingface.co on a loopback port: serves the given files of any repository the way the
    hub's resolve endpoint does (commit, ETag and size headers; 404 with EntryNotFound for other files)."""

    def __init__(self) -> None:
        import hashlib
        import http.server
        import threading

        self.files: dict[str, bytes] = {}  # file name -> contents, the same in every repository
        self.requests: list[str] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _headers(self) -> bytes | None:
                hub.requests.append(f"{self.command} {self.path}")
                data = next((d for name, d in hub.files.items() if self.path.endswith(f"/resolve/main/{name}")), None)
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Repo-Commit", "2" * 40)  # as the hub does: the client caches "no such file"
                    self.send_header("Content-Length", "0")
                else:
                    self.send_response(200)
                    self.send_header("X-Repo-Commit", "2" * 40)
                    self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return data

            def do_HEAD(self):
                self._headers()

            def do_GET(self):
                data = self._headers()
                if data is not None:
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    """Point huggingface_hub at a LocalHub (fill its `.files`) with an empty cache."""
    import huggingface_hub.constants as constants

    hub = LocalHub()
    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    yield hub
    hub.server.shutdown()

