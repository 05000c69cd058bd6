"""The page cache on a real Redis: access never leaks between viewers, stampede control, metrics, outages.

Runs when REDIS_URL is set (CI always sets it: there a missing REDIS_URL fails instead of skipping).
Each test uses its own key prefix on the shared server; the outage test starts a throwaway
redis-server on a random port and kills it, never the shared one.

Personas: alice is admin of DEMO, carol a viewer in DEMO, bob a member of OPS only (404 on DEMO).

Tests that write after a cached read use `lookups` (a transactional test): a write bumps the generations
when it commits, which the rolled-back transaction of a plain `db` test never does.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import override_settings

from issues import pagecache
from issues.issuepage import cached as issuepage
from issues.pagecache import generations
from issues.selectors import cached_result_page
from issues.tests.conftest import IN_CI, REDIS_URL, _redis_caches, reset_all, warm, warm_results
from taskra_site import sharedcache

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not REDIS_URL and not IN_CI, reason="REDIS_URL is not set (runs in CI on a real Redis)"),
]


def test_alice_cached_result_page_is_never_served_to_bob(reader, project_a, project_b, make_issue):
    make_issue(project_a, summary="DEMO secret")
    make_issue(project_b, summary="OPS work", reporter=None)
    assert [r["summary"] for r in warm_results(reader)] == ["DEMO secret"]  # alice, cached
    bob_rows = reader.results(user="bob")
    assert bob_rows["built"] is True  # not alice's entry
    assert [r["summary"] for r in bob_rows["rows"]] == ["OPS work"]


def test_result_page_of_one_project_survives_writes_in_another(
    redis_prefix, lookups, project_a, project_b, make_issue, alice
):
    # alice (admin of DEMO) also joins OPS, so both projects are visible to her: a DEMO-only query must not be
    # rebuilt for a write in OPS, while unbounded queries and writes in DEMO invalidate as before.
    from issues.models import Membership, Role

    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    builds: list[str] = []

    def results(jql: str) -> None:
        cached_result_page(user=alice, query={"jql": jql}, builder=lambda: builds.append(jql))

    queries = ["project = DEMO ORDER BY updated DESC", "project in (demo, OPS)", "status = Done"]
    for jql in queries:
        results(jql)
    make_issue(project_b, reporter=None)  # a write in OPS
    builds.clear()
    for jql in queries:
        results(jql)
    assert builds == ["project in (demo, OPS)", "status = Done"]  # the DEMO-only page was still current
    moved = make_issue(project_a)
    builds.clear()
    results(queries[0])
    assert builds == [queries[0]]  # a write in DEMO invalidates it
    # An issue moved to OPS by a plain save (admin) must leave DEMO's page too.
    results(queries[0])
    moved.project, moved.number, moved.key = project_b, 999, "OPS-999"
    moved.save()
    builds.clear()
    results(queries[0])
    assert builds == [queries[0]]


def test_bob_gets_404_for_alice_cached_issue_page(reader, project_a, project_b, make_issue):
    issue = make_issue(project_a, summary="DEMO secret")
    warm(reader, issue.key)  # alice's read put the page in the shared cache
    assert reader.issue(issue.key, user="bob") == {"status": 404, "built": False}


def test_browse_page_cached_entry_never_reaches_bob(redis_prefix, client, project_a, project_b, make_issue, alice, bob):
    # The real /browse/KEY view: alice's visit fills the shared entry, bob still gets 404.
    issue = make_issue(project_a, summary="DEMO secret summary")
    client.force_login(alice)
    assert client.get(f"/browse/{issue.key}").status_code == 200
    assert b"DEMO secret summary" in client.get(f"/browse/{issue.key}").content
    client.force_login(bob)
    response = client.get(f"/browse/{issue.key}")
    assert response.status_code == 404
    assert b"DEMO secret summary" not in response.content


def test_twenty_concurrent_misses_on_redis_rebuild_once(redis_prefix, db):
    calls = 0
    lock = threading.Lock()
    barrier = threading.Barrier(20)
    results: list[Any] = []

    def build() -> dict[str, str]:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.3)
        return {"summary": "hot"}

    def reader_thread() -> None:
        try:
            barrier.wait()
            results.append(pagecache.get_or_build("issue", ["hot"], build, issue_id=999_001))
        finally:
            # The outbox check opened this thread's own database connection: close it, or it outlives the test
            # and the test database cannot be dropped at the end of the run ("accessed by other users").
            connections.close_all()

    threads = [threading.Thread(target=reader_thread) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1
    assert results == [{"summary": "hot"}] * 20


def test_metrics_are_redis_counters(redis_prefix, db):
    from django_redis import get_redis_connection

    pagecache.reset_metrics()
    for _ in range(3):
        pagecache.get_or_build("navigator", ["m"], lambda: ["row"], project_ids=[999_002])
    pagecache.flush_metrics()
    raw = get_redis_connection("default")
    assert int(raw.get(f"{redis_prefix}:1:metrics:page:navigator:hits")) == 2
    metrics = pagecache.cache_metrics()["navigator"]
    assert (metrics["hits"], metrics["misses"], metrics["rebuilds"]) == (2, 1, 1)


def test_settings_use_hiredis_parser_and_socket_timeouts(redis_prefix):
    from django_redis import get_redis_connection
    from redis._parsers.hiredis import _HiredisParser

    client = get_redis_connection("default")
    assert client.ping()
    conn = client.connection_pool.get_connection()
    try:
        assert isinstance(conn._parser, _HiredisParser)
        assert conn.socket_timeout == 0.5 and conn.socket_connect_timeout == 0.5
    finally:
        client.connection_pool.release(conn)


def _free_port() -> int:
    for _ in range(50):
        port = 6390 + random.randint(1, 2000)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port for a throwaway redis-server")


class ThrowawayRedis:
    """A private redis-server subprocess (no persistence) that a test may kill and restart."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.fail("redis-server binary not found (needed for the outage test)")
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("throwaway redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def throwaway_redis(redis_prefix) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    server.start()
    try:
        with override_settings(CACHES=_redis_caches(server.url, "outage")):
            reset_all()
            yield server
    finally:
        server.stop()
        reset_all()


def test_redis_outage_serves_pages_from_database_and_caching_resumes(
    throwaway_redis, client, project_a, make_issue, alice, monkeypatch
):
    from issues.services import issue_update

    issue = make_issue(project_a, summary="Before outage")
    client.force_login(alice)
    assert client.get(f"/browse/{issue.key}").status_code == 200
    assert pagecache.cache_metrics()["issue"]["misses"] >= 1  # Redis is up and counting

    throwaway_redis.stop()
    started = time.monotonic()
    response = client.get(f"/browse/{issue.key}")
    assert response.status_code == 200
    assert b"Before outage" in response.content
    # A write during the outage: its bump fails and is queued for replay.
    issue_update(issue=issue, actor=alice, data={"summary": "During outage"})
    response = client.get(f"/browse/{issue.key}")
    assert response.status_code == 200 and b"During outage" in response.content
    assert time.monotonic() - started < 5  # no timeout pile-up: the breaker skips the dead cache

    throwaway_redis.start()
    monkeypatch.setattr(sharedcache, "BREAKER_SECONDS", 0.0)
    sharedcache.breaker.reset()
    calls = {"n": 0}

    def build() -> str:
        calls["n"] += 1
        return "page"

    assert pagecache.get_or_build("issue", ["resume"], build, issue_id=issue.pk) == "page"
    assert pagecache.get_or_build("issue", ["resume"], build, issue_id=issue.pk) == "page"
    assert calls["n"] == 1  # cached again
    assert client.get(f"/browse/{issue.key}").status_code == 200
    assert b"During outage" in client.get(f"/browse/{issue.key}").content


def test_dead_redis_never_fails_get_or_build(throwaway_redis, db):
    from issues.models import CacheBump

    throwaway_redis.stop()
    assert pagecache.get_or_build("navigator", ["x"], lambda: ["built from db"], project_ids=[1]) == ["built from db"]
    pagecache.invalidate_issues([1], [1])  # recorded in the outbox, not raised
    assert CacheBump.objects.filter(keys="gen:issue:1 gen:project:1").exists()
    assert not generations.pending_bumps()  # the database holds it, not this process's memory
    assert issuepage.get_cached_issue("NOPE-1") is None
