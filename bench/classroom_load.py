"""A classroom against one server (or a load balancer): N Streamlit sessions over the websocket, no browsers.

    python bench/classroom_load.py --sessions 30                 # starts its own server on a free port
    python bench/classroom_load.py --sessions 30 --link "http://127.0.0.1:8080/lesson" --server-pid 1234

Each session is what a browser tab does on the wire: GET the link (keeping the cookies a load balancer sets),
open ``/_stcore/stream`` with the ``streamlit`` subprotocol, send a ``rerun_script`` BackMsg with the link's
query string and page, and read ForwardMsgs until its run's ``script_finished``. Then every session makes
``--changes`` widget changes a student would make (next lesson step, an answer, the layer slider, the head, the
language switch: whichever of them the page shows), each sent as the frontend sends it (the widget's id and
value, the fragment id when the widget lives in a fragment) and timed to its ``script_finished``.

One warm-up session runs first (model loaded, analysis cached), then every session opens at once. Reported:
open and change latency p50/p95/max, errors (exception elements, error alerts, disconnects, timeouts), the
server's RSS before/peak/after, and how many sessions were shown the "busy" notice. Output: a table on stdout,
JSON with ``--json``. Loopback addresses only; every wait has a time limit and every loop a count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "deploy"))
from app_server import free_port, start_app, stop  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from viz_app.catalogue import CATALOGUE  # noqa: E402 - no streamlit import: only the sentences

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DONE = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
# The start of viz_app.crowd's "your view is coming" notice, in each language (the text before its count).
BUSY_TEXTS = tuple(CATALOGUE[lang]["busy.coming"].split("{")[0] for lang in CATALOGUE)
# What a student does, in order, cycling: each name is matched to a widget key of the page (first match wins).
ACTIONS = ("next", "answer", "layer", "head", "lang")
WIDGET_KEYS = {
    "next": ("lesson_next",),
    "answer": ("lesson_answer_",),
    "layer": ("lesson_rollout_layer", "layer"),
    "head": ("head",),
    "lang": ("lang",),
}


@dataclass
class Widget:
    key: str  # the user key (the id's suffix)
    id: str
    kind: str  # the Element oneof name: button, radio, slider, button_group, ...
    proto: object
    fragment_id: str
    seen: int  # the message number it was last drawn at: the newest wins


@dataclass
class Session:
    """One student's tab: its websocket, what the page shows, its timings."""

    link: str
    index: int
    timeout: float
    cookie: str = ""
    ws: object = None
    query: str = ""
    page_name: str = ""
    page_hash: str = ""
    widgets: dict[str, Widget] = field(default_factory=dict)
    count: int = 0
    errors: list[str] = field(default_factory=list)
    busy: bool = False
    open_s: float | None = None
    first_delta_s: float | None = None
    changes_s: list[float] = field(default_factory=list)
    skipped: int = 0
    texts: list[str] = field(default_factory=list)  # markdown/heading text of the last run (for checks)
    fragment_run: bool = False  # the run in flight reruns one fragment only
    # each widget's value as the frontend's widget manager keeps it: set by the page (a drawing with set_value) or
    # by this student; a widget redrawn without set_value keeps it
    values: dict[str, object] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)  # element kinds the last run drew, in order
    busy_path: tuple[int, ...] | None = None  # where the busy notice was drawn
    busy_cleared: bool = False  # ... and that the same run emptied it
    replicas: list[str] = field(default_factory=list)  # behind deploy/'s balancer: the replica of each request

    async def open(self) -> None:
        parts = urlsplit(self.link)
        self.query, self.page_name = parts.query, parts.path.strip("/")
        start = time.perf_counter()
        self.cookie, replica = await asyncio.to_thread(_get_cookies, self.link, self.timeout)
        self.replicas.append(replica)
        base = f"ws://{parts.netloc}/_stcore/stream"
        headers = {"Origin": f"http://{parts.netloc}"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.ws = await asyncio.wait_for(
            connect(base, subprotocols=["streamlit"], additional_headers=headers, max_size=None,
                    open_timeout=self.timeout, ping_interval=None),
            self.timeout)
        self.replicas.append(self.ws.response.headers.get("X-Vit-Replica", ""))
        await self._rerun(None)
        if await self._wait_run(start, first=True):
            self.open_s = time.perf_counter() - start

    async def change(self, action: str) -> bool:
        """Make one change; False when the page shows no widget for `action` (nothing sent)."""
        widget = self._find(action)
        if widget is None:
            self.skipped += 1
            return False
        start = time.perf_counter()
        await self._rerun(widget)
        if await self._wait_run(start):
            self.changes_s.append(time.perf_counter() - start)
        return True

    async def reconnect(self) -> None:
        """What the page does when its websocket drops: a new socket through the same address (and cookie), and a
        rerun with the URL's query as the app last set it (the deep link), so a new session reopens the view."""
        await self.close()
        self.ws, self.page_hash, self.widgets = None, "", {}
        start = time.perf_counter()
        parts = urlsplit(self.link)
        headers = {"Origin": f"http://{parts.netloc}", **({"Cookie": self.cookie} if self.cookie else {})}
        self.ws = await asyncio.wait_for(
            connect(f"ws://{parts.netloc}/_stcore/stream", subprotocols=["streamlit"], additional_headers=headers,
                    max_size=None, open_timeout=self.timeout, ping_interval=None),
            self.timeout)
        self.replicas.append(self.ws.response.headers.get("X-Vit-Replica", ""))
        await self._rerun(None)
        if await self._wait_run(start, first=True):
            self.open_s = time.perf_counter() - start

    def view(self) -> dict[str, object]:
        """The view as a person sees it: the URL's query and the value of every slider and choice on the page (the
        value the page itself set, else the one this student chose, as the frontend keeps it, else the default)."""
        shown = {w.key: self.values.get(w.key, drawn_value(w)) for w in self.widgets.values()}
        return {"query": self.query, **{k: v for k, v in shown.items() if v is not None}}

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)

    # -- the wire ------------------------------------------------------------------------------------
    async def _rerun(self, widget: Widget | None) -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_name = self.page_name if not self.page_hash else ""
        state.page_script_hash = self.page_hash
        state.context_info.url = self.link
        state.context_info.locale = "en-US"
        state.context_info.timezone = "UTC"
        state.context_info.timezone_offset = 0
        self.fragment_run = False
        if widget is not None:
            value = state.widget_states.widgets.add()
            value.id = widget.id
            self.values[widget.key] = _set_value(value, widget, self.values.get(widget.key))
            if widget.fragment_id:
                state.fragment_id = widget.fragment_id
                self.fragment_run = True
        self.texts, self.kinds = [], []
        await self.ws.send(msg.SerializeToString())

    async def _wait_run(self, start: float, first: bool = False) -> bool:
        """Read ForwardMsgs until this run finished; False (and an error recorded) on a timeout or disconnect."""
        deadline = start + self.timeout
        for _ in range(1_000_000):  # bounded: a run never sends this many messages
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                self.errors.append("timeout")
                return False
            try:
                data = await asyncio.wait_for(self.ws.recv(), remaining)
            except TimeoutError:
                self.errors.append("timeout")
                return False
            except Exception as error:  # noqa: BLE001 - a closed socket is a counted error, not a crash
                self.errors.append(f"disconnect: {type(error).__name__}")
                return False
            msg = ForwardMsg()
            msg.ParseFromString(data)
            self.count += 1
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                if not self.fragment_run:  # a full run redraws the page: forget the widgets it no longer shows
                    self.page_hash = msg.new_session.page_script_hash
                    self.widgets.clear()
            elif kind == "navigation":  # the page st.navigation chose: the frontend reruns with its hash
                self.page_hash = msg.navigation.page_script_hash
            elif kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "delta":
                if first and self.first_delta_s is None:
                    self.first_delta_s = time.perf_counter() - start
                self._delta(msg.delta, tuple(msg.metadata.delta_path))
            elif kind == "script_finished" and msg.script_finished in DONE:
                return True
        self.errors.append("too many messages")
        return False

    def _delta(self, delta, path: tuple[int, ...]) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind is None:
            return
        self.kinds.append(kind)
        body = getattr(element, kind)
        if kind == "empty" and path == self.busy_path:
            self.busy_cleared = True
        if kind == "exception":
            self.errors.append(f"exception: {body.type}: {body.message[:120]}")
        elif kind == "alert" and body.format == body.ERROR:
            self.errors.append(f"error alert: {body.body[:120]}")
        elif kind == "alert" and body.body.startswith(BUSY_TEXTS):
            self.busy, self.busy_path, self.busy_cleared = True, path, False
        elif kind in ("markdown", "heading"):
            self.texts.append(body.body)
        widget_id = getattr(body, "id", "") if kind not in ("markdown", "heading", "alert", "exception") else ""
        if widget_id.startswith("$$ID-"):
            key = widget_id.split("-", 2)[2] if widget_id.count("-") >= 2 else widget_id
            self.widgets[key] = widget = Widget(key, widget_id, kind, body, delta.fragment_id, self.count)
            if getattr(body, "set_value", False) and drawn_value(widget) is not None:
                self.values[key] = drawn_value(widget)

    def _find(self, action: str) -> Widget | None:
        prefixes = WIDGET_KEYS.get(action, (action,))
        found = [w for w in self.widgets.values() if _matches(w.key, prefixes) and not getattr(w.proto, "disabled", False)]
        return max(found, key=lambda w: w.seen) if found else None


