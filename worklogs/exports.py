"""CSV and JSON exports of worklogs and reports, streamed chunk by chunk through the adapter layer.

Worklog and ticket exports read the database through the adapters' generator form (a server-side cursor
on PostgreSQL, chunked reads elsewhere), so memory stays flat for a year of worklogs of 500 people.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import IO, Any

from django.db.models import QuerySet, Sum
from django.http import FileResponse
from django.utils import timezone

from accounts.models import user_zone
from issues.adapters import iter_issue_row_dicts
from issues.durations import format_duration
from issues.export_jobs import WRITERS, Writer, spooled_response, write_pieces
from issues.exporters import RowCount
from issues.models import Issue
from taskra_site.adapters import dumps, encode_datetime
from taskra_site.csvsafe import csv_writer
from worklogs.adapters import iter_worklog_row_dicts, iter_worklog_rows_json, worklog_row_dicts
from worklogs.forms import TicketsForm, WorklogFilterForm
from worklogs.models import Worklog
from worklogs.reports import CrossProjectReport, Report, tickets_logged_worklogs, tickets_rows
from worklogs.selectors import WorklogFilter, resolve_tickets_filter, resolve_worklog_filter, worklog_list

CHUNK = 2000


def _batched(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


def _csv_lines(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    """Yield CSV text, one piece per chunk of rows (every cell escaped by taskra_site.csvsafe)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    for batch in _batched(rows, 500):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(batch)
        yield buffer.getvalue()


def _streaming(body: Iterator[Any], *, fmt: str, filename: str) -> FileResponse:
    """Return the export as a download written whole before it is sent (issues.export_jobs.spooled_response).

    A failure while writing is an error response, never a 200 whose body stops short.
    """
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return spooled_response(body, content_type=content_type, filename=f"{filename}.{fmt}")


