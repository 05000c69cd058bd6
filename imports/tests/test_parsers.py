"""Bounds of the import readers (imports/parsers.py, imports/schemas.py): one bad record fails only itself.

No database: records are read and validated as the worker does, and checked against the limits of
docs/imports.md ("Limits"): nesting depth, integers the JSON parser can hold, issue numbers.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import ijson
import pytest
from pydantic import ValidationError

from imports import parsers
from imports.models import JobFormat
from imports.parsers import DepthGuard, SourceError, read_records, validate_chunk
from imports.schemas import MAX_INT4, MAX_NESTING_DEPTH, RECORD, adf_to_text
from imports.tests.conftest import jira_issue, write_jira_json


def deep_adf(levels: int) -> dict:
    """An ADF document whose paragraphs nest `levels` deep (each node is an object and a content array)."""
    node: dict = {"type": "text", "text": "bottom"}
    for _ in range(levels):
        node = {"type": "paragraph", "content": [node]}
    return {"type": "doc", "version": 1, "content": [node]}


def dumps_deep(value) -> str:
    # json.dumps recurses too: write the nested ADF by hand.
    parts, closing = [], []
    node = value
    while isinstance(node, dict) and node.get("content"):
        parts.append('{"type": ' + json.dumps(node["type"]) + ', "content": [')
        closing.append("]}")
        node = node["content"][0]
    return "".join(parts) + json.dumps(node) + "".join(reversed(closing))


def jira_file(path: Path, issues: list, raw: dict[int, str] | None = None) -> Path:
    """Write a Jira search result; raw[i] replaces issue i's description with raw JSON text."""
    texts = []
    for i, issue in enumerate(issues):
        text = json.dumps(issue)
        if raw and i in raw:
            text = text.replace('"description": "RAW"', f'"description": {raw[i]}')
        texts.append(text)
    path.write_text('{"startAt": 0, "issues": [' + ", ".join(texts) + "]}")
    return path


def read_and_validate(fmt: str, path: Path) -> parsers.ChunkResult:
    return validate_chunk(fmt, list(read_records(fmt, [path])))


# --- text conversion --------------------------------------------------------------------------------------


def test_adf_nested_5000_deep_is_a_validation_error_not_a_recursion_error():
    record = {"key": "DEMO-1", "summary": "s", "created": "2024-01-15T10:30:00Z", "description": deep_adf(5000)}
    with pytest.raises(ValidationError) as raised:
        RECORD.validate_python(record)
    assert f"nested deeper than {MAX_NESTING_DEPTH} levels" in str(raised.value)
    # Within the bound the text still comes out.
    assert adf_to_text(deep_adf(50)) == "bottom"


# --- issue numbers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [2**31, 9_999_999_999])
def test_key_number_beyond_the_column_is_a_row_error(tmp_path, number):
    lines = [
        {"key": "DEMO-1", "summary": "fine", "created": "2024-01-15T10:30:00Z"},
        {"key": f"DEMO-{number}", "summary": "too far", "created": "2024-01-15T10:30:00Z"},
        {"key": "DEMO-3", "summary": "child", "created": "2024-01-15T10:30:00Z", "parent": f"DEMO-{number}"},
        {"key": f"DEMO-{MAX_INT4}", "summary": "the last number that fits", "created": "2024-01-15T10:30:00Z"},
    ]
    path = tmp_path / "k.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = read_and_validate(JobFormat.TASKRA_JSONL, path)
    assert [rec.key for _, rec in result.records] == ["DEMO-1", f"DEMO-{MAX_INT4}"]
    assert [(e.number, e.field) for e in result.errors] == [(2, "key"), (3, "parent")]
    assert f"at most {MAX_INT4}" in result.errors[0].message


def test_jira_key_number_beyond_the_column_is_a_row_error(tmp_path):
    path = write_jira_json(tmp_path / "k.json", [jira_issue(1), jira_issue(2**31), jira_issue(3)])
    result = read_and_validate(JobFormat.JIRA_JSON, path)
    assert [rec.key for _, rec in result.records] == ["DEMO-1", "DEMO-3"]
    assert [(e.number, e.field) for e in result.errors] == [(2, "key")]


