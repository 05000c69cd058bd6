"""Pydantic shapes of issues and comments at Taskra's edges, and the Duration / IssueKey field types.

Output shapes (IssueRow, IssueOut, IssuePage, UserRef, ProjectRef) are what views, the API,
exports and the cache see; issues/adapters.py fills them from ORM rows. Input shapes
(IssueCreate, IssueUpdate, CommentCreate) validate untrusted bodies, straight from bytes with
`Model.model_validate_json(body)`.

Everything here is built once at import time; nothing is compiled per request.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from issues.durations import MAX_DURATION_SECONDS, format_duration, parse_duration
from taskra_site.textguard import find_unstorable_in, unstorable_message


def normalize_newlines(text: str) -> str:
    """Return the text with every line break as LF: browsers post textareas with CRLF, old Macs sent CR.

    The one normalisation of free text at Taskra's edges (the `Text` type here, forms.TextField, the services),
    so the same text always compares equal and history records no phantom change.
    """
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _text_input(value: Any) -> Any:
    return normalize_newlines(value) if isinstance(value, str) else value


# Free text with LF line ends (summaries, descriptions, comment bodies, worklog comments).
Text = Annotated[str, BeforeValidator(_text_input)]


def _duration_input(allow_zero: bool):
    def validate(value: Any) -> int:
        if isinstance(value, bool):
            raise PydanticCustomError("duration_type", "Duration must be text such as '2h 30m' or whole seconds.")
        if isinstance(value, int):
            seconds = value
        elif isinstance(value, float) and value.is_integer():
            seconds = int(value)
        elif isinstance(value, str):
            try:
                return parse_duration(value, allow_zero=allow_zero)
            except ValueError as exc:
                raise PydanticCustomError("duration_parsing", str(exc)) from None
        else:
            raise PydanticCustomError("duration_type", "Duration must be text such as '2h 30m' or whole seconds.")
        if seconds < 0:
            raise PydanticCustomError("duration_negative", "Duration must not be negative.")
        if seconds == 0 and not allow_zero:
            raise PydanticCustomError("duration_zero", "Duration must be more than zero.")
        if seconds > MAX_DURATION_SECONDS:
            raise PydanticCustomError(
                "duration_too_long",
                "Duration is too long: at most {limit} hours.",
                {"limit": MAX_DURATION_SECONDS // 3600},
            )
        return seconds

    return validate


_DURATION_JSON_SCHEMA = {
    "anyOf": [
        {"type": "string", "examples": ["2h 30m", "1d 4h", "90m", "1.5h"]},
        {"type": "integer", "description": "seconds"},
    ]
}

# A positive duration: "2h 30m" or whole seconds in, integer seconds out.
Duration = Annotated[int, BeforeValidator(_duration_input(False)), WithJsonSchema(_DURATION_JSON_SCHEMA)]
# A duration that may be zero (remaining estimates): "0m" is valid here.
DurationOrZero = Annotated[int, BeforeValidator(_duration_input(True)), WithJsonSchema(_DURATION_JSON_SCHEMA)]
# Seconds in, "2h 30m" text out (for display-oriented JSON such as timesheet exports).
DurationText = Annotated[int, PlainSerializer(lambda s: format_duration(s), return_type=str)]

ISSUE_KEY_RE = r"(?i)^[A-Z][A-Z0-9_]{1,9}-[1-9][0-9]{0,9}$"
# "DEMO-123"; lower case input is accepted and upper-cased.
# Issue numbers live in an int4 column: a larger one is a clear error here, never an overflow in the database.
MAX_ISSUE_NUMBER = 2**31 - 1


def _number_fits(key: str) -> str:
    if int(key.rsplit("-", 1)[1]) > MAX_ISSUE_NUMBER:
        raise PydanticCustomError(
            "key_number_too_large",
            "The issue number of {key} is too large: at most {limit}.",
            {"key": key, "limit": MAX_ISSUE_NUMBER},
        )
    return key


IssueKey = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=ISSUE_KEY_RE, to_upper=True), AfterValidator(_number_fits)
]
ProjectKey = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"(?i)^[A-Z][A-Z0-9_]{1,9}$", to_upper=True)
]
NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

# ---------------------------------------------------------------------------------------------------------
# Output shapes
# ---------------------------------------------------------------------------------------------------------


def _absent(value: Any) -> bool:
    # Lazy fields that were not asked for stay None and are left out of dumps, as the adapters leave them out.
    return value is None


class UserRef(BaseModel):
    """A user as shown next to an issue, worklog or comment."""

    id: int
    username: str
    display_name: str


class ProjectRef(BaseModel):
    id: int
    key: str
    name: str


class IssueRow(BaseModel):
    """One line of an issue list (navigator, board, export, cache entry)."""

    id: int
    key: str
    summary: str
    project: ProjectRef
    type: str
    status: str
    status_category: str
    priority: str
    assignee: UserRef | None
    reporter: UserRef | None
    due_date: dt.date | None
    original_estimate: int | None
    remaining_estimate: int | None
    time_spent: int
    created: dt.datetime
    updated: dt.datetime
    resolved: dt.datetime | None
    # Lazy: present only when asked for (extras=...), computed by the adapter, absent from JSON otherwise.
    subtask_count: int | None = Field(default=None, exclude_if=_absent)
    worklog_count: int | None = Field(default=None, exclude_if=_absent)


class IssueOut(IssueRow):
    """One issue with everything its page shows."""

    description: str
    resolution: str | None
    parent_key: str | None
    labels: list[str]
    # Lazy: rendered/sanitised Markdown, only when asked for.
    description_html: str | None = Field(default=None, exclude_if=_absent)


# The issue page (/browse/KEY): issues.adapters.issue_page_payload fills it; the page cache stores its JSON.


class NamedRef(BaseModel):
    id: int
    name: str


class PageType(NamedRef):
    icon: str
    is_subtask: bool


class PageStatus(NamedRef):
    category: str


class PagePriority(NamedRef):
    color: str


class ParentRef(BaseModel):
    id: int
    key: str
    summary: str


class IssuePageIssue(BaseModel):
    """The issue itself as its page shows it (description rendered and sanitised)."""

    id: int
    key: str
    number: int
    summary: str
    description: str
    description_html: str
    project: ProjectRef
    type: PageType
    status: PageStatus
    priority: PagePriority
    resolution: str | None
    assignee: UserRef | None
    reporter: UserRef | None
    labels: list[str]
    parent: ParentRef | None
    due_date: dt.date | None
    created: dt.datetime
    updated: dt.datetime
    resolved: dt.datetime | None


class TimeTracking(BaseModel):
    """The figures of the time-tracking bar: seconds, their text, and bar widths in percent."""

    original: int | None
    spent: int
    remaining: int | None
    original_text: str
    spent_text: str
    remaining_text: str
    original_pct: float
    spent_pct: float
    remaining_pct: float
    over_estimate: bool


class PageSubtask(BaseModel):
    id: int
    key: str
    summary: str
    status: str
    status_category: str
    priority: str
    priority_color: str
    type_icon: str
    assignee: UserRef | None
    time_spent: int


class PageComment(BaseModel):
    id: int
    author: UserRef | None
    body: str
    body_html: str
    created: dt.datetime
    updated: dt.datetime
    edited: bool


class PageWorklog(BaseModel):
    id: int
    author: UserRef | None
    started: dt.datetime
    time_spent: int
    time_spent_text: str
    comment: str


class PageHistory(BaseModel):
    """One changed field; estimates and time spent written as durations ("2h 30m")."""

    id: int
    author: UserRef | None
    created: dt.datetime
    field: str
    from_: str = Field(alias="from")
    to: str


class PageLinkedIssue(BaseModel):
    id: int
    key: str
    summary: str
    status: str
    status_category: str
    project_id: int  # the page shows a linked issue only to viewers who may see its project


class PageLink(BaseModel):
    """One link as read from this issue: "blocks DEMO-2" (outward) or "is blocked by DEMO-1" (inward)."""

    id: int
    type: str
    direction: str  # "outward" or "inward"
    phrase: str
    issue: PageLinkedIssue


class PageLinkOption(BaseModel):
    value: str  # "<type id>:outward" or "<type id>:inward"
    label: str


class PageAttachment(BaseModel):
    id: int
    filename: str
    size: int
    size_text: str
    content_type: str
    has_thumbnail: bool
    author: UserRef | None
    created: dt.datetime


class ChildProgress(BaseModel):
    """Done / total children (an Epic's issues, an issue's sub-tasks) by status category, and their time spent."""

    total: int
    done: int
    in_progress: int
    done_pct: float
    time_spent: int
    time_spent_text: str


class PageCustomField(BaseModel):
    """One custom field's value on the issue page and in the API: the text shown, typed parts to format."""

    id: int
    jira_id: str  # "customfield_10010" ("" for a field known only by name)
    name: str
    type: str
    text: str
    values: list[str]
    number: float | None = None
    date: dt.date | None = None
    moment: dt.datetime | None = None


