"""Per-project workflows: the one rule (issues.workflows) through every entry point, and the settings page.

Personas: alice admin of DEMO (project_a), carol viewer in DEMO, bob member of OPS (project_b) only.
"""

from __future__ import annotations

import importlib
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from issues.bulk import bulk_untransitionable
from issues.models import Issue, Project, Status
from issues.services import issue_update
from issues.workflows import (
    TransitionSpec,
    statuses_of_projects,
    transition_error,
    workflow_add_statuses,
    workflow_for,
    workflow_update,
)


def _status(name: str) -> Status:
    return Status.objects.get(name=name)


@pytest.fixture
def strict(project_a):
    """DEMO with a strict workflow: To Do -> In Progress ("Start progress") -> Done, Done -> To Do ("Reopen")."""
    todo, progress, done = _status("To Do"), _status("In Progress"), _status("Done")
    workflow_update(
        project=project_a,
        actor=None,
        steps=[(todo, None), (progress, 2), (done, None)],
        transitions=[
            TransitionSpec(todo, progress, "Start progress"),
            TransitionSpec(progress, done, "Done"),
            TransitionSpec(done, todo, "Reopen"),
        ],
    )
    return project_a


def test_new_projects_get_the_default_workflow_with_every_move(project_a):
    workflow = workflow_for(project_a)
    assert [s.name for s in workflow.steps] == ["To Do", "In Progress", "In Review", "Done"]
    assert transition_error(project_a, _status("Done"), _status("To Do")) is None


def test_the_rule_refuses_moves_the_workflow_lacks_and_statuses_it_does_not_use(strict):
    todo, done, review = _status("To Do"), _status("Done"), _status("In Review")
    assert transition_error(strict, todo, done) == "DEMO's workflow does not allow moving from To Do to Done."
    assert transition_error(strict, None, review) == "In Review is not a status of DEMO's workflow."
    assert transition_error(strict, None, todo) is None  # a new issue may start in any status of the workflow
    assert transition_error(strict, done, todo) is None
    assert [(step.name, name) for step, name in workflow_for(strict).transitions_from(todo)] == [
        ("In Progress", "Start progress")
    ]


def test_statuses_are_per_project_names_shared(strict, project_b):
    backlog = Status.objects.create(name="Backlog", category="todo", position=0)
    workflow_add_statuses(project=project_b, statuses=[backlog])
    assert "Backlog" in [s.name for s in statuses_of_projects([project_b.pk])]
    assert "Backlog" not in [s.name for s in statuses_of_projects([strict.pk])]
    assert "In Review" not in [s.name for s in statuses_of_projects([strict.pk])]


def test_service_refuses_a_move_the_workflow_does_not_allow(strict, make_issue, alice):
    issue = make_issue(strict)
    with pytest.raises(ValidationError) as exc:
        issue_update(issue=issue, actor=alice, data={"status": _status("Done")})
    assert exc.value.message_dict == {"status": ["DEMO's workflow does not allow moving from To Do to Done."]}
    assert Issue.objects.get(pk=issue.pk).status.name == "To Do"


def test_inline_edit_shows_the_refusal(strict, make_issue, client, alice):
    issue = make_issue(strict)
    client.force_login(alice)
    response = client.post(reverse("issues:inline", args=[issue.key, "status"]), {"status": _status("Done").pk})
    assert response.status_code == 400
    assert "does not allow moving from To Do to Done" in response.content.decode()


def test_issue_form_shows_the_refusal(strict, make_issue, client, alice):
    issue = make_issue(strict)
    client.force_login(alice)
    data = {
        "type": issue.type_id,
        "summary": issue.summary,
        "status": _status("Done").pk,
        "priority": issue.priority_id,
    }
    response = client.post(reverse("issues:edit", args=[issue.key]), data)
    assert response.status_code == 200  # the form again, with the error on the status field
    assert "does not allow moving from To Do to Done" in response.content.decode()


def test_issue_page_offers_only_allowed_statuses(strict, make_issue, client, alice):
    issue = make_issue(strict)
    client.force_login(alice)
    body = client.get(issue.get_absolute_url()).content.decode()
    select = body.split('name="status"', 1)[1].split("</select>", 1)[0]
    assert "In Progress" in select and "Done" not in select


def test_bulk_change_reports_each_refused_issue(strict, make_issue):
    todo_issue = make_issue(strict)
    progress_issue = make_issue(strict, status=_status("In Progress"))
    refused = bulk_untransitionable(
        issue_ids=[todo_issue.pk, progress_issue.pk], changes={"status": _status("Done").pk}
    )
    assert refused == [
        (todo_issue.pk, todo_issue.key, "DEMO's workflow does not allow moving from To Do to Done. Not changed.")
    ]


