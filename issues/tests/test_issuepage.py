"""The issue page's cached parts on the local-memory backend: the hot-row LRU and the entry names.

Personas: alice is admin of DEMO. On a real Redis: test_issuepage_redis.py.
"""

from __future__ import annotations

import pytest

from issues import pagecache
from issues.issuepage import cached as issuepage
from issues.lru import IssueLRU
from issues.models import Issue
from taskra_site import sharedcache

pytestmark = pytest.mark.usefixtures("locmem_page_cache")


def test_get_cached_issue_serves_hot_issue_with_only_the_outbox_check(project_a, make_issue, django_assert_num_queries):
    issue = make_issue(project_a, summary="Hot")
    assert issuepage.get_cached_issue(issue.key).summary == "Hot"
    with django_assert_num_queries(1) as queries:
        cached = issuepage.get_cached_issue(issue.key.lower())
    # The row comes from the LRU; the one query asks whether a failed bump waits in the outbox (none here).
    assert "issues_cachebump" in queries.captured_queries[0]["sql"]
    assert cached.summary == "Hot"
    assert cached.status.name  # lookups come joined


def test_get_cached_issue_sees_service_writes(project_a, make_issue, alice, django_capture_on_commit_callbacks):
    from issues.services import issue_update

    issue = make_issue(project_a, summary="Before")
    issuepage.get_cached_issue(issue.key)
    with django_capture_on_commit_callbacks(execute=True):  # the write commits: its bump happens then
        issue_update(issue=Issue.objects.get(pk=issue.pk), actor=alice, data={"summary": "After"})
    assert issuepage.get_cached_issue(issue.key).summary == "After"


def test_get_cached_issue_returns_copies(project_a, make_issue):
    issue = make_issue(project_a, summary="Original")
    issuepage.get_cached_issue(issue.key).summary = "scribbled"
    assert issuepage.get_cached_issue(issue.key).summary == "Original"


def test_get_cached_issue_forgets_deleted_issue(project_a, make_issue, alice, django_capture_on_commit_callbacks):
    from issues.services import issue_delete

    issue = make_issue(project_a)
    issuepage.get_cached_issue(issue.key)
    with django_capture_on_commit_callbacks(execute=True):
        issue_delete(issue=issue, actor=alice)
    assert issuepage.get_cached_issue(issue.key) is None
    assert issuepage.get_cached_issue("NOPE-1") is None


def test_get_cached_issue_finds_a_new_issue_that_took_a_deleted_issues_key(
    project_a, make_issue, alice, django_capture_on_commit_callbacks
):
    # Found by the invariants test: DEMO-1 was read (kept in the LRU), deleted, and imported again under the same
    # key; the stale entry named the old id, so the page answered 404 for the new issue.
    from issues.services import issue_delete

    issue = make_issue(project_a, summary="old")
    issuepage.get_cached_issue(issue.key)
    with django_capture_on_commit_callbacks(execute=True):
        issue_delete(issue=issue, actor=alice)
    with django_capture_on_commit_callbacks(execute=True):  # as the import writer does: the kept key, a new row
        again = Issue.objects.create(
            project=project_a, number=issue.number, key=issue.key, summary="new", reporter=alice, created=issue.created,
            updated=issue.updated,
            type_id=issue.type_id, status_id=issue.status_id, priority_id=issue.priority_id,
        )  # fmt: skip
        pagecache.invalidate_on_commit([again.pk], {project_a.pk})
    found = issuepage.get_cached_issue(issue.key)
    assert found is not None and (found.pk, found.summary) == (again.pk, "new")


def test_get_cached_issue_lru_stays_within_bound(project_a, make_issue, monkeypatch):
    monkeypatch.setattr(issuepage, "issue_lru", IssueLRU(5))
    keys = [make_issue(project_a, summary=f"n{i}").key for i in range(8)]
    for key in keys:
        issuepage.get_cached_issue(key)
    assert len(issuepage.issue_lru) == 5


