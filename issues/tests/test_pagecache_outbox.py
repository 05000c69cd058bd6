"""The page cache's outbox: a generation bump that did not reach the cache is never lost.

A write records the counters it bumps in the database (issues.models.CacheBump) in its own transaction and
deletes the row once the bump reached the cache. Any process replays rows left behind before it trusts a
generation (and the periodic task replay_cache_bumps does as a backstop); while they cannot be replayed it
builds pages from the database.

Personas: alice is admin of DEMO, carol a viewer in DEMO (until her membership is deleted), bob a member of
OPS only.

Two groups:
- the outbox logic on the local-memory cache and the test database (SQLite locally), with the cache made to
  fail by monkeypatching the one backend call a bump makes;
- the fault-injection test across processes on PostgreSQL and Redis (marked `services`, run in CI): a writer
  process whose Redis is unreachable (its REDIS_URL points at a closed port, so the shared server and the other
  tests' Redis databases are never paused) makes a write and exits; a second, long-lived web process (B) that
  had the page hot must not serve the old page, and a viewer whose membership was deleted gets 404 there.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.db import transaction

from conftest import database_url_for_subprocess
from issues import pagecache
from issues.issuepage import cached as issuepage
from issues.models import CacheBump, Membership
from issues.pagecache import generations
from issues.tasks import replay_cache_bumps
from issues.tests.conftest import BASE_DIR, IN_CI, REDIS_URL, Builder, postgres_only
from taskra_site import sharedcache
from taskra_site.sharedcache import CacheDown


class FlakyCache:
    """Make the shared cache's counter bumps (or every operation) fail while `down` is set, as a paused Redis would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        self.reads_down = False
        real_bump, real_get = sharedcache.bump_counters, sharedcache.get_many

        def bump_counters(keys: Sequence[str], start: int) -> None:
            if self.down:
                raise CacheDown("injected: bump failed")
            real_bump(keys, start)

        def get_many(keys: Sequence[str]) -> dict[str, Any]:
            if self.reads_down:
                raise CacheDown("injected: read failed")
            return real_get(keys)

        monkeypatch.setattr(sharedcache, "bump_counters", bump_counters)
        monkeypatch.setattr(sharedcache, "get_many", get_many)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch, locmem_page_cache: None) -> FlakyCache:
    return FlakyCache(monkeypatch)


def pending_keys() -> set[str]:
    return {k for keys in CacheBump.objects.values_list("keys", flat=True) for k in keys.split()}


def another_process() -> None:
    """Forget what this process remembers of the cache (hot rows, roles, breaker): it now reads as another would."""
    pagecache.reset_state()
    issuepage.reset_state()


# ---------------------------------------------------------------------------------------------
# The outbox logic (local-memory cache, any database).


def test_failed_bump_stays_in_the_database(flaky, lookups, project_a, make_issue):
    issue = make_issue(project_a, summary="Before")
    assert not CacheBump.objects.exists()  # a bump that reached the cache leaves no row
    flaky.down = True
    from issues.services import issue_update

    issue_update(issue=issue, actor=None, data={"summary": "After"}, check_permission=False)
    # The row was written with the write and not deleted: the bump is durable, not only in this process's memory.
    assert pending_keys() == {f"gen:issue:{issue.pk}", f"gen:project:{project_a.pk}"}


def test_other_process_replays_a_lost_bump_before_trusting_a_generation(flaky, lookups, project_a, make_issue):
    issue = make_issue(project_a, summary="Before")
    build = Builder("old page")
    pagecache.get_or_build("issue", ["page"], build, issue_id=issue.pk)  # cached at the old generation
    flaky.down = True
    from issues.services import issue_update

    issue_update(issue=issue, actor=None, data={"summary": "After"}, check_permission=False)
    flaky.down = False
    another_process()  # the writer exited: nothing of it is left in memory
    build.value = "new page"
    assert pagecache.get_or_build("issue", ["page"], build, issue_id=issue.pk) == "new page"
    assert not CacheBump.objects.exists()  # replayed and deleted


def test_reader_builds_from_the_database_while_a_pending_bump_cannot_be_replayed(flaky, lookups, project_a, make_issue):
    issue = make_issue(project_a, summary="Before")
    build = Builder("old page")
    pagecache.get_or_build("issue", ["page"], build, issue_id=issue.pk)
    flaky.down = True
    from issues.services import issue_update

    issue_update(issue=issue, actor=None, data={"summary": "After"}, check_permission=False)
    another_process()
    sharedcache.breaker.reset()  # reads work again, only the bump still fails
    build.value = "new page"
    with pytest.raises(CacheDown):
        generations.read_generations(pagecache.gen_keys([issue.pk], []))
    assert pagecache.get_or_build("issue", ["page"], build, issue_id=issue.pk) == "new page"
    assert CacheBump.objects.count() == 1  # still pending