def _local(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return value.astimezone(tz)


# --------------------------------------------------------------------------------------------- worklogs

WORKLOG_CSV_HEADER = [
    "date",
    "start",
    "end",
    "issue_key",
    "issue_summary",
    "author_username",
    "author",
    "time_spent_seconds",
    "time_spent",
    "comment",
    "worklog_id",
]


def worklog_display_rows(worklogs: list[Worklog], *, tz: dt.tzinfo) -> list[dict[str, Any]]:
    """Return the worklog list's rows: the adapter's dicts plus summary, local start/end and display text."""
    dicts = worklog_row_dicts(worklogs)
    rows = []
    for w, d in zip(worklogs, dicts, strict=True):
        start = _local(d["started"], tz)
        end = start + dt.timedelta(seconds=d["time_spent"])
        author = d["author"]
        rows.append(
            {
                **d,
                "issue_summary": w.issue.summary,
                "author_id": author["id"] if author else None,
                "author_name": author["display_name"] if author else "(deleted user)",
                "started_local": start,
                "ended_local": end,
                "time_text": format_duration(d["time_spent"]),
            }
        )
    return rows


def _worklog_csv_rows(qs: QuerySet[Worklog], tz: dt.tzinfo) -> Iterator[list[Any]]:
    for batch in _batched(iter_worklog_row_dicts(qs, chunk_size=CHUNK), CHUNK):
        # One query per chunk for the summaries: the adapter's worklog shape carries only the issue key.
        summaries = dict(Issue.objects.filter(pk__in={d["issue_id"] for d in batch}).values_list("id", "summary"))
        for d in batch:
            start = _local(d["started"], tz)
            end = start + dt.timedelta(seconds=d["time_spent"])
            author = d["author"] or {}
            yield [
                start.date().isoformat(),
                start.strftime("%H:%M"),
                end.strftime("%H:%M"),
                d["issue_key"],
                summaries.get(d["issue_id"], ""),
                author.get("username", ""),
                author.get("display_name", ""),
                d["time_spent"],
                format_duration(d["time_spent"]),
                d["comment"],
                d["id"],
            ]


def worklog_pieces(qs: QuerySet[Worklog], *, fmt: str, tz: dt.tzinfo) -> Iterator[Any]:
    """Yield the worklogs, oldest first, as CSV text (local dates and times) or a JSON array of WorklogOut."""
    qs = qs.order_by("started", "id")
    if fmt == "csv":
        return _csv_lines(WORKLOG_CSV_HEADER, _worklog_csv_rows(qs, tz))
    return iter_worklog_rows_json(qs, chunk_size=CHUNK)


def worklogs_response(qs: QuerySet[Worklog], *, fmt: str, tz: dt.tzinfo) -> FileResponse:
    """Stream the worklogs as CSV (local dates and times) or as a JSON array of WorklogOut."""
    return _streaming(worklog_pieces(qs, fmt=fmt, tz=tz), fmt=fmt, filename="worklogs")


def worklog_export_params(query: Any, flt: WorklogFilter) -> dict[str, str]:
    """Return the worklog list's query (a QueryDict) as an export job's parameters, the date range made explicit.

    Repeated parameters (?user=a&user=b) are joined with commas, which WorklogFilterForm reads the same way;
    the range is fixed now so the job exports what was asked even if it runs after midnight.
    """
    params = {name: ",".join(query.getlist(name)) for name in query if name not in ("format", "gaps")}
    params.update(start=flt.start.isoformat(), end=flt.end.isoformat())
    return params


def _write_worklogs(user: Any, params: dict[str, str], fmt: str, out: IO[bytes]) -> tuple[int, list[int]]:
    """Write the worklog list's export for an export job (the filter resolved again, as the user is now)."""
    tz = user_zone(user)
    form = WorklogFilterForm(params, today=timezone.now().astimezone(tz).date())
    if not form.is_valid():
        raise ValueError(" ".join(str(e) for errors in form.errors.values() for e in errors))
    res = resolve_worklog_filter(user=user, data=form.cleaned_data, tz=tz)
    if res.errors or res.flt is None:
        raise ValueError(" ".join(res.errors) or "This worklog filter no longer runs.")
    qs = worklog_list(user=user, flt=res.flt)
    project_ids = sorted(set(qs.order_by().values_list("project_id", flat=True).distinct()))
    write_pieces(out, worklog_pieces(qs, fmt=fmt, tz=tz))
    return qs.count(), project_ids


# Exports of the worklog list past TASKRA_EXPORT_INLINE_ROWS run as export jobs of this kind.
WRITERS["worklogs"] = Writer(write=_write_worklogs, filename="worklogs", title="worklogs", back="worklogs:list")


# ---------------------------------------------------------------------------------------------- reports


def _json_array(items: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    first = True
    for batch in _batched(items, 500):
        body = dumps(batch)
        yield (b"[" if first else b",") + body[1:-1]
        first = False
    yield b"[]" if first else b"]"


def report_response(report: Report, *, fmt: str, filename: str) -> FileResponse:
    """Stream a time report (one row per project, user, issue or day) as CSV or JSON."""
    header = [report.group, "label", "seconds", "time", "worklogs"]
    if fmt == "csv":
        rows = ([r.key, r.label, r.seconds, format_duration(r.seconds), r.count] for r in report.rows)
        return _streaming(_csv_lines(header, rows), fmt=fmt, filename=filename)
    items = (
        {
            report.group: r.key,
            "label": r.label,
            "seconds": r.seconds,
            "time": format_duration(r.seconds),
            "worklogs": r.count,
        }
        for r in report.rows
    )
    return _streaming(_json_array(items), fmt=fmt, filename=filename)


def cross_project_response(report: CrossProjectReport, *, fmt: str) -> FileResponse:
    """Stream the cross-project report: one row per (user, project) with seconds."""
    items = (
        {"username": username, "user": label, "project": key, "seconds": cells[i], "time": format_duration(cells[i])}
        for username, label, cells, _total in report.rows
        for i, (key, _name) in enumerate(report.projects)
        if cells[i]
    )
    if fmt == "csv":
        rows = ([i["username"], i["user"], i["project"], i["seconds"], i["time"]] for i in items)
        return _streaming(
            _csv_lines(["username", "user", "project", "seconds", "time"], rows), fmt=fmt, filename="cross-project"
        )
    return _streaming(_json_array(items), fmt=fmt, filename="cross-project")


TICKET_FIELDS = (
    "id",
    "key",
    "summary",
    "type",
    "status",
    "priority",
    "assignee",
    "reporter",
    "original_estimate",
    "remaining_estimate",
    "time_spent",
    "created",
    "updated",
)


def _ticket_items(qs: QuerySet[Issue], logged_qs: QuerySet[Worklog]) -> Iterator[dict[str, Any]]:
    for batch in _batched(iter_issue_row_dicts(qs, fields=TICKET_FIELDS, chunk_size=CHUNK), CHUNK):
        # Time logged in the report's range: one grouped query per chunk.
        logged = dict(
            logged_qs.filter(issue_id__in=[d["id"] for d in batch])
            .order_by()
            .values_list("issue_id")
            .annotate(s=Sum("time_spent"))
        )
        for d in batch:
            d["logged"] = logged.get(d["id"], 0)
            yield d


def _counting(items: Iterable[dict[str, Any]], counter: RowCount) -> Iterator[dict[str, Any]]:
    for item in items:
        counter.rows += 1
        yield item


def ticket_pieces(
    qs: QuerySet[Issue], *, fmt: str, logged_qs: QuerySet[Worklog], counter: RowCount | None = None
) -> Iterator[Any]:
    """Yield the tickets report rows (IssueRow fields plus time logged in the range) as CSV text or JSON."""
    items = _ticket_items(qs, logged_qs)
    if counter is not None:
        items = _counting(items, counter)
    if fmt == "json":
        return _json_array(items)
    header = [
        "key",
        "summary",
        "type",
        "status",
        "priority",
        "assignee",
        "reporter",
        "original_estimate",
        "remaining_estimate",
        "time_spent",
        "logged_in_range",
        "created",
        "updated",
    ]
    rows = (
        [
            d["key"],
            d["summary"],
            d["type"],
            d["status"],
            d["priority"],
            (d["assignee"] or {}).get("username", ""),
            (d["reporter"] or {}).get("username", ""),
            format_duration(d["original_estimate"]),
            format_duration(d["remaining_estimate"]),
            format_duration(d["time_spent"]),
            format_duration(d["logged"]),
            encode_datetime(d["created"]),
            encode_datetime(d["updated"]),
        ]
        for d in items
    )
    return _csv_lines(header, rows)


def tickets_response(qs: QuerySet[Issue], *, fmt: str, project_key: str, logged_qs: QuerySet[Worklog]) -> FileResponse:
    """Return the tickets report rows as a CSV or JSON download."""
    return _streaming(ticket_pieces(qs, fmt=fmt, logged_qs=logged_qs), fmt=fmt, filename=f"tickets-{project_key}")


def tickets_export_params(query: Any) -> dict[str, str]:
    """Return the tickets report's query (a QueryDict) as an export job's parameters (lists joined by commas)."""
    return {name: ",".join(query.getlist(name)) for name in query if name != "format"}


def _write_tickets(user: Any, params: dict[str, str], fmt: str, out: IO[bytes]) -> tuple[int, list[int]]:
    """Write the tickets report's export for an export job (the filter resolved again, as the user is now)."""
    tz = user_zone(user)
    form = TicketsForm(params)
    if not form.is_valid():
        raise ValueError(" ".join(str(e) for errors in form.errors.values() for e in errors))
    resolved = resolve_tickets_filter(user=user, data=form.cleaned_data, tz=tz)
    if resolved.project is None or resolved.flt is None:
        raise ValueError(" ".join(resolved.notices) or "No project to report on.")
    cd = form.cleaned_data
    qs = tickets_rows(user=user, flt=resolved.flt, sort=cd["sort"], descending=cd["dir"] == "desc", group=cd["group"])
    if resolved.empty:
        qs = qs.none()
    counter = RowCount()
    write_pieces(out, ticket_pieces(qs, fmt=fmt, logged_qs=tickets_logged_worklogs(resolved.flt), counter=counter))
    return counter.rows, [resolved.project.pk]


# Tickets report exports past TASKRA_EXPORT_INLINE_ROWS run as export jobs of this kind.
WRITERS["tickets"] = Writer(write=_write_tickets, filename="tickets", title="tickets report", back="worklogs:tickets")
