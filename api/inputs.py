"""Jira request bodies to the arguments of Taskra's issue services (names, ids and accountIds to rows).

Every problem is collected by Jira field id and raised once as a 400 {"errors": {"field": "message"}}.
The services (issues.services.issue_create / issue_update / comment_add) then apply their own rules
(permissions, hierarchy, resolution) exactly as for the browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Model, Q

from api.adf import adf_to_text, is_adf
from api.errors import ApiError
from api.fields import parse_int
from api.schemas import IssueFieldsIn, Ref, UserIn
from issues.models import Issue, IssueType, Priority, Project, Resolution, Status
from issues.permissions import visible_project_ids
from issues.selectors import members_of

MAX_ID = 2**63
# Fields Jira does not let an edit or create set directly (transitions change the status).
NOT_SETTABLE = {"status"}
# Jira field id -> issue_update's field name.
INTERNAL = {
    "summary": "summary",
    "description": "description",
    "issuetype": "type",
    "priority": "priority",
    "resolution": "resolution",
    "assignee": "assignee",
    "reporter": "reporter",
    "labels": "labels",
    "parent": "parent",
    "duedate": "due_date",
    "timeoriginalestimate": "original_estimate",
    "timeestimate": "remaining_estimate",
}
LOOKUPS: dict[str, type[Model]] = {"issuetype": IssueType, "priority": Priority, "resolution": Resolution,
                                   "status": Status}  # fmt: skip


def cannot_set(name: str) -> str:
    return f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."


class Problems(dict[str, str]):
    def add(self, field: str, message: str) -> None:
        self.setdefault(field, message)

    def raise_any(self) -> None:
        if self:
            raise ApiError(400, [], dict(self))


def _by_id_or_name(model: type[Model], ref: Ref) -> Model | None:
    manager = model._default_manager
    if ref.id:
        return manager.filter(pk=int(ref.id)).first() if ref.id.isdigit() and int(ref.id) < MAX_ID else None
    if ref.name:
        return manager.filter(name__iexact=ref.name).first()
    return None


def _lookup(field: str, ref: Ref | None, problems: Problems) -> Model | None:
    if ref is None:
        return None
    found = _by_id_or_name(LOOKUPS[field], ref)
    if found is None:
        problems.add(field, f"Specify a valid '{field}' id or name.")
    return found


def _user(field: str, ref: UserIn | None, project_id: int, problems: Problems, current: int | None = None) -> Any:
    if ref is None:
        return None
    q = Q()
    if ref.accountId:
        q = Q(profile__account_id=ref.accountId)
        if ref.accountId.isdigit() and len(ref.accountId) < 18:
            q |= Q(pk=int(ref.accountId), profile__account_id__isnull=True)
    elif ref.name or ref.key:
        q = Q(username__iexact=ref.name or ref.key)
    elif ref.id and ref.id.isdigit() and len(ref.id) < 18:
        q = Q(pk=int(ref.id))
    else:
        return None  # {"accountId": null} / {} clears the field, as in Jira
    found = members_of([project_id]).filter(q).first()
    if found is None and current is not None:
        # The issue's own assignee or reporter sent back unchanged (a client's read-modify-write) stays,
        # member or not, as the browser's edit keeps it; issue_update then sees no change.
        found = get_user_model().objects.filter(q, pk=current).first()
    if found is None:
        shown = ref.accountId or ref.name or ref.key or ref.id
        problems.add(field, f"User '{shown}' cannot be assigned issues." if field == "assignee" else
                     f"The reporter specified ('{shown}') is not a user of this project.")  # fmt: skip
    return found


def _parent(ref: Ref | None, project_id: int, problems: Problems) -> Issue | None:
    if ref is None:
        return None
    q = None
    if ref.id and ref.id.isdigit() and int(ref.id) < MAX_ID:
        q = Q(pk=int(ref.id))
    elif ref.key:
        q = Q(key=ref.key.upper())
    found = Issue.objects.filter(q, project_id=project_id).first() if q is not None else None
    if found is None:
        problems.add("parent", f"Could not find issue by id or key '{ref.key or ref.id}' in this project.")
    return found


def text_body(value: Any, field: str, problems: Problems) -> str | None:
    """Return plain text from a v2 string or a v3 ADF document."""
    if value is None or isinstance(value, str):
        return value
    if is_adf(value):
        return adf_to_text(value)
    problems.add(field, "Operation value must be a string or an Atlassian Document.")
    return None


def _field_values(
    fields: IssueFieldsIn, *, project_id: int, problems: Problems, current: dict[str, int | None] | None = None
) -> dict[str, Any]:
    """Return the sent fields as issue_update's data ({internal name: row or value})."""
    data: dict[str, Any] = {}
    for name in fields.model_extra or {}:
        problems.add(name, cannot_set(name))
    sent = fields.model_fields_set & set(IssueFieldsIn.model_fields)  # extras were reported above
    for name in sent & NOT_SETTABLE:
        problems.add(name, cannot_set(name))
    for name in sent:
        value = getattr(fields, name)
        if name in ("project", "status"):
            continue
        if name in ("issuetype", "priority", "resolution"):
            data[INTERNAL[name]] = _lookup(name, value, problems)
            if value is None and name != "resolution":
                problems.add(name, f"Specify a valid '{name}' id or name.")
        elif name in ("assignee", "reporter"):
            data[name] = _user(name, value, project_id, problems, (current or {}).get(name))
        elif name == "parent":
            data["parent"] = _parent(value, project_id, problems)
        elif name == "description":
            data["description"] = text_body(value, name, problems) or ""
        elif name == "summary":
            if not (value or "").strip():
                problems.add("summary", "You must specify a summary of the issue.")
            elif len(value.strip()) > 255:
                problems.add("summary", "Summary must be less than 255 characters.")
            else:
                data["summary"] = value
        elif name == "timetracking":
            if value is not None:
                if "originalEstimate" in value.model_fields_set:
                    data["original_estimate"] = value.originalEstimate
                if "remainingEstimate" in value.model_fields_set:
                    data["remaining_estimate"] = value.remainingEstimate
        elif name == "labels":
            data["labels"] = list(value or [])
        else:
            data[INTERNAL[name]] = value
    return data


