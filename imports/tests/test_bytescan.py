"""Record boundaries from raw bytes (imports.bytescan) and chunk validation from them (no personas: no data)."""

from __future__ import annotations

import io
import json

import pytest

from imports import bytescan
from imports.parsers import validate_jira_bytes
from imports.tests.conftest import jira_issue


def chunks_of(text: bytes, size: int, block: int, monkeypatch: pytest.MonkeyPatch) -> list[bytescan.Piece]:
    monkeypatch.setattr(bytescan, "BLOCK", block)
    return list(bytescan.jira_json_chunks(io.BytesIO(text), "x.json", size=size))


TRICKY = [{"key": f"A-{i}", "s": 'br]a}c{ke[t "q\\" \\\\', "n": [[{}]], "issues": [1]} for i in range(7)]


def page(issues: list) -> dict:
    return {"startAt": 0, "issues": issues, "names": {"issues": [{"x": 1}]}}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(page(TRICKY)),  # one page
        json.dumps(page(TRICKY[:3])) + "\n" + json.dumps(page(TRICKY[3:])),  # pages one after another
        json.dumps([page(TRICKY[:2]), page(TRICKY[2:])]),  # an array of pages
    ],
)
@pytest.mark.parametrize("block", [1, 3, 64, 1 << 20])
def test_jira_records_are_cut_whole_whatever_the_read_size(text, block, monkeypatch):
    # Brackets and escaped quotes inside strings, and an "issues" key deeper down, are not structure.
    pieces = chunks_of(text.encode(), 3, block, monkeypatch)
    assert [p.count for p in pieces] == [3, 3, 1]
    assert [r for p in pieces for r in json.loads(p.data)] == TRICKY
    assert [json.loads(item) for p in pieces for item in bytescan.array_items(p.data)] == TRICKY


def nested(levels: int) -> object:
    value: object = "leaf ]}"
    for level in range(levels):
        value = [value] if level % 2 else {"in": value}
    return value


def test_records_too_deep_for_the_one_match_are_walked_bracket_by_bracket(monkeypatch):
    # bytescan matches a whole record at once up to 8 levels inside it; deeper ones take the bracket walk.
    records = [{"key": f"A-{i}", "deep": nested(3 if i % 2 else 14), "s": 'x"\\'} for i in range(6)]
    for block in (5, 1 << 20):
        pieces = chunks_of(json.dumps(page(records)).encode(), 4, block, monkeypatch)
        assert [p.count for p in pieces] == [4, 2]
        assert [r for p in pieces for r in json.loads(p.data)] == records


def test_a_bracket_closing_what_it_did_not_open_fails_the_file(monkeypatch):
    text = b'{"issues": [{"key": "A-1"}, {"key": "A-2", "x": [1}]}'
    with pytest.raises(bytescan.ScanError, match="closes what it did not open"):
        chunks_of(text, 10, 1 << 20, monkeypatch)


def test_a_truncated_file_names_the_record_and_the_byte(monkeypatch):
    text = json.dumps(page(TRICKY)).encode()
    with pytest.raises(bytescan.ScanError, match=r"ends inside record 4, at byte 2[0-9]{2}"):
        chunks_of(text[:260], 2, 16, monkeypatch)
    with pytest.raises(bytescan.ScanError, match="not JSON"):
        chunks_of(b"hello", 2, 16, monkeypatch)
    with pytest.raises(bytescan.ScanError, match="closes what it did not open"):
        chunks_of(b'{"issues": [{"a": 1]]}', 2, 16, monkeypatch)


def test_jsonl_chunks_keep_line_numbers_across_blank_lines():
    text = b'{"key": "A-1"}\n\n{"key": "A-2"}\n{"key": "A-3"}\n'
    pieces = list(bytescan.jsonl_chunks(io.BytesIO(text), "x.jsonl", size=2))
    assert [(p.count, p.first_line, p.lines) for p in pieces] == [(2, 1, [1, 3]), (1, 4, None)]
    with pytest.raises(bytescan.ScanError, match="line 2 .* ends in the middle"):
        list(bytescan.jsonl_chunks(io.BytesIO(b'{"key": "A-1"}\n{"key": "A-'), "x.jsonl", size=2))


def test_a_chunk_that_fails_validation_names_each_bad_record():
    issues = [jira_issue(n) for n in range(1, 6)]
    issues[1]["fields"]["worklog"]["worklogs"][0]["timeSpentSeconds"] = -5
    del issues[3]["fields"]["summary"]
    data = b"[" + b",".join(json.dumps(i).encode() for i in issues) + b"]"
    result = validate_jira_bytes(data, first=41)
    assert [raw.number for raw, _ in result.records] == [41, 43, 45]
    assert [(e.number, e.key, e.field) for e in result.errors] == [
        (42, "DEMO-2", "fields.worklog.worklogs.0.timeSpentSeconds"),
        (44, "DEMO-4", "fields.summary"),
    ]
    deep = b'{"key": "DEMO-9", "fields": ' + b"[" * 300 + b"]" * 300 + b"}"
    result = validate_jira_bytes(b"[" + deep + b"]", first=1)
    assert [(e.number, e.key, e.message) for e in result.errors] == [
        (1, "DEMO-9", "The record is nested deeper than 200 levels.")
    ]
