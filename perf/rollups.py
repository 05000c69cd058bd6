"""Per-five-minute and per-hour rollups of the request metrics in the shared cache: what /perf/ reads.

Each process adds its requests to in-memory slots (one per five minutes and one per hour) and writes each slot it
changed as one blob of its own at most every FLUSH_SECONDS; a process claims its index within a slot with an
atomic counter, so no two processes overwrite each other. Readers merge a window's closed slots once into a
shared range blob (windows()), so /perf/ reads a few blobs in two MGETs whatever the number of processes and
slots: only the open five-minute slot is read per process. Nothing here touches the database. Works on Redis
and on the local-memory cache (then it sees this process only).
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskra_site import sharedcache
from taskra_site.sharedcache import CacheDown

# Upper bounds (ms) of the rollup histogram; the last bucket is open. Percentiles interpolate inside a bucket.
BUCKETS_MS: tuple[float, ...] = (
    1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2500, 5000, 10000,
)  # fmt: skip
# One row: count, errors, total ms, queries, sql ms, response bytes, then one count per bucket (+ the open one).
COUNT, ERRORS, TOTAL_MS, QUERIES, SQL_MS, BYTES = range(6)
FIRST_BUCKET = 6
ROW_LEN = FIRST_BUCKET + len(BUCKETS_MS) + 1
# Five-minute slots for the last hour (12-13 blobs per process to merge, not 60) and hour slots for the day.
SHORT, HOUR = 300, 3600
FLUSH_SECONDS = 5.0
# A slot this long past its end gets no more flushes (a process flushes at most FLUSH_SECONDS after a request).
SETTLE_SECONDS = 3 * FLUSH_SECONDS
SLOWEST_KEPT = 10
KEEP = {SHORT: 2 * HOUR + 300, HOUR: 2 * 86400 + 3600}


def bucket_index(ms: float) -> int:
    """Return the histogram bucket of a duration in milliseconds."""
    return bisect.bisect_left(BUCKETS_MS, ms)


@dataclass
class Slow:
    """One slow request as the perf page lists it."""

    ms: float
    route: str
    method: str
    queries: int
    slowest_sql: str
    slowest_ms: float
    at: float


@dataclass
class ProcessSlot:
    """This process's figures for one slot (five minutes or an hour)."""

    rows: dict[str, list[float]] = field(default_factory=dict)
    slow: list[tuple[float, int, Slow]] = field(default_factory=list)
    index: int | None = None
    dirty: bool = False


def row_key(route: str, method: str, variant: str) -> str:
    return f"{route}|{method}|{variant}"


def split_key(key: str) -> tuple[str, str, str]:
    route, method, variant = key.split("|", 2)
    return route, method, variant