def test_fast_path_looks_up_the_entries_the_slow_path_stored(client, project_a, make_issue, alice, monkeypatch):
    # alice (admin of DEMO) opens an issue: the slow path builds and stores the payload and her body. The fast
    # path must then ask for exactly those keys, or a change to one path would silently turn every hit into a miss.
    issue = make_issue(project_a, summary="Same keys")
    stored: list[str] = []
    real_set = sharedcache.set_value

    def spy_set(key: str, value: object, timeout: int | None) -> None:
        stored.append(key)
        real_set(key, value, timeout)

    monkeypatch.setattr(sharedcache, "set_value", spy_set)
    client.force_login(alice)
    assert client.get(f"/browse/{issue.key}").status_code == 200
    page_keys = {k for k in stored if k.startswith("page:")}
    assert {k.split(":")[1] for k in page_keys} == {"issue", "issue_body"}

    asked: list[str] = []
    real_get = sharedcache.get_many

    def spy_get(keys: list[str]) -> dict[str, object]:
        asked.extend(keys)
        return real_get(keys)

    monkeypatch.setattr(sharedcache, "get_many", spy_get)
    hit = issuepage.get_cached_issue_page(key=issue.key, user=alice, time_zone=str(alice.profile.zoneinfo))
    assert hit is not None and hit.body is not None and "Same keys" in hit.body
    assert page_keys <= set(asked)


def test_entry_names_separate_role_time_zone_and_own_viewer(project_a, make_issue):
    issue = make_issue(project_a)
    generations = {k: 1 for k in issuepage.issue_page_entry(issue).gen_keys}
    names = {
        issuepage.issue_page_entry(issue).key(generations),
        issuepage.issue_page_entry(issue, body_for=("admin", "UTC", 0)).key(generations),
        issuepage.issue_page_entry(issue, body_for=("viewer", "UTC", 0)).key(generations),
        issuepage.issue_page_entry(issue, body_for=("admin", "Europe/Berlin", 0)).key(generations),
        issuepage.issue_page_entry(issue, body_for=("admin", "UTC", 7)).key(generations),
    }
    assert len(names) == 5


def test_page_miss_costs_a_fixed_number_of_queries_without_lookup_joins(
    client, project_a, make_issue, alice, django_assert_num_queries
):
    # alice (DEMO admin) opens issues nobody opened before. Types, statuses, priorities and resolutions come
    # from the per-process rows (loaded once per global generation), so the issue is read with 7 tables
    # joined, not 12, and the editors' statuses and priorities cost no query. The count does not grow with
    # comments, worklogs or history.
    from issues.services import comment_add

    quiet, busy = make_issue(project_a, summary="Quiet"), make_issue(project_a, summary="Busy")
    for n in range(5):
        comment_add(issue=busy, author=alice, body=f"Comment {n}")
    client.force_login(alice)
    client.get(f"/browse/{make_issue(project_a, summary='Warm-up').key}")  # session, lookup rows
    # session user, outbox check, key -> ids, issue row, role, outbox check, issue row again (the payload's own
    # read after its generations), sub-tasks, comments, worklogs, history, attachments, links, link types,
    # labels, custom-field values, outbox check, the project's workflow (statuses, transitions: the editor offers
    # allowed moves), members.
    for issue in (quiet, busy):
        with django_assert_num_queries(20) as ctx:
            assert client.get(f"/browse/{issue.key}").status_code == 200
        issue_reads = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('SELECT "issues_issue"."id",')]
        assert len(issue_reads) == 2
        assert all("issues_status" not in sql and "issues_priority" not in sql for sql in issue_reads)
        assert not any('FROM "issues_status"' in q["sql"] for q in ctx.captured_queries)


def test_renamed_status_shows_on_the_next_issue_read(project_a, make_issue):
    # The per-process lookup rows are retired by the global generation, which a lookup save bumps when it
    # commits (issues.signals._on_lookup_changed; bumped here directly).
    from issues.models import Status
    from issues.selectors import issue_with_joins

    issue = make_issue(project_a, summary="Named")
    assert issue_with_joins(pk=issue.pk).status.name == issue.status.name
    Status.objects.filter(pk=issue.status_id).update(name="Triage")
    assert issue_with_joins(pk=issue.pk).status.name == issue.status.name  # same generation: the kept row
    pagecache.invalidate_all()
    assert issue_with_joins(pk=issue.pk).status.name == "Triage"
