"""The page cache on a real Redis: every write path is seen by a second process, access never leaks, outages.

Runs when REDIS_URL is set (CI always sets it: there a missing REDIS_URL fails instead of skipping).
Each test uses its own key prefix on the shared server; the outage test starts a throwaway
redis-server on a random port and kills it, never the shared one.

Personas: alice is admin of DEMO, carol a viewer in DEMO, bob a member of OPS only (404 on DEMO).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from conftest import database_url_for_subprocess
from issues import cache as page_cache
from issues.tests.conftest import IN_CI, REDIS_URL, _redis_caches

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not REDIS_URL and not IN_CI, reason="REDIS_URL is not set (runs in CI on a real Redis)"),
]


def run_in_other_process(script: str, prefix: str) -> None:
    """Run a Django script in a separate process on the test database and this test's cache prefix."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "CACHE_KEY_PREFIX": prefix,
        "DJANGO_SETTINGS_MODULE": "taskra_site.settings",
    }
    env.pop("TEST_DATABASE_NAME", None)
    subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, env=env, check=True, timeout=60)


# A second process: the same code path a second web server runs for the issue page and a result page.
READER = r"""
import json, os, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from issues import cache as page_cache
from issues.models import Issue
from issues.permissions import visible_project_ids
from issues.selectors import issue_for_user, issue_page_data

builds = {"issue": 0, "navigator": 0}

def issue_page(key, username):
    user = get_user_model().objects.get(username=username)
    issue = issue_for_user(key=key, user=user)
    if issue is None:
        return {"status": 404}
    def build():
        builds["issue"] += 1
        return issue_page_data(issue=issue)
    # No DB-side version here on purpose: freshness must come from the generation bumps alone.
    data = page_cache.get_or_build("issue", [issue.pk], build, issue_id=issue.pk, issue_ids=[issue.parent_id])
    return {"status": 200, "data": data}

def result_page(username):
    user = get_user_model().objects.get(username=username)
    projects = sorted(visible_project_ids(user).values_list("project_id", flat=True))
    def build():
        builds["navigator"] += 1
        rows = Issue.objects.filter(project_id__in=projects).order_by("-updated", "-id")[:50]
        return [{"key": i.key, "summary": i.summary, "time_spent": i.time_spent} for i in rows]
    rows = page_cache.get_or_build("navigator", [tuple(projects), "order by updated desc"], build,
                                   project_ids=projects)
    return {"status": 200, "rows": rows}

for line in sys.stdin:
    cmd = json.loads(line)
    before = dict(builds)
    if cmd["op"] == "issue":
        out = issue_page(cmd["key"], cmd["user"])
    else:
        out = result_page(cmd["user"])
    out["built"] = builds != before
    print(json.dumps(out), flush=True)
"""