def _matches(key: str, names: tuple[str, ...]) -> bool:
    """`key` is one of `names`, starts with one (``lesson_answer_``) or ends with ``_name`` (``cls_layer``)."""
    return any(key.startswith(n) or key.endswith(f"_{n}") for n in names)


def drawn_value(widget: Widget) -> object:
    """What the page shows in `widget`: a slider's number, a choice's label (None for other kinds)."""
    body = widget.proto
    if widget.kind == "slider":
        values = list(body.value) if body.set_value else list(body.default)
        return values[0] if values else None
    if widget.kind in ("selectbox", "radio"):
        if body.set_value and body.HasField("raw_value"):
            return body.raw_value
        return body.options[body.default] if body.HasField("default") else None
    return None


def _set_value(value, widget: Widget, current: object = None) -> object:
    """Write the widget's next value as the frontend does and return it: buttons trigger, choices move to the next
    option and sliders one step, from `current` (the value the frontend keeps), else the drawn default."""
    body = widget.proto
    if widget.kind == "button":
        value.trigger_value = True
        return None
    if widget.kind in ("radio", "selectbox", "button_group"):
        if widget.kind == "button_group":
            options = [o.content for o in body.options]
            drawn = body.default[0] if body.default else 0  # a value set through the session state is not drawn
        else:
            options = list(body.options)
            drawn = drawn_value(widget)
            drawn = options.index(drawn) if drawn in options else -1
        index = (options.index(current) if current in options else drawn) + 1
        index %= len(options)
        if widget.kind == "button_group":
            value.string_array_value.data.append(options[index])
        else:
            value.string_value = options[index]
        return options[index]
    if widget.kind == "slider":
        now = [current] if current is not None else list(body.default) or [body.min]
        step = body.step or 1
        nxt = now[0] - step if now[0] - step >= body.min else now[0] + step
        value.double_array_value.data.append(min(max(nxt, body.min), body.max))
        return value.double_array_value.data[0]
    raise ValueError(f"no value for a {widget.kind} widget")


