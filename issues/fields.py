"""The issue fields table: one declaration per field, from which every per-field table of the product derives.

- JQL ``ORDER BY`` (issues.jql: SORT_FIELDS, NULLABLE_SORT_PATHS),
- keyset pagination's cursor value types (issues.keyset.PATH_TYPES),
- the navigator's columns and sortable headers (NAVIGATOR_COLUMNS) and the adapter fields of its rows,
- the CSV and JSON exports of the navigator (EXPORT_COLUMNS, EXPORT_FIELDS).

Making a field sortable is one ``sort=`` here: JQL, keyset cursors and the navigator's column header follow
(issues/tests/test_fields.py checks every sortable field end to end).
"""

from __future__ import annotations

from dataclasses import dataclass

# The Python type of a sort path's values, for keyset cursors: "int", "str", "date" or "datetime".
SortPath = tuple[str, str, bool]  # (ORM path, value type, invert the direction)


@dataclass(frozen=True)
class IssueField:
    """One issue field as queries, pages and exports see it."""

    name: str  # JQL field and navigator column id, lower case ("duedate")
    label: str  # column heading
    # ORDER BY paths, most significant first; empty when the field cannot be sorted.
    sort: tuple[SortPath, ...] = ()
    nullable: bool = False  # sort values may be empty (NULL): sorted last in both directions
    column: bool = True  # offered as a navigator column
    default_column: bool = False  # shown when the user chose no columns
    # Adapter fields (issues.adapters.ISSUE_DETAIL) the navigator row of this column reads.
    row: tuple[str, ...] = ()
    # Adapter field and CSV heading of the export, or "" when the field is not exported.
    export: str = ""
    export_label: str = ""

    @property
    def sortable(self) -> bool:
        return bool(self.sort)


ISSUE_FIELDS: tuple[IssueField, ...] = (
    IssueField("key", "Key", (("project__key", "str", False), ("number", "int", False)), default_column=True,
               row=("id", "key"), export="key", export_label="Key"),
    IssueField("summary", "Summary", (("summary", "str", False),), default_column=True, row=("summary",),
               export="summary", export_label="Summary"),
    IssueField("project", "Project", (("project__key", "str", False),), row=("project",), export="project",
               export_label="Project"),
    IssueField("type", "Type", (("type__position", "int", False),), default_column=True, row=("type",),
               export="type", export_label="Type"),
    IssueField("status", "Status", (("status__position", "int", False),), default_column=True,
               row=("status", "status_category"), export="status", export_label="Status"),
    IssueField("statuscategory", "Status category", (("status__category", "str", False),), column=False,
               export="status_category", export_label="Status category"),
    # Jira: ORDER BY priority DESC puts Highest first, and Highest has the lowest rank.
    IssueField("priority", "Priority", (("priority__rank", "int", True),), default_column=True, row=("priority",),
               export="priority", export_label="Priority"),
    IssueField("resolution", "Resolution", (("resolution__position", "int", False),), nullable=True,
               row=("resolution",), export="resolution", export_label="Resolution"),
    IssueField("assignee", "Assignee", (("assignee__profile__display_name", "str", False),), nullable=True,
               default_column=True, row=("assignee",), export="assignee", export_label="Assignee"),
    IssueField("reporter", "Reporter", (("reporter__profile__display_name", "str", False),), nullable=True,
               default_column=True, row=("reporter",), export="reporter", export_label="Reporter"),
    IssueField("labels", "Labels", row=("labels",), export="labels", export_label="Labels"),
    IssueField("parent", "Parent", (("parent_id", "int", False),), nullable=True, column=False,
               export="parent_key", export_label="Parent"),
    IssueField("duedate", "Due", (("due_date", "date", False),), nullable=True, row=("due_date",),
               export="due_date", export_label="Due date"),
    IssueField("originalestimate", "Original estimate", column=False, export="original_estimate",
               export_label="Original estimate (s)"),
    IssueField("remainingestimate", "Remaining estimate", column=False, export="remaining_estimate",
               export_label="Remaining estimate (s)"),
    IssueField("timespent", "Time spent", row=("time_spent",), export="time_spent", export_label="Time spent (s)"),
    IssueField("created", "Created", (("created", "datetime", False),), default_column=True, row=("created",),
               export="created", export_label="Created"),
    IssueField("updated", "Updated", (("updated", "datetime", False),), default_column=True, row=("updated",),
               export="updated", export_label="Updated"),
    IssueField("resolved", "Resolved", (("resolved", "datetime", False),), nullable=True, row=("resolved",),
               export="resolved", export_label="Resolved"),
    # Board order (issues.ranking): ORDER BY rank lists issues as boards show them, never-moved ones last.
    IssueField("rank", "Rank", (("rank", "int", False),), nullable=True, column=False),
)  # fmt: skip

FIELDS_BY_NAME: dict[str, IssueField] = {f.name: f for f in ISSUE_FIELDS}

# --- derived tables --------------------------------------------------------------------------------------------


def sort_fields(fields: tuple[IssueField, ...]) -> dict[str, tuple[list[tuple[str, bool]], bool]]:
    """Return JQL's ORDER BY table: field -> ([(ORM path, invert direction)], nullable)."""
    return {f.name: ([(path, invert) for path, _kind, invert in f.sort], f.nullable) for f in fields if f.sortable}


def path_types(fields: tuple[IssueField, ...]) -> dict[str, str]:
    """Return the Python type of each sort path's values (keyset cursors); id breaks every tie."""
    return {"id": "int", **{path: kind for f in fields for path, kind, _invert in f.sort}}


def navigator_columns(fields: tuple[IssueField, ...]) -> dict[str, tuple[str, str | None]]:
    """Return navigator column id -> (heading, JQL sort field or None when the column cannot be sorted)."""
    return {f.name: (f.label, f.name if f.sortable else None) for f in fields if f.column}


SORT_FIELDS = sort_fields(ISSUE_FIELDS)
# ORDER BY paths whose values may be NULL (sorted last in both directions).
NULLABLE_SORT_PATHS: frozenset[str] = frozenset(
    path for f in ISSUE_FIELDS if f.nullable for path, _kind, _invert in f.sort
)
PATH_TYPES = path_types(ISSUE_FIELDS)
NAVIGATOR_COLUMNS = navigator_columns(ISSUE_FIELDS)
NAVIGATOR_DEFAULT_COLUMNS: tuple[str, ...] = tuple(f.name for f in ISSUE_FIELDS if f.default_column)
# Adapter fields of a navigator row, whatever its columns; labels cost one extra query per page, so only on demand.
NAVIGATOR_ROW_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys(name for f in ISSUE_FIELDS if f.column for name in f.row if name != "labels")
)

# Export columns: (adapter field, CSV heading); the JSON export carries the same fields plus the id.
EXPORT_COLUMNS: tuple[tuple[str, str], ...] = tuple((f.export, f.export_label) for f in ISSUE_FIELDS if f.export)
EXPORT_FIELDS: tuple[str, ...] = ("id", *(field for field, _label in EXPORT_COLUMNS))
