"""Server, caller and lookup endpoints: serverInfo, myself, mypermissions, field, project, issuetype, status,
priority, resolution, user/search and user. Reads only; every list comes from one `.values()` query."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from api import context
from api.adapters import (
    USER_COLUMNS,
    issuetype_json,
    jira_datetime,
    priority_json,
    project_ref_json,
    resolution_json,
    status_json,
    user_json,
    users_json,
)
from api.errors import ApiError
from api.expand import custom_fields_meta
from api.fields import API_FIELDS, parse_int
from api.http import api_view
from api.selectors import issue_ids_for_user, project_by_id_or_key, users_sharing_a_project
from issues.models import IssueType, Priority, Project, Resolution, Status
from issues.permissions import can_admin_in, can_edit_in, can_see_in, project_roles

VERSION = (9, 12, 0)


@api_view("GET", anonymous=True)
def server_info(request: HttpRequest) -> dict[str, Any]:
    return {
        "baseUrl": context.current().origin,
        "version": ".".join(map(str, VERSION)),
        "versionNumbers": list(VERSION),
        "deploymentType": "Server",
        "buildNumber": VERSION[0] * 100000 + VERSION[1] * 1000 + VERSION[2],
        "buildDate": "2026-11-01T00:00:00.000+0000",
        "serverTime": jira_datetime(timezone.now()),
        "scmInfo": "taskra",
        "serverTitle": "Taskra",
    }


def _me(request: HttpRequest) -> dict[str, Any]:
    return users_json(get_user_model().objects.filter(pk=int(request.user.pk or 0)))[0]


@api_view("GET")
def myself(request: HttpRequest) -> dict[str, Any]:
    me = _me(request)
    me["locale"] = "en_US"
    me["groups"] = {"size": 0, "items": []}
    me["applicationRoles"] = {"size": 1, "items": [{"key": "jira-software", "name": "Jira Software"}]}
    me["expand"] = "groups,applicationRoles"
    return me


# Jira permission key -> (name, which role check grants it in a project).
PERMISSIONS = {
    "BROWSE_PROJECTS": ("Browse Projects", can_see_in),
    "CREATE_ISSUES": ("Create Issues", can_edit_in),
    "EDIT_ISSUES": ("Edit Issues", can_edit_in),
    "ASSIGN_ISSUES": ("Assign Issues", can_edit_in),
    "ASSIGNABLE_USER": ("Assignable User", can_edit_in),
    "TRANSITION_ISSUES": ("Transition Issues", can_edit_in),
    "RESOLVE_ISSUES": ("Resolve Issues", can_edit_in),
    "ADD_COMMENTS": ("Add Comments", can_edit_in),
    "EDIT_OWN_COMMENTS": ("Edit Own Comments", can_edit_in),
    "WORK_ON_ISSUES": ("Work On Issues", can_edit_in),
    "EDIT_OWN_WORKLOGS": ("Edit Own Worklogs", can_edit_in),
    "DELETE_OWN_WORKLOGS": ("Delete Own Worklogs", can_edit_in),
    "EDIT_ALL_WORKLOGS": ("Edit All Worklogs", can_admin_in),
    "DELETE_ALL_WORKLOGS": ("Delete All Worklogs", can_admin_in),
    "DELETE_ISSUES": ("Delete Issues", can_admin_in),
    "ADMINISTER_PROJECTS": ("Administer Projects", can_admin_in),
}


@api_view("GET")
def my_permissions(request: HttpRequest) -> dict[str, Any]:
    """The caller's permissions in a project (?projectKey/projectId, or ?issueKey/issueId), or in any project."""
    roles = project_roles(user=request.user)
    params = request.GET
    scope: list[str | None] = list(roles.values())
    project_ref = params.get("projectKey") or params.get("projectId")
    issue_ref = params.get("issueKey") or params.get("issueId")
    if project_ref:
        project = project_by_id_or_key(user=request.user, ref=project_ref)
        scope = [roles.get(project["id"])]
    elif issue_ref:
        found = issue_ids_for_user(user=request.user, ref=issue_ref)
        scope = [roles.get(found[1])]
    wanted = {p.strip() for p in params.get("permissions", "").split(",") if p.strip()}
    permissions = {}
    for key, (name, check) in PERMISSIONS.items():
        if wanted and key not in wanted:
            continue
        permissions[key] = {"id": key, "key": key, "name": name, "type": "PROJECT", "description": name,
                            "havePermission": any(check(role) for role in scope)}  # fmt: skip
    if not wanted or "ADMINISTER" in wanted:
        admin = bool(request.user.is_superuser)
        permissions["ADMINISTER"] = {"id": "ADMINISTER", "key": "ADMINISTER", "name": "Administer Jira",
                                     "type": "GLOBAL", "description": "", "havePermission": admin}  # fmt: skip
    return {"permissions": permissions}


@api_view("GET")
def fields(request: HttpRequest) -> list[dict[str, Any]]:
    return [field.as_json() for field in API_FIELDS] + list(custom_fields_meta(None).values())


# --------------------------------------------------------------------------- projects


def _issue_types() -> list[dict[str, Any]]:
    rows = IssueType.objects.values_list("id", "name", "description", "is_subtask")
    return [issuetype_json(*row) for row in rows]


