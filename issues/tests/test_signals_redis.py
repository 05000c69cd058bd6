"""Every write path, then a read from a second process on a real Redis: the invalidation is seen across processes.

Runs when REDIS_URL is set (CI always sets it: there a missing REDIS_URL fails instead of skipping).
Each test uses its own key prefix on the shared server.

Personas: alice is admin of DEMO, bob a member of OPS only.
"""

from __future__ import annotations

import pytest

from issues import pagecache
from issues.tests.conftest import IN_CI, REDIS_URL, warm, warm_results

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not REDIS_URL and not IN_CI, reason="REDIS_URL is not set (runs in CI on a real Redis)"),
]


def test_issue_create_shows_in_other_process_result_page(reader, project_a, make_issue):
    make_issue(project_a, summary="First")
    warm_results(reader)
    make_issue(project_a, summary="Second")
    assert [r["summary"] for r in reader.results()["rows"]][:2] == ["Second", "First"]


def test_issue_update_seen_by_other_process(reader, project_a, make_issue, alice):
    from issues.services import issue_update

    issue = make_issue(project_a, summary="Before")
    warm(reader, issue.key)
    warm_results(reader)
    issue_update(issue=issue, actor=alice, data={"summary": "After", "labels": ["backend"]})
    page = reader.issue(issue.key)["data"]
    assert page["issue"]["summary"] == "After"
    assert page["issue"]["labels"] == ["backend"]
    assert page["history"][-1]["to"] in ("After", "backend")  # history rows came with the write
    assert reader.results()["rows"][0]["summary"] == "After"


def test_issue_delete_seen_by_other_process(reader, project_a, make_issue, alice):
    from issues.services import issue_delete

    issue = make_issue(project_a, summary="Doomed")
    warm(reader, issue.key)
    warm_results(reader)
    issue_delete(issue=issue, actor=alice)
    assert reader.issue(issue.key)["status"] == 404
    assert reader.results()["rows"] == []


def test_subtask_delete_updates_parent_page(reader, project_a, make_issue, alice):
    from issues.services import issue_delete

    parent = make_issue(project_a, summary="Parent")
    sub = make_issue(project_a, summary="Child", parent=parent)
    assert [s["key"] for s in warm(reader, parent.key)["subtasks"]] == [sub.key]
    issue_delete(issue=sub, actor=alice)
    assert reader.issue(parent.key)["data"]["subtasks"] == []


def test_parent_delete_retires_its_cached_subtask_pages(reader, project_a, make_issue, alice):
    # alice (admin) deletes a parent whose sub-task page another process has cached: that page goes too.
    from issues.services import issue_delete

    parent = make_issue(project_a, summary="Parent")
    sub = make_issue(project_a, summary="Child", parent=parent)
    warm(reader, sub.key)
    assert issue_delete(issue=parent, actor=alice) == 2
    assert reader.issue(sub.key)["status"] == 404


def test_comment_add_and_update_seen_by_other_process(reader, project_a, make_issue, alice):
    from issues.services import comment_add, comment_update

    issue = make_issue(project_a)
    warm(reader, issue.key)
    comment = comment_add(issue=issue, author=alice, body="first words")
    assert [c["body"] for c in reader.issue(issue.key)["data"]["comments"]] == ["first words"]
    warm(reader, issue.key)
    comment_update(comment=comment, actor=alice, body="second thoughts")
    assert [c["body"] for c in reader.issue(issue.key)["data"]["comments"]] == ["second thoughts"]


def test_worklog_add_update_delete_seen_by_other_process(reader, project_a, make_issue, alice):
    from django.utils import timezone

    from worklogs.services import worklog_add, worklog_delete, worklog_update

    issue = make_issue(project_a, original_estimate=36000)
    warm(reader, issue.key)
    warm_results(reader)
    worklog = worklog_add(issue=issue, author=alice, time_spent=3600, started=timezone.now())
    page = reader.issue(issue.key)["data"]
    assert page["time"]["spent"] == 3600 and page["time"]["remaining"] == 32400
    assert reader.results()["rows"][0]["time_spent"] == 3600
    warm(reader, issue.key)
    worklog_update(worklog=worklog, actor=alice, time_spent=7200)
    assert reader.issue(issue.key)["data"]["time"]["spent"] == 7200
    warm(reader, issue.key)
    worklog_delete(worklog=worklog, actor=alice)
    page = reader.issue(issue.key)["data"]
    assert page["time"]["spent"] == 0 and page["worklogs"] == []


