"""Bulk change (issues.bulk): cleaning the changes, the selection, and the two ways of applying a chunk.

Personas: alice edits DEMO, bob edits OPS only, carol views DEMO. Jobs around bulk changes (chunks,
lease, progress) are tested in imports/tests/test_services.py.
"""

from __future__ import annotations

import re
from unittest.mock import patch

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from imports import services as jobs
from issues import bulk
from issues.models import History, Issue, Membership, Priority, Project, Resolution, Role, Status

pytestmark = pytest.mark.django_db


@pytest.mark.django_db
def test_bulk_change_invalidates_the_parent_of_a_changed_subtask(
    project_a, alice, make_issue, monkeypatch, django_capture_on_commit_callbacks
):
    # The parent's page lists its sub-tasks' status, so a bulk change to a sub-task must make it stale too.
    parent = make_issue(project_a)
    child = make_issue(project_a, parent=parent)
    bumped: list[set[int]] = []
    monkeypatch.setattr(bulk.pagecache, "invalidate_on_commit", lambda ids, projects: bumped.append(set(ids)))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        changed = bulk.issue_bulk_change(
            issue_ids=[child.pk], changes=bulk.bulk_changes_clean({"status": "Done"}), actor=alice
        )
    assert changed == 1
    assert any({child.pk, parent.pk} <= ids for ids in bumped)


def test_bulk_changes_clean_names_to_ids_and_refuses_bad_ones(db, bob):
    cleaned = bulk.bulk_changes_clean({"status": "done", "assignee": "bob", "add_labels": "b a a"})
    assert cleaned == {"status": Status.objects.get(name="Done").pk, "assignee": bob.pk, "add_labels": ["a", "b"]}
    assert bulk.bulk_changes_clean({"assignee": "none"}) == {"assignee": None}
    with pytest.raises(ValidationError, match="Unknown priority"):
        bulk.bulk_changes_clean({"priority": "Urgentest"})
    with pytest.raises(ValidationError, match="not a label"):
        bulk.bulk_changes_clean({"add_labels": ["x" * 101]})


def test_bulk_assignee_reaches_only_people_who_share_a_project(project_a, project_b, alice, bob, carol):
    # bob (OPS) shares no project with alice or carol: their usernames answer like a missing one.
    for name in ("alice", str(alice.pk), "nobody"):
        with pytest.raises(ValidationError) as exc:
            bulk.bulk_changes_clean({"assignee": name}, user=bob)
        assert exc.value.messages == [f"Unknown user '{name}'."]
    # alice may assign carol (both in DEMO) and herself; a system change (no user) reaches everyone.
    assert bulk.bulk_changes_clean({"assignee": "carol"}, user=alice) == {"assignee": carol.pk}
    assert bulk.bulk_changes_clean({"assignee": "bob"}, user=bob) == {"assignee": bob.pk}
    assert bulk.bulk_changes_clean({"assignee": "alice"}) == {"assignee": alice.pk}


def test_bulk_job_errors_do_not_reveal_accounts(project_a, project_b, alice, bob):
    from imports.services import bulk_update_job_create

    messages = []
    for name in ("alice", "nobody"):
        with pytest.raises(ValidationError) as exc:
            bulk_update_job_create(user=bob, changes={"assignee": name}, jql="project = OPS", enqueue=False)
        messages.append(exc.value.messages[0].replace(name, "X"))
    assert messages[0] == messages[1]


def test_bulk_selection_keeps_to_projects_the_user_edits(project_a, project_b, alice, bob, carol, make_issue):
    # alice edits DEMO only; carol only views DEMO: nothing of hers to change; a system change (None) sees all.
    demo, ops = make_issue(project_a), make_issue(project_b, reporter=bob)
    assert set(bulk.bulk_selection(user=alice, jql=None)) == {demo}
    assert set(bulk.bulk_selection(user=carol, jql=None)) == set()
    assert set(bulk.bulk_selection(user=None, jql=None)) == {demo, ops}
    assert set(bulk.bulk_selection(user=bob, jql="project = OPS")) == {ops}


