"""nginx in front of N app replicas on this machine (what ``bash deploy/run_local.sh`` runs; the tests use it too).

    python deploy/replicas.py --replicas 2 --port 8500      # http://127.0.0.1:8500/lesson ; Ctrl-C stops everything

Each replica is ``streamlit run streamlit_app.py`` on its own loopback port, started and waited for through
Streamlit's ``/_stcore/health`` and warmed (one session opens the lesson: model loaded, analysis cached); then nginx (``/usr/sbin/nginx``, Debian's 1.22) runs in the foreground with the
rendered ``deploy/nginx.conf.template`` under a temporary prefix, as the calling user. Everything it starts is its
own child and is stopped on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # deploy/ itself, also when imported from the tests

from app_server import ROOT, free_port, start_app, stop, wait_http  # noqa: E402

__all__ = ["ROOT", "TEMPLATE", "Cluster", "nginx_binary", "free_port", "render", "start_replica", "warm", "start_nginx"]

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
MAX_FAILS, FAIL_TIMEOUT_S = 1, 10  # passive health: one failed connect takes a replica out for 10 s


def nginx_binary() -> str | None:
    """nginx on the PATH or Debian's /usr/sbin/nginx; None when neither is there."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None


def render(prefix: Path, port: int, replica_ports: list[int]) -> Path:
    """Write ``prefix/nginx.conf`` for a balancer on 127.0.0.1:`port` in front of the replicas' ports."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT_S}s;"
                        for p in replica_ports)
    text = (TEMPLATE.read_text().replace("@PREFIX@", str(prefix)).replace("@LISTEN@", f"127.0.0.1:{port}")
            .replace("@SERVERS@", servers))
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return conf


def start_replica(port: int, cookie_secret: str, log: Path | None = None) -> subprocess.Popen:
    """One app replica on 127.0.0.1:`port`, waited for through ``/_stcore/health``.

    Every replica gets the same cookie secret: Streamlit signs its XSRF cookie with it, and a browser moved to
    another replica (its first one died) keeps the cookie it has, so its uploads must still pass the check there.
    """
    return start_app(port, env={"STREAMLIT_SERVER_COOKIE_SECRET": cookie_secret}, log=log)


def warm(port: int, path: str = "/lesson", limit: float = 180.0) -> None:
    """Open the class's link once on the replica itself (bench/classroom_load.py's protocol session): it loads the
    model and caches the analysis, so its first students do not wait for that (about 20 s on 2 cores)."""
    import asyncio

    sys.path.insert(0, str(ROOT / "bench"))
    import classroom_load

    async def one() -> list[str]:
        session = classroom_load.Session(f"http://127.0.0.1:{port}{path}", 0, limit)
        await session.open()
        await session.close()
        return session.errors

    errors = asyncio.run(one())
    if errors:
        raise RuntimeError(f"the replica on port {port} failed its first page: {errors[0]}")


def start_nginx(prefix: Path, port: int, replica_ports: list[int]) -> subprocess.Popen:
    """nginx in the foreground with the rendered config, waited for through its own ``/lb-health``."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
    conf = render(prefix, port, replica_ports)
    subprocess.run([binary, "-t", "-q", "-p", str(prefix), "-c", str(conf)], check=True)
    process = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/lb-health", 20, process)
    return process


@dataclass
class Cluster:
    """A balancer and its replicas, started by :meth:`start`, stopped by :meth:`stop` (a context manager)."""

    replicas: int = 2
    port: int = 0
    prefix: Path | None = None
    replica_ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen] = field(default_factory=dict)  # replica port -> process
    nginx: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Cluster:
        self.port = self.port or free_port()
        self.prefix = self.prefix or Path(tempfile.mkdtemp(prefix="vit-lb-"))
        self.replica_ports = [free_port() for _ in range(self.replicas)]
        try:
            secret = secrets.token_hex(32)
            for port in self.replica_ports:
                self.processes[port] = start_replica(port, secret, self.prefix / f"replica-{port}.log")
            for port in self.replica_ports:
                warm(port)
            self.nginx = start_nginx(self.prefix, self.port, self.replica_ports)
        except BaseException:
            self.stop()
            raise
        return self

    def kill_replica(self, port: int) -> None:
        """Kill one replica outright (SIGKILL: no goodbye to its sessions), as a crash would."""
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        stop(self.nginx)
        for process in self.processes.values():
            stop(process)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="nginx in front of N app replicas on this machine")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=8500, help="the balancer's port (127.0.0.1)")
    args = parser.parse_args(argv)
    if not 1 <= args.replicas <= 16:
        parser.error("--replicas must be between 1 and 16")
    cluster = Cluster(args.replicas, args.port)
    print(f"starting {args.replicas} replicas and nginx ...", flush=True)
    with cluster:
        print(f"the class's link: {cluster.url}/lesson  (replicas on ports {cluster.replica_ports}; "
              f"nginx config and logs in {cluster.prefix}); Ctrl-C stops everything", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while all(p.poll() is None for p in [cluster.nginx, *cluster.processes.values()]):
                time.sleep(1)
            print("a process exited; stopping the rest", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
