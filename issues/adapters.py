"""Issues and their pages as JSON-ready dicts or JSON bytes, through the engine in taskra_site/adapters.py.

- ISSUE_ROWS (IssueRow): lists, exports and the tickets report;
- ISSUE_DETAIL (IssueOut): the JSON API (`issue_detail_json`), the navigator's rows and exports;
- the issue page (IssuePage): `issue_page_payload()` assembles what /browse/KEY shows from the
  PAGE_* adapters, with the same user references and datetime text as the API and the exports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson
from django.db.models import Count, QuerySet
from django.template.defaultfilters import filesizeformat
from pydantic import TypeAdapter

from accounts.adapters import user_ref
from issues.durations import format_duration
from issues.models import Issue
from issues.rendering import render_markdown
from issues.schemas import (
    IssueOut,
    IssuePage,
    IssuePageIssue,
    IssueRow,
    PageAttachment,
    PageComment,
    PageHistory,
    PageSubtask,
    PageWorklog,
)
from taskra_site.adapters import (
    DEFAULT_CHUNK_SIZE,
    OutField,
    RowAdapter,
    Source,
    check_rows,
    col,
    dumps,
    typed_dict,
)


def _count_related(relation: str) -> Callable[[list[Any]], dict[Any, int]]:
    """Return a loader counting the rows of an issue's reverse relation ("subtasks", "worklogs") per issue.

    Read through the relation, so issues never imports the apps that point at it (worklogs).
    """

    def load(pks: list[Any]) -> dict[Any, int]:
        rel: Any = Issue._meta.get_field(relation)  # a reverse relation: ManyToOneRel
        fk = rel.field.attname
        rows = rel.related_model._default_manager.filter(**{f"{fk}__in": pks}).order_by().values_list(fk)
        return dict(rows.annotate(n=Count("*")))

    return load


def _load_labels(pks: list[Any]) -> dict[Any, list[str]]:
    through = Issue.labels.through
    found: dict[Any, list[str]] = {}
    for issue_id, name in (
        through.objects.filter(issue_id__in=pks).order_by("label__name").values_list("issue_id", "label__name")
    ):
        found.setdefault(issue_id, []).append(name)
    return found


def _labels(found: list[str] | None) -> list[str]:
    return [] if found is None else found


def _project(pk: int, key: str, name: str) -> dict[str, Any]:
    return {"id": pk, "key": key, "name": name}


_ISSUE_ROW_FIELDS = [
    col("id"),
    col("key"),
    col("summary"),
    OutField("project", ("project_id", "project__key", "project__name"), _project),
    col("type", "type__name"),
    col("status", "status__name"),
    col("status_category", "status__category"),
    col("priority", "priority__name"),
    user_ref("assignee"),
    user_ref("reporter"),
    col("due_date"),
    col("original_estimate"),
    col("remaining_estimate"),
    col("time_spent"),
    col("created"),
    col("updated"),
    col("resolved"),
    OutField("subtask_count", loader=_count_related("subtasks"), loader_default=0, lazy=True),
    OutField("worklog_count", loader=_count_related("worklogs"), loader_default=0, lazy=True),
]

ISSUE_ROWS = RowAdapter("issue_rows", IssueRow, _ISSUE_ROW_FIELDS)
ISSUE_DETAIL = RowAdapter(
    "issue_detail",
    IssueOut,
    [
        *_ISSUE_ROW_FIELDS,
        col("description"),
        col("resolution", "resolution__name"),
        col("parent_key", "parent__key"),
        OutField("labels", make=_labels, loader=_load_labels),
        OutField("description_html", ("description",), render_markdown, lazy=True),
    ],
)


def iter_issue_row_dicts(
    source: Source,
    *,
    fields: Iterable[str] | None = None,
    extras: Iterable[str] = (),
    validate: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[dict[str, Any]]:
    """Yield issue rows (IssueRow) as JSON-ready dicts, chunk by chunk (CSV and JSON exports)."""
    return ISSUE_ROWS.iter_dicts(source, fields=fields, extras=extras, validate=validate, chunk_size=chunk_size)


def issue_detail_json(issue: Issue | QuerySet, *, extras: Iterable[str] = (), validate: bool | None = None) -> bytes:
    """Return one issue (IssueOut) as a JSON object: one query for the row, one for labels (+ users on PG).

    extras: "description_html" (rendered Markdown), "subtask_count", "worklog_count".
    Raise Issue.DoesNotExist when a queryset matches nothing.
    """
    if isinstance(issue, Issue) and issue.pk is not None:
        # One query with every join the detail needs, whatever the instance had loaded.
        issue = Issue.objects.filter(pk=issue.pk)
    found = ISSUE_DETAIL.dicts(issue, extras=extras, validate=validate)
    if not found:
        raise Issue.DoesNotExist("issue not found")
    return dumps(found[0])


# ---------------------------------------------------------------------------------------------------------
# The issue page (/browse/KEY): one payload for every viewer, cached as JSON by the page cache.
# Users are joined into each list's query: the lists are short and nearly every row has a user.
# ---------------------------------------------------------------------------------------------------------


def _named(pk: int, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": pk, "name": name, **extra}


def _parent(pk: int | None, key: str, summary: str) -> dict[str, Any] | None:
    return None if pk is None else {"id": pk, "key": key, "summary": summary}


def _edited(created: Any, updated: Any) -> bool:
    return (updated - created).total_seconds() > 1


_DURATION_FIELDS = frozenset({"original_estimate", "remaining_estimate", "time_spent"})


def _history_value(field: str, value: str) -> str:
    # History stores estimates and time spent as seconds; the page shows them as "2h 30m".
    if field in _DURATION_FIELDS and value.isdigit():
        return format_duration(int(value))
    return value


PAGE_ISSUE = RowAdapter(
    "issue_page.issue",
    IssuePageIssue,
    [
        col("id"),
        col("key"),
        col("number"),
        col("summary"),
        col("description"),
        col("description_html", "description", render_markdown),
        OutField("project", ("project_id", "project__key", "project__name"), _project),
        OutField(
            "type",
            ("type_id", "type__name", "type__icon", "type__is_subtask"),
            lambda pk, name, icon, sub: _named(pk, name, icon=icon, is_subtask=sub),
        ),
        OutField(
            "status",
            ("status_id", "status__name", "status__category"),
            lambda pk, name, category: _named(pk, name, category=category),
        ),
        OutField(
            "priority",
            ("priority_id", "priority__name", "priority__color"),
            lambda pk, name, color: _named(pk, name, color=color),
        ),
        col("resolution", "resolution__name"),
        user_ref("assignee"),
        user_ref("reporter"),
        OutField("labels", make=_labels, loader=_load_labels),
        OutField("parent", ("parent_id", "parent__key", "parent__summary"), _parent),
        col("due_date"),
        col("created"),
        col("updated"),
        col("resolved"),
    ],
    joins=True,
)
PAGE_SUBTASKS = RowAdapter(
    "issue_page.subtasks",
    PageSubtask,
    [
        col("id"),
        col("key"),
        col("summary"),
        col("status", "status__name"),
        col("status_category", "status__category"),
        col("priority", "priority__name"),
        col("priority_color", "priority__color"),
        col("type_icon", "type__icon"),
        user_ref("assignee"),
        col("time_spent"),
    ],
    joins=True,
)
PAGE_COMMENTS = RowAdapter(
    "issue_page.comments",
    PageComment,
    [
        col("id"),
        user_ref("author"),
        col("body"),
        col("body_html", "body", render_markdown),
        col("created"),
        col("updated"),
        OutField("edited", ("created", "updated"), _edited),
    ],
    joins=True,
)
PAGE_WORKLOGS = RowAdapter(
    "issue_page.worklogs",
    PageWorklog,
    [
        col("id"),
        user_ref("author"),
        col("started"),
        col("time_spent"),
        col("time_spent_text", "time_spent", format_duration),
        col("comment"),
    ],
    joins=True,
)
PAGE_HISTORY = RowAdapter(
    "issue_page.history",
    PageHistory,
    [
        col("id"),
        user_ref("author"),
        col("created"),
        col("field", "field", lambda field: field.replace("_", " ")),
        OutField("from", ("field", "from_value"), _history_value),
        OutField("to", ("field", "to_value"), _history_value),
    ],
    joins=True,
)
PAGE_ATTACHMENTS = RowAdapter(
    "issue_page.attachments",
    PageAttachment,
    [
        col("id"),
        col("filename"),
        col("size"),
        col("size_text", "size", filesizeformat),
        col("content_type"),
        col("has_thumbnail", "thumbnail", bool),
        user_ref("author"),
        col("created"),
    ],
    joins=True,
)
_PAGE_TYPE: Any = typed_dict(IssuePage)
_PAGE_VALIDATOR: TypeAdapter[Any] = TypeAdapter(_PAGE_TYPE)


def time_tracking(*, original: int | None, spent: int, remaining: int | None) -> dict[str, Any]:
    """Return the figures of Jira's time-tracking bar (seconds, text, and bar widths in percent)."""
    scale = max(original or 0, spent + (remaining or 0), 1)
    return {
        "original": original,
        "spent": spent,
        "remaining": remaining,
        "original_text": format_duration(original) if original is not None else "Not specified",
        "spent_text": format_duration(spent) if spent else "None",
        "remaining_text": format_duration(remaining) if remaining is not None else "Not specified",
        "original_pct": round(100 * (original or 0) / scale, 1),
        "spent_pct": round(100 * spent / scale, 1),
        "remaining_pct": round(100 * (remaining or 0) / scale, 1),
        "over_estimate": original is not None and spent + (remaining or 0) > original,
    }