def test_a_superuser_without_membership_bulk_changes_nothing(project_a, admin_user, make_issue):
    # admin_user (superuser, member of nothing) gets 404 on DEMO's pages: a bulk change by him, by checked ids
    # (the admin action, the navigator) or by JQL, changes no DEMO issue.
    issue = make_issue(project_a)
    assert set(bulk.bulk_selection(user=admin_user, jql=None)) == set()
    job = jobs.bulk_update_job_create(
        user=admin_user, issue_ids=[issue.pk], changes={"priority": "Lowest"}, source="admin", enqueue=False
    )
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.total, job.updated_count) == (0, 0)
    assert Issue.objects.get(pk=issue.pk).priority.name != "Lowest"


BULK_CHANGES = [
    {"status": "Done", "add_labels": ["bulk"]},
    {"status": "In Progress", "priority": "Lowest", "assignee": "bob"},
    {"status": "To Do", "assignee": "__unassigned__", "remove_labels": ["old", "nope"]},
    {"add_labels": ["old", "zz", "Ab"], "remove_labels": ["zz"]},
    {"priority": "High", "remove_labels": ["old"]},
]


@pytest.mark.django_db
@pytest.mark.parametrize("changes", BULK_CHANGES)
def test_bulk_change_sql_matches_rows(
    changes, project_a, project_b, alice, bob, carol, make_issue, django_capture_on_commit_callbacks
):
    # The one-statement PostgreSQL path must write exactly what the row-by-row path writes: the same issue
    # values, label links, history rows (field, old and new text, per issue in the same order) and the same
    # invalidated issues and projects. Two identical sets of issues, one changed by each path.
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL only")
    nobody = get_user_model().objects.create_user("noprofile")
    nobody.profile.delete()  # an assignee without a profile shows by username (services.history_text)
    statuses = list(Status.objects.order_by("position"))
    resolutions = [None, Resolution.objects.get(name="Done"), Resolution.objects.get(name="Won't Fix")]
    assignees = [None, alice, bob, carol, nobody]
    priorities = list(Priority.objects.all())
    label_sets = [[], ["old"], ["old", "bulk"], ["Ab", "b", "zz"], ["bulk"]]

    def build(project: Project) -> list[Issue]:
        made: list[Issue] = []
        for n in range(20):
            issue = make_issue(
                project,
                status=statuses[n % len(statuses)],
                priority=priorities[n % len(priorities)],
                assignee=assignees[n % len(assignees)],
                labels=label_sets[n % len(label_sets)],
                parent=made[0] if n % 7 == 6 else None,
            )
            Issue.objects.filter(pk=issue.pk).update(resolution=resolutions[n % 3])
            made.append(issue)
        return made

    first, second = build(project_a), build(project_b)
    cleaned = bulk.bulk_changes_clean(changes)
    invalidated: list[tuple[set[int], set[int]]] = []

    def apply(fn, issues: list[Issue]) -> tuple:
        before = {i.pk: i.updated for i in Issue.objects.filter(pk__in=[i.pk for i in issues])}
        pos = {issue.pk: n for n, issue in enumerate(issues)}
        start = History.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with (
            patch.object(bulk.pagecache, "invalidate_on_commit", lambda ids, p: invalidated.append((ids, p))),
            django_capture_on_commit_callbacks(execute=True),
        ):
            changed = len(fn(issue_ids=[i.pk for i in issues], changes=cleaned, actor=alice))
        ids, projects = invalidated.pop()
        rows = [
            (
                pos[i.pk],
                i.status_id,
                i.priority_id,
                i.assignee_id,
                i.resolution_id,
                i.resolved is None,
                i.updated != before[i.pk],
                sorted(i.labels.values_list("name", flat=True)),
            )
            for i in Issue.objects.filter(pk__in=pos).order_by("pk")
        ]
        history = [
            (pos[h.issue_id], h.author_id, h.field, h.from_value, h.to_value)
            for h in History.objects.filter(pk__gt=start).order_by("issue_id", "pk")
        ]
        return changed, rows, history, sorted(pos[i] for i in ids), len(projects)

    with_rows = apply(bulk._change_rows, first)
    with_sql = apply(bulk._change_sql, second)
    assert with_rows[0] > 0 and with_rows[2]
    assert with_sql == with_rows


# --- preview before anything is written (Jira: the affected issues are shown, then the user confirms) -----------
# alice edits DEMO; OPS issues (bob's project) in her selection are left out and never listed.


