"""The one CSV writer of the product: every cell goes through spreadsheet_cell() (formula injection).

A spreadsheet runs a cell that starts with = + - @ (or a tab / carriage return before one) as a formula:
`=HYPERLINK("http://evil", "click")` in a display name, a label or a summary would run on whoever opens
the export. Every CSV export writes through csv_writer(), so no column can forget the escaping.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    """Return a CSV-safe cell: text a spreadsheet would run as a formula gets a leading single quote.

    Numbers, dates and None pass unchanged (a negative number is data, not a formula).
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeCsvWriter:
    """csv.writer whose every cell goes through spreadsheet_cell()."""

    def __init__(self, stream: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([spreadsheet_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        self._writer.writerows([spreadsheet_cell(v) for v in row] for row in rows)


def csv_writer(stream: Any, **kwargs: Any) -> SafeCsvWriter:
    """Return a CSV writer on `stream` (csv.writer's keyword arguments) that escapes every cell."""
    return SafeCsvWriter(stream, **kwargs)
