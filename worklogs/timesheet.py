"""Timesheet computations over rows the selectors return: the week grid, edited cells, gaps in workdays.

Nothing here queries the database: the views read rows through worklogs.selectors and hand them in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from issues.durations import format_duration
from worklogs.forms import parse_cell
from worklogs.reports import issue_key_order
from worklogs.services import DayPlan

# Gaps shorter than this are rounding between back-to-back worklogs, not unlogged time.
MIN_GAP_SECONDS = 60


def week_days(monday: dt.date) -> list[dt.date]:
    """Return the seven days of the week starting on the Monday."""
    return [monday + dt.timedelta(days=i) for i in range(7)]


def day_state(day: dt.date, seconds: int, target: int) -> str:
    """Return "over" above the daily target, "under" below it on a weekday, else ""."""
    if seconds > target:
        return "over"
    if seconds < target and day.weekday() < 5:
        return "under"
    return ""


def timesheet_grid(cells: Iterable[Mapping[str, Any]], *, days: list[dt.date], target: int) -> dict[str, Any]:
    """Return the week grid from per (issue, day) sums (worklogs.selectors.timesheet_cells).

    The result has "days", "rows" (one per issue in key order, DEMO-2 before DEMO-10, each with its "cells"
    and "total"), "day_totals" (with the over/under-target "state") and "week_total".
    """
    rows: dict[int, dict[str, Any]] = {}
    for c in cells:
        row = rows.setdefault(
            c["issue_id"],
            {
                "key": c["issue__key"],
                "summary": c["issue__summary"],
                "original": c["issue__original_estimate"],
                "remaining": c["issue__remaining_estimate"],
                "by_day": {},
            },
        )
        row["by_day"][c["day"]] = row["by_day"].get(c["day"], 0) + c["total"]
    day_totals = dict.fromkeys(days, 0)
    # Each day's texts once: the template would otherwise run the date filter four times per cell.
    names = {
        d: {"day": d, "iso": d.isoformat(), "long": f"{d:%A} {d.day} {d:%B}", "weekend": d.weekday() >= 5} for d in days
    }
    out_rows = []
    for row in sorted(rows.values(), key=lambda r: issue_key_order(r["key"])):
        row_cells = []
        for d in days:
            seconds = row["by_day"].get(d, 0)
            day_totals[d] += seconds
            row_cells.append({**names[d], "seconds": seconds, "text": format_duration(seconds) if seconds else ""})
        row["cells"] = row_cells
        row["total"] = sum(row["by_day"].values())
        out_rows.append(row)
    totals = [
        {**names[d], "seconds": s, "text": format_duration(s), "state": day_state(d, s, target)}
        for d, s in day_totals.items()
    ]
    return {"days": days, "rows": out_rows, "day_totals": totals, "week_total": sum(day_totals.values())}


def grid_json(grid: Mapping[str, Any]) -> dict[str, Any]:
    """Return what the timesheet script redraws after a save: cell texts, row and day totals by ISO day."""
    return {
        "ok": True,
        "rows": {
            r["key"]: {
                "cells": {c["day"].isoformat(): c["text"] for c in r["cells"]},
                "total": format_duration(r["total"]),
                "remaining": format_duration(r["remaining"]),
            }
            for r in grid["rows"]
        },
        "day_totals": {t["day"].isoformat(): {"text": t["text"], "state": t["state"]} for t in grid["day_totals"]},
        "week_total": format_duration(grid["week_total"]),
    }


def confirmation_json(
    plan: DayPlan, *, cell_key: str, message: str, tz: dt.tzinfo, links: Callable[[int], dict[str, str]]
) -> dict[str, Any]:
    """Return what the timesheet shows of a lowering that needs confirmation: the worklogs it would change.

    `cell_key` is the key as the page posted it (the cell's field names); `links(worklog_id)` gives the
    worklog's edit and delete URLs, for a user who rather edits them one by one.
    """
    name = f"{cell_key}_{plan.day.isoformat()}"
    return {
        "cell": f"t_{name}",
        "confirm_field": f"c_{name}",
        "original_field": f"o_{name}",
        "token": plan.token,
        "issue": plan.issue_key,
        "day": plan.day.isoformat(),
        "current": format_duration(plan.current),
        "total": format_duration(plan.total) if plan.total else "",
        "message": message,
        "worklogs": [
            {
                "id": step.worklog_id,
                "started": step.started.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "comment": step.comment,
                "time_spent": format_duration(step.before),
                "after": format_duration(step.after) if step.after else "",
                "text": step.describe(tz),
                **links(step.worklog_id),
            }
            for step in plan.steps
        ],
    }


@dataclass(frozen=True)
class CellChange:
    """One change asked of the timesheet: a cell's new day total, or time to add from the log-work form."""

    key: str
    day: dt.date
    total: int | None = None
    add: int | None = None
    comment: str = ""
    confirm: str = ""  # the token of a lowering the user confirmed (c_<KEY>_<YYYY-MM-DD>)


def changed_cells(data: Mapping[str, str]) -> tuple[list[CellChange], list[str]]:
    """Return the edited grid cells of a timesheet POST and the messages for those that do not parse.

    A cell arrives as t_<KEY>_<YYYY-MM-DD> next to o_<KEY>_<YYYY-MM-DD>, the value the page showed: only
    cells whose value differs from what was shown count as changed. c_<KEY>_<YYYY-MM-DD> carries the
    token of a confirmed lowering (worklogs.services.worklog_set_day_total).
    """
    changes: list[CellChange] = []
    errors: list[str] = []
    for name, value in data.items():
        if not name.startswith("t_"):
            continue
        key, _, day_text = name[2:].rpartition("_")
        if value.strip() == data.get(f"o_{name[2:]}", "").strip():
            continue
        try:
            day = dt.date.fromisoformat(day_text)
            if not 1900 <= day.year <= 2999:
                raise ValueError
        except ValueError:
            errors.append(f"{key}: '{day_text}' is not a day of a timesheet week.")
            continue
        try:
            confirm = data.get(f"c_{name[2:]}", "")[:4000]
            changes.append(CellChange(key=key, day=day, total=parse_cell(value), confirm=confirm))
        except ValueError as exc:
            errors.append(f"{key} on {day:%a %d %b}: {exc}")
    return changes, errors


def workday_gaps(
    rows: Iterable[Mapping[str, Any]],
    *,
    authors: list[tuple[int, str]],
    start: dt.date,
    end: dt.date,
    tz: dt.tzinfo,
    workday_start: dt.time,
    workday_end: dt.time,
    today: dt.date,
) -> list[dict[str, Any]]:
    """Return unlogged stretches inside the workday for each author and weekday from start to min(end, today).

    Rows are worklog display rows (author_id, started_local, ended_local in tz); each gap has author_id,
    author, start, end, seconds and text. Gaps under a minute are left out.
    """
    covered: dict[tuple[int, dt.date], list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    for r in rows:
        covered[(r["author_id"], r["started_local"].date())].append((r["started_local"], r["ended_local"]))
    gaps: list[dict[str, Any]] = []
    day = start
    while day <= min(end, today):
        if day.weekday() < 5:
            w_start = dt.datetime.combine(day, workday_start, tzinfo=tz)
            w_end = dt.datetime.combine(day, workday_end, tzinfo=tz)
            for author_id, name in authors:
                cursor = w_start
                for s, e in sorted(covered.get((author_id, day), [])):
                    if s > cursor and cursor < w_end:
                        gaps.append({"author_id": author_id, "author": name, "start": cursor, "end": min(s, w_end)})
                    cursor = max(cursor, e)
                if cursor < w_end:
                    gaps.append({"author_id": author_id, "author": name, "start": cursor, "end": w_end})
        day += dt.timedelta(days=1)
    for g in gaps:
        g["seconds"] = int((g["end"] - g["start"]).total_seconds())
        g["text"] = format_duration(g["seconds"])
    return [g for g in gaps if g["seconds"] >= MIN_GAP_SECONDS]