class Reader:
    """A long-lived second Django process answering page reads over stdin/stdout."""

    def __init__(self, prefix: str, redis_url: str) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "taskra_site.settings",
            "DATABASE_URL": database_url_for_subprocess(),
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": prefix,
            "PYTHONPATH": str(BASE_DIR),
        }
        env.pop("TEST_DATABASE_NAME", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, **cmd: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("reader process died")
        return json.loads(line)

    def issue(self, key: str, user: str = "alice") -> dict[str, Any]:
        return self.ask(op="issue", key=key, user=user)

    def results(self, user: str = "alice") -> dict[str, Any]:
        return self.ask(op="results", user=user)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture
def reader(redis_prefix: str, lookups: None) -> Iterator[Reader]:
    proc = Reader(redis_prefix, REDIS_URL)
    try:
        yield proc
    finally:
        proc.close()


def _warm(reader: Reader, key: str) -> dict[str, Any]:
    """Read a page twice in the second process and prove the second read came from the cache."""
    reader.issue(key)
    page = reader.issue(key)
    assert page["built"] is False, "second read should have been a cache hit"
    return page["data"]


def _warm_results(reader: Reader) -> list[dict[str, Any]]:
    reader.results()
    page = reader.results()
    assert page["built"] is False
    return page["rows"]


# --- every write path, then a read from a second process -------------------------------------------


def test_issue_create_shows_in_other_process_result_page(reader, project_a, make_issue):
    make_issue(project_a, summary="First")
    _warm_results(reader)
    make_issue(project_a, summary="Second")
    assert [r["summary"] for r in reader.results()["rows"]][:2] == ["Second", "First"]


def test_issue_update_seen_by_other_process(reader, project_a, make_issue, alice):
    from issues.services import issue_update

    issue = make_issue(project_a, summary="Before")
    _warm(reader, issue.key)
    _warm_results(reader)
    issue_update(issue=issue, actor=alice, data={"summary": "After", "labels": ["backend"]})
    page = reader.issue(issue.key)["data"]
    assert page["issue"]["summary"] == "After"
    assert page["issue"]["labels"] == ["backend"]
    assert page["history"][-1]["to"] in ("After", "backend")  # history rows came with the write
    assert reader.results()["rows"][0]["summary"] == "After"


def test_issue_delete_seen_by_other_process(reader, project_a, make_issue, alice):
    from issues.services import issue_delete

    issue = make_issue(project_a, summary="Doomed")
    _warm(reader, issue.key)
    _warm_results(reader)
    issue_delete(issue=issue, actor=alice)
    assert reader.issue(issue.key)["status"] == 404
    assert reader.results()["rows"] == []


def test_subtask_delete_updates_parent_page(reader, project_a, make_issue, alice):
    from issues.services import issue_delete

    parent = make_issue(project_a, summary="Parent")
    sub = make_issue(project_a, summary="Child", parent=parent)
    assert [s["key"] for s in _warm(reader, parent.key)["subtasks"]] == [sub.key]
    issue_delete(issue=sub, actor=alice)
    assert reader.issue(parent.key)["data"]["subtasks"] == []


def test_parent_delete_retires_its_cached_subtask_pages(reader, project_a, make_issue, alice):
    # alice (admin) deletes a parent whose sub-task page another process has cached: that page goes too.
    from issues.services import issue_delete

    parent = make_issue(project_a, summary="Parent")
    sub = make_issue(project_a, summary="Child", parent=parent)
    _warm(reader, sub.key)
    assert issue_delete(issue=parent, actor=alice) == 2
    assert reader.issue(sub.key)["status"] == 404


def test_comment_add_and_update_seen_by_other_process(reader, project_a, make_issue, alice):
    from issues.services import comment_add, comment_update

    issue = make_issue(project_a)
    _warm(reader, issue.key)
    comment = comment_add(issue=issue, author=alice, body="first words")
    assert [c["body"] for c in reader.issue(issue.key)["data"]["comments"]] == ["first words"]
    _warm(reader, issue.key)
    comment_update(comment=comment, actor=alice, body="second thoughts")
    assert [c["body"] for c in reader.issue(issue.key)["data"]["comments"]] == ["second thoughts"]


def test_worklog_add_update_delete_seen_by_other_process(reader, project_a, make_issue, alice):
    from django.utils import timezone

    from worklogs.services import worklog_add, worklog_delete, worklog_update

    issue = make_issue(project_a, original_estimate=36000)
    _warm(reader, issue.key)
    _warm_results(reader)
    worklog = worklog_add(issue=issue, author=alice, time_spent=3600, started=timezone.now())
    page = reader.issue(issue.key)["data"]
    assert page["time"]["spent"] == 3600 and page["time"]["remaining"] == 32400
    assert reader.results()["rows"][0]["time_spent"] == 3600
    _warm(reader, issue.key)
    worklog_update(worklog=worklog, actor=alice, time_spent=7200)
    assert reader.issue(issue.key)["data"]["time"]["spent"] == 7200
    _warm(reader, issue.key)
    worklog_delete(worklog=worklog, actor=alice)
    page = reader.issue(issue.key)["data"]
    assert page["time"]["spent"] == 0 and page["worklogs"] == []


def test_history_row_written_directly_seen_by_other_process(reader, project_a, make_issue, alice):
    from django.utils import timezone

    from issues.models import History

    issue = make_issue(project_a)
    _warm(reader, issue.key)
    History.objects.create(issue=issue, author=alice, created=timezone.now(), field="summary", to_value="x")
    assert len(reader.issue(issue.key)["data"]["history"]) == 1


def test_admin_style_model_save_seen_by_other_process(reader, project_a, make_issue):
    # ModelAdmin.save_model's default is a plain save(): the signal safety net must catch it.
    from issues.models import Comment, Issue

    issue = make_issue(project_a, summary="Admin before")
    _warm(reader, issue.key)
    row = Issue.objects.get(pk=issue.pk)
    row.summary = "Admin after"
    row.save()
    assert reader.issue(issue.key)["data"]["issue"]["summary"] == "Admin after"
    _warm(reader, issue.key)
    from django.utils import timezone

    Comment.objects.create(issue=row, author=None, body="from a script", created=timezone.now(), updated=timezone.now())
    assert [c["body"] for c in reader.issue(issue.key)["data"]["comments"]] == ["from a script"]


def test_label_added_from_the_label_side_seen_by_other_process(reader, project_a, make_issue):
    from issues.models import Label

    issue = make_issue(project_a)
    _warm(reader, issue.key)
    Label.objects.create(name="urgent").issues.add(issue)
    assert reader.issue(issue.key)["data"]["issue"]["labels"] == ["urgent"]


def test_bulk_update_with_invalidate_issues_seen_by_other_process(reader, project_a, make_issue):
    # Bulk jobs and imports write with QuerySet.update/bulk_create (no signals) and call invalidate_issues.
    from issues.models import Issue

    issues = [make_issue(project_a, summary=f"bulk {i}") for i in range(3)]
    for issue in issues:
        _warm(reader, issue.key)
    _warm_results(reader)
    ids = [i.pk for i in issues]
    Issue.objects.filter(pk__in=ids).update(summary="bulk edited")
    page_cache.invalidate_issues(ids, [project_a.pk])
    for issue in issues:
        assert reader.issue(issue.key)["data"]["issue"]["summary"] == "bulk edited"
    assert {r["summary"] for r in reader.results()["rows"]} == {"bulk edited"}


def test_status_rename_seen_by_other_process(reader, project_a, make_issue):
    issue = make_issue(project_a)
    _warm(reader, issue.key)
    status = issue.status
    status.name = "Triage"
    status.save()
    assert reader.issue(issue.key)["data"]["issue"]["status"]["name"] == "Triage"


def test_display_name_change_seen_by_other_process(reader, project_a, make_issue, alice):
    issue = make_issue(project_a, assignee=alice)
    _warm(reader, issue.key)
    alice.profile.display_name = "Alice Renamed"
    alice.profile.save()
    assert reader.issue(issue.key)["data"]["issue"]["assignee"]["display_name"] == "Alice Renamed"


def test_write_inside_outer_atomic_is_seen_once_it_commits(reader, project_a, make_issue, alice):
    # Nested atomic: the service's own block is a savepoint; the outer commit decides.
    from django.db import transaction

    from issues.services import issue_update

    issue = make_issue(project_a, summary="Outer before")
    _warm(reader, issue.key)
    with transaction.atomic():
        issue_update(issue=issue, actor=alice, data={"summary": "Outer after"})
        # Not committed yet: the other process still sees the committed state (and may cache it).
        assert reader.issue(issue.key)["data"]["issue"]["summary"] == "Outer before"
    assert reader.issue(issue.key)["data"]["issue"]["summary"] == "Outer after"


def test_rolled_back_write_leaves_page_intact(reader, project_a, make_issue, alice):
    from django.db import transaction

    from issues.services import issue_update

    issue = make_issue(project_a, summary="Kept")
    _warm(reader, issue.key)
    with pytest.raises(RuntimeError), transaction.atomic():
        issue_update(issue=issue, actor=alice, data={"summary": "Rolled back"})
        raise RuntimeError("abort")
    assert reader.issue(issue.key)["data"]["issue"]["summary"] == "Kept"


# --- access -----------------------------------------------------------------------------------


def test_alice_cached_result_page_is_never_served_to_bob(reader, project_a, project_b, make_issue):
    make_issue(project_a, summary="DEMO secret")
    make_issue(project_b, summary="OPS work", reporter=None)
    assert [r["summary"] for r in _warm_results(reader)] == ["DEMO secret"]  # alice, cached
    bob_rows = reader.results(user="bob")
    assert bob_rows["built"] is True  # not alice's entry
    assert [r["summary"] for r in bob_rows["rows"]] == ["OPS work"]


def test_result_page_of_one_project_survives_writes_in_another(redis_prefix, project_a, project_b, make_issue, alice):
    # alice (admin of DEMO) also joins OPS, so both projects are visible to her: a DEMO-only query must not be
    # rebuilt for a write in OPS, while unbounded queries and writes in DEMO invalidate as before.
    from issues.models import Membership, Role

    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    builds: list[str] = []

    def results(jql: str) -> None:
        page_cache.get_or_build_results(user=alice, query={"jql": jql}, builder=lambda: builds.append(jql))

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
    _warm(reader, issue.key)  # alice's read put the page in the shared cache
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


# --- stampede, LRU, metrics ---------------------------------------------------------------------------


def test_twenty_concurrent_misses_on_redis_rebuild_once(redis_prefix):
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
        barrier.wait()
        results.append(page_cache.get_or_build("issue", ["hot"], build, issue_id=999_001))

    threads = [threading.Thread(target=reader_thread) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1
    assert results == [{"summary": "hot"}] * 20


def test_metrics_are_redis_counters(redis_prefix):
    from django_redis import get_redis_connection

    page_cache.reset_metrics()
    for _ in range(3):
        page_cache.get_or_build("navigator", ["m"], lambda: ["row"], project_ids=[999_002])
    page_cache.flush_metrics()
    raw = get_redis_connection("default")
    assert int(raw.get(f"{redis_prefix}:1:metrics:page:navigator:hits")) == 2
    metrics = page_cache.cache_metrics()["navigator"]
    assert (metrics["hits"], metrics["misses"], metrics["rebuilds"]) == (2, 1, 1)


def test_get_cached_issue_on_redis_sees_other_process_write_and_stays_bounded(
    redis_prefix, lookups, project_a, make_issue, monkeypatch
):
    monkeypatch.setattr(page_cache, "issue_lru", page_cache.IssueLRU(4))
    issues = [make_issue(project_a, summary=f"lru {i}") for i in range(6)]
    for issue in issues:
        assert page_cache.get_cached_issue(issue.key).summary == issue.summary
    assert len(page_cache.issue_lru) == 4
    hot = issues[-1]
    # Another process writes (a plain UPDATE plus the bump a bulk job does): the LRU must not serve the old row.
    script = (
        "import django; django.setup()\n"
        "from issues.models import Issue\nfrom issues import cache\n"
        f"Issue.objects.filter(pk={hot.pk}).update(summary='changed elsewhere')\n"
        f"cache.invalidate_issue({hot.pk}, {hot.project_id})\n"
    )
    run_in_other_process(script, redis_prefix)
    assert page_cache.get_cached_issue(hot.key).summary == "changed elsewhere"


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


# --- outage ---------------------------------------------------------------------------------------


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
            page_cache.reset_state()
            yield server
    finally:
        server.stop()
        page_cache.reset_state()


def test_redis_outage_serves_pages_from_database_and_caching_resumes(
    throwaway_redis, client, project_a, make_issue, alice, monkeypatch
):
    from issues.services import issue_update

    issue = make_issue(project_a, summary="Before outage")
    client.force_login(alice)
    assert client.get(f"/browse/{issue.key}").status_code == 200
    assert page_cache.cache_metrics()["issue"]["misses"] >= 1  # Redis is up and counting

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
    monkeypatch.setattr(page_cache, "BREAKER_SECONDS", 0.0)
    page_cache._breaker.reset()
    calls = {"n": 0}

    def build() -> str:
        calls["n"] += 1
        return "page"

    assert page_cache.get_or_build("issue", ["resume"], build, issue_id=issue.pk) == "page"
    assert page_cache.get_or_build("issue", ["resume"], build, issue_id=issue.pk) == "page"
    assert calls["n"] == 1  # cached again
    assert client.get(f"/browse/{issue.key}").status_code == 200
    assert b"During outage" in client.get(f"/browse/{issue.key}").content


def test_dead_redis_never_fails_get_or_build(throwaway_redis, db):
    throwaway_redis.stop()
    assert page_cache.get_or_build("navigator", ["x"], lambda: ["built from db"], project_ids=[1]) == ["built from db"]
    page_cache.invalidate_issue(1, 1)  # queued, not raised
    assert page_cache._pending
    assert page_cache.get_cached_issue("NOPE-1") is None


# --- shared rendered bodies keep per-user parts per user ------------------------------------------------


def test_viewer_never_gets_editor_body(redis_prefix, client, project_a, make_issue, alice, carol):
    # alice (admin) fills the shared body entry first; carol (viewer) must not get her forms.
    issue = make_issue(project_a, summary="Shared body")
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    assert b'id="add-comment"' in client.get(f"/browse/{issue.key}").content
    client.force_login(carol)
    page = client.get(f"/browse/{issue.key}").content
    assert b"Shared body" in page
    assert b'id="add-comment"' not in page


def test_form_and_csrf_tokens_are_fresh_on_every_cached_page(redis_prefix, client, project_a, make_issue, alice):
    import re

    issue = make_issue(project_a)
    client.force_login(alice)
    first = client.get(f"/browse/{issue.key}").content.decode()
    second = client.get(f"/browse/{issue.key}").content.decode()
    assert page_cache.cache_metrics()["issue_body"]["hits"] >= 1
    tokens = re.findall(r'name="form_token" value="([^"]+)"', first + second)
    assert len(tokens) >= 2 and len(set(tokens)) == len(tokens)  # never shared, never reused
    assert "__TASKRA_" not in first + second
    assert re.search(r'name="csrfmiddlewaretoken" value="[A-Za-z0-9]{64}"', second)


def test_cached_page_form_posts_work(redis_prefix, client, project_a, make_issue, alice):
    import re

    from issues.models import Comment

    issue = make_issue(project_a)
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    for body in ("one", "two"):  # two comments from two cached page loads: both must be written
        page = client.get(f"/browse/{issue.key}").content.decode()
        form = page[page.index('id="add-comment"') :]
        token = re.search(r'name="form_token" value="([^"]+)"', form).group(1)
        response = client.post(f"/browse/{issue.key}/comments", {"body": body, "form_token": token})
        assert response.status_code == 302
    assert sorted(Comment.objects.filter(issue=issue).values_list("body", flat=True)) == ["one", "two"]


def test_own_comment_edit_link_is_not_shared(redis_prefix, client, project_a, make_issue, alice):
    from django.contrib.auth import get_user_model

    from issues.models import Membership, Role
    from issues.services import comment_add

    dave = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    Membership.objects.create(project=project_a, user=dave, role=Role.MEMBER)  # dave: member of DEMO, wrote nothing
    issue = make_issue(project_a)
    comment_add(issue=issue, author=alice, body="alice was here")
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    assert f"/comments/{issue.comments.get().pk}/edit".encode() in client.get(f"/browse/{issue.key}").content
    client.force_login(dave)
    page = client.get(f"/browse/{issue.key}").content
    assert b"alice was here" in page
    assert f"/comments/{issue.comments.get().pk}/edit".encode() not in page


def test_new_member_appears_in_cached_assignee_choices(redis_prefix, client, project_a, make_issue, alice):
    from django.contrib.auth import get_user_model

    from issues.models import Membership, Role

    issue = make_issue(project_a)
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    assert b"Erin Newcomer" not in client.get(f"/browse/{issue.key}").content
    erin = get_user_model().objects.create_user("erin", "erin@example.com", "erin-pass-123", first_name="Erin")
    erin.profile.display_name = "Erin Newcomer"
    erin.profile.save()
    Membership.objects.create(project=project_a, user=erin, role=Role.MEMBER)
    assert b"Erin Newcomer" in client.get(f"/browse/{issue.key}").content


# --- one-round-trip hit path (issues.cache.get_cached_issue_page) ----------------------------------------


def test_cached_hit_is_served_by_the_fast_path(redis_prefix, client, project_a, make_issue, alice, monkeypatch):
    # alice (admin of DEMO): the second visit must come from get_cached_issue_page (generations, then payload
    # and body in one MGET), with her role from the memo.
    issue = make_issue(project_a, summary="Fast path")
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    served = []
    real = page_cache.get_cached_issue_page

    def spy(**kw):
        got = real(**kw)
        served.append(got is not None and got.body is not None)
        return got

    monkeypatch.setattr(page_cache, "get_cached_issue_page", spy)
    page = client.get(f"/browse/{issue.key}").content
    assert served == [True]
    assert b"Fast path" in page and b'id="add-comment"' in page and b"__TASKRA_" not in page


def test_cached_hit_costs_one_query(redis_prefix, client, project_a, make_issue, alice, django_assert_num_queries):
    # A warm hit reads the session from the cache and the role from the memo: only the user (profile joined)
    # comes from the database.
    issue = make_issue(project_a, summary="One query")
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    client.get(f"/browse/{issue.key}")
    with django_assert_num_queries(1):
        page = client.get(f"/browse/{issue.key}").content
    assert b"One query" in page


def test_membership_removed_by_another_process_ends_cached_access(
    redis_prefix, lookups, client, project_a, make_issue, bob
):
    # bob is made a member of DEMO, reads an issue until it is a fully cached hit (issue row in the LRU, role
    # memoised), then another process removes him: his very next request is a 404 with nothing of the page.
    from issues.models import Membership, Role

    issue = make_issue(project_a, summary="Members only")
    Membership.objects.create(project=project_a, user=bob, role=Role.MEMBER)
    client.force_login(bob)
    client.get(f"/browse/{issue.key}")
    assert b"Members only" in client.get(f"/browse/{issue.key}").content
    script = (
        "import django; django.setup()\n"
        "from issues.models import Membership\n"
        f"Membership.objects.filter(project_id={project_a.pk}, user_id={bob.pk}).delete()\n"
    )
    run_in_other_process(script, redis_prefix)
    # Twice: the first request re-reads the issue row into the LRU, the second is a fast-path lookup again.
    for _ in range(2):
        response = client.get(f"/browse/{issue.key}")
        assert response.status_code == 404 and b"Members only" not in response.content


def test_demoted_admin_loses_edit_controls_on_cached_page(redis_prefix, client, project_a, make_issue, alice):
    from issues.models import Membership, Role

    issue = make_issue(project_a)
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    assert b'id="add-comment"' in client.get(f"/browse/{issue.key}").content  # cached editor body
    m = Membership.objects.get(project=project_a, user=alice)
    m.role = Role.VIEWER
    m.save(update_fields=["role"])
    for _ in range(2):  # the second request takes the fast path again, with the role memo
        assert b'id="add-comment"' not in client.get(f"/browse/{issue.key}").content  # alice is now a viewer


def test_bob_added_then_removed_gets_404_again(redis_prefix, client, project_a, make_issue, bob):
    from issues.models import Membership, Role

    issue = make_issue(project_a, summary="DEMO only")
    client.force_login(bob)
    assert client.get(f"/browse/{issue.key}").status_code == 404  # bob: OPS only
    m = Membership.objects.create(project=project_a, user=bob, role=Role.MEMBER)
    client.get(f"/browse/{issue.key}")
    assert b"DEMO only" in client.get(f"/browse/{issue.key}").content  # cached hit as a member
    m.delete()
    for _ in range(2):  # the second request takes the fast path again, with the role memo
        response = client.get(f"/browse/{issue.key}")
        assert response.status_code == 404 and b"DEMO only" not in response.content
