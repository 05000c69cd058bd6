"""Issue services: key allocation (also under concurrency), partial updates and their history.

Personas: alice is admin of DEMO (may edit), carol is a viewer in DEMO (may not), bob is only in OPS.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from issues.models import History, Issue, Membership, Priority, Project, Resolution, Role, Status
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


def _via_service(client, alice, issue: Issue, parent: Issue) -> str:
    try:
        issue_update(issue=issue, actor=alice, data={"parent": parent})
    except ValidationError as exc:
        return " ".join(exc.message_dict["parent"])
    return ""


def _via_form(client, alice, issue: Issue, parent: Issue) -> str:
    client.force_login(alice)
    form = {"type": issue.type_id, "summary": issue.summary, "status": issue.status_id,
            "priority": issue.priority_id, "parent": parent.key}  # fmt: skip
    response = client.post(f"/browse/{issue.key}/edit", form)
    return response.content.decode() if response.status_code == 200 else ""


def _via_api(client, alice, issue: Issue, parent: Issue) -> str:
    client.force_login(alice)
    body = f'{{"parent": "{parent.key}"}}'
    response = client.post(f"/api/issues/{issue.key}", body, content_type="application/json")
    if response.status_code != 400:
        return ""
    return " ".join(e["message"] for e in response.json()["errors"] if e["field"] == "parent")


def _via_admin(client, alice, issue: Issue, parent: Issue) -> str:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")  # a member of nothing
    client.force_login(admin)
    data = {
        "summary": issue.summary, "description": "", "type": issue.type_id, "status": issue.status_id,
        "resolution": "", "priority": issue.priority_id, "labels": [], "parent": parent.pk, "assignee": "",
        "reporter": issue.reporter_id or "", "due_date": "", "original_estimate": "", "remaining_estimate": "",
        "_save": "Save",
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
    assert write(client, alice, family["other"], family["top"]) == ""  # no error: saved
    assert Issue.objects.get(pk=family["other"].pk).parent_id == family["top"].pk


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