def test_bulk_preview_counts_and_lists_the_first_fifty_editable_issues(project_a, project_b, alice, bob, make_issue):
    demo = [make_issue(project_a, summary=f"Demo {n}") for n in range(55)]
    ops = make_issue(project_b, reporter=bob, summary="OPS secret")
    preview = bulk.bulk_preview(
        user=alice,
        changes={"status": "Done", "assignee": "none", "add_labels": "b a"},
        issue_ids=[str(i.pk) for i in [*demo, ops]],
        jql=None,
    )
    assert preview.count == 55 and preview.skipped == 1
    assert [row["key"] for row in preview.issues] == [i.key for i in demo[:50]]
    assert preview.issues[0]["summary"] == "Demo 0"
    assert preview.changes == [("Status", "Done"), ("Assignee", "Unassigned"), ("Add labels", "a b")]
    by_jql = bulk.bulk_preview(user=alice, changes={"priority": "High"}, issue_ids=None, jql="summary ~ secret")
    assert by_jql.count == 0 and by_jql.issues == []  # the OPS issue matches, but alice may not edit it
    with pytest.raises(ValidationError, match="at least one change"):
        bulk.bulk_preview(user=alice, changes={}, issue_ids=[demo[0].pk], jql=None)
    with pytest.raises(ValidationError, match="Select some issues"):
        bulk.bulk_preview(user=alice, changes={"status": "Done"}, issue_ids=None, jql=None)


def test_bulk_change_shows_a_preview_and_writes_nothing_until_confirmed(client, project_a, alice, make_issue):
    from imports.models import Job

    issues = [make_issue(project_a, summary=f"Bulk {n}") for n in range(3)]
    client.force_login(alice)
    chosen = {"issue": [i.pk for i in issues[:2]], "status": "Done", "add_labels": "bulked"}
    # The change form's button: a preview with the count, the issues and the changes; no job, no write.
    response = client.post("/imports/bulk/", {**chosen, "action": "run"})
    html = response.content.decode()
    assert response.status_code == 200, html[:2000]
    assert "2 issues will change" in html and "DEMO-1" in html and "Bulk 1" in html and "DEMO-3" not in html
    assert "Done" in html and "bulked" in html and 'name="confirm" value="1"' in html
    assert not Job.objects.exists()
    assert not Issue.objects.filter(status__name="Done").exists() and not History.objects.exists()
    # Confirming (the preview's form posts the same selection back, with confirm=1) queues the job.
    confirm_form = html[html.index('id="bulk-confirm-form"') :]
    posted: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirm_form):
        posted.setdefault(name, []).append(value)
    assert posted["confirm"] == ["1"] and posted["status"] == ["Done"] and posted["add_labels"] == ["bulked"]
    response = client.post("/imports/bulk/", posted)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get(kind="bulk_update")
    assert job.options["ids"] == sorted(i.pk for i in issues[:2])
    assert job.options["changes"]["status"] == Status.objects.get(name="Done").pk


def test_bulk_assignment_skips_and_reports_issues_of_projects_the_assignee_is_not_in(
    project_a, project_b, alice, bob, carol, make_issue
):
    # alice edits DEMO and OPS; carol is in DEMO only. Assigning carol everywhere changes the DEMO issue and
    # reports the OPS one (no silent assignment to an outsider); an OPS issue already carol's counts as no change.
    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    demo, ops = make_issue(project_a), make_issue(project_b, reporter=bob)
    ops_already = make_issue(project_b, reporter=bob)
    Issue.objects.filter(pk=ops_already.pk).update(assignee=carol)  # an imported assignee, say
    job = jobs.bulk_update_job_create(
        user=alice, changes={"assignee": "carol"}, issue_ids=[demo.pk, ops.pk, ops_already.pk], enqueue=False
    )
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == "succeeded_with_errors"
    assert (job.processed, job.updated_count, job.failed_count) == (3, 1, 1)
    assert Issue.objects.get(pk=demo.pk).assignee == carol and Issue.objects.get(pk=ops.pk).assignee is None
    [error] = job.errors.all()
    assert error.issue_key == ops.key and error.message == "Carol Clark is not a member of OPS: not changed."


def test_bulk_preview_reaches_only_people_who_share_a_project(project_a, project_b, alice, bob, make_issue):
    # bob (OPS only) previews assigning his issue to alice (DEMO only): the same answer as for a name nobody has.
    ops = make_issue(project_b, reporter=bob)
    for name in ("alice", "nobody"):
        with pytest.raises(ValidationError) as exc:
            bulk.bulk_preview(user=bob, changes={"assignee": name}, issue_ids=[ops.pk], jql=None)
        assert exc.value.messages == [f"Unknown user '{name}'."]
