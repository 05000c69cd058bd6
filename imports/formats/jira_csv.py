"""Jira's CSV export (Cloud and Server): rows as cells by column, parents by issue id, unread columns counted.

Jira Cloud names a sub-task's parent by its *issue id* in the column `Parent` (Server: `Parent id`), with
`Parent summary` beside it; older exports have `Parent key`. Ids are resolved against the file's own
`Issue id` column (read once before the rows, two columns only) and otherwise left to the writer, which
looks them up among the issues imported before (`IssueRecord.parent_external_id`).

`Custom field (Name)` columns become the issue's custom-field values (`custom_fields`: by name, a column
repeated under one header gives several values). Columns Taskra keeps nowhere (Sprint, Component/s,
Fix Version/s, Affects Version/s, Watchers, ...) are counted by column in the job summary: values of a
column repeated under the same header (one per sprint, component or version) each count.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from imports.formats.common import SourceError

HEADERS = {"summary", "issue key", "issue id", "issue type", "status"}
# Columns the importer reads (parsers.csv_to_record), or that only repeat what it reads.
READ = {
    "summary",
    "issue key",
    "issue id",
    "issue type",
    "status",
    "status category",
    "project name",
    "project key",
    "priority",
    "resolution",
    "assignee",
    "assignee id",
    "reporter",
    "reporter id",
    "created",
    "updated",
    "resolved",
    "due date",
    "description",
    "original estimate",
    "remaining estimate",
    "parent key",
    "parent",
    "parent id",
    "parent summary",
    "labels",
    "log work",
    "comment",
    "time spent",
    "σ time spent",
    "σ original estimate",
    "σ remaining estimate",
}
PARENT_ID_COLUMNS = ("parent", "parent id")
# The cells of a custom-field column are also kept under this prefix and the field's name as written.
CUSTOM = "\x1fcustom field\x1f"
_KEY = re.compile(r"[A-Z][A-Z0-9_]*-\d+")


def custom_field_name(header: str) -> str | None:
    """Return the field's name of a `Custom field (Name)` column, None for another column."""
    if header.lower().startswith("custom field (") and header.endswith(")"):
        return header[len("custom field (") : -1].strip() or None
    return None


def column_kind(header: str) -> str:
    """Return the job summary's name of a column Taskra does not keep."""
    return f"CSV column '{header}'"


def custom_fields(cells: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Return the row's custom-field values (one entry per column; empty: no value; the type is the field's here)."""
    out = []
    for column, values in cells.items():
        if column.startswith(CUSTOM):
            name = column[len(CUSTOM) :]
            out.append({"field": name, "name": name, "type": None, "values": [v.strip() for v in values if v.strip()]})
    return out


def _header(reader: Any, name: str) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise SourceError(f"{name} is empty.") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"{name} is not a UTF-8 CSV file ({exc}).") from None
    header = [h.strip() for h in header]
    if len({h.lower() for h in header} & HEADERS) < 2:
        raise SourceError(f"{name} has no Jira CSV header (expected columns such as 'Summary', 'Issue key', 'Status').")
    return header


def issue_ids(reopen: Callable[[], BinaryIO]) -> dict[str, str]:
    """Return the file's issue id -> issue key (a first pass over the two columns), for parents given by id.

    reopen opens the file again from its start (a local path or the imports storage: parsers.open_source).
    """
    out: dict[str, str] = {}
    try:
        with io.TextIOWrapper(reopen(), encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = [h.strip().lower() for h in next(reader, [])]
            if "issue id" not in header or "issue key" not in header:
                return out
            id_at, key_at = header.index("issue id"), header.index("issue key")
            for row in reader:
                if len(row) > max(id_at, key_at) and row[id_at].strip():
                    out[row[id_at].strip()] = row[key_at].strip()
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}  # the reading pass reports what is wrong with the file
    return out


def read(
    raw: Any, name: str, summary: dict[str, Any], reopen: Callable[[], BinaryIO]
) -> Iterator[tuple[int | None, Any]]:
    """Yield (line, cells by lower-case column) per row; parents by id resolved to keys where the file has them."""
    not_kept: Counter[str] = summary.setdefault("not_kept", Counter())
    text = io.TextIOWrapper(io.BufferedReader(raw, buffer_size=1 << 20), encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    header = _header(reader, name)
    lowered = [h.lower() for h in header]
    customs = {i: CUSTOM + field for i, h in enumerate(header) if (field := custom_field_name(h))}
    kinds = {i: column_kind(h) for i, h in enumerate(header) if lowered[i] not in READ and i not in customs}
    ids = issue_ids(reopen) if any(c in lowered for c in PARENT_ID_COLUMNS) else {}
    record = 0
    held: tuple[int, list[str]] | None = None  # the row read last: the file may end in the middle of it
    try:
        for row in reader:
            if held is not None:
                record += 1
                yield held[0], _cells(lowered, held[1], kinds, customs, ids, not_kept)
            held = (reader.line_num, row) if any(cell.strip() for cell in row) else None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{name} is not UTF-8 near line {reader.line_num + 1} ({exc.reason}).") from None
    except csv.Error as exc:
        raise SourceError(f"{name} is not a valid CSV file near line {reader.line_num}: {exc}.") from None
    if held is not None:
        if len(held[1]) < len(header) and not _ends_with_newline(raw):
            raise SourceError(
                f"{name} is truncated: it ends at byte {raw.count:,}, in the middle of record {record + 1:,} "
                f"(line {held[0]:,}: {len(held[1])} of {len(header)} columns). The records before it are "
                "imported; import the complete file again for the rest."
            )
        yield held[0], _cells(lowered, held[1], kinds, customs, ids, not_kept)


def _ends_with_newline(raw: Any) -> bool:
    f = raw.f
    try:
        f.seek(-1, io.SEEK_END)
        return f.read(1) in (b"\n", b"\r")
    except OSError:
        return True


def _cells(
    header: list[str],
    row: list[str],
    kinds: dict[int, str],
    customs: dict[int, str],
    ids: dict[str, str],
    not_kept: Counter[str],
) -> dict[str, list[str]]:
    cells: dict[str, list[str]] = {}
    for index, (column, value) in enumerate(zip(header, row, strict=False)):
        cells.setdefault(column, []).append(value)
        if index in customs:
            cells.setdefault(customs[index], []).append(value)
        elif index in kinds and value.strip():
            not_kept[kinds[index]] += 1
    if not any(v.strip() for v in cells.get("parent key", ())):
        parent_id = next((v.strip() for c in PARENT_ID_COLUMNS for v in cells.get(c, ()) if v.strip()), "")
        if parent_id in ids:
            cells["parent key"] = [ids[parent_id]]
        elif _KEY.fullmatch(parent_id):  # a key where an id was expected: take it as the key
            cells["parent key"] = [parent_id]
        elif parent_id:
            cells["parent external id"] = [parent_id]  # imported before, perhaps: the writer looks it up
    return cells