# --- nesting and numbers in Jira JSON ---------------------------------------------------------------------


def test_deep_adf_description_in_jira_json_is_a_row_error_and_the_rest_is_read(tmp_path):
    issues = [jira_issue(1), jira_issue(2, description="RAW"), jira_issue(3)]
    path = jira_file(tmp_path / "d.json", issues, raw={1: dumps_deep(deep_adf(5000))})
    result = read_and_validate(JobFormat.JIRA_JSON, path)
    assert [rec.key for _, rec in result.records] == ["DEMO-1", "DEMO-3"]
    (error,) = result.errors
    assert (error.number, error.key) == (2, "DEMO-2")
    assert f"nested deeper than {MAX_NESTING_DEPTH} levels" in error.message


def test_array_nested_100000_deep_never_reaches_the_json_parser(tmp_path, monkeypatch):
    # The work is bounded: the 200,000 bytes of brackets are cut out before ijson, whose cost per level
    # grows with the depth (100,000 levels ran for minutes). Count what ijson is given.
    depth = 100_000
    issues = [jira_issue(1), jira_issue(2, description="RAW"), jira_issue(3)]
    path = jira_file(tmp_path / "a.json", issues, raw={1: "[" * depth + "]" * depth})
    given = []
    real_items = ijson.items

    def counting_items(source, *args, **kwargs):
        class Counting:
            def read(self, size=-1):
                data = source.read(size)
                given.append(len(data))
                return data

        return real_items(Counting(), *args, **kwargs)

    monkeypatch.setattr(parsers.ijson, "items", counting_items)
    result = read_and_validate(JobFormat.JIRA_JSON, path)

    assert [rec.key for _, rec in result.records] == ["DEMO-1", "DEMO-3"]
    assert [(e.number, e.key) for e in result.errors] == [(2, "DEMO-2")]
    assert path.stat().st_size > 2 * depth
    assert sum(given) < path.stat().st_size - 2 * depth + 1000  # the deep part was never parsed


def test_an_integer_too_large_for_the_parser_is_a_row_error(tmp_path):
    big = jira_issue(2)
    big["fields"]["worklog"]["worklogs"][0]["timeSpentSeconds"] = 10**30
    path = write_jira_json(tmp_path / "n.json", [jira_issue(1), big, jira_issue(3)])
    result = read_and_validate(JobFormat.JIRA_JSON, path)
    assert [rec.key for _, rec in result.records] == ["DEMO-1", "DEMO-3"]
    (error,) = result.errors
    assert error.number == 2 and "integer beyond 64 bits" in error.message


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timeoriginalestimate", 2**31, "too long"),
        ("timeestimate", -1, "negative"),
        ("timeoriginalestimate", 1e300, "too long"),
    ],
)
def test_estimates_are_checked_before_the_database(tmp_path, field, value, message):
    path = write_jira_json(tmp_path / "e.json", [jira_issue(1, **{field: value}), jira_issue(2)])
    result = read_and_validate(JobFormat.JIRA_JSON, path)
    assert [rec.key for _, rec in result.records] == ["DEMO-2"]
    assert message in result.errors[0].message and result.errors[0].field == f"fields.{field}"


def test_csv_number_of_thousands_of_digits_is_a_row_error(tmp_path, settings):
    path = tmp_path / "c.csv"
    path.write_text(
        "Issue key,Summary,Created,Original Estimate\n"
        "DEMO-1,fine,2024-01-15 10:30,3600\n"
        f"DEMO-2,huge,2024-01-15 10:30,{'9' * 5000}\n"
        "DEMO-3,fine,2024-01-15 10:30,\n"
    )
    result = read_and_validate(JobFormat.JIRA_CSV, path)
    assert [rec.key for _, rec in result.records] == ["DEMO-1", "DEMO-3"]
    assert [(e.number, e.field) for e in result.errors] == [(2, "original_estimate")]