def _get_cookies(link: str, timeout: float) -> tuple[str, str]:
    """GET the link as a browser does first: the cookies it sets (a load balancer's affinity cookie) and the replica
    that answered (deploy/'s balancer names it; empty elsewhere)."""
    with urllib.request.urlopen(link, timeout=timeout) as response:  # noqa: S310 - loopback only (checked)
        response.read()
        jar = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar.load(header)
    return "; ".join(f"{k}={v.value}" for k, v in jar.items()), response.headers.get("X-Vit-Replica", "")


# -- the server -----------------------------------------------------------------------------------
def start_server(port: int, extra: list[str] | None = None) -> subprocess.Popen:
    """The app on 127.0.0.1:`port` (deploy/app_server.py), with exceptions shown by type only."""
    return start_app(port, args=["--client.showErrorDetails", "type", *(extra or [])], limit=120)


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20
    except psutil.Error:
        return None


def cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) used so far by `pid` and its children."""
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])
    except psutil.Error:
        return None


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 2)


# -- the classroom --------------------------------------------------------------------------------
def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered) + 0.5) - 1))]  # nearest rank
    return {"p50": round(statistics.median(ordered), 3), "p95": round(p95, 3), "max": round(ordered[-1], 3),
            "n": len(ordered)}


async def student(session: Session, changes: int, actions: tuple[str, ...], start_changes: asyncio.Event) -> None:
    try:
        await session.open()
    except Exception as error:  # noqa: BLE001 - a refused connection is a counted error
        session.errors.append(f"open: {type(error).__name__}: {error}")
    await start_changes.wait()
    if session.ws is None or session.errors:
        return
    done = 0
    for attempt in range(4 * changes):  # bounded: skipped actions (not on this page) do not count as changes
        if done >= changes:
            break
        try:
            if await session.change(actions[attempt % len(actions)]):
                done += 1
        except Exception as error:  # noqa: BLE001
            session.errors.append(f"change: {type(error).__name__}: {error}")
        if session.errors:
            break


async def classroom(link: str, sessions: int, changes: int, actions: tuple[str, ...], timeout: float,
                    pid: int | None) -> dict:
    warm = Session(link, -1, timeout)
    await student(warm, changes, actions, _set_event())
    await warm.close()
    before = rss_mb(pid)
    peak = before or 0.0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        for _ in range(int(10 * 3600 / 0.2)):
            if stop.is_set():
                return
            peak = max(peak, rss_mb(pid) or 0.0)
            await asyncio.sleep(0.2)

    server_cpu, client_cpu = cpu_s(pid), cpu_s(os.getpid())
    sampler = asyncio.create_task(sample())
    go = asyncio.Event()
    students = [Session(link, i, timeout) for i in range(sessions)]
    started = time.perf_counter()
    tasks = [asyncio.create_task(student(s, changes, actions, go)) for s in students]
    # every session acts at once: changes start when every session has opened (or failed)
    for _ in range(int(timeout * 10) + 10):
        if all(s.open_s is not None or s.errors for s in students):
            break
        await asyncio.sleep(0.1)
    opened_s = time.perf_counter() - started
    server_open_cpu, client_open_cpu = cpu_s(pid), cpu_s(os.getpid())
    open_peak = peak
    go.set()
    await asyncio.gather(*tasks)
    total_s = time.perf_counter() - started
    loaded = rss_mb(pid)
    for s in students:
        await s.close()
    after = None
    for _ in range(20):  # the server frees a closed session's state shortly after its socket closes
        await asyncio.sleep(0.5)
        after = rss_mb(pid)
    stop.set()
    await sampler
    errors = [f"session {s.index}: {e}" for s in students for e in s.errors]
    result = {
        "link": link,
        "sessions": sessions,
        "changes_per_session": changes,
        "actions": list(actions),
        "open_s": percentiles([s.open_s for s in students if s.open_s is not None]),
        "first_paint_s": percentiles([s.first_delta_s for s in students if s.first_delta_s is not None]),
        "change_s": percentiles([c for s in students for c in s.changes_s]),
        "errors": len(errors),
        "error_samples": errors[:10],
        "sessions_shown_busy": sum(s.busy for s in students),
        "busy_notices_left_on_screen": sum(s.busy and not s.busy_cleared for s in students),
        "skipped_actions": sum(s.skipped for s in students),
        "all_open_s": round(opened_s, 2),
        "cpu_s_opening": {"server": _minus(server_open_cpu, server_cpu), "client": _minus(client_open_cpu, client_cpu)},
        "cpu_s_total": {"server": _minus(cpu_s(pid), server_cpu), "client": _minus(cpu_s(os.getpid()), client_cpu)},
        "total_s": round(total_s, 2),
        "rss_mb": {k: None if v is None else round(v, 1)
                   for k, v in {"before": before, "peak_open": open_peak, "peak": peak, "loaded": loaded,
                                "after": after}.items()},
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if before is not None and loaded is not None and sessions:
        result["rss_mb_per_session"] = round((loaded - before) / sessions, 2)
    return result


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


def table(results: list[dict]) -> str:
    head = ("| sessions | open p50 / p95 / max s | change p50 / p95 / max s | errors | busy shown | "
            "RSS before / peak / after MB | MB per session | load 1m |")
    lines = [head, "|" + "---|" * 8]
    for r in results:
        o, c, m = r["open_s"], r["change_s"], r["rss_mb"]
        lines.append(f"| {r['sessions']} | {o['p50']} / {o['p95']} / {o['max']} | {c['p50']} / {c['p95']} / "
                     f"{c['max']} | {r['errors']} | {r['sessions_shown_busy']} | {m['before']} / {m['peak']} / "
                     f"{m['after']} | {r.get('rss_mb_per_session')} | {r['load_avg_1m']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[30], help="session counts, one run each")
    parser.add_argument("--link", help="the class's link (loopback only); default: start a server, /lesson")
    parser.add_argument("--path", default="/lesson", help="the page and query when this script starts the server")
    parser.add_argument("--server-pid", type=int, help="the server's pid, for its RSS (with --link)")
    parser.add_argument("--changes", type=int, default=4, help="widget changes per session")
    parser.add_argument("--actions", default=",".join(ACTIONS), help="what a student changes, cycled")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a run may take before it counts as lost")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if not 1 <= max(args.sessions) <= 500:
        parser.error("--sessions must be between 1 and 500")
    server = None
    pid = args.server_pid
    link = args.link
    if link is None:
        port = free_port()
        server = start_server(port)
        pid = server.pid
        link = f"http://127.0.0.1:{port}{args.path}"
    if urlsplit(link).hostname not in LOOPBACK:
        parser.error("--link must be a loopback address (127.0.0.1, localhost)")
    actions = tuple(a for a in args.actions.split(",") if a)
    results = []
    try:
        for n in args.sessions:
            results.append(asyncio.run(classroom(link, n, args.changes, actions, args.timeout, pid)))
            print(json.dumps(results[-1]), flush=True)
    finally:
        stop(server)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
