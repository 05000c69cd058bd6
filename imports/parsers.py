"""Streaming readers of import files and chunk validation: memory stays flat whatever the file size.

`read_records` yields raw records one at a time (ijson for Jira JSON, the csv module for Jira CSV,
lines for JSON Lines); `validate_chunk` turns a list of them into `IssueRecord`s and per-row errors.
A file that is not what it claims to be (truncated, not JSON, no header) raises `SourceError`.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import io
import os
import pickle
import re
import signal
import time
import zoneinfo
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO

import ijson
import orjson
from django.core.files.storage import storages
from pydantic import TypeAdapter, ValidationError

from imports import bytescan
from imports.formats import jira_backup, jira_csv, jira_xml
from imports.formats.common import SourceError, localize, shorten
from imports.models import JobFormat
from imports.schemas import MAX_NESTING_DEPTH, RECORD, RECORDS, IssueRecord, JiraIssue, RecordInvalid
from issues.custom_fields import parse_moment

# Enough to hold a very large issue; a longer line is not a record but a broken file.
MAX_LINE_BYTES = 64 * 1024 * 1024
csv.field_size_limit(MAX_LINE_BYTES)


@dataclass(slots=True)
class RawRecord:
    number: int  # 1-based over all files of the job
    line: int | None
    data: Any  # bytes (JSON Lines), dict (Jira JSON), dict[str, list[str]] (CSV)

    def __reduce__(self) -> tuple[Any, tuple]:
        return (RawRecord, (self.number, self.line, self.data))  # cheaper than the dataclass's __getstate__


@dataclass(slots=True)
class RowError:
    number: int | None  # None: found after the records were read (a parent found nowhere)
    line: int | None
    key: str
    field: str
    message: str


@dataclass
class Progress:
    """Bytes read so far over all files, for the progress bar."""

    bytes_done: int = 0
    files_done_bytes: int = 0
    current: Any = None
    # What the readers found that Taskra keeps nowhere ({"not_kept": Counter}), and facts for the job summary.
    summary: dict[str, Any] = field(default_factory=dict)

    def take_summary(self) -> dict[str, Any]:
        """Return the summary gathered since the last call (plain dicts), and start a new one."""
        # Emptied in place: the readers hold the counters they add to.
        taken = {k: dict(v) for k, v in self.summary.items() if v}
        for value in self.summary.values():
            value.clear()
        return taken

    @property
    def value(self) -> int:
        return self.files_done_bytes + (self.current.count if self.current is not None else 0)


class _CountingRaw(io.RawIOBase):
    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.f.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.count += len(data)
        return data


# ---------------------------------------------------------------------------------------------------------
# Format detection
# ---------------------------------------------------------------------------------------------------------

_CSV_HEADERS = jira_csv.HEADERS


def detect_format(head: bytes, filename: str = "") -> str | None:
    """Return the JobFormat of a file from its first bytes (and name), or None when unsupported."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    name = filename.lower()
    if head.startswith(b"PK\x03\x04"):
        return JobFormat.JIRA_BACKUP if name.endswith(".zip") or b"entities.xml" in head else None
    if text.startswith(b"<"):
        if b"<entity-engine-xml" in text:
            return JobFormat.JIRA_BACKUP
        if b"<rss" in text:
            return JobFormat.JIRA_XML
        return None
    if text.startswith(b"{"):
        first_line = text.split(b"\n", 1)[0]
        # One issue per line with a top-level "key": JSON Lines; {"issues": [...]} / {"expand":..}: Jira search.
        if name.endswith((".jsonl", ".ndjson")):
            return JobFormat.TASKRA_JSONL
        try:
            obj = orjson.loads(first_line)
        except orjson.JSONDecodeError:
            return JobFormat.JIRA_JSON
        if isinstance(obj, dict) and "key" in obj and "issues" not in obj and "fields" not in obj:
            return JobFormat.TASKRA_JSONL
        return JobFormat.JIRA_JSON
    if text.startswith(b"["):
        return JobFormat.JIRA_JSON
    try:
        first = text.split(b"\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        return None
    header = {h.strip().lower() for h in next(csv.reader([first]), [])}
    if len(header & _CSV_HEADERS) >= 2:
        return JobFormat.JIRA_CSV
    return None


# ---------------------------------------------------------------------------------------------------------
# Bounds on what the JSON parser sees: nesting depth and integers (docs/imports.md, "Limits")
# ---------------------------------------------------------------------------------------------------------

# Integers of this many digits may not fit the parser's 64-bit integers (it would fail the whole file):
# they are checked one by one; longer ones never fit.
MAX_INTEGER_DIGITS = 19
# What a cut-out value becomes: a JSON string no export holds, found again in the records (_flagged).
TOO_DEEP = "\x00taskra:nested-too-deep"
TOO_LARGE = "\x00taskra:number-too-large"
_TOO_DEEP_JSON = b'"\\u0000taskra:nested-too-deep"'
_TOO_LARGE_JSON = b'"\\u0000taskra:number-too-large"'

# Outside strings: runs of other bytes and whole strings, up to the first string the buffer ends inside.
_STRUCTURE = re.compile(rb'(?:[^"]++|"(?:[^"\\]++|\\.)*+")*+', re.DOTALL)
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+"', re.DOTALL)  # the rest of a string, closing quote included
_STRING_BODY = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)  # stops before a lone trailing backslash
_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]|(?<![\w.+-])-?\d{%d,}(?![\w.+-])' % MAX_INTEGER_DIGITS, re.DOTALL)
_LONG_INTEGER = re.compile(rb"\d{%d}" % MAX_INTEGER_DIGITS)
_NUMBER_TAIL = re.compile(rb"[-+.\deE]+\Z")
_NUMBER_HEAD = re.compile(rb"[-+.\deE]*")
_MAX_HELD = 1024  # a number's bytes held back for the next read, at most
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'"[]{}')
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * MAX_INTEGER_DIGITS
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


