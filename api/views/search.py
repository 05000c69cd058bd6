"""search (GET/POST: startAt pages with a total) and search/jql (GET/POST: nextPageToken pages, no total).

Both run the navigator's JQL compiler and visibility filter (api.selectors.search_*); the page's issues are
written from .values() rows (api.adapters). maxResults is capped at TASKRA_API_MAX_RESULTS and the response
reports the effective value, so clients that page "until total" (maxResults=0 in the jira library) work.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from api import expand as expansions
from api.adapters import issues_json_by_ids
from api.errors import ApiError
from api.fields import field_names_param, select_fields
from api.http import api_view, parse
from api.schemas import SearchIn, SearchJqlIn
from api.selectors import search_keyset, search_offset

DEFAULT_MAX_RESULTS = 50
STRICT = {"strict": True, "true": True, "warn": False, "none": False, "false": False}


def _query(request: HttpRequest, names: tuple[str, ...]) -> dict[str, Any]:
    params = request.GET
    data: dict[str, Any] = {n: params[n] for n in names if n in params}
    for n in ("fields", "expand"):
        if n in params:
            data[n] = field_names_param(params.getlist(n))
    return data


def _max_results(asked: int | None) -> int:
    return min(DEFAULT_MAX_RESULTS if asked is None else asked, settings.TASKRA_API_MAX_RESULTS)


@api_view("GET", "POST")
def search(request: HttpRequest) -> dict[str, Any]:
    if request.method == "POST":
        body = parse(SearchIn, request)
    else:
        body = SearchIn.model_validate(_query(request, ("jql", "startAt", "maxResults", "validateQuery")))
    strict = STRICT.get(str(body.validateQuery).lower())
    if strict is None:
        raise ApiError(400, ["validateQuery must be one of strict, warn, none, true or false."])
    size = _max_results(body.maxResults)
    fields = select_fields(field_names_param(body.fields), default="*navigable")
    page = search_offset(user=request.user, jql=body.jql, start=body.startAt, size=size, strict=strict)
    issues = issues_json_by_ids(page.ids, fields)
    wanted = field_names_param(body.expand)
    out: dict[str, Any] = {"expand": "schema,names", "startAt": body.startAt, "maxResults": size,
                           "total": page.total, "issues": issues}  # fmt: skip
    out.update(expansions.apply(issues, wanted, fields))
    return out


@api_view("GET", "POST")
def search_jql(request: HttpRequest) -> dict[str, Any]:
    """Jira Cloud's enhanced search: only ids unless `fields` asks for more, as Jira Cloud answers."""
    if request.method == "POST":
        body = parse(SearchJqlIn, request)
    else:
        body = SearchJqlIn.model_validate(_query(request, ("jql", "nextPageToken", "maxResults")))
    size = max(1, _max_results(body.maxResults))
    requested = field_names_param(body.fields)
    fields = select_fields(requested, default="*navigable") if requested else ()
    page = search_keyset(user=request.user, jql=body.jql, token=body.nextPageToken, size=size)
    issues = issues_json_by_ids(page.ids, fields) if requested else [{"id": str(pk)} for pk in page.ids]
    out: dict[str, Any] = {"issues": issues, "isLast": page.next_token is None}
    if page.next_token:
        out["nextPageToken"] = page.next_token
    out.update(expansions.apply(issues, field_names_param(body.expand), fields))
    return out
