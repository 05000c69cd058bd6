"""The perf page's rollups (perf/rollups.py): windows cover every process's requests once, past slots are merged
once into shared range blobs, and a slot still receiving flushes is read per process.

No persona: recorders stand in for web processes; the clock is pinned (every `now` is passed in).
"""

from __future__ import annotations

import random
import uuid

import pytest

from perf import rollups
from taskra_site import sharedcache

# A pinned clock: 2027-01-15 08:32:03 UTC, 123 s into a five-minute slot, half an hour into an hour slot.
NOW = 1_800_000_000.0 + 1800 + 123
DAY = 86400


@pytest.fixture(autouse=True)
def _own_cache(settings):
    # A local-memory cache of this test alone: rollup keys are per time slot and would outlive the test in Redis.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"rollups-{uuid.uuid4()}",
            "OPTIONS": {"MAX_ENTRIES": 100_000},  # a day of slots: none culled
        }
    }


def _record(recorder: rollups.Recorder, at: float, route: str, ms: float) -> None:
    recorder.add(
        route=route, method="GET", variant="-", ms=ms, error=False, queries=2, sql_ms=1.0, size=100, slow=None, now=at
    )
    recorder.flush(at)


def _counts(blobs: list[dict]) -> dict[str, int]:
    return {rollups.split_key(k)[0]: int(row[rollups.COUNT]) for k, row in rollups.merge_rows(blobs).items()}


def _fill(processes: int = 3) -> list[tuple[float, str]]:
    """Record requests of several processes over the last 26 hours; return (time, route) of each."""
    rng = random.Random(7)
    seen = []
    for p in range(processes):
        recorder = rollups.Recorder("web", pid=1000 + p)
        for minute in range(26 * 60, -1, -7):
            at = NOW - minute * 60 - rng.random()
            route = f"r{rng.randrange(4)}"
            _record(recorder, at, route, rng.lognormvariate(3, 1))
            seen.append((at, route))
    return seen


def _expected(seen: list[tuple[float, str]], since: float) -> dict[str, int]:
    out: dict[str, int] = {}
    for at, route in seen:
        if at >= since:
            out[route] = out.get(route, 0) + 1
    return out


def test_hour_and_day_windows_count_every_request_of_every_process_once():
    seen = _fill()
    hour, day = rollups.windows(NOW, [rollups.HOUR, DAY])
    # The hour: whole five-minute slots after the one an hour ago; the day: whole hours after the one a day ago.
    assert _counts(hour) == _expected(seen, rollups.slot_start(NOW - rollups.HOUR, rollups.SHORT) + rollups.SHORT)
    assert _counts(day) == _expected(seen, rollups.slot_start(NOW - DAY, rollups.HOUR) + rollups.HOUR)
    # A window is a few blobs, not one per slot and process: the past merged into one range per slot size,
    # the open five-minute slot merged across processes.
    assert len(hour) == 2 and len(day) == 3
    assert rollups.window(NOW, rollups.HOUR)[0] == hour[0]


def test_past_slots_are_read_from_the_shared_range_once_merged():
    seen = _fill()
    first = rollups.windows(NOW, [rollups.HOUR, DAY])
    # Drop every process's own blobs of the closed slots: the next view reads the merged ranges instead.
    for size, starts in rollups.segments(NOW, DAY) + rollups.segments(NOW, rollups.HOUR):
        closed = [s for s in starts if s + size + rollups.SETTLE_SECONDS <= NOW]
        for start in closed:
            sharedcache.backend().delete_many([f"perf:b:{size}:{start}:{i}" for i in range(1, 4)])
            sharedcache.backend().delete(f"perf:m:{size}:{start}")
    again = rollups.windows(NOW, [rollups.HOUR, DAY])
    assert [_counts(w) for w in again] == [_counts(w) for w in first]
    assert _counts(again[1]) == _expected(seen, rollups.slot_start(NOW - DAY, rollups.HOUR) + rollups.HOUR)


def test_a_slot_still_receiving_flushes_is_read_per_process_then_merged_when_settled():
    end = rollups.slot_start(NOW, rollups.SHORT)  # the previous five-minute slot ended here
    late = rollups.Recorder("web", pid=2000)
    _record(late, end - 1, "late", 10.0)
    soon = end + rollups.FLUSH_SECONDS
    assert _counts(rollups.window(soon, rollups.HOUR)) == {"late": 1}
    late.add(route="late", method="GET", variant="-", ms=10.0, error=False, queries=0, sql_ms=0.0, size=0, slow=None,
             now=end - 0.5)  # fmt: skip
    late.flush(soon + 1)  # a flush a few seconds after the slot ended, before it settled
    settled = end + rollups.SETTLE_SECONDS + 1
    assert _counts(rollups.window(settled, rollups.HOUR)) == {"late": 2}


def test_slowest_requests_of_the_hour_come_through_the_merged_ranges():
    recorder = rollups.Recorder("web", pid=3000)
    for minutes, ms in ((50, 900.0), (20, 1500.0), (1, 1200.0)):
        at = NOW - minutes * 60
        slow = rollups.Slow(ms=ms, route="r", method="GET", queries=1, slowest_sql="SELECT 1", slowest_ms=1, at=at)
        recorder.add(route="r", method="GET", variant="-", ms=ms, error=False, queries=1, sql_ms=1.0, size=0,
                     slow=slow, now=at)  # fmt: skip
        recorder.flush(at)
    hour = rollups.window(NOW, rollups.HOUR)
    assert [s["ms"] for s in rollups.slowest(hour)] == [1500.0, 1200.0, 900.0]


def test_process_figures_of_the_last_quarter_hour_come_with_the_windows():
    recent = rollups.Recorder("web", pid=4000)
    recent.note_process(rss=100 * 2**20, cpu=1.5)
    _record(recent, NOW - 60, "r", 5.0)
    gone = rollups.Recorder("web", pid=4001)  # last flushed 50 minutes ago
    gone.note_process(rss=100 * 2**20, cpu=1.0)
    _record(gone, NOW - 3000, "r", 5.0)
    (hour,), processes = rollups.snapshot(NOW, [rollups.HOUR])
    assert [(p["pid"], p["cpu"]) for p in processes] == [(4000, 1.5)]
    assert _counts(hour) == {"r": 2}
    assert rollups.recent_processes(NOW) == processes
