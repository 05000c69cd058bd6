"""Pydantic input shapes of import records: Taskra JSON Lines, Jira REST search results and Jira CSV rows.

Every format is turned into one normalised `IssueRecord` (the Taskra JSON Lines line shape: a slotted
dataclass validated by Pydantic), which the import writer writes. Built once at import time; the worker
validates whole chunks with them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
)
from pydantic_core import PydanticCustomError

from imports.formats import jira_json
from issues.schemas import MAX_ISSUE_NUMBER, Duration, DurationOrZero, IssueKey


def _clean_text(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL; Jira exports occasionally carry them.
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "")
    return value


Text = Annotated[str, BeforeValidator(_clean_text)]
Name = Annotated[
    str, BeforeValidator(_clean_text), StringConstraints(strip_whitespace=True, min_length=1, max_length=60)
]
LabelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^\S+$")]
Summary = Annotated[
    str, BeforeValidator(_clean_text), StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
StatusCategoryIn = Literal["todo", "in_progress", "done"]

# Jira's statusCategory.key values, and Taskra's own.
JIRA_STATUS_CATEGORIES: dict[str, StatusCategoryIn] = {
    "new": "todo",
    "todo": "todo",
    "to do": "todo",
    "undefined": "todo",
    "indeterminate": "in_progress",
    "in_progress": "in_progress",
    "in progress": "in_progress",
    "done": "done",
    "complete": "done",
}


# Bounds checked before the database sees a record (docs/imports.md, "Limits").
# Nesting: JSON levels (objects and arrays) counted from the top of a JSON Lines line or a Jira JSON file.
# The JSON Lines parser refuses deeper lines itself; the Jira JSON reader cuts deeper values out
# (parsers.DepthGuard); adf_to_text checks again, so no text conversion recurses without a bound.
MAX_NESTING_DEPTH = 200
# PostgreSQL integer (int4): issue numbers, estimates and worklog seconds are stored in such columns.
MAX_INT4 = MAX_ISSUE_NUMBER


def _too_deep() -> PydanticCustomError:
    return PydanticCustomError("too_deep", "Text is nested deeper than {limit} levels.", {"limit": MAX_NESTING_DEPTH})


def adf_to_text(node: Any, depth: int = 0) -> str:
    """Return the plain text of an Atlassian Document Format node (paragraphs separated by blank lines).

    Each object or array is a level; deeper than MAX_NESTING_DEPTH is an error, never a RecursionError.
    """
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if depth >= MAX_NESTING_DEPTH:
        raise _too_deep()
    if isinstance(node, list):
        return "".join(adf_to_text(n, depth + 1) for n in node)
    if not isinstance(node, dict):
        raise PydanticCustomError("adf", "Text must be a string or an Atlassian Document Format object.")
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind in ("mention", "emoji"):
        attrs = node.get("attrs") or {}
        return str(attrs.get("text") or attrs.get("shortName") or "")
    inner = adf_to_text(node.get("content") or [], depth + 1)
    if kind == "doc":
        return inner.strip("\n")
    if kind in ("paragraph", "heading", "codeBlock", "blockquote", "rule", "panel"):
        return inner + "\n\n"
    if kind == "listItem":
        return "- " + inner.strip("\n") + "\n"
    if kind in ("bulletList", "orderedList"):
        return inner + "\n"
    return inner


def _plain_or_adf(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return _clean_text(adf_to_text(value))
    return _clean_text(value)


RichText = Annotated[str, BeforeValidator(_plain_or_adf)]

# An issue key whose number fits the issue number column (issues.schemas.IssueKey checks it).
ImportKey = IssueKey


# ---------------------------------------------------------------------------------------------------------
# The normalised record (= one line of Taskra JSON Lines): the one shape every format becomes
# ---------------------------------------------------------------------------------------------------------
# Slotted dataclasses, validated by Pydantic at the edge: JSON Lines and CSV rows go through
# RECORDS / RECORD (TypeAdapters, which check the Annotated constraints below and forbid unknown keys);
# the Jira shapes are validated as Jira's own models and build these directly (JiraIssue.to_record),
# without a second validation. Why dataclasses rather than BaseModels: building them costs less than
# model_construct (that was a fifth of a Jira import's CPU time), and they cross from the reader process
# to the writer pickled as their constructor's arguments (`__reduce__`). Measured on 5,000 JSON Lines
# records against the former BaseModels: validation 0.73-0.77 s vs 1.06-1.34 s, pickle round trip
# 1.1-1.7 s vs 3.3-4.1 s (docs/benchmarks/2026-12-01-imports-services.md).

_RECORD_CONFIG = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _identified(user: UserRef) -> UserRef:
    if not (user.account_id or user.email or user.username):
        raise PydanticCustomError("user_identity", "A user needs an account_id, an email or a username.")
    return user


def _category(value: Any) -> Any:
    if isinstance(value, str):
        return JIRA_STATUS_CATEGORIES.get(value.strip().lower(), value)
    return value


class RecordInvalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(slots=True)
class UserRef:
    """A person named in a record: matched by Jira account id (by e-mail, username for staff only): imports.users."""

    account_id: ExternalId | None = None
    email: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
        ]
        | None
    ) = None
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)] | None = None
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=150)] | None = None

    __pydantic_config__ = _RECORD_CONFIG

    def identity(self) -> tuple[str, str]:
        """Return the strongest identity: ("account", id), ("email", address) or ("username", name)."""
        if self.account_id:
            return ("account", self.account_id)
        if self.email:
            return ("email", self.email)
        return ("username", self.username or "")

    # Records cross from the reader process to the writer pickled (parsers.ReaderProcess). The __reduce__
    # methods pickle them as the constructor's arguments: the slotted dataclasses' own __getstate__ /
    # __setstate__ walk dataclasses.fields() per object, which made pickling cost more than validating.
    def __reduce__(self) -> tuple[Any, tuple]:
        return (UserRef, (self.account_id, self.email, self.username, self.display_name))


Person = Annotated[UserRef, AfterValidator(_identified)]


@dataclass(slots=True)
class WorklogRecord:
    started: AwareDatetime
    time_spent: Duration
    external_id: ExternalId | None = None
    author: Person | None = None
    comment: RichText = ""
    created: AwareDatetime | None = None
    updated: AwareDatetime | None = None

    __pydantic_config__ = _RECORD_CONFIG

    def __reduce__(self) -> tuple[Any, tuple]:
        return (
            WorklogRecord,
            (self.started, self.time_spent, self.external_id, self.author, self.comment, self.created, self.updated),
        )


@dataclass(slots=True)
class CommentRecord:
    body: Annotated[str, BeforeValidator(_plain_or_adf), StringConstraints(strip_whitespace=True, min_length=1)]
    created: AwareDatetime
    external_id: ExternalId | None = None
    author: Person | None = None
    updated: AwareDatetime | None = None

    __pydantic_config__ = _RECORD_CONFIG

    def __reduce__(self) -> tuple[Any, tuple]:
        return (CommentRecord, (self.body, self.created, self.external_id, self.author, self.updated))


@dataclass(slots=True)
class HistoryRecord:
    """One changed field of the source's change history (a Jira backup's ChangeItem with its ChangeGroup)."""

    created: AwareDatetime
    field: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    from_value: Text = ""
    to_value: Text = ""
    author: Person | None = None

    __pydantic_config__ = _RECORD_CONFIG

    def __reduce__(self) -> tuple[Any, tuple]:
        return (HistoryRecord, (self.created, self.field, self.from_value, self.to_value, self.author))


@dataclass(slots=True)
class LinkRecord:
    """A link between this issue and another ("DEMO-1 blocks DEMO-2"), as one of its two ends sees it.

    `outward` true: this issue is the link's outward end (DEMO-1 in the example). Both ends' records carry the
    link: the writer creates it when it writes the second of the two, so neither order needs a pending list.
    """

    type: Name
    other: ImportKey
    outward: bool
    outward_text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = ""
    inward_text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = ""

    __pydantic_config__ = _RECORD_CONFIG

    def __reduce__(self) -> tuple[Any, tuple]:
        return (LinkRecord, (self.type, self.other, self.outward, self.outward_text, self.inward_text))


CustomFieldTypeIn = Literal["text", "number", "date", "datetime", "select", "multiselect", "user", "url", "labels"]
FieldName = Annotated[
    str, BeforeValidator(_clean_text), StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
]


@dataclass(slots=True)
class CustomFieldRecord:
    """One custom field's values on an issue (imports.custom_fields stores them).

    `field` is Jira's id ("customfield_10010") when the source has one, else the field's name. `type` None:
    the source does not say (CSV); the field keeps the type it has here, text when new.
    """

    field: FieldName
    values: list[Annotated[str, BeforeValidator(_clean_text), StringConstraints(max_length=10_000)]]
    name: FieldName | None = None
    type: CustomFieldTypeIn | None = None

    __pydantic_config__ = _RECORD_CONFIG

    def __reduce__(self) -> tuple[Any, tuple]:
        return (CustomFieldRecord, (self.field, self.values, self.name, self.type))


@dataclass(slots=True)
class IssueRecord:
    """One issue with its worklogs and comments: a line of Taskra JSON Lines, and what every format becomes."""

    key: ImportKey
    summary: Summary
    created: AwareDatetime
    external_id: ExternalId | None = None
    project_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    description: RichText = ""
    type: Name | None = None  # none: a Task, or a Sub-task when the record has a parent (the writer decides)
    status: Name | None = None
    status_category: Annotated[StatusCategoryIn | None, BeforeValidator(_category)] = None
    priority: Name | None = None
    resolution: Name | None = None
    assignee: Person | None = None
    reporter: Person | None = None
    labels: list[LabelName] = field(default_factory=list)
    parent: ImportKey | None = None
    due_date: dt.date | None = None
    original_estimate: DurationOrZero | None = None
    remaining_estimate: DurationOrZero | None = None
    updated: AwareDatetime | None = None
    resolved: AwareDatetime | None = None
    worklogs: list[WorklogRecord] = field(default_factory=list)
    comments: list[CommentRecord] = field(default_factory=list)
    # The parent by its id in the source (Jira CSV's `Parent` column) when the file does not hold it: the
    # writer looks it up among the issues imported before from the same source.
    parent_external_id: ExternalId | None = None
    # The issue's change history in the source: written once, with the issue's creation (imports.writer).
    history: list[HistoryRecord] = field(default_factory=list)
    links: list[LinkRecord] = field(default_factory=list)
    custom_fields: list[CustomFieldRecord] = field(default_factory=list)
    # What the source carries on this issue that Taskra keeps nowhere, one kind per value (Jira JSON's fields
    # not mapped): the writer counts them into the job summary.
    not_kept: list[str] = field(default_factory=list)

    __pydantic_config__ = _RECORD_CONFIG

    def __reduce__(self) -> tuple[Any, tuple]:
        return (IssueRecord, tuple(getattr(self, name) for name in _RECORD_FIELDS))


_RECORD_FIELDS = IssueRecord.__slots__
RECORD = TypeAdapter(IssueRecord)
RECORDS = TypeAdapter(list[IssueRecord])


# ---------------------------------------------------------------------------------------------------------
# Jira REST search results: {"issues": [{"id", "key", "fields": {...}}]}
# ---------------------------------------------------------------------------------------------------------


class _Jira(BaseModel):
    # Jira sends dozens of fields Taskra does not use (custom fields, avatars, self links): ignore them.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)


# The parts of an issue (people, names, worklogs, comments: about 20 per issue) are slotted dataclasses
# validated by Pydantic with the same settings as _Jira: building one costs less than a BaseModel (no
# __dict__, fields set, extras). Measured on a chunk of 1,000 benchmark issues: see
# docs/benchmarks/2026-12-01-imports-2.md.
_JIRA_PART = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)

_USERS: dict[tuple[str | None, ...], UserRef] = {}


@dataclass(slots=True)
class JiraUser:
    accountId: ExternalId | None = None
    emailAddress: str | None = None
    name: str | None = None  # Jira Server username
    key: str | None = None
    displayName: str | None = None

    __pydantic_config__ = _JIRA_PART

    def to_user(self, path: str) -> UserRef:
        # Checked here rather than in a model validator: a Python callback per user costs more than the rest.
        if not (self.accountId or self.key or self.emailAddress or self.name):
            raise RecordInvalid(path, "A user needs an accountId, a key, a name or an emailAddress.")
        values = (
            self.accountId or self.key,
            self.emailAddress.lower() if self.emailAddress else None,
            self.name or None,
            self.displayName,
        )
        # One shared (never modified) object per distinct person: an export names the same few people
        # on every issue, worklog and comment, and pickle then sends each of them once per chunk.
        user = _USERS.get(values)
        if user is None:
            if len(_USERS) > 10_000:
                _USERS.clear()
            user = _USERS[values] = UserRef(*values)
        return user


@dataclass(slots=True)
class JiraNamed:
    name: Name

    __pydantic_config__ = _JIRA_PART


@dataclass(slots=True)
class JiraStatusCategory:
    key: str | None = None
    name: str | None = None

    __pydantic_config__ = _JIRA_PART


@dataclass(slots=True)
class JiraStatus:
    name: Name
    statusCategory: JiraStatusCategory | None = None

    __pydantic_config__ = _JIRA_PART


@dataclass(slots=True)
class JiraProject:
    key: str | None = None
    name: str | None = None

    __pydantic_config__ = _JIRA_PART


@dataclass(slots=True)
class JiraKeyRef:
    key: ImportKey

    __pydantic_config__ = _JIRA_PART


@dataclass(slots=True)
class JiraWorklog:
    started: AwareDatetime
    timeSpentSeconds: Duration
    id: ExternalId | None = None
    author: JiraUser | None = None
    comment: RichText = ""
    created: AwareDatetime | None = None
    updated: AwareDatetime | None = None

    __pydantic_config__ = _JIRA_PART


@dataclass(slots=True)
class JiraWorklogPage:
    worklogs: list[JiraWorklog] = field(default_factory=list)

    __pydantic_config__ = _JIRA_PART


@dataclass(slots=True)
class JiraComment:
    body: Annotated[str, BeforeValidator(_plain_or_adf), StringConstraints(strip_whitespace=True, min_length=1)]
    created: AwareDatetime
    id: ExternalId | None = None
    author: JiraUser | None = None
    updated: AwareDatetime | None = None

    __pydantic_config__ = _JIRA_PART


@dataclass(slots=True)
class JiraCommentPage:
    comments: list[JiraComment] = field(default_factory=list)

    __pydantic_config__ = _JIRA_PART


class JiraFields(_Jira):
    summary: Summary
    description: RichText = ""
    issuetype: JiraNamed | None = None
    status: JiraStatus | None = None
    priority: JiraNamed | None = None
    resolution: JiraNamed | None = None
    assignee: JiraUser | None = None
    reporter: JiraUser | None = None
    labels: list[LabelName] = Field(default_factory=list)
    parent: JiraKeyRef | None = None
    duedate: dt.date | None = None
    timeoriginalestimate: DurationOrZero | None = None
    timeestimate: DurationOrZero | None = None
    created: AwareDatetime
    updated: AwareDatetime | None = None
    resolutiondate: AwareDatetime | None = None
    project: JiraProject | None = None
    worklog: JiraWorklogPage | None = None
    comment: JiraCommentPage | None = None

    # The fields not mapped above are kept as they came: custom fields become values, the rest is counted
    # (imports.formats.jira_json.extras).
    model_config = ConfigDict(extra="allow")


class JiraIssue(_Jira):
    id: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] | None = None
    key: ImportKey
    fields: JiraFields
    names: dict[str, Any] | None = None  # expand=names: field id -> the field's name
    changelog: dict[str, Any] | None = None  # expand=changelog: counted, not kept

    def extras(self) -> tuple[list[CustomFieldRecord], list[str]]:
        """Return the issue's custom-field values and the kinds of what Taskra keeps nowhere."""
        customs, kinds = jira_json.extras(self.fields.__pydantic_extra__ or {}, self.names, adf_to_text)
        histories = (self.changelog or {}).get("histories")
        if isinstance(histories, list):
            for history in histories:
                items = history.get("items") if isinstance(history, dict) else None
                kinds.extend(["change history entries"] * (len(items) if isinstance(items, list) else 1))
        records = [CustomFieldRecord(field=i, values=v, name=n, type=t) for i, n, t, v in customs]  # type: ignore[arg-type]
        return records, kinds

    def to_record(self) -> IssueRecord:
        """Return the normalised record (already validated, so built as plain objects without re-validation)."""
        f = self.fields
        customs, not_kept = self.extras()
        category = None
        if f.status is not None and f.status.statusCategory is not None and f.status.statusCategory.key:
            category = JIRA_STATUS_CATEGORIES.get(f.status.statusCategory.key.lower())
        return IssueRecord(
            key=self.key,
            external_id=self.id,
            project_name=f.project.name if f.project else None,
            summary=f.summary,
            description=f.description,
            type=f.issuetype.name if f.issuetype else None,
            status=f.status.name if f.status else None,
            status_category=category,
            priority=f.priority.name if f.priority else None,
            resolution=f.resolution.name if f.resolution else None,
            assignee=f.assignee.to_user("fields.assignee") if f.assignee else None,
            reporter=f.reporter.to_user("fields.reporter") if f.reporter else None,
            labels=f.labels,
            parent=f.parent.key if f.parent else None,
            due_date=f.duedate,
            original_estimate=f.timeoriginalestimate,
            remaining_estimate=f.timeestimate,
            created=f.created,
            updated=f.updated,
            resolved=f.resolutiondate,
            worklogs=[
                WorklogRecord(
                    w.started,
                    w.timeSpentSeconds,
                    w.id,
                    w.author.to_user(f"fields.worklog.worklogs.{i}.author") if w.author else None,
                    w.comment,
                    w.created,
                    w.updated,
                )
                for i, w in enumerate(f.worklog.worklogs if f.worklog else [])
            ],
            comments=[
                CommentRecord(
                    c.body,
                    c.created,
                    c.id,
                    c.author.to_user(f"fields.comment.comments.{i}.author") if c.author else None,
                    c.updated,
                )
                for i, c in enumerate(f.comment.comments if f.comment else [])
            ],
            custom_fields=customs,
            not_kept=not_kept,
        )


__all__ = [
    "MAX_INT4",
    "MAX_NESTING_DEPTH",
    "RECORD",
    "RECORDS",
    "CommentRecord",
    "CustomFieldRecord",
    "HistoryRecord",
    "LinkRecord",
    "IssueRecord",
    "JiraIssue",
    "UserRef",
    "WorklogRecord",
    "adf_to_text",
]
