"""Jira REST JSON beyond the fields Taskra maps: custom fields kept as values, the rest counted by kind.

`imports.schemas.JiraIssue` validates the mapped fields straight from bytes and keeps the others as they came
(`extra="allow"`); `extras` turns them into custom-field values (`customfield_NNNNN`) and into the kinds the
job summary counts as not kept (fix versions, components, votes, watchers, environment, ...). Nothing an
issue carries is dropped silently: only fields that repeat what Taskra keeps or computes are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_VALUE = 10_000  # characters of one custom-field value (imports.schemas.CustomFieldRecord)

# Fields that repeat what Taskra keeps (estimates, time spent from worklogs, sub-tasks from parents) or that
# describe the export rather than the issue (progress bars, the exporter's last view).
REPEATED = {
    "timetracking",
    "timespent",
    "aggregatetimespent",
    "aggregatetimeestimate",
    "aggregatetimeoriginalestimate",
    "aggregateprogress",
    "progress",
    "workratio",
    "lastViewed",
    "statuscategorychangedate",
    "subtasks",
    "issuerestriction",
    "thumbnail",
}
KIND_NAMES = {
    "fixVersions": "fix versions",
    "versions": "affects versions",
    "components": "components",
    "votes": "votes",
    "watches": "watchers",
    "issuelinks": "issue links",
    "attachment": "attachments (metadata)",
    "environment": "environment",
    "sprint": "sprints",
    "security": "security levels",
    "creator": "creators (Taskra keeps the reporter)",
}


def _count(name: str, value: Any) -> int:
    """Return how many things a field's value holds (0: empty, nothing to report)."""
    if value is None or value == "" or value == [] or value == {}:
        return 0
    if name == "votes" and isinstance(value, dict):
        return int(value.get("votes") or 0)
    if name == "watches" and isinstance(value, dict):
        return int(value.get("watchCount") or 0)
    if isinstance(value, list):
        return len(value)
    return 1


def _person(value: dict[str, Any]) -> str | None:
    if any(k in value for k in ("accountId", "emailAddress")) or ("name" in value and "key" in value):
        return str(value.get("displayName") or value.get("name") or value.get("emailAddress") or value["accountId"])
    return None


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _option(value: dict[str, Any]) -> str | None:
    """Return an option's text: a select's {"value"}, a cascading select's parent - child, or a {"name"}."""
    if "value" in value:
        child = value.get("child")
        text = _scalar(value["value"])
        return f"{text} - {_scalar(child['value'])}" if isinstance(child, dict) and "value" in child else text
    if "name" in value:
        return _scalar(value["name"])
    return None


def custom_value(value: Any, text_of: Callable[[Any], str]) -> tuple[str, list[str]] | None:
    """Return (type, values) of a custom field's JSON value, typed by its shape; None: no value or unknown."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, bool | int | float):
        return ("text" if isinstance(value, bool) else "number", [_scalar(value)])
    if isinstance(value, str):
        return "text", [value[:MAX_VALUE]]
    if isinstance(value, dict):
        if value.get("type") == "doc":  # a rich-text field (Atlassian Document Format)
            return "text", [text_of(value)[:MAX_VALUE]]
        person = _person(value)
        if person is not None:
            return "user", [person]
        option = _option(value)
        return ("select", [option]) if option is not None else None
    if isinstance(value, list):
        if all(isinstance(v, str | int | float) for v in value):
            return "labels", [_scalar(v) for v in value]
        if all(isinstance(v, dict) for v in value):
            people = [_person(v) for v in value]
            if all(people):
                return "user", [p for p in people if p]
            options = [_option(v) for v in value]
            if all(o is not None for o in options):
                return "multiselect", [o for o in options if o is not None]
    return None


def extras(
    fields: dict[str, Any], names: dict[str, Any] | None, text_of: Callable[[Any], str]
) -> tuple[list[tuple[str, str | None, str, list[str]]], list[str]]:
    """Return an issue's custom-field values (id, name, type, values) and the kinds of what it drops."""
    customs: list[tuple[str, str | None, str, list[str]]] = []
    kinds: list[str] = []
    for name, value in fields.items():
        if name.startswith("customfield_"):
            typed = custom_value(value, text_of)
            label = names.get(name) if names else None
            if typed is not None:
                customs.append((name, str(label) if label else None, typed[0], typed[1]))
            elif value in (None, "", [], {}):  # emptied in Jira: the value kept here goes too
                customs.append((name, str(label) if label else None, "text", []))
            else:
                kinds.append("custom field values of a shape Taskra does not read")
            continue
        if name in REPEATED:
            continue
        count = _count(name, value)
        if count:
            kinds.extend([KIND_NAMES.get(name, f"Jira field '{name}'")] * count)
    return customs, kinds