def latest_rows(adapter: RowAdapter, queryset: QuerySet, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Return up to `limit` rows of a newest-first queryset in chronological order, and the total count.

    One query when all fit (a count query more when they do not). Rows are checked with the whole page.
    """
    rows = adapter.dicts(queryset[: limit + 1], validate=False)
    if len(rows) > limit:
        rows = rows[:limit]
        total = queryset.count()
    else:
        total = len(rows)
    rows.reverse()
    return rows, total


def issue_page_payload(
    *,
    issue: Issue,
    subtasks: QuerySet | list[dict[str, Any]],
    comments: tuple[list[dict[str, Any]], int],
    worklogs: tuple[list[dict[str, Any]], int],
    history: tuple[list[dict[str, Any]], int],
    attachments: Sequence[dict[str, Any]] = (),
    links: Sequence[dict[str, Any]] = (),
    link_types: Sequence[dict[str, Any]] = (),
    progress: Callable[[list[dict[str, Any]]], dict[str, Any] | None] | None = None,
    custom_fields: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Return the issue page's payload (schema IssuePage) as JSON-exact data: the JSON the API would write.

    `issue` is an instance with its related rows joined (read without a query; its labels cost one);
    `subtasks` a queryset (or its PAGE_SUBTASKS dicts), the lists come from latest_rows(); `links` (every link,
    both directions),
    `link_types` (the add-link form's options) and `progress` (of the children, given the sub-task rows).
    The payload is checked against IssuePage
    as the validation switch says, then encoded once with dumps(): datetimes become the same text as in
    the API, and the page cache stores it as JSON.
    """
    head = PAGE_ISSUE.dicts(issue, validate=False)[0]
    subtask_rows = subtasks if isinstance(subtasks, list) else PAGE_SUBTASKS.dicts(subtasks, validate=False)
    payload = {
        "issue": head,
        "time": time_tracking(
            original=issue.original_estimate, spent=issue.time_spent, remaining=issue.remaining_estimate
        ),
        "subtasks": subtask_rows,
        "comments": comments[0],
        "comments_total": comments[1],
        "worklogs": worklogs[0],
        "worklogs_total": worklogs[1],
        "history": history[0],
        "history_total": history[1],
        "attachments": list(attachments),
        "links": list(links),
        "link_types": list(link_types),
        "progress": progress(subtask_rows) if progress is not None else None,
        "custom_fields": list(custom_fields),
    }
    check_rows(_PAGE_VALIDATOR, payload, name=f"issue_page {issue.key}", validate=None)
    return orjson.loads(dumps(payload))


__all__ = [
    "ISSUE_DETAIL",
    "ISSUE_ROWS",
    "PAGE_ATTACHMENTS",
    "PAGE_COMMENTS",
    "PAGE_HISTORY",
    "PAGE_ISSUE",
    "PAGE_SUBTASKS",
    "PAGE_WORKLOGS",
    "issue_detail_json",
    "issue_page_payload",
    "iter_issue_row_dicts",
    "latest_rows",
    "time_tracking",
]
