"""issue/{idOrKey}/transitions (GET, POST): the moves the issue's project workflow allows from its status, each a
transition whose id is the target status id (api.expand.transitions_for). POST moves the issue through
issue_update, with the `fields` (e.g. resolution) and `update` operations (e.g. a comment) of the same body, as
Jira's transition screen; a transition the workflow does not allow is Jira's 400 with the workflow's reason.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from api.errors import ApiError
from api.expand import transitions_for
from api.http import api_view, no_content, parse
from api.inputs import Problems, edit_data, read_operations
from api.schemas import TransitionIn
from api.selectors import issue_for_user, issue_ids_for_user
from issues.models import Issue, Project, Status
from issues.permissions import require_edit
from issues.services import comment_add, issue_update
from issues.workflows import workflow_for


@api_view("GET", "POST")
def transitions(request: HttpRequest, id_or_key: str) -> Any:
    if request.method == "POST":
        return _transition(request, id_or_key)
    pk, project_id = issue_ids_for_user(user=request.user, ref=id_or_key)
    current = Issue.objects.filter(pk=pk).values_list("status_id", flat=True).first()
    project = Project.objects.only("id", "key").get(pk=project_id)
    found = transitions_for(current, workflow_for(project))
    wanted = request.GET.get("transitionId")
    if wanted:
        found = [t for t in found if t["id"] == wanted]
    return {"expand": "transitions", "transitions": found}


def _transition(request: HttpRequest, id_or_key: str) -> Any:
    issue = issue_for_user(user=request.user, ref=id_or_key)
    require_edit(request.user, issue.project_id, "You do not have permission to transition this issue.")
    body = parse(TransitionIn, request)
    wanted = body.transition.id
    workflow = workflow_for(issue.project)
    target = {t["id"]: t for t in transitions_for(issue.status_id, workflow)}.get(wanted)
    if target is None:
        # The workflow's own words when the id names a status it refuses (the same rule as every entry point).
        reason = workflow.error(issue.status_id, int(wanted)) if wanted.isdigit() else None
        raise ApiError(
            400, [f"Transition id '{wanted[:40]}' is not valid for this issue.", *([reason] if reason else [])]
        )
    problems = Problems()
    ops = read_operations(fields=body.fields, update=body.update, problems=problems)
    data = edit_data(issue=issue, fields=ops.fields, problems=problems)
    problems.raise_any()
    data["status"] = Status.objects.get(pk=int(wanted))
    with transaction.atomic():
        issue_update(issue=issue, actor=request.user, data=data)
        for text in ops.comments:
            comment_add(issue=issue, author=request.user, body=text)
    return no_content()
