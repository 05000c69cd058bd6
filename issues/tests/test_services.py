"""Issue services: key allocation (also under concurrency), partial updates and their history.

Personas: alice is admin of DEMO (may edit), carol is a viewer in DEMO (may not), bob is only in OPS.
"""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from issues.models import History, Issue, IssueType, Membership, Priority, Project, Resolution, Role, Status
from issues.schemas import MAX_ISSUE_NUMBER
from issues.services import (
    allocate_issue_numbers,
    comment_add,
    issue_create,
    issue_parent_check,
    issue_parent_error,
    issue_update,
    project_get_or_create,
)
from issues.tests.conftest import postgres_only
from issues.workflows import workflow_add_statuses


def history_of(issue: Issue) -> list[tuple[str, str, str]]:
    return list(History.objects.filter(issue=issue).order_by("id").values_list("field", "from_value", "to_value"))


def test_keys_are_sequential_per_project(project_a, project_b, make_issue):
    keys = [make_issue(project_a).key for _ in range(5)]
    other = make_issue(project_b)

    assert keys == [f"DEMO-{n}" for n in range(1, 6)]
    assert other.key == "OPS-1"
    project_a.refresh_from_db()
    assert project_a.issue_counter == 5


def test_allocate_issue_numbers_reserves_a_block(project_a, make_issue):
    make_issue(project_a)
    from django.db import transaction

    with transaction.atomic():
        first = allocate_issue_numbers(project_id=project_a.pk, count=10)
    assert first == 2
    assert make_issue(project_a).key == "DEMO-12"


def test_allocate_issue_numbers_refuses_to_overflow_the_column(project_a):
    # An import kept Jira's key DEMO-2147483646: one number is left, then the project is full (no 500).
    Project.objects.filter(pk=project_a.pk).update(issue_counter=MAX_ISSUE_NUMBER - 1)
    with transaction.atomic():
        assert allocate_issue_numbers(project_id=project_a.pk) == MAX_ISSUE_NUMBER
    with pytest.raises(ValidationError, match="DEMO has used every issue number"), transaction.atomic():
        allocate_issue_numbers(project_id=project_a.pk)


def test_allocate_issue_numbers_rejects_bad_input(project_a):
    with pytest.raises(ValueError):
        allocate_issue_numbers(project_id=project_a.pk, count=0)
    with pytest.raises(Project.DoesNotExist):
        allocate_issue_numbers(project_id=999_999)


def test_failed_create_gives_its_number_back(project_a, make_issue, alice):
    make_issue(project_a)
    with pytest.raises(ValidationError):
        issue_create(project=project_a, reporter=alice, summary="   ")
    # The rollback returned the number: no gap.
    assert make_issue(project_a).key == "DEMO-2"


def test_viewer_cannot_create(project_a, carol, bob):
    # carol is a viewer in DEMO; bob is not a member at all.
    for person in (carol, bob):
        with pytest.raises(PermissionDenied):
            issue_create(project=project_a, reporter=person, summary="Nope")
    assert not Issue.objects.exists()


def test_create_in_done_status_is_resolved(project_a, make_issue):
    issue = make_issue(project_a, status=Status.objects.get(name="Done"))
    assert issue.resolution.name == "Done"
    assert issue.resolved is not None


def test_create_with_labels_and_estimate(project_a, make_issue):
    issue = make_issue(project_a, labels=["backend", " ui ", ""], original_estimate=3600)
    assert sorted(issue.labels.values_list("name", flat=True)) == ["backend", "ui"]
    assert issue.remaining_estimate == 3600


@postgres_only("concurrent row locks")
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_have_no_gaps_or_duplicates(alice, carol):
    from issues.models import Membership, Role

    project = Project.objects.create(key="RACE", name="Race")
    Membership.objects.create(project=project, user=alice, role=Role.ADMIN)
    threads_n, per_thread = 8, 10
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                # Each thread has its own database connection (Django connections are per thread).
                issue_create(project=Project.objects.get(pk=project.pk), reporter=alice, summary="race")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert not errors, errors
    total = threads_n * per_thread
    numbers = sorted(Issue.objects.filter(project=project).values_list("number", flat=True))
    assert numbers == list(range(1, total + 1))
    keys = set(Issue.objects.filter(project=project).values_list("key", flat=True))
    assert keys == {f"RACE-{n}" for n in range(1, total + 1)}
    project.refresh_from_db()
    assert project.issue_counter == total
    assert connection.vendor == "postgresql"