def test_jsonl_line_nested_too_deep_is_a_row_error(tmp_path):
    fine = json.dumps({"key": "DEMO-1", "summary": "s", "created": "2024-01-15T10:30:00Z"})
    deep = '{"key": "DEMO-2", "summary": "s", "created": "2024-01-15T10:30:00Z", "description": ' + "[" * 5000
    deep += "]" * 5000 + "}"
    path = tmp_path / "d.jsonl"
    path.write_text(fine + "\n" + deep)  # the deep line is also the last one, without a newline
    result = read_and_validate(JobFormat.TASKRA_JSONL, path)
    assert [rec.key for _, rec in result.records] == ["DEMO-1"]
    assert [(e.number, e.message) for e in result.errors] == [
        (2, f"Line is nested deeper than {MAX_NESTING_DEPTH} levels.")
    ]


def test_truncated_jira_json_has_a_readable_message(tmp_path):
    path = write_jira_json(tmp_path / "t.json", [jira_issue(n) for n in range(1, 4)])
    path.write_bytes(path.read_bytes()[:-150])
    with pytest.raises(SourceError) as raised:
        list(read_records(JobFormat.JIRA_JSON, [path]))
    message = str(raised.value)
    size = path.stat().st_size
    assert message.startswith(f"t.json is truncated: it ends at byte {size:,}, in the middle of record 3 ")
    assert "premature" not in message and "right here" not in message and "\n" not in message


def test_invalid_jira_json_names_the_problem_without_the_parsers_caret(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"issues": [ this is not json')
    with pytest.raises(SourceError) as raised:
        list(read_records(JobFormat.JIRA_JSON, [path]))
    assert "\n" not in str(raised.value) and "is not valid JSON" in str(raised.value)


# --- the guard itself -------------------------------------------------------------------------------------

SAMPLE = (
    b'{"a": "x[{\\"]\\\\", "b": [1, 2.5e3, -3, {"c": "]]]]"}], "d": "\\u0022[", '
    b'"e": 123456789012345678, "f": [[["deep"]]], "g": true}'
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_guard_passes_json_within_the_bounds_unchanged_whatever_the_chunking(size):
    guard = DepthGuard(limit=4)
    out = b"".join(guard.feed(SAMPLE[i : i + size]) for i in range(0, len(SAMPLE), size)) + guard.feed(b"", final=True)
    assert out == SAMPLE and guard.replaced == 0


@pytest.mark.parametrize("size", [1, 3, 64])
def test_guard_cuts_out_values_beyond_the_bounds_whatever_the_chunking(size):
    data = (
        b'{"ok": [1], "deep": [[[["x", "]"]]]], "n": 12345678901234567890, "s": "[[[[[", '
        b'"fits": 9223372036854775807, "over": -9223372036854775809, "after": 1}'
    )
    guard = DepthGuard(limit=3)
    out = b"".join(guard.feed(data[i : i + size]) for i in range(0, len(data), size)) + guard.feed(b"", final=True)
    assert json.loads(out) == {
        "ok": [1],
        "deep": [["\x00taskra:nested-too-deep"]],
        "n": "\x00taskra:number-too-large",
        "s": "[[[[[",
        "fits": 9223372036854775807,
        "over": "\x00taskra:number-too-large",
        "after": 1,
    }
    assert guard.replaced == 3


def test_guard_reads_a_deep_file_in_one_pass_without_holding_it():
    # 300,000 levels in 64 KiB reads: every read passes on little or nothing, and the reader ends.
    depth = 300_000
    source = io.BytesIO(b'{"issues": [' + b"[" * depth + b"]" * depth + b"]}")
    reader = parsers._GuardedReader(source, DepthGuard())
    sizes = []
    while chunk := reader.read(1 << 16):
        sizes.append(len(chunk))
    assert sum(sizes) < 2 * MAX_NESTING_DEPTH + 100


def test_guard_cuts_out_a_number_longer_than_any_read():
    data = b'{"a": [' + b"9" * 300_000 + b', 1], "b": 2}'
    guard = DepthGuard()
    out = b"".join(guard.feed(data[i : i + 4096]) for i in range(0, len(data), 4096)) + guard.feed(b"", final=True)
    assert json.loads(out) == {"a": ["\x00taskra:number-too-large", 1], "b": 2}