def test_rolled_back_write_leaves_no_outbox_row(flaky, lookups, project_a, make_issue):
    issue = make_issue(project_a)
    flaky.down = True

    class Abort(Exception):
        pass

    from issues.services import issue_update

    with pytest.raises(Abort), transaction.atomic():
        issue_update(issue=issue, actor=None, data={"summary": "Never"}, check_permission=False)
        raise Abort
    assert not CacheBump.objects.exists()


def test_reads_inside_the_writing_transaction_leave_its_own_row_alone(flaky, lookups, project_a, make_issue):
    # The write's own row is not pending yet (its transaction bumps when it commits): a read in the same
    # transaction must not replay and delete it, or a failed bump at commit would be lost.
    issue = make_issue(project_a)
    flaky.down = True
    from issues.services import issue_update

    with transaction.atomic():
        issue_update(issue=issue, actor=None, data={"summary": "Inside"}, check_permission=False)
        flaky.down = False
        generations.read_generations(pagecache.gen_keys([issue.pk], []))
        assert CacheBump.objects.count() == 1
        flaky.down = True
    assert CacheBump.objects.count() == 1  # the commit's bump failed: the row stays for replay


def test_one_row_per_transaction_for_each_new_counter(flaky, lookups, project_a, make_issue):
    # Issue create with labels invalidates several times; only calls that add counters write a row.
    flaky.down = True
    issue = make_issue(project_a, labels=["a", "b"])
    assert CacheBump.objects.count() == 1
    assert pending_keys() == {f"gen:issue:{issue.pk}", f"gen:project:{project_a.pk}"}


def test_bump_outside_a_transaction_is_recorded_when_it_fails(flaky, db):
    flaky.down = True
    pagecache.invalidate_issues([7], [3])
    pagecache.invalidate_all()
    assert pending_keys() == {"gen:issue:7", "gen:project:3", pagecache.GLOBAL_GEN_KEY}


def test_periodic_task_replays_pending_bumps(flaky, db):
    flaky.down = True
    pagecache.invalidate_issues([7], [3])
    flaky.down = False
    another_process()
    gen_before = sharedcache.get_many(["gen:issue:7"]).get("gen:issue:7")
    assert replay_cache_bumps() == 1
    assert not CacheBump.objects.exists()
    assert sharedcache.get_many(["gen:issue:7"])["gen:issue:7"] != gen_before


def test_hot_issue_row_is_not_served_when_generations_cannot_be_read(flaky, project_a, make_issue):
    issue = make_issue(project_a, summary="Hot")
    assert issuepage.get_cached_issue(issue.key).summary == "Hot"  # now in this process's LRU
    type(issue).objects.filter(pk=issue.pk).update(summary="Changed")  # no bump at all
    flaky.reads_down = True
    assert issuepage.get_cached_issue(issue.key).summary == "Changed"  # from the database
    assert issuepage.issue_lru.peek(issue.key) is None


def test_fast_path_hit_checks_the_outbox_in_the_user_query(
    flaky, lookups, client, project_a, make_issue, django_assert_num_queries, alice
):
    # alice (admin of DEMO) reads a hot page: the check for pending bumps costs no query of its own, it is a
    # column of the per-request user query (accounts.backends.user_load_annotations).
    issue = make_issue(project_a, summary="Hot page")
    client.force_login(alice)
    for _ in range(2):
        client.get(f"/browse/{issue.key}")
    with django_assert_num_queries(1) as queries:
        assert b"Hot page" in client.get(f"/browse/{issue.key}").content
    assert (
        "issues_cachebump" in queries.captured_queries[0]["sql"] and "auth_user" in queries.captured_queries[0]["sql"]
    )


def test_revoked_viewer_is_not_served_from_the_memoised_role(flaky, lookups, client, project_a, make_issue, carol):
    # carol (viewer in DEMO) read the page twice: the row is hot and her role memoised at the current global
    # generation. Her membership is deleted by a writer whose bump fails and who then exits (only the
    # outbox remembers); this process's hot row and role memo stay. Her next read is a 404.
    issue = make_issue(project_a, summary="Viewer page")
    client.force_login(carol)
    for _ in range(2):
        assert client.get(f"/browse/{issue.key}").status_code == 200
    flaky.down = True
    Membership.objects.get(project=project_a, user=carol).delete()
    flaky.down = False
    generations.forget_pending()  # the writer's memory is gone with it
    assert client.get(f"/browse/{issue.key}").status_code == 404
    # While the cache cannot be read at all, nothing memoised is used either: the role comes from the database.
    flaky.reads_down = True
    assert client.get(f"/browse/{issue.key}").status_code == 404


# ---------------------------------------------------------------------------------------------
# Fault injection across processes on PostgreSQL and Redis.