def test_update_writes_one_history_row_per_changed_field(project_a, make_issue, alice, bob):
    Membership.objects.create(project=project_a, user=bob, role=Role.MEMBER)  # a new assignee must be a member
    issue = make_issue(project_a, summary="Old", original_estimate=3600)
    high = Priority.objects.get(name="High")

    changed = issue_update(
        issue=issue,
        actor=alice,
        data={"summary": "  New  ", "priority": high, "assignee": bob, "original_estimate": 3600},
    )

    assert changed == ["summary", "priority", "assignee"]
    assert history_of(issue) == [
        ("summary", "Old", "New"),
        ("priority", "Medium", "High"),
        ("assignee", "", "Bob Brown"),
    ]
    assert set(History.objects.filter(issue=issue).values_list("author", flat=True)) == {alice.pk}
    issue.refresh_from_db()
    assert (issue.summary, issue.priority_id, issue.assignee_id) == ("New", high.pk, bob.pk)


def test_partial_update_leaves_other_fields_alone(project_a, make_issue, alice, bob):
    issue = make_issue(project_a, summary="Keep me", assignee=bob, description="desc")
    Issue.objects.filter(pk=issue.pk).update(description="changed elsewhere")

    issue_update(issue=issue, actor=alice, data={"summary": "Renamed"})

    issue.refresh_from_db()
    # update_fields: the stale in-memory description did not overwrite the concurrent change.
    assert issue.description == "changed elsewhere"
    assert issue.assignee_id == bob.pk
    assert history_of(issue) == [("summary", "Keep me", "Renamed")]


def test_update_without_changes_writes_nothing(project_a, make_issue, alice):
    issue = make_issue(project_a, summary="Same")
    before = Issue.objects.get(pk=issue.pk).updated
    assert issue_update(issue=issue, actor=alice, data={"summary": "Same"}) == []
    assert not History.objects.filter(issue=issue).exists()
    assert Issue.objects.get(pk=issue.pk).updated == before


def test_status_change_to_done_resolves_and_back_reopens(project_a, make_issue, alice):
    issue = make_issue(project_a)
    done = Status.objects.get(name="Done")

    issue_update(issue=issue, actor=alice, data={"status": done})
    issue.refresh_from_db()
    assert issue.resolution.name == "Done"
    assert issue.resolved is not None
    assert history_of(issue) == [("status", "To Do", "Done"), ("resolution", "", "Done")]

    issue_update(issue=issue, actor=alice, data={"status": Status.objects.get(name="In Progress")})
    issue.refresh_from_db()
    assert issue.resolution is None
    assert issue.resolved is None
    assert history_of(issue)[-2:] == [("status", "Done", "In Progress"), ("resolution", "Done", "")]


def test_status_change_keeps_explicit_resolution(project_a, make_issue, alice):
    issue = make_issue(project_a)
    wont = Resolution.objects.get(name="Won't Do")
    issue_update(issue=issue, actor=alice, data={"status": Status.objects.get(name="Done"), "resolution": wont})
    issue.refresh_from_db()
    assert issue.resolution == wont
    assert ("resolution", "", "Won't Do") in history_of(issue)


def test_labels_update_is_one_history_row(project_a, make_issue, alice):
    issue = make_issue(project_a, labels=["b", "a"])
    issue_update(issue=issue, actor=alice, data={"labels": ["c", "a"]})
    assert history_of(issue) == [("labels", "a b", "a c")]
    assert sorted(issue.labels.values_list("name", flat=True)) == ["a", "c"]


def test_update_rejects_bad_input(project_a, project_b, make_issue, alice):
    issue = make_issue(project_a)
    elsewhere = make_issue(project_b)
    with pytest.raises(ValidationError):
        issue_update(issue=issue, actor=alice, data={"summary": "  "})
    with pytest.raises(ValidationError):
        issue_update(issue=issue, actor=alice, data={"key": "X-1"})
    with pytest.raises(ValidationError):
        issue_update(issue=issue, actor=alice, data={"parent": issue})
    with pytest.raises(ValidationError):
        issue_update(issue=issue, actor=alice, data={"parent": elsewhere})
    assert not History.objects.exists()


def test_viewer_cannot_update(project_a, make_issue, carol):
    issue = make_issue(project_a, summary="Before")
    with pytest.raises(PermissionDenied):
        issue_update(issue=issue, actor=carol, data={"summary": "After"})
    assert Issue.objects.get(pk=issue.pk).summary == "Before"


