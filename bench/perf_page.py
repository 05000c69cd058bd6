"""Cost of the staff performance page (/perf/) with a day of rollups from several processes.

`python bench/perf_page.py [--processes 8] [--routes 60]`: fills the shared cache (local memory, this process)
with the rollups `--processes` web processes would write over the last 24 hours for `--routes` routes (every
minute of the last hour, every hour of the day), then times GET /perf/ as a staff user: the page's own build
time and the request's Server-Timing total, median of 30. The page reads no issue table, so the number of issues
does not enter; the database holds none here. With REDIS_URL set the rollups go to Redis (as in production; use a
CACHE_KEY_PREFIX of its own: the run deletes its `perf:*` keys when it ends). `--profile` prints where the view's
time goes (cProfile of five GET /perf/, by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import check  # noqa: E402
from bench._common import machine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--routes", type=int, default=60)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="print where the view's time goes (cProfile)")
    args = parser.parse_args()
    check.setup("bench_perf_page")
    from taskra_site import sharedcache  # after check.setup(): Django is configured there

    try:
        _run(args)
    finally:
        if not sharedcache.is_process_local():
            sharedcache.backend().delete_pattern("perf:*")  # django-redis: this run's prefix only


def _run(args: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from perf import rollups
    from perf.views import perf_context
    from taskra_site import sharedcache

    rng = random.Random(1)
    now = rollups.now()
    routes = [f"app{i % 6}:route{i}" for i in range(args.routes)]
    for p in range(args.processes):
        recorder = rollups.Recorder("web", pid=100_000 + p)
        recorder.note_process(rss=200 * 2**20, cpu=100.0, lru_hits=900, lru_misses=100, role_hits=50, role_misses=5)
        for minute in range(24 * 60, -1, -1):
            at = now - minute * 60
            # Every route gets requests each minute of the last hour; the rest of the day, a route per minute.
            chosen = routes if minute <= 60 else [routes[minute % len(routes)]]
            for route in chosen:
                ms = rng.lognormvariate(3, 1)
                recorder.add(route=route, method="GET", variant="-", ms=ms, error=False, queries=4, sql_ms=ms / 3,
                             size=20000, slow=None, now=at)  # fmt: skip
            recorder.flush(at)
    staff = get_user_model().objects.create_superuser("perfbench", "perf@example.com", "perf-bench-pass")
    client = Client()
    client.force_login(staff)
    built, totals, request_cpu = [], [], []
    cold = client.get("/perf/")  # the first view merges the closed slots into the shared range blobs
    cold_total = float(re.search(r"total;dur=([0-9.]+)", cold["Server-Timing"]).group(1))  # type: ignore[union-attr]
    for _ in range(args.runs + 3):
        cpu_started = time.process_time()
        response = client.get("/perf/")
        request_cpu.append((time.process_time() - cpu_started) * 1000)
        assert response.status_code == 200
        text = response.content.decode()
        built.append(float(re.search(r"Built in ([0-9.]+) ms", text).group(1)))  # type: ignore[union-attr]
        totals.append(float(re.search(r"total;dur=([0-9.]+)", response["Server-Timing"]).group(1)))  # type: ignore[union-attr]
    built, totals, request_cpu = built[3:], totals[3:], request_cpu[3:]
    # CPU time of building the context alone: on a machine shared with other work, wall time includes waiting.
    cpu = []
    for _ in range(args.runs):
        started = time.process_time()
        perf_context(rollups.now())
        cpu.append((time.process_time() - started) * 1000)
    # The view after a window moved on (a slot closed): the range blobs are rebuilt from the merged slots, once
    # per five minutes for everybody. Simulated by deleting the range keys; median of a few.
    moved = []
    for _ in range(5):
        now = rollups.now()
        keys = []
        for span in (rollups.HOUR, 86400):
            for size, starts in rollups.segments(now, span):
                closed = [s for s in starts if s + size + rollups.SETTLE_SECONDS <= now]
                if closed:
                    keys.append(f"perf:r:{size}:{closed[0]}:{closed[-1]}")
        sharedcache.delete_many(keys)
        response = client.get("/perf/")
        moved.append(float(re.search(r"total;dur=([0-9.]+)", response["Server-Timing"]).group(1)))  # type: ignore[union-attr]
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            client.get("/perf/")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    print(f"machine: {machine()} (shared with other agents: figures are noisy)")
    print(
        f"{args.processes} processes x {args.routes} routes, a day of rollups: /perf/ built in "
        f"{statistics.median(built):.1f} ms (median of {args.runs}; min {min(built):.1f}, max {max(built):.1f}), "
        f"whole request {statistics.median(totals):.1f} ms (Server-Timing total; min {min(totals):.1f}), "
        f"its CPU time {statistics.median(request_cpu):.1f} ms (median; min {min(request_cpu):.1f}); "
        f"CPU time of the context {statistics.median(cpu):.1f} ms (median; min {min(cpu):.1f}); "
        f"first view {cold_total:.1f} ms; after a slot closed {statistics.median(moved):.1f} ms; "
        f"cache: {'local memory' if sharedcache.is_process_local() else 'Redis'}"
    )


if __name__ == "__main__":
    main()
