"""The page cache on its own (local-memory backend): entries, generations, stampede control, metrics.

The same against a real Redis (second processes, outages) is in test_pagecache_redis.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections, transaction
from django.test import override_settings

from issues import pagecache
from issues.tests.conftest import Builder
from taskra_site.adapters import shadow_validation_counts

# db: every read checks the outbox of failed bumps (issues.models.CacheBump) before trusting a generation.
pytestmark = pytest.mark.usefixtures("locmem_page_cache", "db")


def test_second_read_is_a_hit():
    build = Builder({"summary": "first"})
    assert pagecache.get_or_build("issue", [1], build, issue_id=1, project_ids=[7]) == {"summary": "first"}
    assert pagecache.get_or_build("issue", [1], build, issue_id=1, project_ids=[7]) == {"summary": "first"}
    assert build.calls == 1


def test_issue_bump_makes_issue_page_stale_but_not_other_issues():
    one, two = Builder("one-v1"), Builder("two-v1")
    pagecache.get_or_build("issue", [1], one, issue_id=1)
    pagecache.get_or_build("issue", [2], two, issue_id=2)
    one.value = "one-v2"
    pagecache.invalidate_issues([1], [7])
    assert pagecache.get_or_build("issue", [1], one, issue_id=1) == "one-v2"
    assert pagecache.get_or_build("issue", [2], two, issue_id=2) == "two-v1"
    assert (one.calls, two.calls) == (2, 1)


def test_project_bump_makes_result_pages_stale():
    build = Builder(["DEMO-1"])
    pagecache.get_or_build("navigator", [(7,), "order by created"], build, project_ids=[7])
    build.value = ["DEMO-2", "DEMO-1"]
    pagecache.invalidate_issues([2], [7])  # a new issue in project 7
    assert pagecache.get_or_build("navigator", [(7,), "order by created"], build, project_ids=[7]) == build.value


def test_unrelated_project_bump_keeps_result_pages():
    build = Builder(["DEMO-1"])
    pagecache.get_or_build("navigator", [(7,)], build, project_ids=[7])
    pagecache.invalidate_issues([], [8])
    pagecache.invalidate_issues([5, 6], [8])
    pagecache.get_or_build("navigator", [(7,)], build, project_ids=[7])
    assert build.calls == 1


def test_invalidate_all_makes_every_page_stale():
    a, b = Builder("a"), Builder("b")
    pagecache.get_or_build("issue", [1], a, issue_id=1)
    pagecache.get_or_build("navigator", [(7,)], b, project_ids=[7])
    pagecache.invalidate_all()
    pagecache.get_or_build("issue", [1], a, issue_id=1)
    pagecache.get_or_build("navigator", [(7,)], b, project_ids=[7])
    assert (a.calls, b.calls) == (2, 2)


def test_key_parts_separate_entries():
    # alice's visible projects (7,) and bob's (8,) never share a result page
    alice_page, bob_page = Builder("alice"), Builder("bob")
    assert pagecache.get_or_build("navigator", [(7,), "q"], alice_page, project_ids=[7]) == "alice"
    assert pagecache.get_or_build("navigator", [(8,), "q"], bob_page, project_ids=[8]) == "bob"


def test_version_is_part_of_the_key():
    build = Builder("old")
    pagecache.get_or_build("issue", [1], build, issue_id=1, version="2026-01-01T00:00:00")
    build.value = "new"
    assert pagecache.get_or_build("issue", [1], build, issue_id=1, version="2026-01-01T00:00:01") == "new"


def test_unknown_page_type_is_rejected():
    with pytest.raises(ValueError):
        pagecache.get_or_build("board", [1], Builder())


def test_disabled_page_cache_always_builds():
    build = Builder()
    with override_settings(TASKRA_PAGE_CACHE=False):
        pagecache.get_or_build("issue", [1], build, issue_id=1)
        pagecache.get_or_build("issue", [1], build, issue_id=1)
    assert build.calls == 2


def test_locmem_default_is_off_without_setting():
    # Embedded default: a Celery worker's writes cannot reach the web server's memory.
    with override_settings(TASKRA_PAGE_CACHE=None):
        assert pagecache.page_cache_enabled() is False


def test_builder_error_propagates_and_releases_the_lock():
    def broken() -> object:
        raise RuntimeError("database said no")

    with pytest.raises(RuntimeError):
        pagecache.get_or_build("issue", [1], broken, issue_id=1)
    build = Builder("ok")
    started = time.monotonic()
    assert pagecache.get_or_build("issue", [1], build, issue_id=1) == "ok"
    assert time.monotonic() - started < 1  # did not wait for a dead lock


def test_twenty_concurrent_misses_rebuild_once():
    build = Builder({"summary": "hot"}, delay=0.3)
    results: list[object] = []
    barrier = threading.Barrier(20)

    def reader() -> None:
        try:
            barrier.wait()
            results.append(pagecache.get_or_build("issue", [42], build, issue_id=42))
        finally:
            # The outbox check opened this thread's own database connection: close it, or it outlives the test
            # and the test database cannot be dropped at the end of the run ("accessed by other users").
            connections.close_all()

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert build.calls == 1
    assert results == [{"summary": "hot"}] * 20


def test_metrics_count_hits_misses_and_rebuilds():
    pagecache.reset_metrics()
    build = Builder("x")
    for _ in range(4):
        pagecache.get_or_build("issue", [9], build, issue_id=9)
    pagecache.get_or_build("navigator", [(1,)], build, project_ids=[1])
    metrics = pagecache.cache_metrics()
    assert metrics["issue"]["hits"] == 3
    assert metrics["issue"]["misses"] == 1
    assert metrics["issue"]["rebuilds"] == 1
    assert metrics["issue"]["hit_rate"] == 0.75
    assert metrics["issue"]["rebuild_us"] >= 0
    assert metrics["navigator"]["misses"] == 1


def test_bump_happens_once_when_the_transaction_commits(db, django_capture_on_commit_callbacks):
    # Until the commit, readers keep the committed state's entries; the commit moves the counter once.
    keys = pagecache.gen_keys([5], [])
    before = pagecache.read_generations(keys)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        pagecache.invalidate_on_commit([5], [])
        pagecache.invalidate_on_commit([5], [])
        during = pagecache.read_generations(keys)
    after = pagecache.read_generations(keys)
    assert before == during
    assert after[1] == during[1] + 1


def test_rolled_back_transaction_bumps_nothing(db, django_capture_on_commit_callbacks):
    keys = pagecache.gen_keys([6], [])
    before = pagecache.read_generations(keys)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        pagecache.invalidate_on_commit([6], [])
        raise RuntimeError("rolled back")
    assert pagecache.read_generations(keys) == before


def test_debug_toolbar_panel_shows_request_and_shared_counts(rf):
    from types import SimpleNamespace

    from django.http import HttpResponse

    from taskra_site.cache_panel import PageCachePanel

    def get_response(request: object) -> HttpResponse:
        pagecache.get_or_build("issue", [1], lambda: "x", issue_id=1)
        pagecache.get_or_build("issue", [1], lambda: "x", issue_id=1)
        return HttpResponse("ok")

    request = rf.get("/browse/DEMO-1")
    # The parts of debug_toolbar.toolbar.DebugToolbar a panel touches (the app is installed only with DEBUG on).
    toolbar = SimpleNamespace(
        stats={}, request=request, request_id="r1", store=SimpleNamespace(save_panel=lambda *args: None)
    )
    panel = PageCachePanel(toolbar, get_response)
    response = panel.process_request(request)
    panel.generate_stats(request, response)
    assert panel.nav_subtitle == "1 hits, 1 misses"
    assert "All processes (Redis counters)" in panel.content
    # The in-process memos' counters show too (issue LRU, role memo).
    assert "<td>issue_lru</td>" in panel.content and "<td>role_memo</td>" in panel.content
    assert "<td>issue</td><td>1</td><td>1</td><td>1</td>" in panel.content
    # The adapters' shadow validation counts show beside the cache's (this process's counters).
    shadow = shadow_validation_counts()
    assert f"{shadow['rows']} rows checked in {shadow['batches']} batches, {shadow['failed_rows']} failed" in (
        panel.content
    )


def test_configuration_change_bumps_the_project_and_its_configuration_an_issue_write_the_project_only():
    from issues.pagecache.generations import CommitBatch

    config = CommitBatch().add([], [], [7], everything=False)
    assert config == ["gen:project:7", "gen:projectconfig:7"]
    assert CommitBatch().add([3], [7], [], everything=False) == ["gen:issue:3", "gen:project:7"]
    assert pagecache.gen_keys([3], (), [7]) == ["gen:global", "gen:issue:3", "gen:projectconfig:7"]