def test_comment_add_checks_permission_unless_told_not_to(project_a, make_issue, bob):
    issue = make_issue(project_a)
    with pytest.raises(PermissionDenied):
        comment_add(issue=issue, author=bob, body="hi")
    comment = comment_add(issue=issue, author=bob, body=" hi ", check_permission=False)
    assert comment.body == "hi"


def test_moving_between_done_statuses_keeps_the_resolved_date(project_a, make_issue, alice):
    from issues.models import StatusCategory

    closed = Status.objects.create(name="Closed", category=StatusCategory.DONE, position=9)
    workflow_add_statuses(project=project_a, statuses=[closed])  # a status of project_a's workflow
    issue = make_issue(project_a)
    issue_update(issue=issue, actor=alice, data={"status": Status.objects.get(name="Done")})
    Issue.objects.filter(pk=issue.pk).update(resolved=timezone.now() - dt.timedelta(days=3))
    resolved = Issue.objects.get(pk=issue.pk).resolved

    issue = Issue.objects.get(pk=issue.pk)
    issue_update(issue=issue, actor=alice, data={"status": closed})

    issue.refresh_from_db()
    assert issue.resolved == resolved
    assert issue.resolution.name == "Done"


# --- the hierarchy rule: two levels, one home (issue_parent_check), every entry point ------------------------
# alice administers DEMO (may edit); top has the sub-task child; other is a plain issue of DEMO.


@pytest.fixture
def family(project_a, make_issue):
    top = make_issue(project_a, summary="Top")
    child = make_issue(project_a, summary="Child", parent=top)
    other = make_issue(project_a, summary="Other")
    return {"top": top, "child": child, "other": other}


def _via_service(client, alice, issue: Issue, parent: Issue | None, type: IssueType | None = None) -> str:
    data: dict = {"parent": parent}
    if type is not None:
        data["type"] = type
    try:
        issue_update(issue=issue, actor=alice, data=data)
    except ValidationError as exc:
        return " ".join(m for ms in exc.message_dict.values() for m in ms)
    return ""


def _via_form(client, alice, issue: Issue, parent: Issue | None, type: IssueType | None = None) -> str:
    client.force_login(alice)
    form = {"type": (type or issue.type).pk, "summary": issue.summary, "status": issue.status_id,
            "priority": issue.priority_id, "parent": parent.key if parent else ""}  # fmt: skip
    response = client.post(f"/browse/{issue.key}/edit", form)
    return response.content.decode() if response.status_code == 200 else ""


def _via_api(client, alice, issue: Issue, parent: Issue | None, type: IssueType | None = None) -> str:
    client.force_login(alice)
    fields: dict = {"parent": {"key": parent.key} if parent else None}
    if type is not None:
        fields["issuetype"] = {"name": type.name}
    body = json.dumps({"fields": fields})
    response = client.put(f"/rest/api/2/issue/{issue.key}", body, content_type="application/json")
    if response.status_code != 400:
        return ""
    error = response.json()
    return " ".join([*error["errorMessages"], *error["errors"].values()])


def _via_admin(client, alice, issue: Issue, parent: Issue | None, type: IssueType | None = None) -> str:
    admin = get_user_model().objects.get_or_create(username="root", defaults={"is_superuser": True, "is_staff": True})[
        0
    ]
    client.force_login(admin)  # a superuser, a member of nothing
    data = {
        "summary": issue.summary, "description": "", "type": (type or issue.type).pk, "status": issue.status_id,
        "resolution": "", "priority": issue.priority_id, "labels": [], "parent": parent.pk if parent else "",
        "assignee": "", "reporter": issue.reporter_id or "", "due_date": "", "original_estimate": "",
        "remaining_estimate": "", "_save": "Save",
    }  # fmt: skip
    response = client.post(reverse("admin:issues_issue_change", args=[issue.pk]), data)
    return response.content.decode() if response.status_code == 200 else ""


ENTRY_POINTS = [_via_service, _via_form, _via_api, _via_admin]