def slot_start(now: float, size: int) -> int:
    return int(now // size) * size


def _count_key(size: int, start: int) -> str:
    return f"perf:n:{size}:{start}"


def _blob_key(size: int, start: int, index: int) -> str:
    return f"perf:b:{size}:{start}:{index}"


class Recorder:
    """The in-process side: add requests, flush the changed slots now and then."""

    def __init__(self, role: str = "web", pid: int | None = None) -> None:
        self.role = role
        self.pid = pid  # None: this process's (bench/perf_page.py simulates others)
        self.lock = threading.Lock()
        self.slots: dict[tuple[int, int], ProcessSlot] = {}
        self.next_flush = 0.0
        self.seq = 0
        self.process: dict[str, Any] = {}

    def add(
        self,
        *,
        route: str,
        method: str,
        variant: str,
        ms: float,
        error: bool,
        queries: int,
        sql_ms: float,
        size: int,
        slow: Slow | None,
        now: float,
    ) -> None:
        """Count one request in the current five-minute slot and hour."""
        key = row_key(route, method, variant)
        bucket = FIRST_BUCKET + bucket_index(ms)
        with self.lock:
            for size_s in (SHORT, HOUR):
                slot = self.slots.get((size_s, slot_start(now, size_s)))
                if slot is None:
                    slot = self.slots[(size_s, slot_start(now, size_s))] = ProcessSlot()
                row = slot.rows.get(key)
                if row is None:
                    row = slot.rows[key] = [0.0] * ROW_LEN
                row[COUNT] += 1
                row[ERRORS] += error
                row[TOTAL_MS] += ms
                row[QUERIES] += queries
                row[SQL_MS] += sql_ms
                row[BYTES] += size
                row[bucket] += 1
                if slow is not None:
                    self.seq += 1
                    item = (slow.ms, self.seq, slow)
                    if len(slot.slow) < SLOWEST_KEPT:
                        heapq.heappush(slot.slow, item)
                    else:
                        heapq.heappushpop(slot.slow, item)
                slot.dirty = True

    def note_process(self, **figures: Any) -> None:
        """Remember this process's latest memory, CPU and memo counters (written with the next flush)."""
        self.process.update(figures)

    def maybe_flush(self, now: float) -> None:
        """Flush when FLUSH_SECONDS have passed since the last flush."""
        if now >= self.next_flush:
            self.flush(now)

    def flush(self, now: float) -> bool:
        """Write every changed slot of this process; drop slots that ended; return False when the cache is down."""
        self.next_flush = now + FLUSH_SECONDS
        with self.lock:
            dirty = [(k, s) for k, s in self.slots.items() if s.dirty]
            if not dirty and self.process:
                # No request since the last flush: the memory figures still go out with the current slot.
                key = (SHORT, slot_start(now, SHORT))
                slot = self.slots.setdefault(key, ProcessSlot())
                dirty = [(key, slot)]
            payloads = []
            for (size, start), slot in dirty:
                slot.dirty = False
                payloads.append(
                    (
                        size,
                        start,
                        slot,
                        {
                            "pid": self.pid or os.getpid(),
                            "role": self.role,
                            "at": now,
                            "process": dict(self.process),
                            "rows": {k: list(v) for k, v in slot.rows.items()},
                            "slow": [s.__dict__ for _ms, _seq, s in slot.slow],
                        },
                    )
                )
            for key in [k for k in self.slots if k[1] + k[0] < now - k[0]]:
                del self.slots[key]
        try:
            for size, start, slot, blob in payloads:
                if slot.index is None:
                    slot.index = sharedcache.count_in_window(_count_key(size, start), KEEP[size])
                sharedcache.set_value(_blob_key(size, start, slot.index), blob, KEEP[size])
                if size == SHORT:  # the process's figures alone, for the perf page's process table
                    figures = {k: blob[k] for k in ("pid", "role", "at", "process")}
                    sharedcache.set_value(_process_key(start, slot.index), figures, KEEP[size])
        except CacheDown:
            for _size, _start, slot, _blob in payloads:
                slot.dirty = True
            return False
        return True

    def reset(self) -> None:
        """Forget every slot (tests)."""
        with self.lock:
            self.slots.clear()
            self.process.clear()
            self.next_flush = 0.0


web = Recorder("web")


def read_blobs(size: int, starts: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Return every process's blob for these slots, per slot start (two MGETs)."""
    starts = list(starts)
    try:
        counts = sharedcache.get_many([_count_key(size, s) for s in starts])
        keyed = [
            (s, _blob_key(size, s, i)) for s in starts for i in range(1, int(counts.get(_count_key(size, s), 0)) + 1)
        ]
        got = sharedcache.get_many([k for _s, k in keyed]) if keyed else {}
    except CacheDown:
        return {}
    out: dict[int, list[dict[str, Any]]] = {s: [] for s in starts}
    for start, key in keyed:
        if key in got:
            out[start].append(got[key])
    return out


def _process_key(start: int, index: int) -> str:
    return f"perf:p:{start}:{index}"


def _merged_key(size: int, start: int) -> str:
    return f"perf:m:{size}:{start}"


def _range_key(size: int, first: int, last: int) -> str:
    return f"perf:r:{size}:{first}:{last}"


def _starts(now: float, seconds: int, size: int) -> list[int]:
    """Return the starts of the `size` slots covering the last `seconds` (the open slot last)."""
    first = slot_start(now - seconds, size) + (size if seconds % size == 0 else 0)
    return list(range(first, slot_start(now, size) + size, size))


def segments(now: float, seconds: int) -> list[tuple[int, list[int]]]:
    """Return (slot size, slot starts) covering the last `seconds`.

    Up to two hours: five-minute slots. Beyond: the hour slots before the current hour, then the current hour's
    five-minute slots, so the open slot of every window is the same five-minute slot (read once per page).
    """
    if seconds <= 2 * HOUR:
        return [(SHORT, _starts(now, seconds, SHORT))]
    hour_now = slot_start(now, HOUR)
    hours = [s for s in _starts(now, seconds, HOUR) if s < hour_now]
    return [(HOUR, hours), (SHORT, list(range(hour_now, slot_start(now, SHORT) + SHORT, SHORT)))]


def combine(blobs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return one blob holding these blobs' rows summed, their slowest requests and their latest time."""
    return {"rows": merge_rows(blobs), "slow": slowest(blobs), "at": max((b.get("at", 0) for b in blobs), default=0)}


def _closed_slots(size: int, starts: list[int]) -> list[dict[str, Any]]:
    """Return one merged blob per closed slot: merged once, by whichever reader comes first, then shared."""
    try:
        merged = sharedcache.get_many([_merged_key(size, s) for s in starts])
    except CacheDown:
        merged = {}
    out = [merged[_merged_key(size, s)] for s in starts if _merged_key(size, s) in merged]
    for start, blobs in read_blobs(size, [s for s in starts if _merged_key(size, s) not in merged]).items():
        blob = combine(blobs)
        with contextlib.suppress(CacheDown):
            sharedcache.set_value(_merged_key(size, start), blob, KEEP[size])
        out.append(blob)
    return out


def _closed_range(size: int, starts: list[int]) -> dict[str, Any]:
    """Return the closed slots `starts` (contiguous) merged into one blob, and share it until the window moves."""
    blob = combine(_closed_slots(size, starts))
    with contextlib.suppress(CacheDown):
        # The window moves on when the next slot closes: a range key is read for one slot's length at most.
        sharedcache.set_value(_range_key(size, starts[0], starts[-1]), blob, 2 * size)
    return blob


def snapshot(
    now: float, spans: list[int], process_seconds: int = 900
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Return, per span of seconds, a few blobs whose rows together cover the last `span` seconds, and the latest
    figures of each process that flushed in the last `process_seconds`: everything /perf/ reads, in two MGETs
    when the ranges exist.

    A slot that ended SETTLE_SECONDS ago receives no more flushes. A window's closed slots are merged once, by
    whichever reader comes first, into one shared range blob (per slot size), so a page view reads one blob per
    window and slot size, however many slots and processes wrote it; only the open slots are read per process,
    and each open slot is read and merged once for every span.
    """
    plans: list[list[str | tuple[int, int]]] = []
    ranges: dict[str, tuple[int, list[int]]] = {}
    open_slots: dict[tuple[int, int], str] = {}
    for seconds in spans:
        parts: list[str | tuple[int, int]] = []
        for size, starts in segments(now, seconds):
            closed = [s for s in starts if s + size + SETTLE_SECONDS <= now]
            if closed:
                key = _range_key(size, closed[0], closed[-1])
                ranges[key] = (size, closed)
                parts.append(key)
            for start in starts[len(closed) :]:
                open_slots[(size, start)] = _count_key(size, start)
                parts.append((size, start))
        plans.append(parts)
    process_starts = range(slot_start(now - process_seconds, SHORT), slot_start(now, SHORT) + SHORT, SHORT)
    process_slots = {s: _count_key(SHORT, s) for s in process_starts} if process_seconds > 0 else {}
    try:
        got = sharedcache.get_many(list(dict.fromkeys([*ranges, *open_slots.values(), *process_slots.values()])))
        keyed = [
            (slot, _blob_key(slot[0], slot[1], i))
            for slot, count_key in open_slots.items()
            for i in range(1, int(got.get(count_key, 0)) + 1)
        ]
        process_keys = [
            _process_key(s, i)
            for s, count_key in process_slots.items()
            for i in range(1, int(got.get(count_key, 0)) + 1)
        ]
        second = sharedcache.get_many([*(k for _slot, k in keyed), *process_keys]) if keyed or process_keys else {}
    except CacheDown:
        return [[] for _ in spans], []
    per_slot: dict[tuple[int, int], list[dict[str, Any]]] = {slot: [] for slot in open_slots}
    for slot, key in keyed:
        if key in second:
            per_slot[slot].append(second[key])
    found: dict[str | tuple[int, int], dict[str, Any]] = {slot: combine(b) for slot, b in per_slot.items()}
    for key, (size, starts) in ranges.items():
        found[key] = got[key] if key in got else _closed_range(size, starts)
    figures = (second[k] for k in process_keys if k in second)
    processes = latest_processes(b for b in figures if now - b.get("at", 0) < process_seconds and b.get("process"))
    return [[found[part] for part in parts] for parts in plans], processes


def windows(now: float, spans: list[int]) -> list[list[dict[str, Any]]]:
    """Return, per span of seconds, a few blobs whose rows together cover the last `span` seconds (see snapshot)."""
    return snapshot(now, spans, process_seconds=0)[0]


def window(now: float, seconds: int) -> list[dict[str, Any]]:
    """Return blobs whose rows together cover the last `seconds` (see snapshot)."""
    return windows(now, [seconds])[0]


def recent_processes(now: float, seconds: int = 900) -> list[dict[str, Any]]:
    """Return the latest figures of each process that flushed in the last `seconds`."""
    return snapshot(now, [], seconds)[1]


def merge_rows(blobs: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Return the rows of these blobs summed per route|method|variant."""
    grouped: dict[str, list[list[float]]] = {}
    for blob in blobs:
        for key, row in blob.get("rows", {}).items():
            grouped.setdefault(key, []).append(row)
    # Column sums in C (sum over zip) rather than one Python addition per value: the perf page's main cost.
    return {key: [sum(column) for column in zip(*rows, strict=True)] for key, rows in grouped.items()}


def percentile(row: list[float], q: float) -> float:
    """Return the q-quantile (0..1) in ms from a row's histogram, interpolating inside its bucket."""
    total = row[COUNT]
    if total <= 0:
        return 0.0
    rank = q * total
    seen = 0.0
    for i, n in enumerate(row[FIRST_BUCKET:ROW_LEN]):
        if n and seen + n >= rank:
            low = BUCKETS_MS[i - 1] if i > 0 else 0.0
            high = BUCKETS_MS[i] if i < len(BUCKETS_MS) else BUCKETS_MS[-1] * 2
            return low + (high - low) * ((rank - seen) / n)
        seen += n
    return BUCKETS_MS[-1] * 2


def slowest(blobs: Iterable[Mapping[str, Any]], limit: int = SLOWEST_KEPT) -> list[dict[str, Any]]:
    """Return the slowest requests recorded in these blobs, slowest first."""
    items = [s for blob in blobs for s in blob.get("slow", [])]
    return heapq.nlargest(limit, items, key=lambda s: s["ms"])


def latest_processes(blobs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return the latest figures of each process (pid, role, memory, CPU, memo counters) seen in these blobs."""
    latest: dict[int, Mapping[str, Any]] = {}
    for blob in blobs:
        pid = int(blob.get("pid", 0))
        if pid not in latest or blob.get("at", 0) > latest[pid].get("at", 0):
            latest[pid] = blob
    return sorted(
        (
            {"pid": pid, "role": b.get("role", "?"), "at": b.get("at", 0), **b.get("process", {})}
            for pid, b in latest.items()
        ),
        key=lambda p: (p["role"], p["pid"]),
    )


def now() -> float:
    """Return the wall clock (a function so tests can pin it)."""
    return time.time()
