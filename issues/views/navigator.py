"""Issue navigator (/issues/): basic filters and a JQL box compiling to one query, sortable columns,
grouping with counts, keyset pages, saved filters, and streamed CSV/JSON exports of the current query.

The query string is read by issues/navigator_query.py (basic filters become JQL there). Bad input (JQL,
sort column, cursor, filter id) answers 400 with the reason on the page (or as JSON for exports and the
API); it is never a 500.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import json_script
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from accounts.models import user_zone
from issues.durations import format_duration
from issues.export_jobs import (
    FORMATS,
    exceeds_inline,
    export_job_create,
    issue_csv_pieces,
    issue_export_queryset,
    issue_json_pieces,
    spooled_response,
)
from issues.fields import NAVIGATOR_COLUMNS
from issues.jql import JQLError
from issues.jql.suggest import autocomplete_data
from issues.keyset import LAST_PAGE
from issues.models import Project, StatusCategory
from issues.navigator_query import apply_preference, filter_state, page_size, parse_navigator_query
from issues.navigator_rows import navigator_rows_html, options_html
from issues.selectors import (
    NAVIGATOR_GROUPS,
    NavigatorError,
    cached_result_page,
    lookup_tables,
    navigator_columns,
    navigator_page,
    navigator_preference_for,
    navigator_projects,
    projects_visible_to,
    saved_filter_for_user,
    saved_filters_for,
)
from issues.services import navigator_preference_save, saved_filter_create, saved_filter_delete, saved_filter_update
from issues.workflows import statuses_of_projects
from taskra_site.validation import error_messages, json_error, message_errors

BULK_URL_NAMES = ("imports:bulk", "imports:bulk_update", "imports:bulk-update")


def _bulk_url() -> str | None:
    """Return the bulk-update URL when the imports app provides one (the form stays hidden otherwise)."""
    for name in BULK_URL_NAMES:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


def _query_string(params: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "", [])}, doseq=True)


@require_GET
def navigator(request: HttpRequest) -> HttpResponse:
    """Show the issues matching the filters or JQL, one keyset page at a time."""
    params = request.GET
    saved = saved_filter_for_user(user=request.user, pk=params["filter"]) if params.get("filter") else None
    parsed = parse_navigator_query(params, user=request.user, saved=saved)
    preference = navigator_preference_for(request.user)
    if preference is not None:
        apply_preference(parsed, columns=preference.columns, sort=preference.sort, direction=preference.direction)
    if parsed.issue_key:
        # Quick search with an issue key goes straight to the issue, as in Jira (404 there if not visible).
        return HttpResponseRedirect(reverse("issues:browse", args=[parsed.issue_key]))
    error: JQLError | NavigatorError | None = parsed.error
    jql, columns_raw, group_by = parsed.jql, parsed.columns, parsed.group_by
    context: dict[str, Any] = {"jql": jql, "saved": saved, "result": None, "rows_html": "", "notice": parsed.notice}
    tz = user_zone(request.user)
    # The user's projects, read once: the page cache's key, the search's visibility filter, the filter choices.
    projects = navigator_projects(user=request.user, jql=jql)
    # Types, statuses, priorities, resolutions: the rows' names and the filter's choices (in their models' order).
    lookups = lookup_tables()
    try:
        columns = navigator_columns(columns_raw)
    except NavigatorError as exc:
        columns, error = list(navigator_columns(None)), error or exc
    state = {
        "jql": jql,
        "sort": parsed.sort or "",
        "dir": parsed.direction or "",
        "group": group_by or "",
        "columns": ",".join(columns),
        "size": parsed.size,
    }
    if error is None:
        try:
            query = {
                "jql": jql,
                "sort": parsed.sort,
                "direction": parsed.direction,
                "group_by": group_by,
                "cursor": parsed.cursor,
                "columns": columns,
                "size": page_size(parsed.size),
            }
            # Page cache: shared entries keyed by the viewer's visible projects, the query and the time zone the
            # rows' dates are rendered in; JQL errors raise from the builder and are never cached.
            page = cached_result_page(
                user=request.user,
                query=query,
                variant=[str(tz)],
                builder=lambda: _result_page(
                    user=request.user, query=query, tz=tz, project_ids=projects.visible, lookups=lookups
                ),
                projects=projects,
            )
            context["result"], context["rows_html"] = page["result"], mark_safe(page["rows_html"])
        except (JQLError, NavigatorError) as exc:
            error = exc
    result = context["result"]
    shown = filter_state(params)
    statuses = statuses_of_projects(projects.visible).only("id", "name")
    if parsed.remember and error is None:
        # The Columns form says remember=columns, a column header remember=sort: the next search without
        # its own columns or ORDER BY looks the same. Only a choice that worked is remembered.
        navigator_preference_save(
            user=request.user,
            columns=columns if parsed.remember == "columns" else None,
            sort=(parsed.sort or "") if parsed.remember == "sort" else None,
            direction=parsed.direction,
        )
    context.update(
        error=error,
        error_is_jql=isinstance(error, JQLError),
        columns=_column_headers(state, columns, result),
        column_ids=columns,
        all_columns=[(c, label) for c, (label, _sort) in NAVIGATOR_COLUMNS.items()],
        group_choices=list(NAVIGATOR_GROUPS),
        group_by=group_by,
        state=state,
        caret_pad=_caret_pad(jql, error),
        page_links=_page_links(state, result),
        export_csv=reverse("issues:export") + "?" + _query_string({**state, "format": "csv"}),
        export_json=reverse("issues:export") + "?" + _query_string({**state, "format": "json"}),
        filter_state=shown,
        # The filter form's option lists, written in Python (issues.navigator_rows.options_html).
        share_options=mark_safe(options_html((pk, f"Members of {key}") for pk, key, _name in projects.rows)),
        project_options=mark_safe(
            options_html(((key, f"{key} · {name}") for _pk, key, name in projects.rows), shown["project"])
        ),
        status_options=mark_safe(options_html(((s.name, s.name) for s in statuses), shown["status"])),
        categories=StatusCategory.choices,
        type_options=mark_safe(options_html(((t.name, t.name) for t in lookups["type"].values()), shown["type"])),
        priority_options=mark_safe(
            options_html(((p.name, p.name) for p in lookups["priority"].values()), shown["priority"])
        ),
        saved_filters=list(saved_filters_for(request.user)),
        bulk_url=_bulk_url(),
        # The JQL box's autocomplete (navigator.js): names from the language table, values from the REST API.
        jql_autocomplete_script=_autocomplete_script(),
        jql_suggest_url=reverse("api:jql_suggestions", kwargs={"version": "2"}),
    )
    # Dates on the page read in the user's own time zone, the one JQL's date functions use.
    with timezone.override(tz):
        return render(request, "issues/navigator.html", context, status=400 if error else 200)


@functools.cache
def _autocomplete_script() -> str:
    """Return the JQL box's autocomplete data as its <script> element: built from the language table once per process.

    Written per request it cost 1-2 ms of JSON and escaping on every navigator page for the same 5 kB.
    """
    return json_script(autocomplete_data(), "jql-autocomplete-data")


def _result_page(
    *, user: Any, query: dict[str, Any], tz: dt.tzinfo, project_ids: list[int], lookups: dict[str, dict[int, Any]]
) -> dict[str, Any]:
    """Return the result page and its rendered rows (the costly part of the page), as cached together."""
    result = navigator_page(user=user, project_ids=project_ids, lookups=lookups, **query)
    for row in result.rows:
        row["time_spent_text"] = format_duration(row["time_spent"]) if row.get("time_spent") else ""
    rows_html = navigator_rows_html(result.rows, query["columns"], tz=tz)
    return {"result": result, "rows_html": rows_html}


def _column_headers(state: dict[str, str], columns: list[str], result: Any) -> list[dict[str, str | None]]:
    """Return per column: id, label, the URL sorting by it (toggling the direction) and its direction mark."""
    headers: list[dict[str, str | None]] = []
    current = result.sort if result else None
    for column in columns:
        label, field = NAVIGATOR_COLUMNS[column]
        header: dict[str, str | None] = {"id": column, "label": label, "sort_url": None, "mark": ""}
        if field is not None:
            direction = "asc"
            if current == field:
                header["mark"] = "▲" if result.direction == "asc" else "▼"
                direction = "desc" if result.direction == "asc" else "asc"
            # A column sort chosen here is the user's sort from now on (apply_preference).
            header["sort_url"] = "?" + _query_string({**state, "sort": field, "dir": direction, "remember": "sort"})
        headers.append(header)
    return headers


def _caret_pad(jql: str, error: Any) -> str | None:
    """Return the spaces that put a caret under the error position of a one-line query."""
    position = getattr(error, "position", None)
    if not isinstance(error, JQLError) or not position or "\n" in jql or position > len(jql) + 1:
        return None
    return " " * (position - 1)


def _page_links(state: dict[str, str], result: Any) -> dict[str, str | None]:
    """Return the First / Previous / Next / Last links of a keyset page (None where there is no such page)."""
    if result is None:
        return {"next": None, "prev": None, "first": None, "last": None}
    return {
        "next": "?" + _query_string({**state, "cursor": result.next_cursor}) if result.next_cursor else None,
        "prev": "?" + _query_string({**state, "cursor": result.prev_cursor}) if result.prev_cursor else None,
        "first": "?" + _query_string(state),
        "last": "?" + _query_string({**state, "cursor": LAST_PAGE}) if result.next_cursor else None,
    }


# --------------------------------------------------------------------------- exports and API


def _jql_error(exc: JQLError) -> JsonResponse:
    # The one error shape, plus where in the query the error is and how to fix it.
    errors = message_errors([str(exc)], field="jql", type="jql")
    return json_error(str(exc), errors=errors, position=exc.position, hint=exc.hint)


@require_GET
def export(request: HttpRequest) -> HttpResponseBase:
    """Export every issue of the current query as CSV or JSON (same rows, order and visibility as the page).

    Up to TASKRA_EXPORT_INLINE_ROWS rows stream in the response; more run as a background job and this
    answers 303 to the job's page (issues/export_jobs.py).
    """
    fmt = request.GET.get("format", "csv")
    if fmt not in FORMATS:
        return json_error("Unknown export format: use format=csv or format=json.")
    params = {name: request.GET.get(name, "") for name in ("jql", "sort", "dir")}
    try:
        queryset = issue_export_queryset(user=request.user, params=params)
        large = exceeds_inline(queryset)
    except JQLError as exc:
        return _jql_error(exc)
    except NavigatorError as exc:
        return json_error(str(exc))
    if large:
        job = export_job_create(user=request.user, kind="issues", fmt=fmt, params=params)
        return HttpResponseRedirect(reverse("issues:export_job", args=[job.pk]), status=303)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    pieces = issue_json_pieces(queryset) if fmt == "json" else issue_csv_pieces(queryset)
    content_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    return spooled_response(pieces, content_type=content_type, filename=f"issues-{stamp}.{fmt}")


# --------------------------------------------------------------------------- saved filters


def _shared_project(request: HttpRequest) -> Project | None:
    raw = request.POST.get("shared_with", "")
    if not raw:
        return None
    project = projects_visible_to(request.user).filter(pk=int(raw)).first() if raw.isdigit() and len(raw) < 18 else None
    if project is None:
        raise ValidationError({"shared_with": "Choose one of your projects to share with."})
    return project


def _navigator_url(**params: Any) -> str:
    return reverse("issues:navigator") + ("?" + _query_string(params) if params else "")


@require_POST
def saved_filter_save(request: HttpRequest) -> HttpResponse:
    """Save the current query (and columns) as a new filter, private or shared with a project."""
    jql = request.POST.get("jql", "")
    try:
        columns = navigator_columns(request.POST.get("columns") or None)
        saved = saved_filter_create(
            owner=request.user,
            name=request.POST.get("name", ""),
            jql=jql,
            columns=columns,
            shared_with=_shared_project(request),
        )
    except NavigatorError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(_navigator_url(jql=jql))
    except ValidationError as exc:
        messages.error(request, f"The filter was not saved: {' '.join(error_messages(exc))}")
        return HttpResponseRedirect(_navigator_url(jql=jql))
    messages.success(request, f"Saved filter '{saved.name}'.")
    return HttpResponseRedirect(_navigator_url(filter=saved.pk))


@require_POST
def saved_filter_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Overwrite one's own saved filter with the current query, columns and sharing."""
    saved = saved_filter_for_user(user=request.user, pk=pk)
    if saved is None:
        return HttpResponse("No such saved filter.", status=404, content_type="text/plain")
    jql = request.POST.get("jql", saved.jql)
    try:
        columns = navigator_columns(request.POST.get("columns") or saved.columns or None)
        saved_filter_update(
            saved_filter=saved,
            actor=request.user,
            name=request.POST.get("name", saved.name),
            jql=jql,
            columns=columns,
            shared_with=_shared_project(request),
        )
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain")
    except (ValidationError, NavigatorError) as exc:
        text = " ".join(error_messages(exc)) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, f"The filter was not changed: {text}")
        return HttpResponseRedirect(_navigator_url(filter=saved.pk, jql=jql))
    messages.success(request, f"Updated filter '{saved.name}'.")
    return HttpResponseRedirect(_navigator_url(filter=saved.pk))


@require_POST
def saved_filter_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one's own saved filter."""
    saved = saved_filter_for_user(user=request.user, pk=pk)
    if saved is None:
        return HttpResponse("No such saved filter.", status=404, content_type="text/plain")
    try:
        saved_filter_delete(saved_filter=saved, actor=request.user)
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain")
    messages.success(request, f"Deleted filter '{saved.name}'.")
    return HttpResponseRedirect(_navigator_url())
