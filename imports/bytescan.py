"""Record boundaries found in the raw bytes of an import file, without parsing values into Python objects.

`record_chunks` cuts a Jira JSON file (search pages: one page, pages one after another, or an array of pages)
or a JSON Lines file into chunks of whole records; `array_items` splits one chunk again into its records
(only needed when a chunk fails validation and each record's errors must be named). A chunk of Jira JSON is
the bytes `[record,record,...]`, exactly what `pydantic.TypeAdapter(list[...]).validate_json` takes; a chunk
of JSON Lines is its lines joined by newlines.

How the scan stays cheap: escaped backslashes and quotes are blanked (same length, at C speed); each record
of an `issues` array is then matched whole by one regular expression (balanced brackets up to 8 levels inside
it, `_RECORD`), so Python sees one step per record. Outside records, and inside a record nested deeper or
broken, one regular expression skips every run of bytes that holds no bracket (strings without brackets
included) and stops at the next bracket, and Python follows the brackets (and names where a file breaks).
Measured: 20,000 Jira issues scanned in 0.6-0.9 s against about 3 s bracket by bracket
(docs/benchmarks/2026-12-01-imports-1m.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import orjson

BLOCK = 4 << 20  # bytes read at a time
MAX_RECORD_BYTES = 64 << 20  # a longer record is not a record but a broken file

# Harmless bytes (no quote, no bracket) and strings without brackets, then one token: an opening bracket
# (group 1), a closing one (group 2), or a string that holds brackets.
_TOKEN = re.compile(rb'(?:[^"\[\]{}]++|"[^"\[\]{}]*+")*+(?:([\[{])|([\]}])|"[^"]*+")')
_ISSUES_KEY = re.compile(rb'"issues"\s*+:\s*+\Z')


def _balanced_object(levels: int) -> re.Pattern[bytes]:
    """Return a pattern matching one whole JSON object whose brackets nest at most `levels` deep inside it.

    Python's `re` has no recursion, so each level is spelled out; the runs between brackets are written
    "unrolled" (plain bytes, then whole strings each followed by plain bytes) so the engine never tries
    alternatives byte by byte. Used on the escape-blanked twin (no quote inside a string).
    """
    run = rb'[^"\[\]{}]*+(?:"[^"]*+"[^"\[\]{}]*+)*+'
    inner = run
    for _ in range(levels):
        inner = run + rb"(?:(?:\{" + inner + rb"\}|\[" + inner + rb"\])" + run + rb")*+"
    return re.compile(rb"\{" + inner + rb"\}")


# One whole record in one match, instead of a step per bracket: 6-8x faster on the benchmark's Jira issues
# (20,000 issues: 0.35-0.57 s against about 3 s). A record nested deeper than this, or broken, does not match
# and is walked bracket by bracket as before (which reports where it breaks).
_RECORD = _balanced_object(8)
_WS = b" \t\r\n"
_PAGE_STACKS = ([0x7B], [0x5B, 0x7B])  # inside a page at the top, or a page in a top-level array of pages


class ScanError(Exception):
    """The file is not what it claims to be (truncated, not JSON): the job fails with this message."""


@dataclass(slots=True)
class Piece:
    """A chunk of whole records: its bytes, how many records, and where it lies in its file."""

    data: bytes
    count: int
    file_index: int
    byte_start: int
    byte_end: int
    first_line: int | None = None
    lines: list[int] | None = None  # JSON Lines: each record's line, when not consecutive from first_line


def _blank_escapes(data: bytes) -> bytes:
    # JSON pairs backslashes from the left; bytes.replace does the same. Same length: offsets stay valid.
    return data.replace(b"\\\\", b"__").replace(b'\\"', b"__")


class _Buffer:
    """The raw bytes read and their escape-blanked twin, from absolute offset `base` on."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.raw = b""
        self.scan = b""
        self.base = 0
        self.held = b""  # trailing backslashes held back until the next read (an escape may go on)
        self.eof = False
        self.keep_from = 0  # absolute offset: bytes before it may be dropped

    def more(self) -> bool:
        """Read the next block; return False at the end of the file."""
        if self.eof:
            return False
        data = self.f.read(BLOCK)
        if not data:
            self.eof = True
            data, self.held = self.held, b""
            if not data:
                return False
        else:
            data = self.held + data
            stripped = data.rstrip(b"\\")
            self.held = data[len(stripped) :]
            data = stripped
        self.raw += data
        self.scan += _blank_escapes(data)
        return True

    def drop_before(self, offset: int) -> None:
        cut = offset - self.base
        if cut > 0:
            self.raw = self.raw[cut:]
            self.scan = self.scan[cut:]
            self.base = offset


