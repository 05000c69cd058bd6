"""Worklog rows as JSON-ready dicts or JSON (WorklogOut): the worklog list, time reports and exports.

Same engine and validation switch as every adapter (taskra_site/adapters.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from accounts.adapters import user_ref
from taskra_site.adapters import DEFAULT_CHUNK_SIZE, RowAdapter, Source, col
from worklogs.schemas import WorklogOut

WORKLOGS = RowAdapter(
    "worklogs",
    WorklogOut,
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


def worklog_row_dicts(
    source: Source, *, fields: Iterable[str] | None = None, validate: bool | None = None
) -> list[dict[str, Any]]:
    """Return worklogs as JSON-ready dicts (templates, reports and CSV)."""
    return WORKLOGS.dicts(source, fields=fields, validate=validate)


def iter_worklog_row_dicts(
    source: Source,
    *,
    fields: Iterable[str] | None = None,
    validate: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[dict[str, Any]]:
    """Yield worklogs as JSON-ready dicts chunk by chunk (CSV exports)."""
    return WORKLOGS.iter_dicts(source, fields=fields, validate=validate, chunk_size=chunk_size)


def iter_worklog_rows_json(
    source: Source,
    *,
    fields: Iterable[str] | None = None,
    validate: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    lines: bool = False,
) -> Iterator[bytes]:
    """Yield a JSON array (or JSON Lines) of worklogs in pieces, for StreamingHttpResponse exports."""
    return WORKLOGS.iter_json(source, fields=fields, validate=validate, chunk_size=chunk_size, lines=lines)


__all__ = ["WORKLOGS", "iter_worklog_row_dicts", "iter_worklog_rows_json", "worklog_row_dicts"]