def _project_json(row: dict[str, Any]) -> dict[str, Any]:
    out = project_ref_json(row["id"], row["key"], row["name"])
    out["expand"] = "description,lead,issueTypes,url,projectKeys,permissions,insight"
    out["style"] = "classic"
    out["isPrivate"] = True
    return out


def _visible_projects(request: HttpRequest) -> Any:
    return Project.objects.filter(pk__in=project_roles(user=request.user).keys()).order_by("key")


@api_view("GET")
def projects(request: HttpRequest) -> list[dict[str, Any]]:
    return [_project_json(row) for row in _visible_projects(request).values("id", "key", "name")]


@api_view("GET")
def project_search(request: HttpRequest) -> dict[str, Any]:
    """Paged projects: startAt, maxResults (at most 100), query (key or name contains), total, isLast, values."""
    start = parse_int(request.GET.get("startAt"), "startAt", default=0)
    size = min(parse_int(request.GET.get("maxResults"), "maxResults", default=50), 100)
    queryset = _visible_projects(request)
    query = request.GET.get("query", "").strip()
    if query:
        queryset = queryset.filter(Q(key__icontains=query) | Q(name__icontains=query))
    total = queryset.count()
    values = [_project_json(row) for row in queryset.values("id", "key", "name")[start : start + size]]
    base = f"{context.current().base}/project/search"
    out: dict[str, Any] = {"self": f"{base}?startAt={start}&maxResults={size}", "maxResults": size,
                           "startAt": start, "total": total, "isLast": start + len(values) >= total,
                           "values": values}  # fmt: skip
    if start + len(values) < total:
        out["nextPage"] = f"{base}?startAt={start + size}&maxResults={size}"
    return out


@api_view("GET")
def project_detail(request: HttpRequest, id_or_key: str) -> dict[str, Any]:
    row = project_by_id_or_key(user=request.user, ref=id_or_key)
    out = _project_json(row)
    lead = None
    if row["lead_id"] is not None:
        found = users_json(get_user_model().objects.filter(pk=row["lead_id"]))
        lead = found[0] if found else None
    out.update(
        {
            "description": row["description"],
            "lead": lead,
            "components": [],
            "issueTypes": _issue_types(),
            "assigneeType": "UNASSIGNED",
            "versions": [],
            "roles": {},
        }
    )
    return out


# --------------------------------------------------------------------------- lookups


@api_view("GET")
def issue_types(request: HttpRequest) -> list[dict[str, Any]]:
    return _issue_types()


@api_view("GET")
def statuses(request: HttpRequest) -> list[dict[str, Any]]:
    return [status_json(*row) for row in Status.objects.values_list("id", "name", "category")]


@api_view("GET")
def priorities(request: HttpRequest) -> list[dict[str, Any]]:
    return [priority_json(*row) for row in Priority.objects.values_list("id", "name", "color")]


@api_view("GET")
def resolutions(request: HttpRequest) -> list[dict[str, Any]]:
    return [resolution_json(*row) or {} for row in Resolution.objects.values_list("id", "name", "description")]


# --------------------------------------------------------------------------- users


@api_view("GET")
def user_search(request: HttpRequest) -> list[dict[str, Any]]:
    """Users whose username, email or name contains ?query= (Server: ?username=), among those sharing a project."""
    query = (request.GET.get("query") or request.GET.get("username") or "").strip()
    account = request.GET.get("accountId", "").strip()
    if not query and not account:
        raise ApiError(400, ["The query parameter 'query' is required."])
    start = parse_int(request.GET.get("startAt"), "startAt", default=0)
    size = min(parse_int(request.GET.get("maxResults"), "maxResults", default=50), 1000)
    queryset = users_sharing_a_project(request.user)
    if account:
        queryset = queryset.filter(_account_q(account))
    if query:
        queryset = queryset.filter(
            Q(username__icontains=query)
            | Q(email__icontains=query)
            | Q(profile__display_name__icontains=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
        )
    return users_json(queryset.order_by("username")[start : start + size])


def _account_q(account: str) -> Q:
    q = Q(profile__account_id=account)
    if account.isdigit() and len(account) < 18:
        q |= Q(pk=int(account), profile__account_id__isnull=True)
    return q


@api_view("GET")
def user(request: HttpRequest) -> dict[str, Any]:
    """One user by ?accountId= (Server: ?username= or ?key=), if they share a project with the caller."""
    account = request.GET.get("accountId", "").strip()
    name = (request.GET.get("username") or request.GET.get("key") or "").strip()
    if not account and not name:
        raise ApiError(400, ["The query parameter 'accountId' is required."])
    queryset = users_sharing_a_project(request.user)
    queryset = queryset.filter(_account_q(account)) if account else queryset.filter(username__iexact=name)
    row = queryset.values_list(*USER_COLUMNS).first()
    if row is None:
        raise ApiError(404, [f"The user with account ID '{account or name}' does not exist."])
    out = user_json(*row)
    assert out is not None
    out["groups"] = {"size": 0, "items": []}
    out["applicationRoles"] = {"size": 1, "items": [{"key": "jira-software", "name": "Jira Software"}]}
    return out