class IssuePage(BaseModel):
    """Everything /browse/KEY shows about one issue, the same for every viewer (lists are the latest rows).

    `links` name every linked issue; the page shows each only to viewers who may see it (issuepage.links).
    """

    issue: IssuePageIssue
    time: TimeTracking
    subtasks: list[PageSubtask]
    comments: list[PageComment]
    comments_total: int
    worklogs: list[PageWorklog]
    worklogs_total: int
    history: list[PageHistory]
    history_total: int
    links: list[PageLink]
    link_types: list[PageLinkOption]
    attachments: list[PageAttachment]
    progress: ChildProgress | None
    custom_fields: list[PageCustomField] = []


# ---------------------------------------------------------------------------------------------------------
# Input shapes
# ---------------------------------------------------------------------------------------------------------


class _Input(BaseModel):
    # Unknown keys are mistakes in an API body or an import mapping: say so instead of dropping them.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # NUL (PostgreSQL refuses it in text) in any string field: a 400 naming the field, not a 500 at the database.
        what = find_unstorable_in(value)
        if what:
            raise PydanticCustomError("unstorable_character", unstorable_message("The value", what))
        return value


class IssueCreate(_Input):
    """A new issue; related objects are given by name (type, status, priority), username and issue key."""

    project: ProjectKey
    summary: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    description: Text = ""
    type: NonBlank | None = None
    status: NonBlank | None = None
    priority: NonBlank | None = None
    assignee: NonBlank | None = None
    labels: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^\S+$")]
    ] = Field(default_factory=list)
    parent: IssueKey | None = None
    due_date: dt.date | None = None
    original_estimate: DurationOrZero | None = None
    remaining_estimate: DurationOrZero | None = None