def create_args(*, user: Any, fields: IssueFieldsIn) -> dict[str, Any]:
    """Return issue_create's keyword arguments for a create body; raise Jira's 400 naming each bad field."""
    problems = Problems()
    project = None
    if fields.project is not None:
        projects = Project.objects.filter(pk__in=visible_project_ids(user))
        if fields.project.id and fields.project.id.isdigit() and int(fields.project.id) < MAX_ID:
            project = projects.filter(pk=int(fields.project.id)).first()
        elif fields.project.key:
            project = projects.filter(key=fields.project.key.upper()).first()
    if project is None:
        problems.add("project", "project is required" if fields.project is None else "valid project is required")
        problems.raise_any()
    assert project is not None
    if "summary" not in fields.model_fields_set:
        problems.add("summary", "You must specify a summary of the issue.")
    if fields.issuetype is None:
        problems.add("issuetype", "issue type is required")
    data = _field_values(fields, project_id=project.pk, problems=problems)
    if "reporter" in data and data["reporter"] is None:
        data.pop("reporter")
    problems.raise_any()
    if "resolution" in fields.model_fields_set:
        # A new issue's resolution follows its status (the services' resolution rule), as Jira's create screen.
        problems.add("resolution", cannot_set("resolution"))
    problems.raise_any()
    args: dict[str, Any] = {"project": project, "reporter": data.pop("reporter", user)}
    args.update(data)
    return args


@dataclass
class Operations:
    """A body's `fields` with the `set` operations of `update` merged in, its label and comment operations."""

    fields: IssueFieldsIn
    labels: list[tuple[str, str]] = field(default_factory=list)  # ("add" | "remove", name), in order
    comments: list[str] = field(default_factory=list)  # bodies of comments to add, as plain text


def read_operations(
    *, fields: IssueFieldsIn, update: dict[str, list[dict[str, Any]]], problems: Problems
) -> Operations:
    """Return the operations of a create or edit body, as Jira reads `fields` and `update`.

    Jira's verbs: `set` for any field (a field may not be in both `fields` and `update`), `add`/`remove`
    for labels, `add` for comment ({"body": text or ADF}).
    """
    sets: dict[str, Any] = {}
    ops = Operations(fields=fields)
    for name, operations in update.items():
        for operation in operations:
            if len(operation) != 1:
                problems.add(name, "Each operation must be one of set, add or remove.")
                continue
            ((verb, value),) = operation.items()
            if verb == "set":
                sets[name] = value
            elif name == "labels" and verb in ("add", "remove"):
                if not isinstance(value, str) or not value.strip() or len(value) > 100 or " " in value.strip():
                    problems.add(name, "A label is one word of at most 100 characters.")
                else:
                    ops.labels.append((verb, value.strip()))
            elif name == "comment" and verb == "add" and isinstance(value, dict):
                text = text_body(value.get("body"), name, problems)
                if not (text or "").strip():
                    problems.add(name, "Comment body can not be empty!")
                else:
                    ops.comments.append(text or "")
            else:
                problems.add(name, f"Operation '{verb}' is not supported for field '{name}'.")
    if sets:
        sent = {**fields.model_dump(exclude_unset=True), **(fields.model_extra or {})}
        for name in set(sets) & set(sent):
            problems.add(name, f"Field '{name}' cannot appear in both 'fields' and 'update'.")
        # The `set` values join the fields and are validated with them (errors reported by field).
        ops.fields = IssueFieldsIn.model_validate({**sent, **sets})
    return ops


def apply_label_ops(current: list[str], ops: list[tuple[str, str]]) -> list[str]:
    labels = list(current)
    for verb, name in ops:
        if verb == "add" and name not in labels:
            labels.append(name)
        elif verb == "remove" and name in labels:
            labels.remove(name)
    return labels


def edit_data(*, issue: Issue, fields: IssueFieldsIn, problems: Problems) -> dict[str, Any]:
    """Return issue_update's data for the sent `fields` of an edit body."""
    if "project" in fields.model_fields_set:
        problems.add("project", cannot_set("project"))
    current = {"assignee": issue.assignee_id, "reporter": issue.reporter_id}
    return _field_values(fields, project_id=issue.project_id, problems=problems, current=current)


def page_params(request: Any, *, default: int, limit: int) -> tuple[int, int]:
    """Return (startAt, maxResults) of a paged list's query string; maxResults is capped at `limit`."""
    start = parse_int(request.GET.get("startAt"), "startAt", default=0)
    size = min(parse_int(request.GET.get("maxResults"), "maxResults", default=default), limit)
    return start, size