class DepthGuard:
    """Pass JSON bytes on unchanged, except values nested deeper than `limit` and integers of 19+ digits.

    Such a value is replaced by a marker string (TOO_DEEP, TOO_LARGE), so the parser never holds more than
    `limit` levels (ijson's work per level grows with the depth: 100,000 levels took minutes) nor fails the
    whole file on one number; the record holding the marker becomes a row error (`flagged`). Most buffers
    take the fast path, at C speed: strings stripped by regular expressions, the depth and digits measured
    on what is left. Only a buffer that goes too deep, or holds a long integer, is walked token by token.
    """

    def __init__(self, limit: int = MAX_NESTING_DEPTH) -> None:
        self.limit = limit
        self.depth = 0  # levels open in what was passed on
        self.cut = 0  # levels open inside the value being cut out (0: not cutting)
        self.in_string = False
        self.carry = b""  # held back: a trailing backslash inside a string, or a number that may go on
        self.replaced = 0  # values replaced so far
        self.skip_number = False  # dropping the rest of a number cut out in earlier bytes

    def feed(self, data: bytes, *, final: bool = False) -> bytes:
        """Return what to pass on of the next bytes (`final`: no more bytes follow)."""
        buf = self.carry + data if self.carry else data
        self.carry = b""
        if not (self.cut or self.skip_number):
            keep = len(buf)
            if not final:  # a number or an escape may go on in the next bytes: judge it whole
                keep = len(buf.rstrip(b"-+.0123456789eE\\"))
            if len(buf) - keep <= _MAX_HELD and self._within_bounds(buf[:keep] if keep < len(buf) else buf):
                self.carry = buf[keep:]
                return buf[:keep] if keep < len(buf) else buf
        return self._walk_feed(buf, final)

    def _within_bounds(self, head: bytes) -> bool:
        """The fast path: whether `head` stays within the bounds; if so, take its depth and string state."""
        if _LONG_DIGITS in head.translate(_DIGITS_AS_ZERO):  # 19 digits in a row, in a string or not
            return False
        # Escaped backslashes, then escaped quotes, go first (JSON pairs backslashes from the left); of the
        # rest only quotes and brackets matter. Dropping "" pairs keeps every bracket's quote parity (odd:
        # inside a string); then the brackets between every other quote are the structure.
        bare = head.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURAL)
        if self.in_string:
            bare = b'"' + bare
        parts = bare.replace(b'""', b"").split(b'"')
        brackets = b"".join(parts[0::2]) if len(parts) > 1 else parts[0]
        if brackets:
            if max(accumulate(map(_STEP.__getitem__, brackets), initial=self.depth)) > self.limit:
                return False
            self.depth += sum(map(_STEP.__getitem__, brackets))
        self.in_string = len(parts) % 2 == 0
        return True

    def _walk_feed(self, buf: bytes, final: bool) -> bytes:
        """The slow path for bytes that go too deep or hold a long integer: token by token where needed."""
        out: list[bytes] = []
        pos, n = 0, len(buf)
        if self.skip_number:  # the rest of a number already cut out
            pos = _NUMBER_HEAD.match(buf).end()  # type: ignore[union-attr]
            self.skip_number = pos == n and not final
        while pos < n:
            if self.in_string:
                m = _STRING_REST.match(buf, pos)
                if m is None:  # the string goes on in the next bytes
                    body = _STRING_BODY.match(buf, pos).end()  # type: ignore[union-attr]
                    if not self.cut:
                        out.append(buf[pos:body])
                    self.carry = buf[body:]  # "" or a lone backslash
                    break
                if not self.cut:
                    out.append(buf[pos : m.end()])
                pos, self.in_string = m.end(), False
                continue
            end = _STRUCTURE.match(buf, pos).end()  # type: ignore[union-attr]
            tail = _NUMBER_TAIL.search(buf, pos, end) if end == n and not final else None
            if tail is not None:  # a number may go on in the next bytes: judge it whole
                out.append(self._structure(buf[pos : tail.start()]))
                if end - tail.start() <= _MAX_HELD:
                    self.carry = buf[tail.start() : end]
                else:  # longer than any number a field holds: cut out now, and its rest from the next bytes
                    if not self.cut:
                        out.append(_TOO_LARGE_JSON)
                        self.replaced += 1
                    self.skip_number = True
                break
            out.append(self._structure(buf[pos:end]))
            pos = end
            if pos < n:  # a string starts here and ends in later bytes
                self.in_string = True
                if not self.cut:
                    out.append(b'"')
                pos += 1
        return b"".join(out)

    def _structure(self, part: bytes) -> bytes:
        if not part:
            return part
        if not self.cut:
            bare = _STRING.sub(b"", part) if b'"' in part else part
            brackets = bare.translate(None, _NOT_BRACKETS)
            peak = max(accumulate(map(_STEP.__getitem__, brackets), initial=self.depth)) if brackets else self.depth
            if peak <= self.limit and _LONG_INTEGER.search(bare) is None:
                self.depth += sum(map(_STEP.__getitem__, brackets))
                return part
        return self._walk(part)

    def _walk(self, part: bytes) -> bytes:
        out: list[bytes] = []
        start = 0  # first byte not yet passed on or dropped
        for m in _TOKEN.finditer(part):
            c = part[m.start()]
            if self.cut:
                if c in b"[{":
                    self.cut += 1
                elif c in b"]}":
                    self.cut -= 1
                    if not self.cut:
                        start = m.end()
                continue
            if c in b"[{":
                if self.depth >= self.limit:
                    out += (part[start : m.start()], _TOO_DEEP_JSON)
                    self.cut, self.replaced = 1, self.replaced + 1
                    continue
                self.depth += 1
            elif c in b"]}":
                self.depth -= 1
            elif c != ord('"'):  # an integer of 19+ digits: the parser holds 64 bits
                text = m.group()
                if len(text.lstrip(b"-")) == MAX_INTEGER_DIGITS and -(2**63) <= int(text) < 2**63:
                    continue
                out += (part[start : m.start()], _TOO_LARGE_JSON)
                start, self.replaced = m.end(), self.replaced + 1
        if not self.cut:
            out.append(part[start:])
        return b"".join(out)


