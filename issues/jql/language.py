"""The JQL language table: fields with their operators, aliases, status category words and function names.

Sorting is not declared here: ORDER BY fields come from the issue fields table (issues.fields).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Q


def _did_you_mean(word: str, options: list[str]) -> str:
    lowered = {o.lower(): o for o in options}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"Did you mean '{lowered[match[0]]}'?" if match else ""


EVERYTHING = Q()


def _none_q() -> Q:
    return Q(pk__in=[])


def _any_of(parts: list[Any]) -> Any:
    """OR the conditions together; no conditions match nothing."""
    if not parts:
        return _none_q()
    result = parts[0]
    for part in parts[1:]:
        result = result | part
    return result


@dataclass
class FieldSpec:
    name: str
    # text | choice | user | date | datetime | key | parent | labels | category | wl_author | wl_date | linktype
    kind: str
    ops: frozenset[str]
    path: str = ""  # model attribute, e.g. "status" or "due_date"
    model: str = ""  # related model for choice fields
    nullable: bool = False


EQ_OPS = frozenset({"=", "!=", "in", "not in", "is", "is not"})
RANGE_OPS = frozenset({">", ">=", "<", "<="})
TEXT_OPS = frozenset({"~", "!~", "is", "is not"})

FIELDS: dict[str, FieldSpec] = {
    "project": FieldSpec("project", "choice", EQ_OPS, "project", "Project"),
    "key": FieldSpec("key", "key", EQ_OPS | RANGE_OPS, "key"),
    "summary": FieldSpec("summary", "text", TEXT_OPS, "summary"),
    "description": FieldSpec("description", "text", TEXT_OPS, "description"),
    "text": FieldSpec("text", "alltext", frozenset({"~", "!~"})),
    "comment": FieldSpec("comment", "comment", TEXT_OPS),
    "status": FieldSpec("status", "choice", EQ_OPS, "status", "Status"),
    "statuscategory": FieldSpec("statusCategory", "category", EQ_OPS),
    "assignee": FieldSpec("assignee", "user", EQ_OPS, "assignee", nullable=True),
    "reporter": FieldSpec("reporter", "user", EQ_OPS, "reporter", nullable=True),
    "priority": FieldSpec("priority", "choice", EQ_OPS | RANGE_OPS, "priority", "Priority"),
    "type": FieldSpec("type", "choice", EQ_OPS, "type", "IssueType"),
    "labels": FieldSpec("labels", "labels", EQ_OPS),
    "parent": FieldSpec("parent", "parent", EQ_OPS, "parent", nullable=True),
    "created": FieldSpec("created", "datetime", EQ_OPS | RANGE_OPS, "created"),
    "updated": FieldSpec("updated", "datetime", EQ_OPS | RANGE_OPS, "updated"),
    "resolved": FieldSpec("resolved", "datetime", EQ_OPS | RANGE_OPS, "resolved", nullable=True),
    "duedate": FieldSpec("duedate", "date", EQ_OPS | RANGE_OPS, "due_date", nullable=True),
    "resolution": FieldSpec("resolution", "choice", EQ_OPS, "resolution", "Resolution", nullable=True),
    "worklogauthor": FieldSpec("worklogAuthor", "wl_author", EQ_OPS),
    "worklogdate": FieldSpec("worklogDate", "wl_date", EQ_OPS | RANGE_OPS),
    "issuelinktype": FieldSpec("issueLinkType", "linktype", EQ_OPS),
}
ALIASES = {
    "issue": "key",
    "issuekey": "key",
    "id": "key",
    "issuetype": "type",
    "label": "labels",
    "due": "duedate",
    "resolutiondate": "resolved",
    "category": "statuscategory",
}
FIELD_NAMES: list[str] = [spec.name for spec in FIELDS.values()] + ["issue", "issuetype", "due"]

DEFAULT_ORDER = ["-created", "-id"]

CATEGORY_WORDS = {
    "to do": "todo",
    "todo": "todo",
    "new": "todo",
    "open": "todo",
    "in progress": "in_progress",
    "in_progress": "in_progress",
    "inprogress": "in_progress",
    "indeterminate": "in_progress",
    "done": "done",
    "complete": "done",
}

DATE_FUNCTIONS = {
    "now",
    "startofday",
    "startofweek",
    "startofmonth",
    "startofyear",
    "endofday",
    "endofweek",
    "endofmonth",
    "endofyear",
}
USER_FUNCTIONS = {"currentuser"}
ISSUE_FUNCTIONS = {"linkedissues"}  # values of the key field: issue in linkedIssues(DEMO-1, "blocks")
FUNCTION_NAMES = [
    "currentUser",
    "linkedIssues",
    "now",
    "startOfDay",
    "startOfWeek",
    "startOfMonth",
    "startOfYear",
    "endOfDay",
    "endOfWeek",
    "endOfMonth",
    "endOfYear",
]


def _id_or_none(text: str) -> int | None:
    """Return the text as a database id when it is a plain number that fits a bigint."""
    if re.fullmatch(r"[0-9]{1,18}", text):
        return int(text)
    return None
