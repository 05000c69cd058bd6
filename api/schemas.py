"""Pydantic shapes of the REST API: the issue JSON (output, filled by api/adapters.py from .values() rows) and
the request bodies (input, validated straight from bytes with `model_validate_json`).

Bodies follow Jira's documented shapes; unknown keys at the top level are ignored as Jira ignores them, but
unknown keys inside `fields` and `update` are errors naming the field, as Jira reports them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from issues.schemas import DurationOrZero

Json = dict[str, Any]

# ---------------------------------------------------------------------------------------------------------
# Output: an issue's `fields` object (id and key go up one level: {"id", "key", "self", "fields"}).
# ---------------------------------------------------------------------------------------------------------


class JiraIssueFields(BaseModel):
    id: int
    key: str
    summary: str
    status: Json
    assignee: Json | None
    reporter: Json | None
    priority: Json
    issuetype: Json
    project: Json
    labels: list[str]
    created: str
    updated: str
    resolution: Json | None
    resolutiondate: str | None
    duedate: str | None
    description: str | Json | None
    comment: Json
    worklog: Json
    timetracking: Json
    parent: Json | None
    subtasks: list[Json]
    issuelinks: list[Json]
    attachment: list[Json]
    timeoriginalestimate: int | None
    timeestimate: int | None
    timespent: int | None


# ---------------------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------------------


def _string_id(value: Any) -> Any:
    # Jira clients send ids as strings or numbers.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Ident = Annotated[str, BeforeValidator(_string_id), StringConstraints(strip_whitespace=True, max_length=255)]


class Ref(BaseModel):
    """A reference to a project, type, status, priority or resolution: by id, key or name."""

    model_config = ConfigDict(extra="ignore")

    id: Ident | None = None
    key: Ident | None = None
    name: Ident | None = None


class UserIn(BaseModel):
    """A user: accountId (Cloud), name or key (Server), or id."""

    model_config = ConfigDict(extra="ignore")

    accountId: Ident | None = None  # noqa: N815 - Jira's name
    name: Ident | None = None
    key: Ident | None = None
    id: Ident | None = None


class TimeTrackingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    originalEstimate: DurationOrZero | None = None  # noqa: N815
    remainingEstimate: DurationOrZero | None = None  # noqa: N815


Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^\S+$")]


class IssueFieldsIn(BaseModel):
    """The `fields` of a create or edit body. Sent keys only (fields_set) are applied on edit."""

    model_config = ConfigDict(extra="allow")

    project: Ref | None = None
    summary: str | None = None
    description: str | Json | None = None
    issuetype: Ref | None = None
    status: Ref | None = None
    priority: Ref | None = None
    resolution: Ref | None = None
    assignee: UserIn | None = None
    reporter: UserIn | None = None
    labels: list[Label] | None = None
    parent: Ref | None = None
    duedate: dt.date | None = None
    timetracking: TimeTrackingIn | None = None
    timeoriginalestimate: DurationOrZero | None = None
    timeestimate: DurationOrZero | None = None


class IssueCreateIn(BaseModel):
    """POST issue: {"fields": {...}, "update": {...}} (update operations apply after the fields)."""

    model_config = ConfigDict(extra="ignore")

    fields: IssueFieldsIn
    update: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)


class IssueEditIn(BaseModel):
    """PUT issue/{idOrKey}: `fields` to set and `update` operations ({"labels": [{"add": "x"}]})."""

    model_config = ConfigDict(extra="ignore")

    fields: IssueFieldsIn = Field(default_factory=IssueFieldsIn)
    update: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)


class BulkCreateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    issueUpdates: list[IssueCreateIn] = Field(max_length=1000)  # noqa: N815


def _as_list(value: Any) -> Any:
    return value.split(",") if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


class SearchIn(BaseModel):
    """POST search (and GET search's query string read into the same shape)."""

    model_config = ConfigDict(extra="ignore")

    jql: str = ""
    startAt: int = Field(default=0, ge=0)  # noqa: N815
    maxResults: int | None = Field(default=None, ge=0)  # noqa: N815
    fields: StrList = Field(default_factory=list)
    expand: StrList = Field(default_factory=list)
    validateQuery: str | bool = "strict"  # noqa: N815


class SearchJqlIn(BaseModel):
    """POST search/jql: Jira Cloud's token-paged search."""

    model_config = ConfigDict(extra="ignore")

    jql: str = ""
    nextPageToken: str | None = None  # noqa: N815
    maxResults: int | None = Field(default=None, ge=0)  # noqa: N815
    fields: StrList = Field(default_factory=list)
    expand: StrList = Field(default_factory=list)


class CommentIn(BaseModel):
    """POST / PUT issue/{idOrKey}/comment: {"body": text (v2) or an Atlassian Document (v3)}."""

    model_config = ConfigDict(extra="ignore")  # visibility, properties: not supported, ignored as Jira Server does

    body: str | Json | None = None


class IssueLinkIn(BaseModel):
    """POST issueLink: {"type": {"name"|"id"}, "inwardIssue": {"key"|"id"}, "outwardIssue": {...}, "comment": {...}}.

    As in Jira, the inwardIssue takes the type's outward phrase: Blocks with inwardIssue A and outwardIssue B
    makes "A blocks B" (A is the source: the caller must be able to edit it).
    """

    model_config = ConfigDict(extra="forbid")

    type: Ref
    inwardIssue: Ref  # noqa: N815 - Jira's name
    outwardIssue: Ref  # noqa: N815 - Jira's name
    comment: CommentIn | None = None


class WorklogIn(BaseModel):
    """POST / PUT issue/{idOrKey}/worklog: Jira's worklog body (timeSpent "1h 30m" or timeSpentSeconds).

    Checked again by worklogs.schemas.WorklogCreate / WorklogUpdate (one set of worklog rules).
    """

    model_config = ConfigDict(extra="ignore")

    comment: str | Json | None = None
    started: str | None = None
    timeSpent: str | None = None  # noqa: N815
    timeSpentSeconds: int | None = None  # noqa: N815


class WorklogIdsIn(BaseModel):
    """POST worklog/list: {"ids": [1, 2]} (at most 1000, as Jira)."""

    model_config = ConfigDict(extra="ignore")

    ids: list[Annotated[int, Field(ge=0, lt=2**63)]] = Field(max_length=1000)


class TransitionRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Ident


class TransitionIn(BaseModel):
    """POST issue/{idOrKey}/transitions: {"transition": {"id": "31"}, "fields": {...}, "update": {...}}."""

    model_config = ConfigDict(extra="ignore")

    transition: TransitionRef
    fields: IssueFieldsIn = Field(default_factory=IssueFieldsIn)
    update: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
