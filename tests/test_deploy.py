"""More than one server: nginx (deploy/nginx.conf.template) in front of two app replicas on this machine.

The classroom load test runs through the balancer; then one replica is killed while every student's session is
open: the students whose sessions lived there reconnect (as the page does) through the same balancer, land on the
other replica, and their deep link reopens the same view (page, layer, head, lesson step); every other student goes on without
an error. Skipped where nginx is not installed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "deploy"))

import classroom_load  # noqa: E402
import replicas  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.deploy,
              pytest.mark.skipif(replicas.nginx_binary() is None, reason="nginx is not installed")]

STUDENTS = 12  # all on one replica by chance: 2 / 2**12
TIMEOUT = 120.0


@pytest.fixture(scope="module")
def cluster():
    with replicas.Cluster(replicas=2) as started:
        yield started


def test_the_balancer_sets_one_affinity_cookie_and_keeps_it(cluster):
    import urllib.request

    def affinity_cookies(response) -> list[str]:
        return [c for c in response.headers.get_all("Set-Cookie") or [] if c.startswith("vitx_replica=")]

    with urllib.request.urlopen(f"{cluster.url}/lesson", timeout=10) as first:
        cookies = affinity_cookies(first)
    assert len(cookies) == 1 and "HttpOnly" in cookies[0], cookies
    request = urllib.request.Request(f"{cluster.url}/lesson", headers={"Cookie": cookies[0].split(";")[0]})
    with urllib.request.urlopen(request, timeout=10) as again:
        assert affinity_cookies(again) == []  # a browser with its cookie keeps it


def test_classroom_through_the_balancer(cluster):
    result = asyncio.run(classroom_load.classroom(f"{cluster.url}/lesson", STUDENTS, 3,
                                                  classroom_load.ACTIONS, TIMEOUT, None))
    assert result["errors"] == 0, result["error_samples"]
    assert result["open_s"]["n"] == STUDENTS and result["change_s"]["n"] == 3 * STUDENTS


EXPLORE = "/class_token?page=class_token&layer=2&head=1&lang=en"
LESSON = "/lesson?page=lesson&step=2&lang=en"


async def _open_and_move(base: str) -> list[classroom_load.Session]:
    """Half the class on the class-token page moving its layer, half in the lesson pressing Next (step 2 -> 3)."""
    students = [classroom_load.Session(base + (EXPLORE if i % 2 else LESSON), i, TIMEOUT) for i in range(STUDENTS)]
    await asyncio.gather(*(s.open() for s in students))
    await asyncio.gather(*(s.change("layer" if s.index % 2 else "next") for s in students))  # off the link's values
    for s in students:
        assert not s.errors, s.errors
    return students


async def _dropped(session: classroom_load.Session) -> bool:
    try:
        await asyncio.wait_for(session.ws.wait_closed(), 5)
    except TimeoutError:
        return False
    return True


async def _failover(cluster) -> tuple[list, list, list, list]:
    students = await _open_and_move(cluster.url)
    before = [s.view() for s in students]
    cluster.kill_replica(cluster.replica_ports[0])
    dropped = await asyncio.gather(*(_dropped(s) for s in students))
    moved = [s for s, d in zip(students, dropped, strict=True) if d]
    stayed = [s for s, d in zip(students, dropped, strict=True) if not d]
    await asyncio.gather(*(s.reconnect() for s in moved))
    after = [s.view() for s in students]
    await asyncio.gather(*(s.change("head" if s.index % 2 else "next") for s in stayed))
    for s in students:
        await s.close()
    return students, moved, before, after


def test_a_replica_dies_its_students_reopen_their_view_on_the_other(cluster):
    students, moved, before, after = asyncio.run(_failover(cluster))
    killed = f"127.0.0.1:{cluster.replica_ports[0]}"
    other = f"127.0.0.1:{cluster.replica_ports[1]}"
    for s in students:  # affinity: the page and its websocket reached one replica, the killed one for those moved
        first = s.replicas[:2]
        assert len(set(first)) == 1 and first[0] in (killed, other), s.replicas
        assert (first[0] == killed) == (s in moved), (s.index, s.replicas)
        if s in moved:
            assert s.replicas[2].split(", ")[-1] == other, s.replicas  # nginx tried the dead one, then the live one
    assert 0 < len(moved) < STUDENTS, f"{len(moved)} of {STUDENTS} sessions were on the killed replica"
    for s in students:
        assert not s.errors, (s.index, s.errors)
    for s, old, new in zip(students, before, after, strict=True):
        if s in moved and s.index % 2:
            assert "page=class_token" in old["query"] and "layer=" in old["query"] and "head=" in old["query"]
            assert new == old, (s.index, old, new)  # same page, layer, head, language
            assert new["cls_layer"] != 2  # the student's own layer, not the link's first one
        elif s in moved:
            assert "page=lesson" in old["query"] and "step=3" in old["query"], old
            assert new == old, (s.index, old, new)
            assert "Position embeddings" in s.texts  # the step the student had reached, not the link's step 2
