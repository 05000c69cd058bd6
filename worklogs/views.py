"""Timesheet, worklog list, time reports and their exports: thin views over selectors, reports and services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.models import display_name, user_zone
from issues.durations import format_duration
from issues.export_jobs import exceeds_inline, export_job_create
from issues.models import Status
from issues.permissions import can_change_worklog, project_roles
from taskra_site.validation import error_messages, json_error, message_errors
from worklogs import exports
from worklogs.charts import bar_chart
from worklogs.forms import (
    EstimateFields,
    LogWorkForm,
    ReportForm,
    TicketsForm,
    TimesheetForm,
    WorklogFilterForm,
)
from worklogs.home import home_data
from worklogs.reports import (
    cross_project_report,
    issue_report_page,
    tickets_attach_issues,
    tickets_groups,
    tickets_logged_worklogs,
    tickets_rows,
    time_report,
)
from worklogs.selectors import (
    ResolvedFilter,
    loggable_issue,
    resolve_tickets_filter,
    resolve_worklog_filter,
    timesheet_cells,
    week_start,
    worklog_filter_choices,
    worklog_list,
    worklog_total,
)
from worklogs.services import WorklogConfirmationRequired, worklog_set_day_total
from worklogs.timesheet import (
    CellChange,
    changed_cells,
    confirmation_json,
    grid_json,
    timesheet_grid,
    week_days,
    workday_gaps,
)

LIST_LIMIT = 2000  # rows shown on the worklog list page; exports stream everything
TICKETS_LIMIT = 1000
DAY_CHART_LIMIT = 400


def _today(tz: dt.tzinfo) -> dt.date:
    return timezone.now().astimezone(tz).date()


def _form_errors(form: Any) -> list[str]:
    """Return a form's errors as "field: message" lines for an inline message box."""
    out: list[str] = []
    for name, errors in form.errors.items():
        label = "" if name == "__all__" else f"{form.fields[name].label or name.replace('_', ' ').capitalize()}: "
        out.extend(f"{label}{e}" for e in errors)
    return out


# ----------------------------------------------------------------------------------------------- timesheet


def _timesheet_data(*, user: Any, monday: dt.date, tz: dt.tzinfo, target: int) -> dict[str, Any]:
    days = week_days(monday)
    return timesheet_grid(timesheet_cells(user=user, start=days[0], end=days[-1], tz=tz), days=days, target=target)


@require_GET
def timesheet(request: HttpRequest) -> HttpResponse:
    """Show the signed-in user's week: issues by days, with totals and the daily target."""
    tz = user_zone(request.user)
    today = _today(tz)
    form = TimesheetForm(request.GET)
    errors: list[str] = []
    monday = week_start(today)
    target = settings.TASKRA_HOURS_PER_DAY * 3600
    page = 1
    if form.is_valid():
        chosen = form.cleaned_data["week"] or form.cleaned_data["date"]
        if chosen:
            monday = week_start(chosen)
        target = form.cleaned_data["target"]
        page = form.cleaned_data["page"] or 1
    else:
        errors = _form_errors(form)
        if not form.errors.get("target") and form.cleaned_data.get("target"):
            target = form.cleaned_data["target"]
    data = _timesheet_data(user=request.user, monday=monday, tz=tz, target=target)
    iso = monday.isocalendar()
    target_text = format_duration(target)
    extra = {"target": target_text} if target != settings.TASKRA_HOURS_PER_DAY * 3600 else {}

    def week_url(day: dt.date) -> str:
        y, w, _ = day.isocalendar()
        return "?" + urlencode({"week": f"{y}-W{w:02d}", **extra})

    context = {
        **data,
        **_row_page(
            data["rows"], page=page, size=settings.TASKRA_TIMESHEET_ROWS, url=lambda p: week_url(monday) + f"&page={p}"
        ),
        "errors": errors,
        "monday": monday,
        "sunday": monday + dt.timedelta(days=6),
        "week_label": f"{iso.year}-W{iso.week:02d}",
        "prev_url": week_url(monday - dt.timedelta(days=7)),
        "next_url": week_url(monday + dt.timedelta(days=7)),
        "this_week_url": "?" + urlencode(extra) if extra else "?",
        "today": today,
        "target": target,
        "target_text": target_text,
        "tz_name": str(tz),
        "estimate_form": EstimateFields(initial={"adjust_estimate": "auto"}),
        "log_estimate_form": EstimateFields(initial={"adjust_estimate": "auto"}, auto_id="log_%s"),
        "log_form": LogWorkForm(initial={"day": today if monday <= today <= monday + dt.timedelta(days=6) else monday}),
    }
    return render(request, "worklogs/timesheet.html", context)