class IssueUpdate(_Input):
    """A partial update: only the fields sent are validated and applied (use `payload.changes()`).

    Defaults are never validated, so a field that was not sent is simply absent from changes();
    sending null clears a nullable field and is an error for the others.
    """

    # None means "not sent" (pydantic never validates defaults), so the default need not fit the type.
    summary: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)] = None  # type: ignore[assignment]
    description: Text = None  # type: ignore[assignment]
    type: NonBlank = None  # type: ignore[assignment]
    status: NonBlank = None  # type: ignore[assignment]
    priority: NonBlank = None  # type: ignore[assignment]
    resolution: NonBlank | None = None
    assignee: NonBlank | None = None
    reporter: NonBlank | None = None
    labels: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^\S+$")]
    ] = None  # type: ignore[assignment]
    parent: IssueKey | None = None
    due_date: dt.date | None = None
    original_estimate: DurationOrZero | None = None
    remaining_estimate: DurationOrZero | None = None

    def changes(self) -> dict[str, Any]:
        """Return only the fields that were sent, with their validated values."""
        return self.model_dump(exclude_unset=True)


class CommentCreate(_Input):
    body: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=65535)]


__all__ = [
    "AwareDatetime",
    "CommentCreate",
    "Duration",
    "DurationOrZero",
    "DurationText",
    "IssueCreate",
    "IssueKey",
    "MAX_ISSUE_NUMBER",
    "IssueOut",
    "IssuePage",
    "IssuePageIssue",
    "IssueRow",
    "IssueUpdate",
    "PageComment",
    "PageHistory",
    "PageSubtask",
    "PageWorklog",
    "ProjectKey",
    "ProjectRef",
    "Text",
    "UserRef",
    "normalize_newlines",
]
