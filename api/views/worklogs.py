"""Worklogs: issue/{idOrKey}/worklog (GET, POST), issue/{idOrKey}/worklog/{id} (GET, PUT, DELETE),
worklog/updated (GET) and worklog/list (POST).

Jira's body and query string are mapped onto worklogs.schemas.WorklogCreate / WorklogUpdate (their
estimate options are Jira's adjustEstimate: auto, new + newEstimate, leave, manual + reduceBy) and written
through worklogs.services, whose `remaining_after` is the one remaining-estimate rule. Members log work,
the author or a project admin edits and deletes, viewers get 403, outsiders 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from api import context
from api.adapters import WORKLOG_COLUMNS, worklog_json
from api.errors import ApiError, validation_errors
from api.fields import parse_int
from api.http import api_view, no_content, ok, parse
from api.inputs import Problems, page_params, text_body
from api.schemas import WorklogIdsIn, WorklogIn
from api.selectors import issue_for_user, issue_ids_for_user, worklog_page, worklog_rows, worklogs_updated
from issues.permissions import require_edit
from issues.schemas import DurationOrZero
from worklogs.models import Worklog
from worklogs.schemas import WorklogCreate, WorklogUpdate
from worklogs.services import worklog_add, worklog_delete, worklog_update

# worklogs.schemas names -> Jira's names, for the fields of 400 errors.
JIRA_NAMES = {"time_spent": "timeSpent", "started": "started", "comment": "comment", "new_estimate": "newEstimate",
              "reduce_by": "reduceBy", "adjust_estimate": "adjustEstimate", "increase_by": "increaseBy"}  # fmt: skip
UPDATED_PAGE = 1000
MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z in epoch milliseconds


def _jira_error(exc: PydanticValidationError) -> ApiError:
    error = validation_errors(exc)
    error.errors = {JIRA_NAMES.get(name, name): message for name, message in error.errors.items()}
    return error


def _input(request: HttpRequest, *, creating: bool) -> dict[str, Any]:
    """Return the worklogs.schemas input of a Jira worklog body and its adjustEstimate query parameters."""
    body = parse(WorklogIn, request)
    problems = Problems()
    data: dict[str, Any] = {}
    if body.comment is not None:
        data["comment"] = text_body(body.comment, "comment", problems) or ""
    problems.raise_any()
    if body.timeSpentSeconds is not None:
        data["time_spent"] = body.timeSpentSeconds
    elif body.timeSpent is not None:
        data["time_spent"] = body.timeSpent
    if body.started is not None:
        data["started"] = body.started
    elif creating:
        data["started"] = timezone.now()
    if creating and "time_spent" not in data:
        raise ApiError(400, [], {"timeLogged": "You must indicate the time spent working."})
    params = request.GET
    data["adjust_estimate"] = params.get("adjustEstimate") or "auto"
    if params.get("newEstimate"):
        data["new_estimate"] = params["newEstimate"]
    if params.get("reduceBy"):
        data["reduce_by"] = params["reduceBy"]
    return data


def _one(worklog_id: int) -> dict[str, Any]:
    rows = Worklog.objects.filter(pk=worklog_id).values_list("author_id", *WORKLOG_COLUMNS)
    for author_id, *row in rows:
        return worklog_json(tuple(row), author_id)
    raise ApiError(404, [f"Cannot find worklog with id: {worklog_id}."])


def _started_after(request: HttpRequest) -> dt.datetime | None:
    raw = request.GET.get("startedAfter")
    if raw in (None, ""):
        return None
    ms = parse_int(raw, "startedAfter", default=0, maximum=MAX_MS)
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


@api_view("GET", "POST")
def worklogs(request: HttpRequest, id_or_key: str) -> Any:
    if request.method == "POST":
        issue = issue_for_user(user=request.user, ref=id_or_key)
        require_edit(request.user, issue.project_id, "You do not have permission to log work on this issue.")
        try:
            payload = WorklogCreate.model_validate(_input(request, creating=True))
        except PydanticValidationError as exc:
            raise _jira_error(exc) from None
        created = worklog_add(
            issue=issue,
            author=request.user,
            time_spent=payload.time_spent,
            started=payload.started,
            comment=payload.comment,
            adjust_estimate=payload.adjust_estimate,
            new_estimate=payload.new_estimate,
            reduce_by=payload.reduce_by,
            by=request.user,
        )
        return ok(_one(created.pk), status=201)
    pk, _project_id = issue_ids_for_user(user=request.user, ref=id_or_key)
    start, size = page_params(request, default=5000, limit=5000)
    rows, total = worklog_page(issue_id=pk, start=start, size=size, started_after=_started_after(request))
    return {"startAt": start, "maxResults": size, "total": total,
            "worklogs": [worklog_json(tuple(row), author_id) for author_id, *row in rows]}  # fmt: skip


def _worklog_of(issue_id: int, worklog_id: str) -> Worklog:
    found = None
    if worklog_id.isdigit() and 0 < int(worklog_id[:20]) < 2**63:
        found = Worklog.objects.filter(pk=int(worklog_id), issue_id=issue_id).first()
    if found is None:
        raise ApiError(404, [f"Cannot find worklog with id: {worklog_id[:40]}."])
    return found


@api_view("GET", "PUT", "DELETE")
def worklog(request: HttpRequest, id_or_key: str, worklog_id: str) -> Any:
    if request.method == "GET":
        pk, _project_id = issue_ids_for_user(user=request.user, ref=id_or_key)
        return _one(_worklog_of(pk, worklog_id).pk)
    issue = issue_for_user(user=request.user, ref=id_or_key)
    found = _worklog_of(issue.pk, worklog_id)
    require_edit(request.user, issue.project_id, "You do not have permission to change worklogs on this issue.")
    if request.method == "DELETE":
        return _delete(request, found)
    data = _input(request, creating=False)
    if data["adjust_estimate"] == "manual":
        raise ApiError(400, [], {"adjustEstimate": "Editing a worklog takes adjustEstimate auto, new or leave."})
    try:
        payload = WorklogUpdate.model_validate(data)
    except PydanticValidationError as exc:
        raise _jira_error(exc) from None
    sent = payload.changes()  # only what the body carried: None leaves a field as it is
    worklog_update(
        worklog=found,
        actor=request.user,
        time_spent=sent.get("time_spent"),  # type: ignore[arg-type]
        started=sent.get("started"),  # type: ignore[arg-type]
        comment=sent.get("comment"),  # type: ignore[arg-type]
        adjust_estimate=payload.adjust_estimate,
        new_estimate=payload.new_estimate,
        by=request.user,
    )
    return _one(found.pk)


_DURATION = TypeAdapter(DurationOrZero)


def _duration_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return None
    try:
        return _DURATION.validate_python(raw)
    except PydanticValidationError as exc:
        raise ApiError(400, [], {name: exc.errors()[0]["msg"]}) from None


def _delete(request: HttpRequest, found: Worklog) -> HttpResponse:
    mode = request.GET.get("adjustEstimate") or "auto"
    if mode not in ("auto", "new", "leave", "manual"):
        raise ApiError(400, [], {"adjustEstimate": "adjustEstimate is one of auto, new, leave, manual."})
    new_estimate = _duration_param(request, "newEstimate")
    increase_by = _duration_param(request, "increaseBy")
    if mode == "new" and new_estimate is None:
        raise ApiError(400, [], {"newEstimate": "You must supply a valid new estimate."})
    if mode == "manual" and increase_by is None:
        raise ApiError(400, [], {"increaseBy": "You must supply a valid amount to increase the estimate by."})
    worklog_delete(worklog=found, actor=request.user, adjust_estimate=mode, new_estimate=new_estimate,
                   increase_by=increase_by, by=request.user)  # fmt: skip
    return no_content()


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


@api_view("GET")
def updated(request: HttpRequest) -> dict[str, Any]:
    """worklog/updated?since=MS: ids and update times of visible worklogs updated since then, 1000 a page."""
    since = parse_int(request.GET.get("since"), "since", default=0, maximum=MAX_MS)
    rows = worklogs_updated(user=request.user, since=dt.datetime.fromtimestamp(since / 1000, tz=dt.UTC),
                            size=UPDATED_PAGE)  # fmt: skip
    values = [{"worklogId": pk, "updatedTime": _ms(stamp), "properties": []} for pk, stamp in rows]
    last = len(rows) < UPDATED_PAGE
    until = values[-1]["updatedTime"] if values else since
    base = f"{context.current().base}/worklog/updated"
    out: dict[str, Any] = {"values": values, "since": since, "until": until, "self": f"{base}?since={since}",
                           "lastPage": last}  # fmt: skip
    if not last:
        out["nextPage"] = f"{base}?since={until}"
    return out


@api_view("POST")
def worklog_list(request: HttpRequest) -> list[dict[str, Any]]:
    """worklog/list {"ids": [...]}: the worklogs of these ids that the caller may see."""
    body = parse(WorklogIdsIn, request)
    return [worklog_json(tuple(row), author_id) for author_id, *row in worklog_rows(ids=body.ids, user=request.user)]
