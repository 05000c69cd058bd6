"""The system fields of the REST API: Jira's ids, names and schemas (GET field, expand=names, ?fields=).

Adding a field to the API: a row here, an OutField of the same id in api/adapters.py and a key in
api/schemas.JiraIssueFields (tests check the three agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.errors import ApiError


@dataclass(frozen=True)
class ApiField:
    id: str
    name: str
    type: str  # Jira's schema type
    items: str | None = None
    navigable: bool = True  # returned by searches by default (*navigable)
    orderable: bool = True
    searchable: bool = True
    clause_names: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type, "system": self.id}
        if self.items:
            schema["items"] = self.items
        return {
            "id": self.id,
            "key": self.id,
            "name": self.name,
            "custom": False,
            "orderable": self.orderable,
            "navigable": self.navigable,
            "searchable": self.searchable,
            "clauseNames": list(self.clause_names or (self.id,)),
            "schema": schema,
        }


API_FIELDS: tuple[ApiField, ...] = (
    ApiField("summary", "Summary", "string"),
    ApiField("status", "Status", "status"),
    ApiField("assignee", "Assignee", "user"),
    ApiField("reporter", "Reporter", "user"),
    ApiField("priority", "Priority", "priority"),
    ApiField("issuetype", "Issue Type", "issuetype", clause_names=("issuetype", "type")),
    ApiField("project", "Project", "project"),
    ApiField("labels", "Labels", "array", items="string"),
    ApiField("created", "Created", "datetime", clause_names=("created", "createdDate")),
    ApiField("updated", "Updated", "datetime", clause_names=("updated", "updatedDate")),
    ApiField("resolution", "Resolution", "resolution"),
    ApiField("resolutiondate", "Resolved", "datetime", clause_names=("resolved", "resolutiondate")),
    ApiField("duedate", "Due Date", "date", clause_names=("due", "duedate")),
    ApiField("description", "Description", "string", orderable=False),
    ApiField("comment", "Comment", "comments-page", items="comment", navigable=False, orderable=False),
    ApiField("worklog", "Log Work", "array", items="worklog", navigable=False, orderable=False),
    ApiField("timetracking", "Time tracking", "timetracking", orderable=False, searchable=False),
    ApiField("parent", "Parent", "issuelink", orderable=False),
    ApiField("subtasks", "Sub-Tasks", "array", items="issuelinks", orderable=False, searchable=False),
    ApiField("attachment", "Attachment", "array", items="attachment", orderable=False, searchable=False),
    ApiField(
        "issuelinks", "Linked Issues", "array", items="issuelinks", orderable=False, clause_names=("issueLinkType",)
    ),
    ApiField("timeoriginalestimate", "Original Estimate", "number", searchable=False),
    ApiField("timeestimate", "Remaining Estimate", "number", searchable=False),
    ApiField("timespent", "Time Spent", "number", searchable=False),
)
FIELDS_BY_ID = {f.id: f for f in API_FIELDS}
# Custom fields (issues.models.CustomField) are the site's, not a table here: `fields` names them as Jira does
# (customfield_10010), and *all / *navigable take them all (this marker in select_fields' answer).
CUSTOM_ALL = "*custom"
# Jira's schema of each custom-field type: (type, items, Jira's custom type key after the plugin prefix).
CUSTOM_SCHEMAS = {
    "text": ("string", None, "textfield"),
    "number": ("number", None, "float"),
    "date": ("date", None, "datepicker"),
    "datetime": ("datetime", None, "datetime"),
    "select": ("option", None, "select"),
    "multiselect": ("array", "option", "multiselect"),
    "user": ("array", "user", "multiuserpicker"),
    "url": ("string", None, "url"),
    "labels": ("array", "string", "labels"),
}


def is_custom(field_id: str) -> bool:
    """Return whether a `fields` item names custom fields (one, or all of them)."""
    return field_id == CUSTOM_ALL or field_id.startswith("customfield_")


def custom_field_json(api_id: str, name: str, field_type: str) -> dict[str, Any]:
    """Return a custom field as GET field and expand=schema show it."""
    kind, items, key = CUSTOM_SCHEMAS.get(field_type, CUSTOM_SCHEMAS["text"])
    number = api_id.removeprefix("customfield_")
    schema: dict[str, Any] = {"type": kind, "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{key}"}
    if number.isdigit():
        schema["customId"] = int(number)
    if items:
        schema["items"] = items
    return {
        "id": api_id,
        "key": api_id,
        "name": name,
        "custom": True,
        "orderable": True,
        "navigable": True,
        "searchable": True,
        "clauseNames": [f"cf[{number}]", name],
        "schema": schema,
    }


ALL_FIELDS = tuple(f.id for f in API_FIELDS)
NAVIGABLE_FIELDS = tuple(f.id for f in API_FIELDS if f.navigable)


def field_names_param(values: list[str]) -> list[str]:
    """Return the raw items of a `fields`/`expand` parameter given comma-joined, repeated, or both."""
    return [part.strip() for value in values for part in str(value).split(",") if part.strip()]


def select_fields(requested: list[str], *, default: str) -> tuple[str, ...]:
    """Return the field ids asked for, in API_FIELDS order, as Jira reads `fields`.

    `*all`, `*navigable`, plain ids, `-id` to leave one out; no item at all means `default` ("*all" for one
    issue, "*navigable" for searches). Unknown ids are ignored, as Jira ignores them. Custom fields follow the
    system ones: their ids (customfield_10010), or CUSTOM_ALL when *all or *navigable takes them all.
    """
    items = requested or [default]
    chosen: set[str] = set()
    custom: set[str] = set()
    removed: set[str] = set()
    only_removals = all(i.startswith("-") for i in items)
    if only_removals:
        items = [default, *items]
    for item in items:
        if item == "*all":
            chosen.update(ALL_FIELDS)
            custom.add(CUSTOM_ALL)
        elif item == "*navigable":
            chosen.update(NAVIGABLE_FIELDS)
            custom.add(CUSTOM_ALL)
        elif item.startswith("-"):
            removed.add(item[1:])
        elif item in FIELDS_BY_ID:
            chosen.add(item)
        elif item.startswith("customfield_"):
            custom.add(item)
        elif item.lower() in ("issuekey", "key", "id"):
            continue  # always part of an issue
    system = tuple(f for f in ALL_FIELDS if f in chosen and f not in removed)
    # Leaving out one custom field of *all is not offered: *all gives them all, or name the ones wanted.
    return system + tuple(sorted(custom - removed))


def parse_int(value: Any, name: str, *, default: int, minimum: int = 0, maximum: int = 2**31) -> int:
    """Return a non-negative integer query parameter, or raise Jira's 400 naming it."""
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        raise ApiError(400, [f"The '{name}' parameter must be a number."])
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, [f"The '{name}' parameter must be a number."]) from None
    if number < minimum or number > maximum:
        raise ApiError(400, [f"The '{name}' parameter must be a number from {minimum} to {maximum}."])
    return number
