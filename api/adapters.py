"""Jira's JSON shapes written from `.values()` rows (the trusted path of taskra_site/adapters.py).

JIRA_ISSUE is a RowAdapter whose output fields are Jira's field ids; `issue_json()` wraps each row as
{"expand", "id", "self", "key", "fields"}. Related rows (users, labels, parents, sub-tasks, comments,
worklogs) come from one batched query per page, never from a model instance per row. Lookup tables
(statuses, types, priorities, resolutions, projects) have `*_json()` writers shared by their endpoints.
`self` URLs and v2/v3 bodies follow the request's api.context.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import BigIntegerField, Case, Exists, F, OuterRef, Q, QuerySet, When

from accounts.models import display_name_of
from api import context
from api.adf import text_to_adf
from api.fields import ALL_FIELDS, CUSTOM_ALL, is_custom
from api.schemas import JiraIssueFields
from issues.adapters import _labels, _load_labels
from issues.durations import format_duration
from issues.lookups import lookup_rows
from issues.models import (
    Attachment,
    Comment,
    Issue,
    IssueLink,
    IssueLinkType,
    IssueType,
    Membership,
    Priority,
    Resolution,
    Status,
    StatusCategory,
)
from issues.selectors import issue_custom_field_rows
from taskra_site.adapters import OutField, RowAdapter, col
from worklogs.models import Worklog

# Jira's three status categories, with their fixed ids, keys and colours.
STATUS_CATEGORIES = {
    StatusCategory.TODO: (2, "new", "blue-gray", "To Do"),
    StatusCategory.IN_PROGRESS: (4, "indeterminate", "yellow", "In Progress"),
    StatusCategory.DONE: (3, "done", "green", "Done"),
}
# Comments and worklogs embedded in an issue, at most (Jira embeds 20 worklogs; the endpoints page the rest).
EMBEDDED_WORKLOGS = 20
EMBEDDED_COMMENTS = 100


def jira_datetime(value: dt.datetime | None) -> str | None:
    """Return Jira's timestamp text: "2026-11-20T10:00:00.000+0000" (UTC)."""
    if value is None:
        return None
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def jira_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def body_out(text: str | None) -> str | dict[str, Any] | None:
    """Return a description or comment body as the request's version writes it: text (v2) or ADF (v3)."""
    if not text:
        return None
    return text_to_adf(text) if context.current().version >= 3 else text


def status_category_json(category: str) -> dict[str, Any]:
    known = category if category in STATUS_CATEGORIES else StatusCategory.TODO
    cid, key, color, name = STATUS_CATEGORIES[StatusCategory(known)]
    return {"self": f"{context.current().base}/statuscategory/{cid}", "id": cid, "key": key, "colorName": color,
            "name": name}  # fmt: skip


def status_json(pk: int, name: str, category: str, description: str = "") -> dict[str, Any]:
    base = context.current().base
    return {
        "self": f"{base}/status/{pk}",
        "description": description,
        "iconUrl": "",
        "name": name,
        "id": str(pk),
        "statusCategory": status_category_json(category),
    }


def issuetype_json(pk: int, name: str, description: str, subtask: bool) -> dict[str, Any]:
    base = context.current().base
    return {"self": f"{base}/issuetype/{pk}", "id": str(pk), "description": description, "iconUrl": "",
            "name": name, "subtask": subtask, "hierarchyLevel": -1 if subtask else 0}  # fmt: skip


def priority_json(pk: int, name: str, color: str) -> dict[str, Any]:
    base = context.current().base
    return {"self": f"{base}/priority/{pk}", "statusColor": color, "description": "", "iconUrl": "", "name": name,
            "id": str(pk)}  # fmt: skip


def resolution_json(pk: int | None, name: str | None, description: str | None) -> dict[str, Any] | None:
    if pk is None:
        return None
    return {"self": f"{context.current().base}/resolution/{pk}", "id": str(pk), "description": description or "",
            "name": name}  # fmt: skip


def project_ref_json(pk: int, key: str, name: str) -> dict[str, Any]:
    return {"self": f"{context.current().base}/project/{pk}", "id": str(pk), "key": key, "name": name,
            "projectTypeKey": "software", "simplified": False}  # fmt: skip