class _GuardedReader:
    """A file object for ijson: reads `raw` through a DepthGuard."""

    def __init__(self, raw: BinaryIO, guard: DepthGuard) -> None:
        self.raw = raw
        self.guard = guard
        self.done = False

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson asks for nothing first, to learn whether the file gives bytes or text
            return b""
        while not self.done:
            data = self.raw.read(size if size and size > 0 else 1 << 16)
            self.done = not data
            out = self.guard.feed(data, final=self.done)
            if out:
                return out
        return b""


def _markers_in(value: Any) -> list[str]:
    """Return the markers (TOO_DEEP, TOO_LARGE) inside a parsed value; iterative, as the guard bounds its depth."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and item in (TOO_DEEP, TOO_LARGE):
            found.append(item)
    return found


@dataclass(slots=True)
class FlaggedRecord:
    """A record the reader cut values out of (parsers.DepthGuard): a row error, never written."""

    key: str
    messages: list[str]


def _flagged(item: Any) -> tuple[Any, int]:
    """Return the item, or a FlaggedRecord when it holds markers; and how many markers it holds."""
    markers = _markers_in(item)
    if not markers:
        return item, 0
    messages = []
    if TOO_DEEP in markers:
        messages.append(f"The record is nested deeper than {MAX_NESTING_DEPTH} levels; it was not imported.")
    if TOO_LARGE in markers:
        messages.append(
            "The record holds an integer beyond 64 bits (9,223,372,036,854,775,807), too large for any field; "
            "it was not imported."
        )
    return FlaggedRecord(_key_hint(item), messages), len(markers)


# ---------------------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------------------


Source = Path | str  # a file on this machine (absolute path), or a name in the imports storage (uploads)


def source_name(source: Source) -> str:
    """Return the file name of a source, as messages show it."""
    return os.path.basename(str(source))


def open_source(source: Source) -> BinaryIO:
    """Open a job's file for reading: a local path, or a name in the "imports" storage (settings.STORAGES)."""
    if isinstance(source, Path) or os.path.isabs(source):
        return open(source, "rb")  # noqa: SIM115 - the caller closes it
    # A storage File proxies the binary file methods the readers use (read, readline, close, context manager).
    return storages["imports"].open(source, "rb")  # type: ignore[return-value]