@pytest.mark.parametrize("write", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_a_sub_task_cannot_get_a_sub_task(client, alice, family, write):
    refused = write(client, alice, family["other"], family["child"])
    assert "sub-tasks cannot have sub-tasks" in refused
    assert Issue.objects.get(pk=family["other"].pk).parent_id is None


@pytest.mark.parametrize("write", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_an_issue_with_sub_tasks_cannot_become_one(client, alice, family, write):
    refused = write(client, alice, family["top"], family["other"])
    assert "an issue with sub-tasks cannot be a sub-task" in refused
    assert Issue.objects.get(pk=family["top"].pk).parent_id is None


@pytest.mark.parametrize("write", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_a_plain_issue_may_become_a_sub_task(client, alice, family, write):
    # Under a Task it must become a sub-task type too (only Epics parent standard issues).
    assert write(client, alice, family["other"], family["top"], _type("Sub-task")) == ""  # no error: saved
    assert Issue.objects.get(pk=family["other"].pk).parent_id == family["top"].pk


def _type(name: str) -> IssueType:
    return IssueType.objects.get(name=name)


# Jira's hierarchy: Epic > standard issues (Story, Task, Bug) > sub-tasks. "epic" is an Epic of DEMO, "story" a
# Story under it, "sub" a Sub-task of story; "top"/"child"/"other" come from `family`.


@pytest.fixture
def levels(project_a, make_issue, family):
    epic = make_issue(project_a, summary="Epic", type=_type("Epic"))
    story = make_issue(project_a, summary="Story", type=_type("Story"), parent=epic)
    sub = make_issue(project_a, summary="Sub", type=_type("Sub-task"), parent=story)
    return {**family, "epic": epic, "story": story, "sub": sub}


@pytest.mark.parametrize("write", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_an_issue_cannot_be_its_own_parent(client, alice, family, write):
    refused = write(client, alice, family["other"], family["other"])
    assert "cannot be its own parent" in refused
    assert Issue.objects.get(pk=family["other"].pk).parent_id is None


@pytest.mark.parametrize("write", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_a_parent_link_cannot_close_a_cycle(client, alice, levels, write):
    # Legacy rows (written before the rules) chain story -> epic; giving the epic a parent below it is a loop.
    epic, sub = levels["epic"], levels["sub"]
    Issue.objects.filter(pk=sub.pk).update(type=_type("Task"))  # a Task below the story, as old data may be
    refused = write(client, alice, epic, Issue.objects.get(pk=sub.pk))
    assert "loop" in refused
    assert Issue.objects.get(pk=epic.pk).parent_id is None


@pytest.mark.parametrize("write", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_a_sub_task_needs_a_parent(client, alice, levels, write):
    refused = write(client, alice, levels["sub"], None)
    assert "A sub-task needs a parent" in refused
    assert Issue.objects.get(pk=levels["sub"].pk).parent_id == levels["story"].pk


@pytest.mark.parametrize("write", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_a_sub_task_cannot_be_under_a_sub_task(client, alice, levels, write):
    refused = write(client, alice, levels["child"], levels["sub"])
    assert "sub-tasks cannot have sub-tasks" in refused
    assert Issue.objects.get(pk=levels["child"].pk).parent_id == levels["top"].pk


@pytest.mark.parametrize("write", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_a_bug_under_a_parent_that_is_not_an_epic_is_refused(client, alice, levels, write):
    refused = write(client, alice, levels["other"], levels["top"], _type("Bug"))
    assert "only an Epic can be the parent of a Bug" in refused
    other = Issue.objects.get(pk=levels["other"].pk)
    assert other.parent_id is None and other.type.name == "Task"


@pytest.mark.parametrize("write", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_a_bug_under_an_epic_is_accepted(client, alice, levels, write):
    assert write(client, alice, levels["other"], levels["epic"], _type("Bug")) == ""
    other = Issue.objects.get(pk=levels["other"].pk)
    assert other.parent_id == levels["epic"].pk and other.type.name == "Bug"


@pytest.mark.parametrize("write", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_changing_the_type_rechecks_the_parent(client, alice, levels, write):
    # child is a Sub-task of a Task: as a Task it could not stay there (only Epics parent standard issues).
    child = levels["child"]
    refused = write(client, alice, child, child.parent, _type("Task"))
    assert "only an Epic can be the parent of a Task" in refused
    assert Issue.objects.get(pk=child.pk).type.name == "Sub-task"
    # A sub-task of the epic may become a Story and stay under it.
    under_epic = Issue.objects.create(
        project=child.project, number=99, key="DEMO-99", summary="s", type=_type("Sub-task"), status=child.status,
        priority=child.priority, parent=levels["epic"], created=child.created, updated=child.updated,
    )  # fmt: skip
    assert write(client, alice, under_epic, levels["epic"], _type("Story")) == ""
    assert Issue.objects.get(pk=under_epic.pk).type.name == "Story"


def test_an_epic_with_stories_cannot_become_a_task(alice, levels):
    with pytest.raises(ValidationError, match="Story under it"):
        issue_update(issue=levels["epic"], actor=alice, data={"type": _type("Task")})
    with pytest.raises(ValidationError, match="cannot have a parent"):
        issue_update(issue=levels["epic"], actor=alice, data={"parent": levels["top"]})


def test_create_applies_the_type_rules(alice, levels, project_a):
    with pytest.raises(ValidationError, match="A sub-task needs a parent"):
        issue_create(project=project_a, reporter=alice, summary="Orphan", type=_type("Sub-task"))
    with pytest.raises(ValidationError, match="only an Epic can be the parent of a Bug"):
        issue_create(project=project_a, reporter=alice, summary="Bug", type=_type("Bug"), parent=levels["top"])
    # Without a type, a child of an issue is a sub-task (as the "create sub-task" link proposes).
    assert issue_create(project=project_a, reporter=alice, summary="Kid", parent=levels["top"]).type.is_subtask
    assert not Issue.objects.filter(summary__in=["Orphan", "Bug"]).exists()


def test_unrelated_edits_of_legacy_rows_are_not_blocked(alice, levels):
    # A Bug under a Task, written before the rules: renaming it is no hierarchy change, so it saves.
    other = levels["other"]
    Issue.objects.filter(pk=other.pk).update(parent=levels["top"], type=_type("Bug"))
    other = Issue.objects.get(pk=other.pk)
    assert issue_update(issue=other, actor=alice, data={"summary": "Renamed", "parent": levels["top"]}) == ["summary"]


def test_assigning_a_new_non_member_is_refused_by_the_service(alice, bob, levels):
    other = levels["other"]
    with pytest.raises(ValidationError, match="not a member"):
        issue_update(issue=other, actor=alice, data={"assignee": bob})
    Issue.objects.filter(pk=other.pk).update(assignee=bob)  # an imported assignee stays when re-sent
    other = Issue.objects.get(pk=other.pk)
    assert issue_update(issue=other, actor=alice, data={"assignee": bob, "summary": "x"}) == ["summary"]


def test_create_refuses_a_sub_task_as_parent(alice, family, project_a):
    with pytest.raises(ValidationError, match="sub-tasks cannot have sub-tasks"):
        issue_create(project=project_a, reporter=alice, summary="Grandchild", parent=family["child"])
    assert not Issue.objects.filter(summary="Grandchild").exists()


def test_parent_check_refuses_another_project_and_itself(family, project_b):
    with pytest.raises(ValidationError, match="in its parent's project"):
        issue_parent_check(issue=None, parent=family["top"], project_id=project_b.pk)
    with pytest.raises(ValidationError, match="cannot be its own parent"):
        issue_parent_check(issue=family["top"], parent=family["top"], project_id=family["top"].project_id)


def test_parent_error_reads_rows_without_queries(family, django_assert_num_queries):
    # The import writer's path: rows loaded in bulk, one call per row, no query.
    top, child = family["top"], family["child"]
    with django_assert_num_queries(0):
        assert (
            issue_parent_error(
                issue_id=None, issue_key="DEMO-9", has_subtasks=False, parent=top, project_id=top.project_id
            )
            is None
        )
        assert "sub-tasks cannot have sub-tasks" in issue_parent_error(
            issue_id=None, issue_key="DEMO-9", has_subtasks=False, parent=child, project_id=top.project_id
        )
        assert "has sub-tasks" in issue_parent_error(
            issue_id=family["other"].pk, issue_key="DEMO-3", has_subtasks=True, parent=top, project_id=top.project_id
        )


def test_project_get_or_create_makes_the_lead_its_admin_once(alice, project_a):
    made = project_get_or_create(key="NEWP", name="New project", lead=alice)
    assert (made.key, made.name, made.lead) == ("NEWP", "New project", alice)
    assert Membership.objects.get(project=made, user=alice).role == Role.ADMIN
    # An existing project is returned as it is: no membership for someone else's lead.
    assert project_get_or_create(key=project_a.key, name="ignored", lead=None) == project_a
    assert project_a.name != "ignored"