def _lookup_loader(field: str, model: type[Status | IssueType | Priority | Resolution]) -> Any:
    """Return a loader of one lookup table's rows by id: the rows kept per process, or one query for the rest.

    An issue page of the search read its status, priority, type and resolution through joins: PostgreSQL spent
    1-8 ms planning that 6-table join for 0.5 ms of execution (50 ids, EXPLAIN ANALYZE at 1,000,000 issues).
    The rows issues.lookups keeps are current (retired by the global generation); a row it does not know yet,
    or no shared cache at all, is read by id.
    """

    def load(ids: list[Any]) -> dict[Any, Any]:
        kept = lookup_rows()
        known = kept[field] if kept is not None else {}
        found = {pk: known[pk] for pk in ids if pk in known}
        missing = [pk for pk in ids if pk not in found]
        if missing:
            found.update((row.pk, row) for row in model._default_manager.filter(pk__in=missing))
        return found

    load.__name__ = f"load_{field}_rows"
    return load


def _status_of(row: Status | None) -> dict[str, Any] | None:
    return None if row is None else status_json(row.pk, row.name, row.category)


def _priority_of(row: Priority | None) -> dict[str, Any] | None:
    return None if row is None else priority_json(row.pk, row.name, row.color)


def _issuetype_of(row: IssueType | None) -> dict[str, Any] | None:
    return None if row is None else issuetype_json(row.pk, row.name, row.description, row.is_subtask)


def _resolution_of(row: Resolution | None) -> dict[str, Any] | None:
    return None if row is None else resolution_json(row.pk, row.name, row.description)


def lookup_field(name: str, field: str, model: Any, make: Any, joined: OutField) -> OutField:
    """Return an issue's lookup field (status, priority, type, resolution) read by id through _lookup_loader.

    `joined` is the same field read through joins, where joins plan cheaply (SQLite).
    """
    return OutField(name, make=make, loader=_lookup_loader(field, model), loader_key=f"{field}_id", joined=joined)


# ---------------------------------------------------------------------------------------------------------
# Users: {accountId, name, key, emailAddress, displayName, active, timeZone}
# ---------------------------------------------------------------------------------------------------------

USER_COLUMNS = ("id", "username", "email", "is_active", "first_name", "last_name", "profile__display_name",
                "profile__account_id", "profile__time_zone")  # fmt: skip


def account_id(pk: int, account: str | None) -> str:
    """Return a user's accountId: the imported Jira accountId when there is one, else the user id as text."""
    return account or str(pk)


def user_json(
    pk: int | None,
    username: str = "",
    email: str = "",
    active: bool = True,
    first: str = "",
    last: str = "",
    shown: str | None = None,
    account: str | None = None,
    zone: str | None = None,
) -> dict[str, Any] | None:
    """Return Jira's user object from the USER_COLUMNS of a user (None without one)."""
    if pk is None:
        return None
    aid = account_id(pk, account)
    return {
        "self": f"{context.current().base}/user?accountId={aid}",
        "accountId": aid,
        "name": username,
        "key": username,
        "emailAddress": email or "",
        "displayName": display_name_of(username=username, first_name=first, last_name=last, profile_name=shown),
        "active": bool(active),
        "timeZone": zone or "UTC",
        "accountType": "atlassian",
    }


def users_json(queryset: QuerySet) -> list[dict[str, Any]]:
    """Return Jira user objects of a user queryset (one query)."""
    return [user_json(*row) or {} for row in queryset.values_list(*USER_COLUMNS)]


def load_users(ids: list[Any]) -> dict[Any, tuple[Any, ...]]:
    rows = get_user_model().objects.filter(pk__in=ids).values_list(*USER_COLUMNS)
    return {row[0]: row for row in rows}


def _user_loaded(row: tuple[Any, ...] | None) -> dict[str, Any] | None:
    return None if row is None else user_json(*row)


