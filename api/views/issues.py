"""issue/{idOrKey} (GET, PUT, DELETE), POST issue and POST issue/bulk: thin views over the issue services.

Reads: the issue's id by key or numeric id as the caller may see it (else 404, never 403), then the
Jira JSON from .values() rows (api.adapters). Writes: the body validated from bytes (api.schemas), names
and ids turned into rows (api.inputs), the role checked (issues.permissions) and the services called.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from api import expand as expansions
from api.adapters import issue_self, issues_json_by_ids
from api.errors import ApiError, validation_errors
from api.fields import field_names_param, select_fields
from api.http import api_view, no_content, ok, parse
from api.inputs import Problems, apply_label_ops, create_args, edit_data, read_operations
from api.schemas import BulkCreateIn, IssueCreateIn, IssueEditIn
from api.selectors import issue_for_user, issue_ids_for_user
from issues.models import Issue
from issues.permissions import require_edit
from issues.services import comment_add, issue_create, issue_delete, issue_update


@api_view("GET", "PUT", "DELETE")
def issue(request: HttpRequest, id_or_key: str) -> Any:
    if request.method == "PUT":
        return _edit(request, id_or_key)
    if request.method == "DELETE":
        return _delete(request, id_or_key)
    pk, _project_id = issue_ids_for_user(user=request.user, ref=id_or_key)
    fields = select_fields(field_names_param(request.GET.getlist("fields")), default="*all")
    found = issues_json_by_ids([pk], fields)
    if not found:  # deleted between the two queries
        raise ApiError(404, ["Issue does not exist or you do not have permission to see it."])
    body = found[0]
    top = expansions.apply(found, field_names_param(request.GET.getlist("expand")), fields)
    body.update(top)
    return body


def _edit(request: HttpRequest, id_or_key: str) -> HttpResponse:
    issue = issue_for_user(user=request.user, ref=id_or_key)
    require_edit(request.user, issue.project_id, "You do not have permission to edit issues in this project.")
    body = parse(IssueEditIn, request)
    problems = Problems()
    ops = read_operations(fields=body.fields, update=body.update, problems=problems)
    data = edit_data(issue=issue, fields=ops.fields, problems=problems)
    problems.raise_any()
    if ops.labels:
        current = data.get("labels", list(issue.labels.values_list("name", flat=True)))
        data["labels"] = apply_label_ops(current, ops.labels)
    with transaction.atomic():
        if data:
            issue_update(issue=issue, actor=request.user, data=data)
        for text in ops.comments:
            comment_add(issue=issue, author=request.user, body=text)
    return no_content()


def _delete(request: HttpRequest, id_or_key: str) -> HttpResponse:
    issue = issue_for_user(user=request.user, ref=id_or_key)
    if request.GET.get("deleteSubtasks", "false").lower() != "true" and Issue.objects.filter(parent=issue).exists():
        raise ApiError(
            400,
            [
                f"The issue '{issue.key}' has subtasks. You must specify the 'deleteSubtasks' parameter to delete "
                "this issue and all its subtasks."
            ],  # fmt: skip
        )
    issue_delete(issue=issue, actor=request.user)
    return no_content()


def _create_one(request: HttpRequest, body: IssueCreateIn) -> Issue:
    problems = Problems()
    ops = read_operations(fields=body.fields, update=body.update, problems=problems)
    problems.raise_any()
    args = create_args(user=request.user, fields=ops.fields)
    require_edit(request.user, args["project"].pk, "You do not have permission to create issues in this project.")
    if ops.labels:
        args["labels"] = apply_label_ops(list(args.get("labels") or []), ops.labels)
    with transaction.atomic():
        created = issue_create(**args)
        for text in ops.comments:
            comment_add(issue=created, author=request.user, body=text)
    return created


def _created(issue: Issue) -> dict[str, Any]:
    return {"id": str(issue.pk), "key": issue.key, "self": issue_self(issue.pk)}


@api_view("POST")
def issue_create_view(request: HttpRequest) -> HttpResponse:
    body = parse(IssueCreateIn, request)
    return ok(_created(_create_one(request, body)), status=201)


@api_view("POST")
def issue_bulk(request: HttpRequest) -> HttpResponse:
    """Create each issue of {"issueUpdates": [...]}; the ones that fail are reported by position, as Jira does."""
    body = parse(BulkCreateIn, request)
    created: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for number, item in enumerate(body.issueUpdates):
        try:
            created.append(_created(_create_one(request, item)))
        except ApiError as exc:
            errors.append(_element_error(number, exc.status, exc.messages, exc.errors))
        except PermissionDenied as exc:
            errors.append(_element_error(number, 403, [str(exc)], {}))
        except ValidationError as exc:
            error = validation_errors(exc)
            errors.append(_element_error(number, 400, error.messages, error.errors))
    status = 201 if created or not errors else 400
    return ok({"issues": created, "errors": errors}, status=status)


def _element_error(number: int, status: int, messages: list[str], errors: dict[str, str]) -> dict[str, Any]:
    return {"status": status, "elementErrors": {"errorMessages": messages, "errors": errors},
            "failedElementNumber": number}  # fmt: skip
