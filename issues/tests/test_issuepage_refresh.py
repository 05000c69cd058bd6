"""The refresh after a write on a real Redis (issues.issuepage.refresh, issues.tasks.refresh_issue_pages).

Personas: alice is admin of DEMO, carol a viewer in DEMO, bob a member of OPS only.
Runs when REDIS_URL is set (always in CI, where a missing REDIS_URL fails instead of skipping).

Tests that write after a cached read use `lookups` (a transactional test): a write bumps the generations
when it commits, which the rolled-back transaction of a plain `db` test never does.
"""

from __future__ import annotations

import time

import pytest

from issues import pagecache, signals
from issues.issuepage import cached as issuepage
from issues.issuepage.refresh import issue_pages_refresh
from issues.tests.conftest import IN_CI, REDIS_URL

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not REDIS_URL and not IN_CI, reason="REDIS_URL is not set (runs in CI on a real Redis)"),
]


def _fast_hit(key: str, user) -> issuepage.IssuePageHit | None:
    """Return the viewer's page when it is fully cached (payload and body), building nothing."""
    issuepage.get_cached_issue(key)  # the issue row at the current generations, as browse() reads it
    hit = issuepage.get_cached_issue_page(key=key, user=user, time_zone=str(user.profile.zoneinfo))
    return hit if hit is not None and hit.body is not None else None


def _body_rebuilds() -> int:
    return int(pagecache.cache_metrics()["issue_body"]["rebuilds"])


def test_refresh_rebuilds_the_bodies_readers_used_so_the_next_read_is_a_hit(
    redis_prefix, lookups, client, project_a, make_issue, alice, carol
):
    from issues.services import issue_update

    issue = make_issue(project_a, summary="Before the write")
    # alice (admin) and carol (viewer) read the page: two body variants of this issue are recorded.
    for user in (alice, carol):
        client.force_login(user)
        client.get(f"/browse/{issue.key}")
    assert issuepage.body_variants(issue.pk) == [("admin", "Europe/Berlin"), ("viewer", "UTC")]
    issue_update(issue=issue, actor=alice, data={"summary": "After the write"})
    assert _fast_hit(issue.key, alice) is None  # the write retired the old entries

    assert issue_pages_refresh(issue_ids=[issue.pk]) == 2
    rebuilds = _body_rebuilds()
    for user, editor in ((alice, True), (carol, False)):
        client.force_login(user)
        page = client.get(f"/browse/{issue.key}").content
        assert b"After the write" in page and b"__TASKRA_" not in page
        # Each role still gets its own body: the viewer never sees the admin's edit controls.
        assert (b'id="add-comment"' in page) is editor
    assert _body_rebuilds() == rebuilds  # both reads were served from the refreshed entries


def test_refresh_skips_issues_nobody_read_and_counts_no_reads(redis_prefix, project_a, make_issue):
    issue = make_issue(project_a)
    pagecache.reset_metrics()
    assert issue_pages_refresh(issue_ids=[issue.pk, 987654321]) == 0
    metrics = pagecache.cache_metrics()
    assert all(metrics[t]["hits"] == metrics[t]["misses"] == 0 for t in pagecache.PAGE_TYPES)


def test_a_write_queues_a_refresh_after_commit_and_survives_a_dead_broker(
    redis_prefix, project_a, make_issue, alice, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from issues.services import issue_update
    from issues.tasks import refresh_issue_pages

    settings.TASKRA_PAGE_REFRESH = True
    with django_capture_on_commit_callbacks(execute=True):  # "commits" the creation first
        issue = make_issue(project_a)
    queued: list[list[int]] = []
    monkeypatch.setattr(refresh_issue_pages, "apply_async", lambda args, **kw: queued.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        issue_update(issue=issue, actor=alice, data={"summary": "Queued"})
        assert queued == []  # nothing before the commit
    assert queued == [[issue.pk]]

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(refresh_issue_pages, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        issue_update(issue=issue, actor=alice, data={"summary": "Still saved"})
    issue.refresh_from_db()
    assert issue.summary == "Still saved"


def test_bulk_invalidations_queue_no_refresh(redis_prefix, settings, monkeypatch):
    from issues.tasks import refresh_issue_pages

    settings.TASKRA_PAGE_REFRESH = True
    queued: list[list[int]] = []
    monkeypatch.setattr(refresh_issue_pages, "apply_async", lambda args, **kw: queued.append(args[0]))
    signals.schedule_refresh(range(1, signals.REFRESH_MAX_ISSUES + 2))
    signals.schedule_refresh([None, 3, 3])
    assert queued == [[3]]


@pytest.fixture
def worker_prefix(redis_prefix, monkeypatch) -> str:
    """Make a live worker started after this fixture use this test's cache key prefix."""
    monkeypatch.setenv("CACHE_KEY_PREFIX", redis_prefix)
    return redis_prefix


def test_live_worker_refreshes_the_page_after_a_write(
    worker_prefix, live_worker, lookups, client, project_a, make_issue, alice, settings
):
    # A real worker process: alice's read records the admin body; after her write commits, the worker
    # rebuilds the page, so her next read is served from the cache with the new summary.
    from issues.services import issue_update

    settings.TASKRA_PAGE_REFRESH = True
    issue = make_issue(project_a, summary="Old summary")
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    issue_update(issue=issue, actor=alice, data={"summary": "Refreshed by the worker"})
    deadline = time.monotonic() + 30
    while _fast_hit(issue.key, alice) is None:
        assert time.monotonic() < deadline, live_worker.log_tail()
        time.sleep(0.1)
    rebuilds = _body_rebuilds()
    assert b"Refreshed by the worker" in client.get(f"/browse/{issue.key}").content
    assert _body_rebuilds() == rebuilds  # served from what the worker built


def test_one_transaction_queues_one_refresh_of_what_it_committed(
    redis_prefix, db, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from issues.tasks import refresh_issue_pages

    settings.TASKRA_PAGE_REFRESH = True
    queued: list[list[int]] = []
    monkeypatch.setattr(refresh_issue_pages, "apply_async", lambda args, **kw: queued.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        pagecache.invalidate_on_commit([1], [10])
        pagecache.invalidate_on_commit([2, 1], [10])  # e.g. the post_save safety net after the service
        try:
            with transaction.atomic():
                pagecache.invalidate_on_commit([3], [])
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        pagecache.invalidate_on_commit([4], [])
    assert queued == [[1, 2, 4]]  # once, without the rolled-back savepoint's issue