def test_api_lists_only_allowed_transitions_and_refuses_others(strict, make_issue, client, alice):
    issue = make_issue(strict)
    client.force_login(alice)
    url = f"/rest/api/2/issue/{issue.key}/transitions"
    listed = client.get(url).json()["transitions"]
    assert [(t["id"], t["name"]) for t in listed] == [(str(_status("In Progress").pk), "Start progress")]
    body = json.dumps({"transition": {"id": str(_status("Done").pk)}})
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errorMessages"] == [
        f"Transition id '{_status('Done').pk}' is not valid for this issue.",
        "DEMO's workflow does not allow moving from To Do to Done.",
    ]
    assert Issue.objects.get(pk=issue.pk).status.name == "To Do"


def test_workflow_update_keeps_statuses_issues_are_in(strict, make_issue):
    make_issue(strict, status=_status("In Progress"))
    with pytest.raises(ValidationError, match="Issues of DEMO are in In Progress"):
        workflow_update(project=strict, actor=None, steps=[(_status("To Do"), None)], transitions=[])


def test_workflow_update_is_for_project_admins(strict, carol):
    with pytest.raises(PermissionDenied):
        workflow_update(project=strict, actor=carol, steps=[(_status("To Do"), None)], transitions=[])


def test_settings_page_saves_statuses_limits_and_transitions(strict, client, alice):
    client.force_login(alice)
    url = reverse("issues:workflow_settings", args=["DEMO"])
    assert client.get(url).status_code == 200
    todo, progress, done = _status("To Do"), _status("In Progress"), _status("Done")
    data = {
        f"position_{todo.pk}": "1",
        f"position_{progress.pk}": "2",
        f"wip_{progress.pk}": "5",
        f"position_{done.pk}": "3",
        f"t_{todo.pk}_{progress.pk}": "on",
        f"n_{todo.pk}_{progress.pk}": "Begin",
        f"t_any_{done.pk}": "on",
    }
    response = client.post(url, data)
    assert response.status_code == 302
    workflow = workflow_for(Project.objects.get(key="DEMO"))
    assert workflow.step(progress.pk).wip_limit == 5
    assert workflow.edges == {(todo.pk, progress.pk): "Begin"} and workflow.any_to == {done.pk}


def test_settings_page_refuses_bad_input_with_a_message(strict, client, alice):
    client.force_login(alice)
    progress = _status("In Progress")
    url = reverse("issues:workflow_settings", args=["DEMO"])
    response = client.post(url, {f"wip_{progress.pk}": "many"})
    assert response.status_code == 400
    assert "The WIP limit of In Progress must be a whole number" in response.content.decode()


def test_settings_page_is_for_project_admins_only(strict, client, carol, bob):
    url = reverse("issues:workflow_settings", args=["DEMO"])
    client.force_login(carol)  # a viewer of DEMO
    assert client.get(url).status_code == 403
    client.force_login(bob)  # not in DEMO at all
    assert client.get(url).status_code == 404


def test_migration_gives_existing_projects_the_defaults_and_the_statuses_in_use(project_a, make_issue):
    from django.apps import apps

    from issues.models import WorkflowStatus, WorkflowTransition

    blocked = Status.objects.create(name="Blocked", category="in_progress", position=5)
    make_issue(project_a)
    WorkflowStatus.objects.all().delete()
    WorkflowTransition.objects.all().delete()
    Issue.objects.update(status=blocked)  # a status in use that is not one of the defaults

    importlib.import_module("issues.migrations.0005_boards_workflow").default_workflows(apps, None)

    workflow = workflow_for(project_a)
    assert [s.name for s in workflow.steps] == ["To Do", "In Progress", "In Review", "Done", "Blocked"]
    assert workflow.any_to == set(workflow.status_ids) and not workflow.edges  # every move allowed


def test_navigator_offers_the_statuses_of_my_projects_only(project_a, project_b, client, alice):
    backlog = Status.objects.create(name="Backlog", category="todo", position=0)
    workflow_add_statuses(project=project_b, statuses=[backlog])  # OPS uses it; alice is only in DEMO
    client.force_login(alice)
    body = client.get(reverse("issues:navigator")).content.decode()
    assert '<option value="In Review"' in body and '<option value="Backlog"' not in body