def read_records(fmt: str, paths: list[Source], progress: Progress | None = None) -> Iterator[RawRecord]:
    """Yield the raw records of the files in order, numbered from 1 across files."""
    progress = progress or Progress()
    number = 0
    readers: dict[str, Callable[[_CountingRaw, str, Source], Iterator[tuple[int | None, Any]]]] = {
        JobFormat.JIRA_JSON: lambda raw, name, _: _jira_json(raw, name),
        # A Cloud CSV's parents by issue id need a first pass over the file: it is opened again for that.
        JobFormat.JIRA_CSV: lambda raw, name, source: jira_csv.read(
            raw, name, progress.summary, lambda: open_source(source)
        ),
        JobFormat.TASKRA_JSONL: lambda raw, name, _: _jsonl(raw, name),
        JobFormat.JIRA_XML: lambda raw, name, _: jira_xml.read(raw, name, progress.summary),
        JobFormat.JIRA_BACKUP: lambda raw, name, _: jira_backup.read(raw, name, progress.summary),
    }
    reader = readers[fmt]
    for path in paths:
        try:
            f = open_source(path)  # closed below, also when the consumer stops early
        except OSError as exc:
            raise SourceError(f"Cannot open {source_name(path)}: {exc.strerror}.") from exc
        try:
            counting = _CountingRaw(f)
            progress.current = counting
            before = number
            for line, data in reader(counting, source_name(path), path):
                number += 1
                yield RawRecord(number, line, data)
            if number == before:
                # Never "succeeded" with nothing done: a file without records is a failed import, said in words.
                raise SourceError(f"{source_name(path)} holds no issues: {_EMPTY_HINTS[fmt]} Nothing was imported.")
            progress.files_done_bytes += counting.count
            progress.current = None
        finally:
            f.close()


_EMPTY_HINTS: dict[str, str] = {
    JobFormat.JIRA_JSON: 'expected one issue ({"key": ..., "fields": {...}}), a search result page ({"issues": [...]}) '
    "or a list of them.",
    JobFormat.JIRA_CSV: "the CSV export has a header but no rows.",
    JobFormat.TASKRA_JSONL: "expected one JSON object per line.",
    JobFormat.JIRA_XML: "the export's <channel> has no <item>.",
    JobFormat.JIRA_BACKUP: "entities.xml has no Issue rows.",
}