def _jira_records(f: BinaryIO, name: str) -> Iterator[tuple[_Buffer, int, int]]:
    """Yield (buffer, start, end) of each issue object in the `issues` arrays of the file, absolute offsets.

    The buffer keeps every byte from `buffer.keep_from` on (the caller moves it forward once it has taken
    the records before).
    """
    buf = _Buffer(f)
    buf.more()
    head = buf.raw.lstrip(b"\xef\xbb\xbf" + _WS)[:1]
    if head not in (b"{", b"["):
        raise ScanError(f'{name} is not JSON: it should start with {{"issues": [...]}} as Jira\'s search returns.')
    stack: list[int] = []  # open brackets
    records_depth = -1  # depth of the `issues` array being read (-1: none)
    record_start = -1  # absolute offset of the record being read
    pos = buf.raw.find(head)  # relative to buf.base
    records = 0
    scan, size, match = buf.scan, len(buf.scan), _TOKEN.match
    while True:
        m = match(scan, pos)
        if m is None or m.end() == size:
            if not buf.eof:
                # The buffer ends inside a token (or the token may go on): read more and look again.
                keep = min(buf.keep_from, buf.base + max(pos - 64, 0))
                if record_start >= 0:
                    keep = min(keep, record_start)
                    if buf.base + size - record_start > MAX_RECORD_BYTES:
                        raise ScanError(f"{name}: record {records + 1} is longer than {MAX_RECORD_BYTES >> 20} MB.")
                old = buf.base
                buf.drop_before(keep)
                pos -= buf.base - old
                buf.more()
                scan, size = buf.scan, len(buf.scan)
                continue
            if m is None:
                at = buf.base + size
                if stack:
                    where = f"inside record {records + 1}" if record_start >= 0 else f"after record {records}"
                    raise ScanError(
                        f"{name} is truncated: it ends {where}, at byte {at:,}, before the JSON is complete (the "
                        "upload or export was cut off). Whole chunks before it are imported; import the complete "
                        "file again for the rest."
                    )
                if scan[pos:].strip(_WS):
                    raise ScanError(
                        f"{name} is not valid JSON after byte {buf.base + pos:,}: text after the last value."
                    )
                return
        pos = m.end()
        opening = m.start(1)
        if opening >= 0:
            bracket = scan[opening]
            if len(stack) == records_depth and record_start < 0:
                if bracket != 0x7B:
                    raise ScanError(f"{name}: item {records + 1} of an issues array is not an object.")
                whole = _RECORD.match(scan, opening)
                if whole is not None:
                    records += 1
                    pos = whole.end()
                    yield buf, buf.base + opening, buf.base + pos
                    continue
                record_start = buf.base + opening
            elif (
                # `"issues": [` of a page at the top, or of a page inside a top-level array of pages.
                bracket == 0x5B
                and records_depth < 0
                and stack in _PAGE_STACKS
                and _ISSUES_KEY.search(scan, max(0, opening - 64), opening)
            ):
                records_depth = len(stack) + 1
            stack.append(bracket)
        elif m.start(2) >= 0:
            if not stack or (stack.pop() == 0x7B) != (scan[pos - 1] == 0x7D):
                raise ScanError(
                    f"{name} is not valid JSON at byte {buf.base + pos - 1:,}: a bracket closes what it did not open."
                )
            if len(stack) == records_depth and record_start >= 0:
                records += 1
                yield buf, record_start, buf.base + pos
                record_start = -1
            elif len(stack) < records_depth:
                records_depth = -1  # the issues array closed


