"""The issue page's cached parts on the local-memory backend: the hot-row LRU and the entry names.

Personas: alice is admin of DEMO. On a real Redis: test_issuepage_redis.py.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction

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
    real_set = sharedcache.set_value_and_release

    def spy_set(key: str, value: object, timeout: int | None, lock_key: str, token: str, **kwargs: object) -> None:
        stored.append(key)
        real_set(key, value, timeout, lock_key, token, **kwargs)

    monkeypatch.setattr(sharedcache, "set_value_and_release", spy_set)
    client.force_login(alice)
    assert client.get(f"/browse/{issue.key}").status_code == 200
    page_keys = {k for k in stored if k.startswith("page:")}
    assert {k.split(":")[1] for k in page_keys} == {"issue", "issue_body"}

    asked: list[str] = []
    real_get, real_get_twice = sharedcache.get_many, sharedcache.get_many_twice

    def spy_get(keys: list[str]) -> dict[str, object]:
        asked.extend(keys)
        return real_get(keys)

    def spy_get_twice(first: list[str], second: list[str]) -> tuple[dict[str, object], dict[str, object]]:
        asked.extend([*first, *second])
        return real_get_twice(first, second)

    monkeypatch.setattr(sharedcache, "get_many", spy_get)
    monkeypatch.setattr(sharedcache, "get_many_twice", spy_get_twice)
    hit = issuepage.get_cached_issue_page(key=issue.key, user=alice, time_zone=str(alice.profile.zoneinfo))
    assert hit is not None and hit.role == "admin"
    bodies = [value for entry, value in hit.found.items() if entry.page_type == "issue_body"]
    assert len(bodies) == 1 and "Same keys" in bodies[0] and any(e.page_type == "issue" for e in hit.found)
    assert page_keys <= set(asked)


def test_entry_names_separate_role_time_zone_and_own_viewer(project_a, make_issue):
    issue = make_issue(project_a)
    generations = {k: 1 for k in issuepage.issue_page_entry(issue, body_for=("admin", "UTC", 0)).gen_keys}
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
    # alice (DEMO admin) opens issues nobody opened before. Types, statuses, priorities, resolutions, link types,
    # the project's workflow and members come from per-process rows (issues.lookups, retired by generations), so
    # the issue is read once, with 7 tables joined, not 12, and the editors cost no query. The count does not
    # grow with comments, worklogs or history.
    from issues.services import comment_add

    quiet, busy = make_issue(project_a, summary="Quiet"), make_issue(project_a, summary="Busy")
    for n in range(5):
        comment_add(issue=busy, author=alice, body=f"Comment {n}")
    client.force_login(alice)
    client.get(f"/browse/{make_issue(project_a, summary='Warm-up').key}")  # session, lookup rows, role, workflow
    # session user, key -> ids, outbox (this test's uncommitted writes left rows in it: a real request skips it,
    # the check rode on the user query), issue row, labels, and sub-tasks, comments, worklogs, history,
    # attachments, links and custom-field values: on PostgreSQL those seven in one round trip (one pipeline).
    pipelined = connection.vendor == "postgresql"
    for issue in (quiet, busy):
        with django_assert_num_queries(6 if pipelined else 12) as ctx:
            assert client.get(f"/browse/{issue.key}").status_code == 200
        sqls = [q["sql"] for q in ctx.captured_queries]
        if pipelined:
            (lists,) = [sql for sql in sqls if 'FROM "issues_comment"' in sql]
            for table in ("worklogs_worklog", "issues_history", "issues_attachment", "issues_issuelink"):
                assert f'FROM "{table}"' in lists, table
        issue_reads = [sql for sql in sqls if sql.startswith('SELECT "issues_issue"."id",')]
        assert len(issue_reads) == 1
        assert all("issues_status" not in sql and "issues_priority" not in sql for sql in issue_reads)
        for table in ("issues_status", "issues_issuelinktype", "issues_workflowstatus", "issues_membership"):
            assert not any(f'FROM "{table}"' in sql for sql in sqls), table


def test_page_cached_in_the_shared_cache_costs_no_row_build(
    client, project_a, make_issue, alice, django_assert_num_queries
):
    # Another process (nothing in its LRUs) opens a page the shared cache holds: the key's ids and the row
    # (read after the generations, to name the entries), nothing of the payload and no template.
    issue = make_issue(project_a, summary="Shared")
    client.force_login(alice)
    assert client.get(f"/browse/{issue.key}").status_code == 200
    issuepage.issue_lru.clear()
    issuepage.issue_heads.clear()
    with django_assert_num_queries(4) as ctx:  # session user, key -> ids, outbox (as above), issue row
        response = client.get(f"/browse/{issue.key}")
    assert response.status_code == 200 and b"Shared" in response.content
    assert not any("issues_comment" in q["sql"] for q in ctx.captured_queries)
    # The next request of this process takes the fast path: the session user only.
    with django_assert_num_queries(2):  # session user, outbox (as above)
        assert client.get(f"/browse/{issue.key}").status_code == 200


def test_cached_page_of_an_issue_past_the_row_lru_costs_no_issue_query(
    client, project_a, make_issue, alice, bob, carol, django_assert_num_queries
):
    # Zipf-distributed reads: far more issues are read often than the row LRU holds. Their heads (what names the
    # page entries) stay: a fully cached page is then served with no issue query, to members only.
    issue = make_issue(project_a, summary="Past the LRU")
    client.force_login(alice)
    assert client.get(f"/browse/{issue.key}").status_code == 200
    issuepage.issue_lru.clear()  # evicted by hotter issues
    with django_assert_num_queries(2) as ctx:  # session user, outbox (as above)
        response = client.get(f"/browse/{issue.key}")
    assert response.status_code == 200 and b"Past the LRU" in response.content
    assert not any("issues_issue" in q["sql"] for q in ctx.captured_queries)
    client.force_login(bob)  # not a member of DEMO: exactly like a missing issue
    assert client.get(f"/browse/{issue.key}").status_code == 404
    client.force_login(carol)  # a viewer: her own role's body, no editors
    page = client.get(f"/browse/{issue.key}").content.decode()
    assert "Past the LRU" in page and 'name="assignee"' not in page


def test_workflow_change_shows_in_the_next_status_menu(
    client, project_a, make_issue, alice, django_capture_on_commit_callbacks
):
    # The workflow is kept per process at the project's generation: workflow_update bumps it when it commits.
    from issues.models import Status
    from issues.workflows import TransitionSpec, workflow_for, workflow_update

    issue = make_issue(project_a, summary="Flow")
    client.force_login(alice)
    assert client.get(f"/browse/{issue.key}").status_code == 200
    # The bumps happen when the writes commit (a savepoint of their own: the test's earlier writes hold a batch).
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        triage = Status.objects.create(name="Triage", category="todo", position=99)
    assert "Triage" not in client.get(f"/browse/{issue.key}").content.decode()  # not in DEMO's workflow yet
    steps = [(Status.objects.get(pk=pk), None) for pk in workflow_for(project_a).status_ids] + [(triage, None)]
    with django_capture_on_commit_callbacks(execute=True):
        workflow_update(
            project=project_a,
            actor=alice,
            steps=steps,
            transitions=[TransitionSpec(None, status) for status, _ in steps],
        )
    page = client.get(f"/browse/{issue.key}").content.decode()
    assert f'<option value="{triage.pk}" >Triage</option>' in page


def test_new_link_type_shows_in_the_add_link_form(
    client, project_a, make_issue, alice, django_capture_on_commit_callbacks
):
    # Link types are kept per process at the global generation, which saving one bumps.
    from issues.models import IssueLinkType

    issue = make_issue(project_a, summary="Links")
    client.force_login(alice)
    assert "is mirrored by" not in client.get(f"/browse/{issue.key}").content.decode()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():  # bumped when it commits
        IssueLinkType.objects.create(name="Mirrors", outward="mirrors", inward="is mirrored by")
    assert "is mirrored by" in client.get(f"/browse/{issue.key}").content.decode()


def test_bulk_added_member_shows_in_the_assignee_menu(
    client, project_a, make_issue, alice, bob, django_capture_on_commit_callbacks
):
    # Members are kept per process at the project configuration's and the global generation: a bulk insert sends
    # no signal, so its writer bumps the configuration (as bench/load.py and seeding do).
    from issues.models import Membership, Role

    def assignee_menu(key: str) -> str:
        page = client.get(f"/browse/{key}").content.decode()
        return page[page.index('<select name="assignee"') :].split("</select>", 1)[0]

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Membership.objects.filter(project=project_a, user=bob).delete()
    issue = make_issue(project_a, summary="Members")
    client.force_login(alice)
    assert f'<option value="{bob.pk}"' not in assignee_menu(issue.key)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Membership.objects.bulk_create([Membership(project=project_a, user=bob, role=Role.MEMBER)])
        pagecache.invalidate_on_commit(config_ids=[project_a.pk])
    assert f'<option value="{bob.pk}"' in assignee_menu(issue.key)


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
