"""The navigator's result rows as HTML, written in Python: one function per column, looked up once per page.

The rows were a template with an if/elif chain per cell: 50 rows of 9 columns took 20-40 ms of template work
per uncached page (measured at 100,000 issues, more than the page's queries), paid by every cache miss and by
every search with the page cache off. The output is the same markup the template wrote (escaped with the
same rules as Django's autoescape); dates read in the time zone given, as the template's `date` filter did
under timezone.override.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from html import escape
from typing import Any

from django.utils import timezone

from taskra_site.links import issue_url

Row = dict[str, Any]


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def _time(value: dt.datetime | None, tz: dt.tzinfo) -> str:
    if value is None:
        return ""
    local = timezone.localtime(value, tz) if timezone.is_aware(value) else value
    return f'<time datetime="{local.isoformat()}">{local.strftime("%Y-%m-%d %H:%M")}</time>'


def _key(row: Row, tz: dt.tzinfo) -> str:
    key = _text(row["key"])
    return f'<a href="{escape(issue_url(row["key"]))}" class="issue-key">{key}</a>'


def _summary(row: Row, tz: dt.tzinfo) -> str:
    return f'<a href="{escape(issue_url(row["key"]))}">{_text(row["summary"])}</a>'


def _assignee(row: Row, tz: dt.tzinfo) -> str:
    person = row.get("assignee")
    return _text(person["display_name"]) if person else '<span class="muted">Unassigned</span>'


def _reporter(row: Row, tz: dt.tzinfo) -> str:
    person = row.get("reporter")
    return _text(person["display_name"]) if person else ""


def _status(row: Row, tz: dt.tzinfo) -> str:
    return f'<span class="status status-{_text(row["status_category"])}">{_text(row["status"])}</span>'


def _labels(row: Row, tz: dt.tzinfo) -> str:
    return "".join(f'<span class="label">{_text(label)}</span> ' for label in row.get("labels") or ())


def _due(row: Row, tz: dt.tzinfo) -> str:
    due = row.get("due_date")
    return due.strftime("%Y-%m-%d") if due else ""


def _nothing(row: Row, tz: dt.tzinfo) -> str:
    return ""


CELLS: dict[str, Callable[[Row, dt.tzinfo], str]] = {
    "key": _key,
    "summary": _summary,
    "type": lambda row, tz: _text(row.get("type")),
    "project": lambda row, tz: _text((row.get("project") or {}).get("key")),
    "assignee": _assignee,
    "reporter": _reporter,
    "priority": lambda row, tz: _text(row.get("priority")),
    "status": _status,
    "resolution": lambda row, tz: _text(row.get("resolution") or "Unresolved"),
    "labels": _labels,
    "created": lambda row, tz: _time(row.get("created"), tz),
    "updated": lambda row, tz: _time(row.get("updated"), tz),
    "resolved": lambda row, tz: _time(row.get("resolved"), tz),
    "duedate": _due,
    "timespent": lambda row, tz: _text(row.get("time_spent_text")),
}


def navigator_rows_html(rows: Sequence[Row], columns: Sequence[str], *, tz: dt.tzinfo) -> str:
    """Return the <tr> rows of a result page (group header rows included), or the "no issues" row."""
    span = len(columns) + 1
    if not rows:
        return f'<tr><td colspan="{span}" class="muted">No issues match this search.</td></tr>'
    cells = [(f'<td class="col-{column}">', CELLS.get(column, _nothing)) for column in columns]
    out: list[str] = []
    for row in rows:
        if row.get("group"):
            out.append(f'<tr class="group-row"><th colspan="{span}" scope="rowgroup">{_text(row["group"])}</th></tr>')
        key = _text(row["key"])
        out.append(
            f'<tr data-key="{key}"><td class="check"><input type="checkbox" name="issue" value="{int(row["id"])}"'
            f' aria-label="Select {key}"></td>'
        )
        out.extend(f"{opening}{cell(row, tz)}</td>" for opening, cell in cells)
        out.append("</tr>\n")
    return "".join(out)


def options_html(choices: Iterable[tuple[Any, Any]], selected: Collection[str] = ()) -> str:
    """Return the <option> elements of (value, label) pairs, marking the values in `selected`.

    The filter form's lists (a member of every project: 137 projects twice, statuses, types, priorities) were
    template loops: about 800 variable nodes per navigator page, half its template time on a page-cache hit.
    Same markup and escaping as the loops wrote.
    """
    chosen = set(selected)
    return "".join(
        f'<option value="{_text(value)}"{" selected" if str(value) in chosen else ""}>{_text(label)}</option>'
        for value, label in choices
    )
