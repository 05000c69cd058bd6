"""The page cache layer on its own (local-memory backend): keys, generations, stampede control, LRU, serializer.

The same behaviour against a real Redis (second processes, outages) is in test_cache_redis.py.
Personas: alice sees DEMO only, bob sees OPS only.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import override_settings

from issues import cache as page_cache
from issues.models import Issue
from taskra_site.cache_serializer import OrjsonPickleSerializer, ThresholdZlibCompressor


@pytest.fixture(autouse=True)
def locmem_page_cache():
    """Run every test on a private local-memory cache with the page cache forced on."""
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-cache-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=caches, TASKRA_PAGE_CACHE=True):
        page_cache.reset_state()
        yield
        page_cache.reset_state()


class Builder:
    """A page builder that counts its calls and returns the current value of a mutable source."""

    def __init__(self, value: object = "v1", delay: float = 0.0) -> None:
        self.value = value
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> object:
        with self._lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return self.value


def test_second_read_is_a_hit():
    build = Builder({"summary": "first"})
    assert page_cache.get_or_build("issue", [1], build, issue_id=1, project_ids=[7]) == {"summary": "first"}
    assert page_cache.get_or_build("issue", [1], build, issue_id=1, project_ids=[7]) == {"summary": "first"}
    assert build.calls == 1


def test_issue_bump_makes_issue_page_stale_but_not_other_issues():
    one, two = Builder("one-v1"), Builder("two-v1")
    page_cache.get_or_build("issue", [1], one, issue_id=1)
    page_cache.get_or_build("issue", [2], two, issue_id=2)
    one.value = "one-v2"
    page_cache.invalidate_issue(1, 7)
    assert page_cache.get_or_build("issue", [1], one, issue_id=1) == "one-v2"
    assert page_cache.get_or_build("issue", [2], two, issue_id=2) == "two-v1"
    assert (one.calls, two.calls) == (2, 1)


def test_project_bump_makes_result_pages_stale():
    build = Builder(["DEMO-1"])
    page_cache.get_or_build("navigator", [(7,), "order by created"], build, project_ids=[7])
    build.value = ["DEMO-2", "DEMO-1"]
    page_cache.invalidate_issue(2, 7)  # a new issue in project 7
    assert page_cache.get_or_build("navigator", [(7,), "order by created"], build, project_ids=[7]) == build.value


def test_unrelated_project_bump_keeps_result_pages():
    build = Builder(["DEMO-1"])
    page_cache.get_or_build("navigator", [(7,)], build, project_ids=[7])
    page_cache.invalidate_project(8)
    page_cache.invalidate_issues([5, 6], [8])
    page_cache.get_or_build("navigator", [(7,)], build, project_ids=[7])
    assert build.calls == 1


def test_invalidate_all_makes_every_page_stale():
    a, b = Builder("a"), Builder("b")
    page_cache.get_or_build("issue", [1], a, issue_id=1)
    page_cache.get_or_build("navigator", [(7,)], b, project_ids=[7])
    page_cache.invalidate_all()
    page_cache.get_or_build("issue", [1], a, issue_id=1)
    page_cache.get_or_build("navigator", [(7,)], b, project_ids=[7])
    assert (a.calls, b.calls) == (2, 2)


def test_key_parts_separate_entries():
    # alice's visible projects (7,) and bob's (8,) never share a result page
    alice_page, bob_page = Builder("alice"), Builder("bob")
    assert page_cache.get_or_build("navigator", [(7,), "q"], alice_page, project_ids=[7]) == "alice"
    assert page_cache.get_or_build("navigator", [(8,), "q"], bob_page, project_ids=[8]) == "bob"


def test_version_is_part_of_the_key():
    build = Builder("old")
    page_cache.get_or_build("issue", [1], build, issue_id=1, version="2026-01-01T00:00:00")
    build.value = "new"
    assert page_cache.get_or_build("issue", [1], build, issue_id=1, version="2026-01-01T00:00:01") == "new"


def test_unknown_page_type_is_rejected():
    with pytest.raises(ValueError):
        page_cache.get_or_build("board", [1], Builder())


def test_disabled_page_cache_always_builds():
    build = Builder()
    with override_settings(TASKRA_PAGE_CACHE=False):
        page_cache.get_or_build("issue", [1], build, issue_id=1)
        page_cache.get_or_build("issue", [1], build, issue_id=1)
    assert build.calls == 2


def test_locmem_default_is_off_without_setting():
    # Embedded default: a Celery worker's writes cannot reach the web server's memory.
    with override_settings(TASKRA_PAGE_CACHE=None):
        assert page_cache.page_cache_enabled() is False


def test_builder_error_propagates_and_releases_the_lock():
    def broken() -> object:
        raise RuntimeError("database said no")

    with pytest.raises(RuntimeError):
        page_cache.get_or_build("issue", [1], broken, issue_id=1)
    build = Builder("ok")
    started = time.monotonic()
    assert page_cache.get_or_build("issue", [1], build, issue_id=1) == "ok"
    assert time.monotonic() - started < 1  # did not wait for a dead lock


def test_twenty_concurrent_misses_rebuild_once():
    build = Builder({"summary": "hot"}, delay=0.3)
    results: list[object] = []
    barrier = threading.Barrier(20)

    def reader() -> None:
        barrier.wait()
        results.append(page_cache.get_or_build("issue", [42], build, issue_id=42))

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert build.calls == 1
    assert results == [{"summary": "hot"}] * 20


def test_metrics_count_hits_misses_and_rebuilds():
    page_cache.reset_metrics()
    build = Builder("x")
    for _ in range(4):
        page_cache.get_or_build("issue", [9], build, issue_id=9)
    page_cache.get_or_build("navigator", [(1,)], build, project_ids=[1])
    metrics = page_cache.cache_metrics()
    assert metrics["issue"]["hits"] == 3
    assert metrics["issue"]["misses"] == 1
    assert metrics["issue"]["rebuilds"] == 1
    assert metrics["issue"]["hit_rate"] == 0.75
    assert metrics["issue"]["rebuild_us"] >= 0
    assert metrics["navigator"]["misses"] == 1


def test_bump_inside_transaction_happens_now_and_at_commit(db, django_capture_on_commit_callbacks):
    keys = page_cache._gen_keys([5], [])
    before = page_cache.read_generations(keys)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        page_cache.invalidate_on_commit([5], [])
        during = page_cache.read_generations(keys)
    after = page_cache.read_generations(keys)
    assert before[1] < during[1] < after[1]


def test_lru_stays_within_its_bound():
    lru = page_cache.IssueLRU(3)
    for i in range(10):
        lru.put(f"DEMO-{i}", i, 1, (1,), object())
        assert len(lru) <= 3
    assert lru.peek("DEMO-9") is not None
    assert lru.peek("DEMO-0") is None


def test_lru_rejects_a_zero_bound():
    with pytest.raises(ValueError):
        page_cache.IssueLRU(0)


def test_get_cached_issue_serves_hot_issue_without_a_query(project_a, make_issue, django_assert_num_queries):
    issue = make_issue(project_a, summary="Hot")
    assert page_cache.get_cached_issue(issue.key).summary == "Hot"
    with django_assert_num_queries(0):
        cached = page_cache.get_cached_issue(issue.key.lower())
    assert cached.summary == "Hot"
    assert cached.status.name  # lookups come joined


def test_get_cached_issue_sees_service_writes(project_a, make_issue, alice):
    from issues.services import issue_update

    issue = make_issue(project_a, summary="Before")
    page_cache.get_cached_issue(issue.key)
    issue_update(issue=Issue.objects.get(pk=issue.pk), actor=alice, data={"summary": "After"})
    assert page_cache.get_cached_issue(issue.key).summary == "After"


def test_get_cached_issue_returns_copies(project_a, make_issue):
    issue = make_issue(project_a, summary="Original")
    page_cache.get_cached_issue(issue.key).summary = "scribbled"
    assert page_cache.get_cached_issue(issue.key).summary == "Original"


def test_get_cached_issue_forgets_deleted_issue(project_a, make_issue, alice):
    from issues.services import issue_delete

    issue = make_issue(project_a)
    page_cache.get_cached_issue(issue.key)
    issue_delete(issue=issue, actor=alice)
    assert page_cache.get_cached_issue(issue.key) is None
    assert page_cache.get_cached_issue("NOPE-1") is None


def test_get_cached_issue_lru_stays_within_bound(project_a, make_issue, monkeypatch):
    monkeypatch.setattr(page_cache, "issue_lru", page_cache.IssueLRU(5))
    keys = [make_issue(project_a, summary=f"n{i}").key for i in range(8)]
    for key in keys:
        page_cache.get_cached_issue(key)
    assert len(page_cache.issue_lru) == 5


def test_model_save_outside_services_invalidates(project_a, make_issue):
    # What an admin form or a script does: a plain save(), no service.
    issue = make_issue(project_a, summary="Admin before")
    build = Builder("before")
    page_cache.get_or_build("issue", [issue.pk], build, issue_id=issue.pk)
    issue.summary = "Admin after"
    issue.save()
    build.value = "after"
    assert page_cache.get_or_build("issue", [issue.pk], build, issue_id=issue.pk) == "after"


def test_subtask_change_invalidates_parent_page(project_a, make_issue, alice):
    from issues.services import issue_update

    parent = make_issue(project_a, summary="Parent")
    sub = make_issue(project_a, summary="Child", parent=parent)
    build = Builder("child v1")
    page_cache.get_or_build("issue", [parent.pk], build, issue_id=parent.pk)
    issue_update(issue=sub, actor=alice, data={"summary": "Child v2"})
    build.value = "child v2"
    assert page_cache.get_or_build("issue", [parent.pk], build, issue_id=parent.pk) == "child v2"


def test_status_rename_invalidates_everything(project_a, make_issue):
    issue = make_issue(project_a)
    build = Builder("Open")
    page_cache.get_or_build("issue", [issue.pk], build, issue_id=issue.pk)
    status = issue.status
    status.name = status.name + " (renamed)"
    status.save()
    build.value = "renamed"
    assert page_cache.get_or_build("issue", [issue.pk], build, issue_id=issue.pk) == "renamed"


@pytest.mark.parametrize(
    "value",
    [
        {"summary": "x", "n": 1, "f": 1.5, "none": None, "items": [1, "a", {"b": True}]},
        "<div>rendered page ✓</div>",
        ("a", 1),
        {"when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "day": dt.date(2026, 1, 2)},
        {1: "int key"},
        {"ids": {1, 2}},
        Decimal("1.10"),
        [uuid.UUID(int=5)],
        2**70,
        True,
    ],
)
def test_serializer_round_trips_exact_types(value):
    serializer = OrjsonPickleSerializer({})
    compressor = ThresholdZlibCompressor({})
    packed = compressor.compress(serializer.dumps(value))
    back = serializer.loads(compressor.decompress(packed))
    assert back == value
    assert type(back) is type(value)


def test_compressor_compresses_only_large_values():
    compressor = ThresholdZlibCompressor({})
    small = b"x" * 100
    large = b"<tr><td>DEMO-1</td></tr>" * 200
    assert compressor.compress(small) == b"R" + small
    packed = compressor.compress(large)
    assert packed[:1] == b"Z" and len(packed) < len(large) / 5
    assert compressor.decompress(packed) == large


def test_debug_toolbar_panel_shows_request_and_shared_counts(rf):
    from types import SimpleNamespace

    from django.http import HttpResponse

    from taskra_site.cache_panel import PageCachePanel

    def get_response(request: object) -> HttpResponse:
        page_cache.get_or_build("issue", [1], lambda: "x", issue_id=1)
        page_cache.get_or_build("issue", [1], lambda: "x", issue_id=1)
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
    assert "<td>issue</td><td>1</td><td>1</td><td>1</td>" in panel.content
