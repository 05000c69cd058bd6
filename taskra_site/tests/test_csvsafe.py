"""Every CSV cell of the product goes through one escaping function (spreadsheet formula injection)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from taskra_site.csvsafe import csv_writer, spreadsheet_cell

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text", ["=1+1", '=HYPERLINK("http://evil")', "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_cells_get_a_leading_quote(text):
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", " =not first", "a=b", "", None, -5, 3.5])
def test_other_cells_pass_unchanged(value):
    assert spreadsheet_cell(value) == value


def test_csv_writer_escapes_every_cell_of_every_row():
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(["=a", "b"])
    writer.writerows([["c", "@d"], ["+e", -1]])
    assert list(csv.reader(io.StringIO(buffer.getvalue()))) == [["'=a", "b"], ["c", "'@d"], ["'+e", "-1"]]


def test_no_csv_is_written_around_the_one_writer():
    # Any csv.writer / DictWriter in the apps would bypass spreadsheet_cell(); bench/ writes no export.
    offenders = []
    for path in BASE_DIR.glob("*/**/*.py"):
        rel = path.relative_to(BASE_DIR).as_posix()
        if rel.startswith((".venv/", "bench/", "var/")) or "/tests/" in rel or rel == "taskra_site/csvsafe.py":
            continue
        if re.search(r"csv\.(writer|DictWriter)\(", path.read_text(encoding="utf-8")):
            offenders.append(rel)
    assert offenders == []
