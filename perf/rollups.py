"""Per-minute and per-hour rollups of the request metrics in the shared cache: what /perf/ reads.

Each process adds its requests to in-memory slots (one per minute and one per hour) and writes each slot it
changed as one blob of its own at most every FLUSH_SECONDS; a process claims its index within a slot with an
atomic counter, so no two processes overwrite each other and /perf/ reads them all with two MGETs. Nothing here
touches the database. Works on Redis and on the local-memory cache (then it sees this process only).
"""

from __future__ import annotations

import bisect
import heapq
import os
import threading
import time
from collections.abc import Iterable, Mapping
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
MINUTE, HOUR = 60, 3600
FLUSH_SECONDS = 5.0
SLOWEST_KEPT = 10
KEEP = {MINUTE: 2 * HOUR + 300, HOUR: 2 * 86400 + 3600}


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
    """This process's figures for one slot (a minute or an hour)."""

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
        """Count one request in the current minute and hour."""
        key = row_key(route, method, variant)
        bucket = FIRST_BUCKET + bucket_index(ms)
        with self.lock:
            for size_s in (MINUTE, HOUR):
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
                # No request since the last flush: the memory figures still go out with the current minute.
                key = (MINUTE, slot_start(now, MINUTE))
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


def read_blobs(size: int, starts: Iterable[int]) -> list[dict[str, Any]]:
    """Return every process's blob for these slots (two MGETs)."""
    starts = list(starts)
    try:
        counts = sharedcache.get_many([_count_key(size, s) for s in starts])
        keys = [_blob_key(size, s, i) for s in starts for i in range(1, int(counts.get(_count_key(size, s), 0)) + 1)]
        got = sharedcache.get_many(keys) if keys else {}
    except CacheDown:
        return []
    return [got[k] for k in keys if k in got]


def window(now: float, seconds: int) -> list[dict[str, Any]]:
    """Return the blobs covering the last `seconds` (minute slots up to two hours, hour slots beyond)."""
    size = MINUTE if seconds <= 2 * HOUR else HOUR
    first = slot_start(now - seconds, size) + (size if seconds % size == 0 else 0)
    return read_blobs(size, range(first, slot_start(now, size) + size, size))


def merge_rows(blobs: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Return the rows of these blobs summed per route|method|variant."""
    out: dict[str, list[float]] = {}
    for blob in blobs:
        for key, row in blob.get("rows", {}).items():
            acc = out.setdefault(key, [0.0] * ROW_LEN)
            for i, value in enumerate(row[:ROW_LEN]):
                acc[i] += value
    return out


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