def services_test(test: Any) -> Any:
    """Mark a test like the other Redis/PostgreSQL tests: run in CI (never skipped there), else skipped without them."""
    test = postgres_only("the fault-injection test runs on the production database")(test)
    test = pytest.mark.skipif(not REDIS_URL and not IN_CI, reason="REDIS_URL is not set (runs in CI on a real Redis)")(
        test
    )
    return pytest.mark.services(test)


# Process B: a web process serving /browse/KEY through the real view (fast path, LRU, role memo) for several users.
WEB_PROCESS = r"""
import json, sys
import django
django.setup()
from django.conf import settings
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()  # the test client's host name
settings.SECURE_SSL_REDIRECT = False
from django.contrib.auth import get_user_model

clients = {}
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["user"] not in clients:
        clients[cmd["user"]] = Client()
        clients[cmd["user"]].force_login(get_user_model().objects.get(username=cmd["user"]))
    response = clients[cmd["user"]].get("/browse/" + cmd["key"])
    print(json.dumps({"status": response.status_code, "body": response.content.decode()}), flush=True)
"""

# Process A: one write with an unreachable Redis, then the process exits.
WRITER = r"""
import sys
import django
django.setup()
from issues.models import Issue, Membership
from issues.services import issue_update

op, arg = sys.argv[1], sys.argv[2]
if op == "summary":
    key, summary = arg.split("=", 1)
    issue_update(issue=Issue.objects.get(key=key), actor=None, data={"summary": summary}, check_permission=False)
else:
    Membership.objects.get(project__key="DEMO", user__username=arg).delete()
"""


def _env(prefix: str, redis_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "taskra_site.settings",
        "DATABASE_URL": database_url_for_subprocess(),
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "TASKRA_PAGE_REFRESH": "0",
        "DEBUG": "0",
        "HTTPS": "0",
        "PYTHONPATH": str(BASE_DIR),
    }
    env.pop("TEST_DATABASE_NAME", None)
    return env


def closed_port_url() -> str:
    """Return a Redis URL on a local port nobody listens on: every connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


class WebProcess:
    def __init__(self, prefix: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WEB_PROCESS],
            cwd=BASE_DIR,
            env=_env(prefix, REDIS_URL),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def get(self, key: str, user: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"key": key, "user": user}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("web process died")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(20)


@pytest.fixture
def web_b(redis_prefix: str, lookups: None) -> Iterator[WebProcess]:
    proc = WebProcess(redis_prefix)
    try:
        yield proc
    finally:
        proc.close()


def write_in_process_a(prefix: str, *args: str) -> None:
    """Run one write in a separate process whose Redis does not answer; it exits when done."""
    subprocess.run(
        [sys.executable, "-c", WRITER, *args],
        cwd=BASE_DIR,
        env=_env(prefix, closed_port_url()),
        check=True,
        timeout=60,
        capture_output=True,
    )


def hot(web: WebProcess, key: str, user: str, text: str) -> None:
    for _ in range(3):  # the LRU row, the role memo and the shared body are all in place after the first reads
        page = web.get(key, user)
        assert page["status"] == 200 and text in page["body"]


@services_test
def test_write_from_an_exiting_process_with_redis_unreachable_is_never_served_stale(
    web_b, redis_prefix, project_a, make_issue
):
    issue = make_issue(project_a, summary="Summary before the outage")
    hot(web_b, issue.key, "alice", "Summary before the outage")

    write_in_process_a(redis_prefix, "summary", f"{issue.key}=Summary written while Redis was down")

    page = web_b.get(issue.key, "alice")
    assert page["status"] == 200
    assert "Summary written while Redis was down" in page["body"]  # not the old cached page
    assert not CacheBump.objects.exists()  # B replayed the bump
    again = web_b.get(issue.key, "alice")
    assert "Summary written while Redis was down" in again["body"]


@services_test
def test_viewer_revoked_by_an_exiting_process_with_redis_unreachable_gets_404(
    web_b, redis_prefix, project_a, make_issue
):
    # carol (viewer in DEMO) has the page hot in B: the row, her memoised role, the shared viewer body.
    issue = make_issue(project_a, summary="Viewer page")
    hot(web_b, issue.key, "carol", "Viewer page")

    write_in_process_a(redis_prefix, "revoke", "carol")

    for _ in range(3):
        page = web_b.get(issue.key, "carol")
        assert page["status"] == 404
        assert "Viewer page" not in page["body"]


def test_beat_schedule_replays_the_outbox_every_30_seconds():
    from taskra_site.celery import app

    entry = app.conf.beat_schedule["replay-cache-bumps"]
    assert entry["task"] == replay_cache_bumps.name == "issues.tasks.replay_cache_bumps"
    assert entry["schedule"] == 30.0