def jira_user(name: str, path: str) -> OutField:
    """Return a Jira user field for the `<path>` foreign key (batched query, or joined on SQLite)."""
    return OutField(
        name,
        make=_user_loaded,
        loader=load_users,
        loader_key=f"{path}_id",
        joined=OutField(name, tuple(f"{path}__{c}" if c != "id" else f"{path}_id" for c in USER_COLUMNS), user_json),
    )


# ---------------------------------------------------------------------------------------------------------
# The issue
# ---------------------------------------------------------------------------------------------------------


def issue_self(pk: int) -> str:
    return f"{context.current().base}/issue/{pk}"


def _timetracking(original: int | None, remaining: int | None, spent: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if original is not None:
        out["originalEstimate"] = format_duration(original)
        out["originalEstimateSeconds"] = original
    if remaining is not None:
        out["remainingEstimate"] = format_duration(remaining)
        out["remainingEstimateSeconds"] = remaining
    if spent:
        out["timeSpent"] = format_duration(spent)
        out["timeSpentSeconds"] = spent
    return out


_LINKED_COLUMNS = ("id", "key", "summary", "status_id", "status__name", "status__category", "priority_id",
                   "priority__name", "priority__color", "type_id", "type__name", "type__description",
                   "type__is_subtask")  # fmt: skip


def _linked(row: tuple[Any, ...]) -> dict[str, Any]:
    pk, key, summary, sid, sname, scat, pid, pname, pcolor, tid, tname, tdesc, tsub = row
    return {
        "id": str(pk),
        "key": key,
        "self": issue_self(pk),
        "fields": {
            "summary": summary,
            "status": status_json(sid, sname, scat),
            "priority": priority_json(pid, pname, pcolor),
            "issuetype": issuetype_json(tid, tname, tdesc, tsub),
        },
    }


def _load_parents(ids: list[Any]) -> dict[Any, dict[str, Any]]:
    return {row[0]: _linked(row) for row in Issue.objects.filter(pk__in=ids).values_list(*_LINKED_COLUMNS)}


def _load_subtasks(ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    found: dict[Any, list[dict[str, Any]]] = {}
    rows = Issue.objects.filter(parent_id__in=ids).order_by("number").values_list("parent_id", *_LINKED_COLUMNS)
    for row in rows:
        found.setdefault(row[0], []).append(_linked(row[1:]))
    return found


def _subtasks(found: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return found or []


def link_type_json(pk: int, name: str, inward: str, outward: str) -> dict[str, Any]:
    """Return Jira's issueLinkType object."""
    return {"id": str(pk), "name": name, "inward": inward, "outward": outward,
            "self": f"{context.current().base}/issueLinkType/{pk}"}  # fmt: skip


def link_types_json() -> list[dict[str, Any]]:
    """Return every issue link type as Jira's objects (one query)."""
    return [link_type_json(*row) for row in IssueLinkType.objects.values_list("id", "name", "inward", "outward")]


_LINK_TYPE_COLUMNS = ("type_id", "type__name", "type__inward", "type__outward")


def _load_issuelinks(ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    """Return each issue's links as Jira writes them in fields.issuelinks, only to issues the caller may see.

    On "A blocks B", A's entry names B as "outwardIssue" and B's names A as "inwardIssue". The links are read
    alone (with their type), then the issues at their other ends in one more query when there are any: the one
    query joining both ends' status, priority and type was a 10-table join that PostgreSQL spent 3-9 ms planning
    for 0.1 ms of execution on every search page (EXPLAIN ANALYZE at 1,000,000 issues).
    """
    found: dict[Any, list[dict[str, Any]]] = {}
    caller = context.current().user_id
    if caller is None:
        return found  # outside an authenticated request no linked issue is shown
    wanted = set(ids)
    links = list(
        IssueLink.objects.filter(Q(outward_issue_id__in=ids) | Q(inward_issue_id__in=ids))
        .order_by("type__name", "id")
        .values_list("id", *_LINK_TYPE_COLUMNS, "outward_issue_id", "inward_issue_id")
    )
    if not links:
        return found
    ends = {pk for *_link, outward, inward in links for pk in (outward, inward)}
    # Only issues the caller may see (the asked-for ones are visible): a link to another project's issue is left out.
    # Tested per row (one probe of the caller's memberships), not as a filter the planner may drive from the caller's
    # memberships: with a member of every project it probed each end once per project (15 ms for 100 links).
    shown = Exists(Membership.objects.filter(user_id=caller, project_id=OuterRef("project_id")))
    rows = Issue.objects.filter(pk__in=ends).annotate(shown=shown).values_list("shown", *_LINKED_COLUMNS)
    visible = {row[1]: _linked(tuple(row[1:])) for row in rows if row[0]}
    for pk, *kind, outward, inward in links:
        # Two issues of the same page linked to each other: the link shows on both.
        for issue, other, side in ((outward, inward, "outwardIssue"), (inward, outward, "inwardIssue")):
            if issue in wanted and other in visible:
                entry = {"id": str(pk), "self": f"{context.current().base}/issueLink/{pk}",
                         "type": link_type_json(*kind), side: visible[other]}  # fmt: skip
                found.setdefault(issue, []).append(entry)
    return found


def issue_link_json(link_id: int) -> dict[str, Any] | None:
    """Return GET issueLink/{id}: the type, "inwardIssue" (the source: A in "A blocks B") and "outwardIssue".

    The same reading as the POST body, so what GET returns can be posted again. None when missing.
    """
    row = (
        IssueLink.objects.filter(pk=link_id)
        .values_list(
            *_LINK_TYPE_COLUMNS,
            *(f"outward_issue__{c}" for c in _LINKED_COLUMNS),
            *(f"inward_issue__{c}" for c in _LINKED_COLUMNS),
        )  # fmt: skip
        .first()
    )
    if row is None:
        return None
    width = len(_LINKED_COLUMNS)
    return {
        "id": str(link_id),
        "self": f"{context.current().base}/issueLink/{link_id}",
        "type": link_type_json(*row[:4]),
        "inwardIssue": _linked(tuple(row[4 : 4 + width])),
        "outwardIssue": _linked(tuple(row[4 + width :])),
    }


ATTACHMENT_COLUMNS = ("id", "filename", "size", "content_type", "created", "thumbnail",
                      *(f"author__{c}" for c in USER_COLUMNS[1:]))  # fmt: skip


def attachment_json(row: tuple[Any, ...], author_id: int | None) -> dict[str, Any]:
    """Return Jira's attachment object from a row of ATTACHMENT_COLUMNS (and the author's id).

    `content` and `thumbnail` are API URLs (token or session auth, the issue's visibility rule).
    """
    pk, filename, size, content_type, created, thumbnail, *user = row
    base = context.current().base
    out = {
        "self": f"{base}/attachment/{pk}",
        "id": str(pk),
        "filename": filename,
        "author": user_json(author_id, *user),
        "created": jira_datetime(created),
        "size": size,
        "mimeType": content_type,
        "content": f"{base}/attachment/content/{pk}",
    }
    if thumbnail:
        out["thumbnail"] = f"{base}/attachment/thumbnail/{pk}"
    return out


def _load_attachments(ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    found: dict[Any, list[dict[str, Any]]] = {}
    rows = Attachment.objects.filter(issue_id__in=ids).order_by("created", "id")
    for issue_id, author_id, *row in rows.values_list("issue_id", "author_id", *ATTACHMENT_COLUMNS):
        found.setdefault(issue_id, []).append(attachment_json(tuple(row), author_id))
    return found


COMMENT_COLUMNS = ("id", "issue_id", "body", "created", "updated", *(f"author__{c}" for c in USER_COLUMNS[1:]))


def comment_json(row: tuple[Any, ...], author_id: int | None) -> dict[str, Any]:
    """Return Jira's comment object from a row of COMMENT_COLUMNS (and the author's id)."""
    pk, issue_id, body, created, updated, *user = row
    author = user_json(author_id, *user)
    return {
        "self": f"{issue_self(issue_id)}/comment/{pk}",
        "id": str(pk),
        "author": author,
        "body": body_out(body) or ("" if context.current().version < 3 else text_to_adf("")),
        "updateAuthor": author,
        "created": jira_datetime(created),
        "updated": jira_datetime(updated),
        "jsdPublic": True,
    }


def _load_comments(ids: list[Any]) -> dict[Any, dict[str, Any]]:
    rows: dict[Any, list[dict[str, Any]]] = {}
    qs = Comment.objects.filter(issue_id__in=ids).order_by("created", "id").values_list("author_id", *COMMENT_COLUMNS)
    for author_id, *row in qs:
        rows.setdefault(row[1], []).append(comment_json(tuple(row), author_id))
    return {pk: _page("comments", found, EMBEDDED_COMMENTS) for pk, found in rows.items()}


WORKLOG_COLUMNS = ("id", "issue_id", "comment", "started", "time_spent", "created", "updated",
                   *(f"author__{c}" for c in USER_COLUMNS[1:]))  # fmt: skip


def worklog_json(row: tuple[Any, ...], author_id: int | None) -> dict[str, Any]:
    """Return Jira's worklog object from a row of WORKLOG_COLUMNS (and the author's id)."""
    pk, issue_id, comment, started, spent, created, updated, *user = row
    author = user_json(author_id, *user)
    out = {
        "self": f"{issue_self(issue_id)}/worklog/{pk}",
        "author": author,
        "updateAuthor": author,
        "created": jira_datetime(created),
        "updated": jira_datetime(updated),
        "started": jira_datetime(started),
        "timeSpent": format_duration(spent),
        "timeSpentSeconds": spent,
        "id": str(pk),
        "issueId": str(issue_id),
    }
    if comment:
        out["comment"] = body_out(comment)
    return out


def _load_worklogs(ids: list[Any]) -> dict[Any, dict[str, Any]]:
    rows: dict[Any, list[dict[str, Any]]] = {}
    qs = Worklog.objects.filter(issue_id__in=ids).order_by("started", "id").values_list("author_id", *WORKLOG_COLUMNS)
    for author_id, *row in qs:
        rows.setdefault(row[1], []).append(worklog_json(tuple(row), author_id))
    return {pk: _page("worklogs", found, EMBEDDED_WORKLOGS) for pk, found in rows.items()}


def _page(name: str, rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"startAt": 0, "maxResults": min(len(rows), limit), "total": len(rows), name: rows[:limit]}


def _empty_page(name: str) -> Any:
    return lambda found: found if found is not None else _page(name, [], 0)


JIRA_ISSUE = RowAdapter(
    "api.issue",
    JiraIssueFields,
    [
        col("id"),
        col("key"),
        col("summary"),
        lookup_field(
            "status",
            "status",
            Status,
            _status_of,
            OutField("status", ("status_id", "status__name", "status__category"), status_json),
        ),
        jira_user("assignee", "assignee"),
        jira_user("reporter", "reporter"),
        lookup_field(
            "priority",
            "priority",
            Priority,
            _priority_of,
            OutField("priority", ("priority_id", "priority__name", "priority__color"), priority_json),
        ),
        lookup_field(
            "issuetype",
            "type",
            IssueType,
            _issuetype_of,
            OutField("issuetype", ("type_id", "type__name", "type__description", "type__is_subtask"), issuetype_json),
        ),
        OutField("project", ("project_id", "project__key", "project__name"), project_ref_json),
        OutField("labels", make=_labels, loader=_load_labels),
        col("created", make=jira_datetime),
        col("updated", make=jira_datetime),
        lookup_field(
            "resolution",
            "resolution",
            Resolution,
            _resolution_of,
            OutField("resolution", ("resolution_id", "resolution__name", "resolution__description"), resolution_json),
        ),
        col("resolutiondate", "resolved", jira_datetime),
        col("duedate", "due_date", jira_date),
        col("description", make=body_out),
        OutField("comment", make=_empty_page("comments"), loader=_load_comments),
        OutField("worklog", make=_empty_page("worklogs"), loader=_load_worklogs),
        OutField("timetracking", ("original_estimate", "remaining_estimate", "time_spent"), _timetracking),
        OutField("parent", loader=_load_parents, loader_key="parent_id"),
        OutField("subtasks", make=_subtasks, loader=_load_subtasks, loader_key="api_subtasks_of"),
        OutField("issuelinks", make=_subtasks, loader=_load_issuelinks, loader_key="api_links_of"),
        OutField("attachment", make=_subtasks, loader=_load_attachments, loader_key="api_attachments_of"),
        col("timeoriginalestimate", "original_estimate"),
        col("timeestimate", "remaining_estimate"),
        col("timespent", "time_spent", lambda s: s or None),
    ],
)
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


def custom_api_id(row: dict[str, Any]) -> str:
    """Return a custom field's API id: Jira's (customfield_10010), or customfield_<id here> for one without."""
    return row["jira_id"] or f"customfield_{row['id']}"


def custom_value_json(row: dict[str, Any]) -> Any:
    """Return a custom field's value (schema PageCustomField) as Jira's REST API shows one of its type."""
    kind, values = row["type"], row["values"]
    if kind == "number":
        return row["number"]
    if kind == "date":
        return jira_date(row["date"])
    if kind == "datetime":
        return jira_datetime(row["moment"]) if row["moment"] else row["text"]
    if kind == "select":
        return {"value": row["text"]}
    if kind == "multiselect":
        return [{"value": v} for v in values]
    if kind == "user":
        return [{"name": v, "displayName": v} for v in values]
    if kind == "labels":
        return list(values)
    return row["text"]


def _custom_fields(ids: list[int], wanted: set[str]) -> dict[int, dict[str, Any]]:
    """Return per issue id its custom-field values by API id (the wanted ones, null when unset): one query."""
    named = {f for f in wanted if f != CUSTOM_ALL}
    out: dict[int, dict[str, Any]] = {pk: dict.fromkeys(sorted(named)) for pk in ids}
    for issue_id, rows in issue_custom_field_rows(issue_ids=ids).items():
        for row in rows:
            api_id = custom_api_id(row)
            if CUSTOM_ALL in wanted or api_id in named:
                out[issue_id][api_id] = custom_value_json(row)
    return out


def _id_if_any(related: QuerySet) -> Case:
    """Return the issue's id when it has a row of `related` (correlated on OuterRef("pk")), else NULL."""
    return Case(When(Exists(related), then=F("pk")), default=None, output_field=BigIntegerField())


def _with_related_keys(source: QuerySet) -> QuerySet:
    """Annotate the keys of the sub-task, link and attachment loaders: the ids of the issues that have some.

    Most issues have none of them, and each loader was one more query per page (three of a search page's ten,
    each a round trip of 1-3 ms on a loaded 2-core machine); a loader without keys makes no query. The tests
    are index probes (parent, link ends, attachment issue) in the row query. Only the columns of the fields
    asked for are selected (values_list drops the other annotations).
    """
    pk = OuterRef("pk")
    return source.annotate(
        api_subtasks_of=_id_if_any(Issue.objects.filter(parent_id=pk)),
        api_links_of=_id_if_any(IssueLink.objects.filter(Q(outward_issue_id=pk) | Q(inward_issue_id=pk))),
        api_attachments_of=_id_if_any(Attachment.objects.filter(issue_id=pk)),
    )


def issues_json(source: QuerySet, fields: Iterable[str] = ALL_FIELDS) -> list[dict[str, Any]]:
    """Return Jira issue objects for the issues of a queryset (in its order), with these fields."""
    fields = tuple(fields)
    custom = {f for f in fields if is_custom(f)}
    rows = JIRA_ISSUE.dicts(_with_related_keys(source), fields=("id", "key", *(f for f in fields if not is_custom(f))))
    values = _custom_fields([row["id"] for row in rows], custom) if custom and rows else {}
    out = []
    for row in rows:
        pk = row.pop("id")
        key = row.pop("key")
        row.update(values.get(pk, {}))
        out.append({"expand": ISSUE_EXPAND, "id": str(pk), "self": issue_self(pk), "key": key, "fields": row})
    return out


def issues_json_by_ids(ids: list[int], fields: Iterable[str] = ALL_FIELDS) -> list[dict[str, Any]]:
    """Return Jira issue objects for these ids in the given order (one query for the rows, one per loader)."""
    if not ids:
        return []
    by_id = {int(i["id"]): i for i in issues_json(Issue.objects.filter(pk__in=ids), fields)}
    return [by_id[pk] for pk in ids if pk in by_id]