def jira_json_chunks(f: BinaryIO, name: str, *, size: int, file_index: int = 0) -> Iterator[Piece]:
    """Yield the issues of a Jira JSON file in chunks of `size` records (`[rec,rec,...]` bytes)."""
    spans: list[tuple[int, int]] = []
    held: _Buffer | None = None
    for buf, start, end in _jira_records(f, name):
        held = buf
        spans.append((start, end))
        if len(spans) >= size:
            yield _jira_piece(buf, spans, file_index)
            buf.keep_from = end
            spans = []
    if spans and held is not None:
        yield _jira_piece(held, spans, file_index)


def _jira_piece(buf: _Buffer, spans: list[tuple[int, int]], file_index: int) -> Piece:
    base = buf.base
    data = b"[" + b",".join(buf.raw[s - base : e - base] for s, e in spans) + b"]"
    return Piece(data, len(spans), file_index, spans[0][0], spans[-1][1])


def unfinished_line(line: bytes, stripped: bytes) -> str | None:
    """Return how a JSON Lines line without its newline (the file's last) ends: None when it is complete JSON
    (or has its newline), "deep" when complete but nested past the parser's depth, "cut" when truncated."""
    if line.endswith(b"\n"):
        return None
    try:
        orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        return "deep" if "depth" in str(exc) or "recursion" in str(exc) else "cut"
    return None


def jsonl_chunks(f: BinaryIO, name: str, *, size: int, file_index: int = 0) -> Iterator[Piece]:
    """Yield the lines of a JSON Lines file in chunks of `size` records (blank lines skipped, numbers kept)."""
    # readline, not iteration: a storage's File iterates by universal newlines, which a lone "\r" would split.
    reader = iter(f.readline, b"")
    offset = 0
    lines: list[bytes] = []
    numbers: list[int] = []
    start = 0
    seen_record = False
    for line_no, line in enumerate(reader, start=1):
        at = offset
        offset += len(line)
        stripped = line.strip()
        if not stripped:
            continue
        if unfinished_line(line, stripped) == "cut":
            raise ScanError(
                f"{name} is truncated: line {line_no} (byte {at:,}) ends in the middle of a record. "
                "Nothing from it was imported."
            )
        if not seen_record:
            if not stripped.startswith(b"{"):
                raise ScanError(f"{name} is not a JSON Lines file: line {line_no} is not a JSON object.")
            seen_record = True
        if not lines:
            start = at
        lines.append(stripped)
        numbers.append(line_no)
        if len(lines) >= size:
            yield _jsonl_piece(lines, numbers, file_index, start, offset)
            lines, numbers = [], []
    if lines:
        yield _jsonl_piece(lines, numbers, file_index, start, offset)


def _jsonl_piece(lines: list[bytes], numbers: list[int], file_index: int, start: int, end: int) -> Piece:
    consecutive = numbers[-1] - numbers[0] == len(numbers) - 1
    return Piece(b"\n".join(lines), len(lines), file_index, start, end, numbers[0], None if consecutive else numbers)


def array_items(data: bytes) -> list[bytes]:
    """Return the items of a JSON array of objects (a Jira JSON chunk) as bytes, one per record."""
    scan = _blank_escapes(data)
    pos = scan.index(b"[") + 1
    depth, start = 0, -1
    out: list[bytes] = []
    while True:
        m = _TOKEN.match(scan, pos)
        if m is None:
            break
        if m.start(1) >= 0:
            depth += 1
            if depth == 1:
                start = m.start(1)
        elif m.start(2) >= 0:
            depth -= 1
            if depth == 0 and start >= 0:
                out.append(data[start : m.end()])
                start = -1
            elif depth < 0:
                break
        pos = m.end()
    return out