def test_history_row_written_directly_seen_by_other_process(reader, project_a, make_issue, alice):
    from django.utils import timezone

    from issues.models import History

    issue = make_issue(project_a)
    warm(reader, issue.key)
    History.objects.create(issue=issue, author=alice, created=timezone.now(), field="summary", to_value="x")
    assert len(reader.issue(issue.key)["data"]["history"]) == 1


def test_admin_style_model_save_seen_by_other_process(reader, project_a, make_issue):
    # ModelAdmin.save_model's default is a plain save(): the signal safety net must catch it.
    from issues.models import Comment, Issue

    issue = make_issue(project_a, summary="Admin before")
    warm(reader, issue.key)
    row = Issue.objects.get(pk=issue.pk)
    row.summary = "Admin after"
    row.save()
    assert reader.issue(issue.key)["data"]["issue"]["summary"] == "Admin after"
    warm(reader, issue.key)
    from django.utils import timezone

    Comment.objects.create(issue=row, author=None, body="from a script", created=timezone.now(), updated=timezone.now())
    assert [c["body"] for c in reader.issue(issue.key)["data"]["comments"]] == ["from a script"]


def test_label_added_from_the_label_side_seen_by_other_process(reader, project_a, make_issue):
    from issues.models import Label

    issue = make_issue(project_a)
    warm(reader, issue.key)
    Label.objects.create(name="urgent").issues.add(issue)
    assert reader.issue(issue.key)["data"]["issue"]["labels"] == ["urgent"]


def test_bulk_update_with_invalidate_issues_seen_by_other_process(reader, project_a, make_issue):
    # Bulk jobs and imports write with QuerySet.update/bulk_create (no signals) and call invalidate_issues.
    from issues.models import Issue

    issues = [make_issue(project_a, summary=f"bulk {i}") for i in range(3)]
    for issue in issues:
        warm(reader, issue.key)
    warm_results(reader)
    ids = [i.pk for i in issues]
    Issue.objects.filter(pk__in=ids).update(summary="bulk edited")
    pagecache.invalidate_issues(ids, [project_a.pk])
    for issue in issues:
        assert reader.issue(issue.key)["data"]["issue"]["summary"] == "bulk edited"
    assert {r["summary"] for r in reader.results()["rows"]} == {"bulk edited"}


def test_status_rename_seen_by_other_process(reader, project_a, make_issue):
    issue = make_issue(project_a)
    warm(reader, issue.key)
    status = issue.status
    status.name = "Triage"
    status.save()
    assert reader.issue(issue.key)["data"]["issue"]["status"]["name"] == "Triage"


def test_display_name_change_seen_by_other_process(reader, project_a, make_issue, alice):
    issue = make_issue(project_a, assignee=alice)
    warm(reader, issue.key)
    alice.profile.display_name = "Alice Renamed"
    alice.profile.save()
    assert reader.issue(issue.key)["data"]["issue"]["assignee"]["display_name"] == "Alice Renamed"


def test_write_inside_outer_atomic_is_seen_once_it_commits(reader, project_a, make_issue, alice):
    # Nested atomic: the service's own block is a savepoint; the outer commit decides.
    from django.db import transaction

    from issues.services import issue_update

    issue = make_issue(project_a, summary="Outer before")
    warm(reader, issue.key)
    with transaction.atomic():
        issue_update(issue=issue, actor=alice, data={"summary": "Outer after"})
        # Not committed yet: the other process still sees the committed state (and may cache it).
        assert reader.issue(issue.key)["data"]["issue"]["summary"] == "Outer before"
    assert reader.issue(issue.key)["data"]["issue"]["summary"] == "Outer after"


def test_rolled_back_write_leaves_page_intact(reader, project_a, make_issue, alice):
    from django.db import transaction

    from issues.services import issue_update

    issue = make_issue(project_a, summary="Kept")
    warm(reader, issue.key)
    with pytest.raises(RuntimeError), transaction.atomic():
        issue_update(issue=issue, actor=alice, data={"summary": "Rolled back"})
        raise RuntimeError("abort")
    assert reader.issue(issue.key)["data"]["issue"]["summary"] == "Kept"
