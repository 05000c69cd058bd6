"""Worklog rows to WorklogOut objects or JSON: timesheets, time reports, the API and exports.

Same engine and paths as issues/adapters.py (trusted by default, validate=True for untrusted data).
Timesheets and reports are the hot paths: ask for just the fields they show, e.g.
`worklog_rows(qs, fields=("id", "issue_key", "started", "time_spent"))` reads four columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from issues.adapters import DEFAULT_CHUNK_SIZE, RowAdapter, Source, col, user_ref
from worklogs.models import Worklog
from worklogs.schemas import WorklogOut

WORKLOGS = RowAdapter(
    "worklogs",
    WorklogOut,
    Worklog,
    [
        col("id"),
        col("issue_id"),
        col("issue_key", "issue__key"),
        user_ref("author"),
        col("started"),
        col("time_spent"),
        col("comment"),
        col("created"),
        col("updated"),
    ],
)
WORKLOG_FIELDS = WORKLOGS.default_names
# The columns a timesheet cell or time report needs; compiled at import time.
TIMESHEET_FIELDS = ("id", "issue_id", "issue_key", "author", "started", "time_spent")
WORKLOGS.plan(TIMESHEET_FIELDS)
WORKLOGS.plan(TIMESHEET_FIELDS, joins=True)


def worklog_rows(source: Source, *, fields: Iterable[str] | None = None, validate: bool = False) -> list[WorklogOut]:
    """Return WorklogOut objects for a queryset (one query) or worklog instances (partial model with fields=)."""
    return WORKLOGS.objects(source, fields=fields, validate=validate)  # type: ignore[return-value]


def worklog_row_dicts(
    source: Source, *, fields: Iterable[str] | None = None, validate: bool = False
) -> list[dict[str, Any]]:
    """Return worklogs as JSON-ready dicts (the fastest form for templates, reports and CSV)."""
    return WORKLOGS.dicts(source, fields=fields, validate=validate)


def worklog_rows_json(source: Source, *, fields: Iterable[str] | None = None, validate: bool = False) -> bytes:
    """Return worklogs as one JSON array (bytes)."""
    return WORKLOGS.json(source, fields=fields, validate=validate)


def iter_worklog_rows(
    source: Source,
    *,
    fields: Iterable[str] | None = None,
    validate: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[WorklogOut]:
    """Yield WorklogOut objects chunk by chunk (server-side cursor on PostgreSQL): flat memory for any size."""
    return WORKLOGS.iter_objects(source, fields=fields, validate=validate, chunk_size=chunk_size)  # type: ignore[return-value]


def iter_worklog_row_dicts(
    source: Source,
    *,
    fields: Iterable[str] | None = None,
    validate: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[dict[str, Any]]:
    """Yield worklogs as JSON-ready dicts chunk by chunk (CSV exports)."""
    return WORKLOGS.iter_dicts(source, fields=fields, validate=validate, chunk_size=chunk_size)


def iter_worklog_rows_json(
    source: Source,
    *,
    fields: Iterable[str] | None = None,
    validate: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    lines: bool = False,
) -> Iterator[bytes]:
    """Yield a JSON array (or JSON Lines) of worklogs in pieces, for StreamingHttpResponse exports."""
    return WORKLOGS.iter_json(source, fields=fields, validate=validate, chunk_size=chunk_size, lines=lines)


__all__ = [
    "TIMESHEET_FIELDS",
    "WORKLOGS",
    "WORKLOG_FIELDS",
    "iter_worklog_row_dicts",
    "iter_worklog_rows",
    "iter_worklog_rows_json",
    "worklog_row_dicts",
    "worklog_rows",
    "worklog_rows_json",
]