def _row_page(rows: list[Any], *, page: int, size: int, url: Callable[[int], str]) -> dict[str, Any]:
    """Return the context for one page of table rows (at most `size`) and the links to the pages around it.

    A busy week's timesheet or a month's report by issue would otherwise render thousands of rows (megabytes
    of HTML, most of the response time); the callers' totals still count every row.
    """
    pages = max(1, -(-len(rows) // size))
    page = min(page, pages)
    first = (page - 1) * size
    return _row_page_of(rows[first : first + size], count=len(rows), page=page, size=size, url=url)


def _row_page_of(shown: list[Any], *, count: int, page: int, size: int, url: Callable[[int], str]) -> dict[str, Any]:
    """Return the context of one page of rows already cut (`shown`, page `page` of `count` rows in all)."""
    pages = max(1, -(-count // size))
    first = (page - 1) * size
    return {
        "rows": shown,
        "row_count": count,
        "row_first": first + 1,
        "row_last": first + len(shown),
        "rows_before_url": url(page - 1) if page > 1 else None,
        "rows_after_url": url(page + 1) if page < pages else None,
        "rows_after": count - first - len(shown),
    }


def _week_query(monday: dt.date, target: str) -> str:
    iso = monday.isocalendar()
    query = {"week": f"{iso.year}-W{iso.week:02d}"}
    if target:
        query["target"] = target
    return urlencode(query)


@require_POST
def timesheet_save(request: HttpRequest) -> HttpResponse:
    """Apply changed timesheet cells (t_<KEY>_<YYYY-MM-DD>) and the log-work form; JSON for scripts.

    A lowered cell that would delete worklogs (or shrink one of several) is not applied: the reply lists
    the worklogs it would change and asks for confirmation (409 in JSON, a confirmation page otherwise);
    the confirmed post carries c_<KEY>_<YYYY-MM-DD>, the plan's token.
    """
    wants_json = "application/json" in request.headers.get("Accept", "")
    tz = user_zone(request.user)
    estimate = EstimateFields(request.POST)
    errors: list[str] = [] if estimate.is_valid() else _form_errors(estimate)
    changes, cell_errors = changed_cells(request.POST)
    errors += cell_errors
    if request.POST.get("issue", "").strip():
        log = LogWorkForm(request.POST)
        if log.is_valid():
            cd = log.cleaned_data
            changes.append(CellChange(key=cd["issue"], day=cd["day"], add=cd["time"], comment=cd["comment"] or ""))
        else:
            errors.extend(_form_errors(log))
    if not changes and not errors:
        errors.append("Nothing to save: no cell was changed.")
    first_day = changes[0].day if changes else _today(tz)
    monday = week_start(first_day)
    back = reverse("worklogs:timesheet") + "?" + _week_query(monday, request.POST.get("target", ""))
    applied: list[tuple[str, dt.date]] = []
    pending: list[dict[str, Any]] = []
    if not errors:
        opts = estimate.cleaned_data
        for change in changes:
            day = change.day
            issue = loggable_issue(user=request.user, key=change.key)
            if issue is None:
                errors.append(f"Issue {change.key.upper()} does not exist or you cannot see it.")
                continue
            try:
                worklog_set_day_total(
                    issue=issue,
                    author=request.user,
                    day=day,
                    tz=tz,
                    total=change.total,
                    add=change.add,
                    comment=change.comment,
                    adjust_estimate=opts["adjust_estimate"],
                    new_estimate=opts.get("new_estimate"),
                    reduce_by=opts.get("reduce_by"),
                    confirm=change.confirm,
                )
                applied.append((issue.key, day))
            except WorklogConfirmationRequired as exc:
                pending.append(
                    confirmation_json(
                        exc.plan,
                        cell_key=change.key,
                        message=str(exc),
                        tz=tz,
                        links=partial(_worklog_links, issue.key, back=back),
                    )
                )
            except PermissionDenied as exc:
                errors.append(f"{issue.key}: {exc or 'You may not log work in this project.'}")
            except ValidationError as exc:
                errors.extend(f"{issue.key} on {day:%a %d %b}: {m}" for m in error_messages(exc))
    target_form = TimesheetForm({"target": request.POST.get("target", "")})
    target = target_form.cleaned_data["target"] if target_form.is_valid() else settings.TASKRA_HOURS_PER_DAY * 3600
    if wants_json:
        if errors or pending:
            lines = errors + [p["message"] for p in pending]
            return json_error(
                " ".join(lines), status=400 if errors else 409, errors=message_errors(lines), ok=False, confirm=pending
            )
        return JsonResponse(grid_json(_timesheet_data(user=request.user, monday=monday, tz=tz, target=target)))
    for e in errors:
        messages.error(request, e)
    if applied:
        messages.success(request, "Saved: " + ", ".join(f"{k} {d:%a %d %b}" for k, d in applied) + ".")
    if pending:
        context = {
            "pending": pending,
            "back": back,
            "estimate": {name: request.POST.get(name, "") for name in ("adjust_estimate", "new_estimate", "reduce_by")},
            "target": request.POST.get("target", ""),
        }
        return render(request, "worklogs/timesheet_confirm.html", context)
    return redirect(back)


# --------------------------------------------------------------------------------------- shared filter logic


def _resolve_filter(request: HttpRequest, form: WorklogFilterForm, tz: dt.tzinfo) -> ResolvedFilter:
    if not form.is_valid():
        return ResolvedFilter(errors=_form_errors(form))
    return resolve_worklog_filter(user=request.user, data=form.cleaned_data, tz=tz)


def _picker_context(request: HttpRequest, res: ResolvedFilter) -> dict[str, Any]:
    get = request.GET
    flt = res.flt
    return {
        "start_value": get.get("start") or (flt.start.isoformat() if flt else ""),
        "end_value": get.get("end") or (flt.end.isoformat() if flt else ""),
        "jql_value": get.get("jql", ""),
        "gaps_checked": bool(get.get("gaps")),
        "workday_start_value": get.get("workday_start") or "09:00",
        "workday_end_value": get.get("workday_end") or "17:00",
        **worklog_filter_choices(user=request.user, chosen=res),
    }


def _export_format(request: HttpRequest) -> str:
    fmt = request.GET.get("format", "")
    return fmt if fmt in ("csv", "json") else ""


def _export_error(fmt: str, errors: list[str]) -> HttpResponse:
    if fmt == "json":
        return json_error(" ".join(errors), errors=message_errors(errors))
    return HttpResponse("\n".join(errors) + "\n", status=400, content_type="text/plain; charset=utf-8")


def _export_links(request: HttpRequest) -> dict[str, str]:
    params = request.GET.copy()
    params.pop("format", None)
    out = {}
    for fmt in ("csv", "json"):
        params["format"] = fmt
        out[fmt] = f"{request.path}?{params.urlencode()}"
    return out


# ------------------------------------------------------------------------------------------- worklog list


@require_GET
def worklog_list_view(request: HttpRequest) -> HttpResponseBase:
    """List worklogs by user(s), project(s), date range and JQL, with totals and optional gaps."""
    tz = user_zone(request.user)
    today = _today(tz)
    form = WorklogFilterForm(request.GET, today=today)
    res = _resolve_filter(request, form, tz)
    fmt = _export_format(request)
    if fmt:
        if res.errors or res.flt is None:
            return _export_error(fmt, res.errors)
        matching = worklog_list(user=request.user, flt=res.flt)
        if exceeds_inline(matching):
            # More than TASKRA_EXPORT_INLINE_ROWS: written by a worker, offered on the job's page (issues.export_jobs).
            params = exports.worklog_export_params(request.GET, res.flt)
            job = export_job_create(user=request.user, kind="worklogs", fmt=fmt, params=params)
            return redirect(reverse("issues:export_job", args=[job.pk]), permanent=False)
        return exports.worklogs_response(matching, fmt=fmt, tz=tz)
    context: dict[str, Any] = {
        "form": form,
        "errors": res.errors,
        "notices": res.notices,
        **_picker_context(request, res),
    }
    if res.flt is not None:
        found = list(worklog_list(user=request.user, flt=res.flt)[: LIST_LIMIT + 1])
        truncated = len(found) > LIST_LIMIT
        rows = exports.worklog_display_rows(found[:LIST_LIMIT], tz=tz)
        count, total = worklog_total(user=request.user, flt=res.flt)
        # Edit and delete links where the issue page would allow them: own worklogs as a member, any as an admin.
        roles = project_roles(user=request.user)
        here = request.get_full_path()
        entries: list[dict[str, Any]] = []
        for w, r in zip(found, rows, strict=False):
            role = roles.get(w.issue.project_id)
            editable = can_change_worklog(role, author_id=w.author_id, user_id=request.user.pk)
            links = _worklog_links(w.issue.key, w.pk, here) if editable else None
            entries.append({"kind": "log", "links": links, **r})
        gaps: list[dict[str, Any]] = []
        if form.cleaned_data["gaps"] and not truncated:
            if res.users:
                authors = [(u.pk, display_name(u)) for u in res.users]
            else:
                seen = {r["author_id"]: r["author_name"] for r in rows if r["author_id"]}
                authors = sorted(seen.items(), key=lambda kv: kv[1]) or [(request.user.pk, display_name(request.user))]
            gaps = workday_gaps(
                rows,
                authors=authors,
                start=res.flt.start,
                end=res.flt.end,
                tz=tz,
                workday_start=form.cleaned_data["workday_start"],
                workday_end=form.cleaned_data["workday_end"],
                today=today,
            )
            entries += [{"kind": "gap", "started_local": g["start"], "author_name": g["author"], **g} for g in gaps]
            entries.sort(key=lambda e: (e["started_local"].date(), e["author_name"], e["started_local"]))
        context.update(
            {
                "entries": entries,
                "truncated": truncated,
                "limit": LIST_LIMIT,
                "count": count,
                "total": total,
                "total_text": format_duration(total),
                "gap_total_text": format_duration(sum(g["seconds"] for g in gaps)) if gaps else "",
                "gaps_shown": bool(form.cleaned_data["gaps"]),
                "gaps_skipped": bool(form.cleaned_data["gaps"]) and truncated,
                "start": res.flt.start,
                "end": res.flt.end,
                "export": _export_links(request),
            }
        )
    context["tz_name"] = str(tz)
    return render(request, "worklogs/worklog_list.html", context)


def _worklog_links(key: str, worklog_id: int, back: str) -> dict[str, str]:
    query = "?" + urlencode({"next": back})
    return {
        "edit": reverse("issues:worklog_edit", args=[key, worklog_id]) + query,
        "delete": reverse("issues:worklog_delete", args=[key, worklog_id]) + query,
    }


# ---------------------------------------------------------------------------------------------- reports

GROUP_TITLES = {"project": "Time by project", "user": "Time by user", "issue": "Time by issue", "day": "Time by day"}


@require_GET
def time_report_view(request: HttpRequest) -> HttpResponseBase:
    """Show time by project, user, issue or day for a date range: a table and an SVG bar chart."""
    tz = user_zone(request.user)
    form = ReportForm(request.GET, today=_today(tz))
    res = _resolve_filter(request, form, tz)
    group = form.cleaned_data.get("group", "project") if form.is_bound and hasattr(form, "cleaned_data") else "project"
    group = group or "project"
    if res.flt is not None and group == "day" and (res.flt.end - res.flt.start).days >= DAY_CHART_LIMIT:
        res.errors.append(f"Time by day covers at most {DAY_CHART_LIMIT} days; choose a shorter range.")
    fmt = _export_format(request)
    if fmt:
        if res.errors or res.flt is None:
            return _export_error(fmt, res.errors)
        report = time_report(user=request.user, flt=res.flt, group=group)
        return exports.report_response(report, fmt=fmt, filename=f"time-by-{group}")
    context: dict[str, Any] = {
        "form": form,
        "errors": res.errors,
        "notices": res.notices,
        "group": group,
        "report_tabs": GROUP_TITLES,
        "title": GROUP_TITLES[group],
        **_picker_context(request, res),
    }
    if not res.errors and res.flt is not None:
        query = _without(request, "page")
        page, size = form.cleaned_data.get("page") or 1, settings.TASKRA_REPORT_ROWS
        if group == "issue":
            # A month of a big project has a hundred thousand issues: only the page's are read (the totals count all).
            report, issues, page = issue_report_page(user=request.user, flt=res.flt, page=page, size=size)
            shown = _row_page_of(report.rows, count=issues, page=page, size=size, url=lambda p: f"?{query}&page={p}")
        else:
            report = time_report(user=request.user, flt=res.flt, group=group)
            shown = _row_page(report.rows, page=page, size=size, url=lambda p: f"?{query}&page={p}")
        context.update(
            {
                **shown,
                "report": report,
                "rows": [{"row": r, "text": format_duration(r.seconds)} for r in shown["rows"]],
                "total_text": format_duration(report.total),
                "chart": bar_chart(
                    [(r.key if group == "issue" else r.label, r.seconds) for r in report.rows[:60]],
                    title=f"{GROUP_TITLES[group]}, {res.flt.start:%Y-%m-%d} to {res.flt.end:%Y-%m-%d}",
                    chart_id=f"chart-{group}",
                ),
                "chart_truncated": shown["row_count"] > 60,
                "start": res.flt.start,
                "end": res.flt.end,
                "export": _export_links(request),
                "tab_query": _without(request, "group"),
            }
        )
    context["tz_name"] = str(tz)
    return render(request, "worklogs/report_time.html", context)


def _without(request: HttpRequest, *names: str) -> str:
    params = request.GET.copy()
    for n in (*names, "format"):
        params.pop(n, None)
    return params.urlencode()


@require_GET
def cross_project_view(request: HttpRequest) -> HttpResponseBase:
    """Show users by projects for several projects at once, with totals and a per-project chart."""
    tz = user_zone(request.user)
    form = WorklogFilterForm(request.GET, today=_today(tz))
    res = _resolve_filter(request, form, tz)
    fmt = _export_format(request)
    if fmt:
        if res.errors or res.flt is None:
            return _export_error(fmt, res.errors)
        return exports.cross_project_response(cross_project_report(user=request.user, flt=res.flt), fmt=fmt)
    context: dict[str, Any] = {
        "form": form,
        "errors": res.errors,
        "notices": res.notices,
        "report_tabs": GROUP_TITLES,
        "tab_query": _without(request, "group"),
        **_picker_context(request, res),
    }
    if res.flt is not None:
        report = cross_project_report(user=request.user, flt=res.flt)
        context.update(
            {
                "report": report,
                "rows": [
                    {
                        "username": u,
                        "label": label,
                        "cells": [format_duration(c) if c else "" for c in cells],
                        "total": format_duration(total),
                    }
                    for u, label, cells, total in report.rows
                ],
                "column_totals": [format_duration(c) for c in report.column_totals],
                "total_text": format_duration(report.total),
                "chart": bar_chart(
                    [(key, report.column_totals[i]) for i, (key, _n) in enumerate(report.projects)],
                    title="Time by project",
                    chart_id="chart-cross",
                ),
                "start": res.flt.start,
                "end": res.flt.end,
                "export": _export_links(request),
            }
        )
    context["tz_name"] = str(tz)
    return render(request, "worklogs/report_cross.html", context)


@require_GET
def tickets_view(request: HttpRequest) -> HttpResponseBase:
    """Show one project's issues grouped by status or assignee, with estimates and time logged."""
    tz = user_zone(request.user)
    form = TicketsForm(request.GET)
    errors = [] if form.is_valid() else _form_errors(form)
    resolved = resolve_tickets_filter(user=request.user, data=None if errors else form.cleaned_data, tz=tz)
    project, flt, notices = resolved.project, resolved.flt, resolved.notices
    fmt = _export_format(request)
    context: dict[str, Any] = {
        "form": form,
        "errors": errors,
        "notices": notices,
        "projects": resolved.projects,
        "project": project,
        "tz_name": str(tz),
        "report_tabs": GROUP_TITLES,
        "groups": None,
        "date_fields": [("updated", "Updated"), ("created", "Created"), ("worklog", "Work logged")],
    }
    if project is None or flt is None:
        if fmt:
            return _export_error(fmt, errors or notices or ["No project to report on."])
        return render(request, "worklogs/report_tickets.html", context)
    cd = form.cleaned_data
    empty = resolved.empty
    rows_qs = tickets_rows(
        user=request.user, flt=flt, sort=cd["sort"], descending=cd["dir"] == "desc", group=cd["group"]
    )
    if empty:
        rows_qs = rows_qs.none()
    if fmt:
        if exceeds_inline(rows_qs):
            # More than TASKRA_EXPORT_INLINE_ROWS: written by a worker, offered on the job's page (issues.export_jobs).
            job = export_job_create(
                user=request.user, kind="tickets", fmt=fmt, params=exports.tickets_export_params(request.GET)
            )
            return redirect(reverse("issues:export_job", args=[job.pk]), permanent=False)
        return exports.tickets_response(
            rows_qs, fmt=fmt, project_key=project.key, logged_qs=tickets_logged_worklogs(flt)
        )
    groups = [] if empty else tickets_groups(user=request.user, flt=flt, group=cd["group"])
    found = list(rows_qs[: TICKETS_LIMIT + 1])
    tickets_attach_issues(groups, found[:TICKETS_LIMIT], group=cd["group"])
    context.update(
        {
            "groups": groups,
            "truncated": len(found) > TICKETS_LIMIT,
            "limit": TICKETS_LIMIT,
            "group": cd["group"],
            "sort": cd["sort"],
            "dir": cd["dir"],
            "sort_links": {
                s: f"?{_without(request, 'sort', 'dir')}&sort={s}&dir="
                + ("asc" if cd["sort"] == s and cd["dir"] == "desc" else "desc")
                for s in ("created", "updated", "status", "assignee", "priority")
            },
            "total_count": sum(g["count"] for g in groups),
            "total_logged": format_duration(sum(g["logged"] for g in groups)),
            "total_spent": format_duration(sum(g["spent"] for g in groups)),
            "chart": bar_chart(
                [(g["label"], g["logged"] if (cd["start"] or cd["end"]) else g["spent"]) for g in groups],
                title=f"Time by {cd['group']}",
                chart_id="chart-tickets",
            ),
            "export": _export_links(request),
            "statuses": Status.objects.only("id", "name"),
        }
    )
    return render(request, "worklogs/report_tickets.html", context)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Show the home page: my open issues, my reported issues that changed, my time this week, my projects/boards."""
    tz = user_zone(request.user)
    context = home_data(user=request.user, now=timezone.now(), tz=tz)
    context["week_spent"] = format_duration(context["week"].seconds)
    context["week_target"] = format_duration(context["week"].target)
    return render(request, "worklogs/home.html", context)