def _jsonl(raw: _CountingRaw, name: str) -> Iterator[tuple[int | None, Any]]:
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    seen_record = False
    records = 0
    for line_no, line in enumerate(buffered, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        ending = bytescan.unfinished_line(line, stripped)  # the last line may lack its newline
        if ending == "deep":
            yield line_no, stripped  # complete but too deep: a row error (validate_chunk)
            continue
        if ending == "cut":
            raise SourceError(
                f"{name} is truncated: it ends at byte {raw.count:,}, in the middle of record {records + 1:,} "
                f"(line {line_no:,}). "
                "The lines before it are imported; import the complete file again for the rest."
            )
        if not seen_record:
            if not stripped.startswith(b"{"):
                raise SourceError(f"{name} is not a JSON Lines file: line {line_no} is not a JSON object.")
            seen_record = True
        records += 1
        yield line_no, stripped


def _jira_json(raw: _CountingRaw, name: str) -> Iterator[tuple[int | None, Any]]:
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    head = buffered.peek(1 << 16).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith((b"[", b"{")):
        raise SourceError(
            f'{name} is not JSON: it should start with {{"issues": [...]}} as Jira\'s search returns, or with '
            '{"key": ..., "fields": {...}} as one issue does.'
        )
    prefix = _jira_json_prefix(head)
    guard = DepthGuard()
    checked = 0  # values the guard replaced that were found in records already
    records = 0
    try:
        for item in ijson.items(_GuardedReader(buffered, guard), prefix, use_float=True, multiple_values=True):
            if guard.replaced > checked:  # only records read after a replacement are searched for markers
                item, found = _flagged(item)
                checked += found
            records += 1
            yield None, item
    except ijson.IncompleteJSONError as exc:
        raise SourceError(_json_error_message(name, str(exc), raw.count, records + 1)) from None
    except ijson.JSONError as exc:
        raise SourceError(_json_error_message(name, str(exc), raw.count, records + 1)) from None


_ISSUES_FIELD = re.compile(rb'"issues"\s*:\s*\[')
_FIELDS_FIELD = re.compile(rb'"fields"\s*:\s*\{')


def _jira_json_prefix(head: bytes) -> str:
    """Return the ijson prefix of the issues in every shape Jira's REST API returns (from the first bytes).

    `{"issues": [...]}` (a search page, or several one after the other), `[{"issues": [...]}, ...]` (a list of
    pages), `{"key": ..., "fields": {...}}` (one issue: GET /rest/api/2/issue/KEY, or several one after the
    other) and `[{"key": ..., "fields": ...}, ...]` (a list of issues). A page names "issues" before any
    issue's "fields"; a lone issue has "fields" and no "issues" array before it.
    """
    issues, fields = _ISSUES_FIELD.search(head), _FIELDS_FIELD.search(head)
    is_page = issues is not None and (fields is None or issues.start() < fields.start())
    if head.startswith(b"["):
        return "item.issues.item" if is_page or fields is None else "item"
    return "issues.item" if is_page or fields is None else ""


def splits_into_chunks(fmt: str, sources: list[Source]) -> bool:
    """Return whether the byte scanner (imports.bytescan) can cut these files into chunk tasks.

    JSON Lines always; Jira JSON when every file holds search pages (`{"issues": [...]}`, or a list of them).
    A single issue or a list of issues (GET /rest/api/2/issue/KEY) is read by one process through
    read_records, which knows every shape; so is a file that cannot be opened (read_records says why).
    """
    if fmt != JobFormat.JIRA_JSON:
        return True
    for source in sources:
        try:
            f = open_source(source)
        except OSError:
            return False
        with f:
            head = f.read(1 << 16).lstrip(b"\xef\xbb\xbf \t\r\n")
        if _jira_json_prefix(head) not in ("issues.item", "item.issues.item"):
            return False
    return True


def _json_error_message(name: str, text: str, offset: int, record: int = 0) -> str:
    """Return a readable sentence for the parser's error (its own text shows bytes and a caret)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    where = f"record {record:,}" if record else "a record"
    if not first or "premature EOF" in first or "Incomplete JSON" in first:
        return (
            f"{name} is truncated: it ends at byte {offset:,}, in the middle of {where} (the upload or export was "
            "cut off). Whole chunks read before the break are imported; import the complete file again for the rest."
        )
    reason = first.removeprefix("parse error:").removeprefix("lexical error:").strip().rstrip(".")
    return f"{name} is not valid JSON in the part read up to byte {offset:,}: {reason or 'unexpected text'}."


# ---------------------------------------------------------------------------------------------------------
# Jira CSV rows -> record dicts
# ---------------------------------------------------------------------------------------------------------

_CSV_DATE_FORMATS = (
    "%d/%b/%y %I:%M %p",
    "%d/%b/%Y %I:%M %p",
    "%d/%b/%y %H:%M",
    "%d/%b/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d/%b/%y",
    "%Y-%m-%d",
)


class CsvValueError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_csv_datetime(value: str, tz: dt.tzinfo, field: str) -> dt.datetime | None:
    """Return an aware datetime from Jira's CSV date text ("15/Jan/24 10:30 AM" or ISO), in `tz` when naive."""
    value = value.strip()
    if not value:
        return None
    parsed = parse_moment(value, dt.datetime, _CSV_DATE_FORMATS)
    if parsed is None:
        raise CsvValueError(
            field, f"'{value}' is not a date Taskra understands (e.g. 15/Jan/24 10:30 AM or 2024-01-15 10:30)."
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


_DIGITS = re.compile(r"^\d+$")


def _first(cells: dict[str, list[str]], *names: str) -> str:
    for n in names:
        for value in cells.get(n, ()):
            if value.strip():
                return value.strip()
    return ""


def _seconds_or_text(value: str) -> int | str | None:
    value = value.strip()
    if not value:
        return None
    if _DIGITS.match(value):
        # More digits than any field holds stay text: the duration check then reports them (and int()
        # of thousands of digits would raise outside the per-row errors).
        return int(value) if len(value) < MAX_INTEGER_DIGITS else value
    return value


def _csv_user(cells: dict[str, list[str]], role: str) -> dict[str, str] | None:
    name = _first(cells, role)
    account = _first(cells, f"{role} id")
    if not (name or account):
        return None
    user: dict[str, str] = {"display_name": name}
    if account:
        user["account_id"] = account
    elif "@" in name:
        user["email"] = name
    else:
        user["username"] = name
    return user


def csv_to_record(cells: dict[str, list[str]], tz: dt.tzinfo) -> dict[str, Any]:
    """Return the record dict of one Jira CSV row (raise CsvValueError for cells it cannot read)."""
    key = _first(cells, "issue key")
    record: dict[str, Any] = {
        "key": key,
        "external_id": _first(cells, "issue id") or None,
        "project_name": _first(cells, "project name") or None,
        "summary": _first(cells, "summary"),
        "description": _first(cells, "description"),
        "type": _first(cells, "issue type") or None,
        "status": _first(cells, "status") or None,
        "status_category": _first(cells, "status category") or None,
        "priority": _first(cells, "priority") or None,
        "resolution": _first(cells, "resolution") or None,
        "assignee": _csv_user(cells, "assignee"),
        "reporter": _csv_user(cells, "reporter"),
        "labels": [v.strip() for v in cells.get("labels", []) if v.strip()],
        "parent": _first(cells, "parent key") or None,
        "parent_external_id": _first(cells, "parent external id") or None,
        "original_estimate": _seconds_or_text(_first(cells, "original estimate")),
        "remaining_estimate": _seconds_or_text(_first(cells, "remaining estimate")),
        "created": parse_csv_datetime(_first(cells, "created"), tz, "created"),
        "updated": parse_csv_datetime(_first(cells, "updated"), tz, "updated"),
        "resolved": parse_csv_datetime(_first(cells, "resolved"), tz, "resolved"),
    }
    due = parse_csv_datetime(_first(cells, "due date"), tz, "due_date")
    record["due_date"] = due.date() if due else None
    worklogs = []
    for index, cell in enumerate(v for v in cells.get("log work", []) if v.strip()):
        # "comment;started;author;seconds" -- the comment may itself contain semicolons.
        parts = cell.rsplit(";", 3)
        if len(parts) != 4:
            raise CsvValueError(
                f"worklogs.{index}", f"Log Work cell '{cell[:80]}' is not 'comment;started;author;seconds'."
            )
        comment, started, author, seconds = parts
        worklogs.append(
            {
                "external_id": f"{key}/worklog/{index + 1}",
                "comment": comment.strip(),
                "started": parse_csv_datetime(started, tz, f"worklogs.{index}.started"),
                "author": {"username": author.strip()} if author.strip() else None,
                "time_spent": _seconds_or_text(seconds) if seconds.strip() else "",
            }
        )
    comments = []
    for index, cell in enumerate(v for v in cells.get("comment", []) if v.strip()):
        # "date;author;body" -- the body may contain semicolons.
        parts = cell.split(";", 2)
        if len(parts) != 3:
            raise CsvValueError(f"comments.{index}", f"Comment cell '{cell[:80]}' is not 'date;author;body'.")
        created, author, body = parts
        comments.append(
            {
                "external_id": f"{key}/comment/{index + 1}",
                "created": parse_csv_datetime(created, tz, f"comments.{index}.created"),
                "author": {"username": author.strip()} if author.strip() else None,
                "body": body,
            }
        )
    record["worklogs"] = worklogs
    record["custom_fields"] = jira_csv.custom_fields(cells)
    record["comments"] = comments
    return record


# ---------------------------------------------------------------------------------------------------------
# Chunk validation
# ---------------------------------------------------------------------------------------------------------

_JIRA_CHUNK = TypeAdapter(list[JiraIssue])


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _errors_of(exc: ValidationError, raw: RawRecord, key: str, prefix: str = "") -> list[RowError]:
    out = []
    for err in exc.errors(include_url=False, include_input=True):
        path = _loc(err["loc"])
        out.append(RowError(raw.number, raw.line, key, f"{prefix}{path}" if prefix else path, _error_text(err)))
    return out


def _error_text(err: Any) -> str:
    """Return Pydantic's message with the offending value (shortened), so the person sees what to fix.

    "Input should be 'todo', 'in_progress' or 'done'" becomes "... or 'done'; got 'started'". A missing field
    or a whole object in error shows no value (it would be the record itself).
    """
    message = str(err["msg"])
    value = err.get("input")
    if err["type"] == "missing" or isinstance(value, dict | list) or value is None:
        return message
    return f"{message}; got '{shorten(value)}'"


def _key_hint(data: Any) -> str:
    if isinstance(data, bytes):
        match = re.search(rb'"key"\s*:\s*"([^"]{1,64})"', data[:4096])
        return match.group(1).decode("utf-8", "replace") if match else ""
    if isinstance(data, dict):
        value = data.get("key")
        if value is None and isinstance(data.get("issue key"), list) and data["issue key"]:
            value = data["issue key"][0]
        return str(value or "")[:64]
    return ""


@dataclass
class ChunkResult:
    records: list[tuple[RawRecord, IssueRecord]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _json_invalid_message(exc: ValidationError, what: str) -> str | None:
    """Return the row error of a record Pydantic could not parse as JSON (None: it parsed)."""
    first = exc.errors()[0]
    if first["type"] != "json_invalid":
        return None
    if "recursion limit" in first["msg"]:
        return f"{what} is nested deeper than {MAX_NESTING_DEPTH} levels."
    return f"{what} is not valid JSON."


def validate_jira_bytes(data: bytes, *, first: int) -> ChunkResult:
    """Validate a Jira JSON chunk (`[issue,issue,...]` bytes, imports.bytescan) straight from its bytes.

    The whole chunk in one `validate_json` call: no Python dicts are built. When it fails, each record is
    validated on its own so that its errors name it (record `first + i`, its key, the field).
    """
    result = ChunkResult()
    try:
        issues = _JIRA_CHUNK.validate_json(data)
    except ValidationError:
        issues = None
    if issues is not None:
        for index, issue in enumerate(issues):
            raw = RawRecord(first + index, None, None)
            try:
                result.records.append((raw, issue.to_record()))
            except RecordInvalid as exc:
                result.errors.append(RowError(raw.number, None, issue.key, exc.field, str(exc)))
        return result
    for index, item in enumerate(bytescan.array_items(data)):
        raw = RawRecord(first + index, None, None)
        key = _key_hint(item)
        try:
            issue = JiraIssue.model_validate_json(item)
            result.records.append((raw, issue.to_record()))
        except ValidationError as exc:
            message = _json_invalid_message(exc, "The record")
            if message:
                result.errors.append(RowError(raw.number, None, key, "", message))
            else:
                result.errors.extend(_errors_of(exc, raw, key))
        except RecordInvalid as exc:
            result.errors.append(RowError(raw.number, None, key, exc.field, str(exc)))
    return result


def validate_chunk(fmt: str, chunk: list[RawRecord], *, tz: dt.tzinfo | None = None) -> ChunkResult:
    """Validate a chunk of raw records: the whole chunk at once, one by one only when some are bad."""
    result = ChunkResult()
    if fmt == JobFormat.TASKRA_JSONL:
        try:
            # The whole chunk in one call, straight from the raw bytes.
            records = RECORDS.validate_json(b"[" + b",".join(r.data for r in chunk) + b"]")
            result.records = list(zip(chunk, records, strict=True))
            return result
        except ValidationError:
            pass
        for raw in chunk:
            try:
                result.records.append((raw, RECORD.validate_json(raw.data)))
            except ValidationError as exc:
                key = _key_hint(raw.data)
                first = exc.errors()[0]
                if first["type"] == "json_invalid" and "recursion limit" in first["msg"]:
                    message = f"Line is nested deeper than {MAX_NESTING_DEPTH} levels."
                    result.errors.append(RowError(raw.number, raw.line, key, "", message))
                elif first["type"] == "json_invalid":
                    result.errors.append(RowError(raw.number, raw.line, key, "", "Line is not valid JSON."))
                else:
                    result.errors.extend(_errors_of(exc, raw, key))
        return result
    if fmt == JobFormat.JIRA_JSON:
        flagged = [raw for raw in chunk if isinstance(raw.data, FlaggedRecord)]
        for raw in flagged:
            result.errors.extend(RowError(raw.number, raw.line, raw.data.key, "", m) for m in raw.data.messages)
        if flagged:
            chunk = [raw for raw in chunk if not isinstance(raw.data, FlaggedRecord)]
        try:
            issues = _JIRA_CHUNK.validate_python([r.data for r in chunk])
        except ValidationError:
            issues = None
        for index, raw in enumerate(chunk):
            try:
                issue = issues[index] if issues is not None else JiraIssue.model_validate(raw.data)
                result.records.append((raw, issue.to_record()))
            except ValidationError as exc:
                result.errors.extend(_errors_of(exc, raw, _key_hint(raw.data)))
            except RecordInvalid as exc:
                result.errors.append(RowError(raw.number, raw.line, _key_hint(raw.data), exc.field, str(exc)))
        if flagged:
            result.errors.sort(key=lambda e: e.number or 0)
        return result
    tz = tz or dt.UTC
    if fmt in (JobFormat.JIRA_XML, JobFormat.JIRA_BACKUP):
        for raw in chunk:
            key = str(raw.data.get("key") or "")[:64]
            try:
                data = localize(raw.data, tz) if fmt == JobFormat.JIRA_BACKUP else raw.data
                result.records.append((raw, RECORD.validate_python(data)))
            except ValidationError as exc:
                result.errors.extend(_errors_of(exc, raw, key))
        return result
    for raw in chunk:
        key = _first(raw.data, "issue key")
        try:
            result.records.append((raw, RECORD.validate_python(csv_to_record(raw.data, tz))))
        except CsvValueError as exc:
            result.errors.append(RowError(raw.number, raw.line, key, exc.field, str(exc)))
        except ValidationError as exc:
            result.errors.extend(_errors_of(exc, raw, key))
    return result


# ---------------------------------------------------------------------------------------------------------
# Validated chunks, in this process or in a reader process
# ---------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ValidatedChunk:
    last: int  # number of the chunk's last record: the job's position once it is written
    count: int  # records read (valid or not)
    bytes_done: int  # bytes read when the chunk was complete, for the progress bar
    result: ChunkResult
    summary: dict[str, Any] = field(default_factory=dict)  # what the reader counted since the chunk before
    read_seconds: float = 0.0  # reading (and, for Jira JSON, parsing) the chunk's records
    validate_seconds: float = 0.0


def validated_chunks(
    fmt: str, paths: list[Source], *, skip: int = 0, size: int = 1000, tz: dt.tzinfo | None = None
) -> Generator[ValidatedChunk, None, None]:
    """Yield the files' records after the first `skip` in validated chunks of `size`."""
    progress = Progress()
    chunk: list[RawRecord] = []
    last = skip
    clock = time.perf_counter
    started = clock()
    for raw in read_records(fmt, paths, progress):
        if raw.number <= skip:
            progress.take_summary()  # counted by the attempt that committed these records
            continue  # committed by an earlier attempt
        chunk.append(raw)
        if len(chunk) >= size:
            yield _validated(fmt, chunk, tz, progress, clock() - started)
            last = chunk[-1].number
            chunk = []
            started = clock()
    if chunk:
        yield _validated(fmt, chunk, tz, progress, clock() - started)
    elif any(progress.summary.values()):  # counted after the last record (a backup's workflows): a chunk of no records
        yield ValidatedChunk(last, 0, progress.value, ChunkResult(), progress.take_summary())


def _validated(
    fmt: str, chunk: list[RawRecord], tz: dt.tzinfo | None, progress: Progress, read_seconds: float
) -> ValidatedChunk:
    started = time.perf_counter()
    result = validate_chunk(fmt, chunk, tz=tz)
    # The writer needs only the record numbers: drop the raw data (a dict per Jira issue) before the chunk
    # waits in a queue or crosses to the writing process.
    result.records = [(RawRecord(raw.number, raw.line, None), rec) for raw, rec in result.records]
    return ValidatedChunk(
        chunk[-1].number,
        len(chunk),
        progress.value,
        result,
        progress.take_summary(),
        read_seconds,
        time.perf_counter() - started,
    )


class ReaderProcess:
    """Read and validate chunks in a forked child process while this one writes the previous chunks.

    Why a process: reading (ijson) and validating (Pydantic) are about 40% of an import's CPU time, and a
    thread cannot overlap them with the writer's own Python work (the GIL; measured slower than no thread).
    The child gets the same arguments as `validated_chunks` and sends its chunks, pickled, through a pipe:
    a full pipe blocks it, so it runs at most about one chunk ahead and memory stays bounded whatever
    the file size. It never touches the database (the forked connection is left alone and the child ends
    with os._exit, which skips every cleanup handler). When this process stops reading (cancel, error,
    death) the child is killed, or dies on its next write to the closed pipe.

    os.fork rather than multiprocessing: a Celery prefork pool process counts as daemonic, and
    multiprocessing refuses to start children from one.
    """

    def __init__(
        self, fmt: str, paths: list[Source], *, skip: int = 0, size: int = 1000, tz: dt.tzinfo | None = None
    ) -> None:
        self.args = (fmt, paths, skip, size, tz)
        self.pid: int | None = None

    def alive(self) -> bool:
        """Return whether the child process still runs (not yet reaped)."""
        if self.pid is None:
            return False
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        if done:
            self.pid = None
        return not done

    def __iter__(self) -> Generator[ValidatedChunk, None, None]:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            # Leave the objects inherited from the writer to the permanent generation: the collector's
            # passes would otherwise touch every one of them and copy their (shared) pages into this process.
            gc.freeze()
            code = 0
            try:
                os.close(read_fd)
                with open(write_fd, "wb", buffering=1 << 20) as out:
                    _read_into(out, *self.args)
            except BaseException:  # noqa: BLE001 - the writer reports a child that ends without "end"
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        self.pid = pid
        pipe = open(read_fd, "rb", buffering=1 << 20)  # noqa: SIM115 - closed in finally
        try:
            while True:
                head = pipe.read(8)
                body = pipe.read(int.from_bytes(head, "little")) if len(head) == 8 else b""
                if len(head) < 8 or len(body) < int.from_bytes(head, "little"):
                    raise RuntimeError("The import's reader process ended unexpectedly (killed, or out of memory?).")
                kind, payload = pickle.loads(body)
                del body
                if kind == "chunk":
                    yield payload
                elif kind == "end":
                    return
                elif kind == "source":
                    raise SourceError(payload)
                else:
                    raise RuntimeError(f"The import's reader process failed: {payload}")
        finally:
            pipe.close()
            if self.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, 0)
                self.pid = None


def _read_into(out: BinaryIO, fmt: str, paths: list[Source], skip: int, size: int, tz: dt.tzinfo | None) -> None:
    def send(message: tuple[str, Any]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(8, "little"))
        out.write(data)
        out.flush()

    try:
        for chunk in validated_chunks(fmt, paths, skip=skip, size=size, tz=tz):
            send(("chunk", chunk))
        send(("end", None))
    except SourceError as exc:
        send(("source", str(exc)))
    except BrokenPipeError:
        raise  # the writer stopped reading: nothing to report to
    except Exception as exc:  # reported by the writer, which fails the job with it
        send(("error", f"{type(exc).__name__}: {exc}"))


def zone(name: str | None) -> dt.tzinfo:
    """Return the time zone naive CSV dates are read in (UTC when unset or unknown)."""
    try:
        return zoneinfo.ZoneInfo(name) if name else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC
