"""The issue page (/browse/KEY) at scale: floor, uncached misses and Zipf hits, interleaved in one process.

Runs against an already seeded database (seed_demo; e.g. the 1,000,000-issue bench copy) on PostgreSQL and
Redis, through Django's full request handling in this process (the test client, one logged-in member of every
project). Each round times, in turn:

- floor: GET /accounts/login/ of a signed-in user (a 302): the trivial page every ratio is taken against;
- miss: GET /browse/KEY of a key drawn uniformly over every issue and never requested before in the run (cold
  in the shared page cache, the in-process issue LRU and PostgreSQL's plan of nothing in particular);
- nocache: the same with the page cache off (TASKRA_PAGE_CACHE=False), a fresh uniform key: what a miss
  costs without any cache work;
- hot: GET /browse/KEY of one of the 100 hottest keys (warmed first): a page-cache hit, the cost every cached
  issue page pays beyond the floor;
- zipf: GET /browse/KEY of a key drawn by Zipf s=1.2 over 100,000 ranks, hot issues spread over every
  project as bench/locustfile.py does, after a warm-up of the same draws (mostly hits, as under load).

It prints the median and p95 of each journey and their ratios to the floor's, then one JSON line.
--profile hot|miss|zipf|nocache|floor prints a cProfile of that journey instead; --queries prints the SQL (with time)
of one request of each journey, and of a cached page whose row left the in-process LRU.

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_issuepage_1m REDIS_URL=redis://127.0.0.1:6379/4 \\
  CACHE_KEY_PREFIX=issuepage .venv/bin/python bench/issue_page.py --rounds 300
"""

from __future__ import annotations

import argparse
import bisect
import cProfile
import gc
import io
import itertools
import json
import os
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, setup_django  # noqa: E402

ZIPF_S = 1.2
ZIPF_RANKS = 100_000
HOT_KEYS = 100
JOURNEYS = ("floor", "hot", "miss", "nocache", "zipf")


class Keys:
    """Issue keys of the seeded data: uniform draws never repeated, and Zipf draws as bench/locustfile.py makes them."""

    def __init__(self, projects: list[tuple[str, int]], seed: int) -> None:
        self.projects = [(k, n) for k, n in projects if n > 0]
        self.cumulative = list(itertools.accumulate(n for _, n in self.projects))
        self.total = self.cumulative[-1]
        ranks = min(self.total, ZIPF_RANKS)
        self.zipf_cdf = list(itertools.accumulate(1 / (r**ZIPF_S) for r in range(1, ranks + 1)))
        self.rng = random.Random(seed)
        self.used: set[int] = set()

    def key_at(self, index: int) -> str:
        p = bisect.bisect_right(self.cumulative, index)
        start = self.cumulative[p - 1] if p else 0
        return f"{self.projects[p][0]}-{index - start + 1}"

    def zipf_index(self) -> int:
        rank = bisect.bisect_left(self.zipf_cdf, self.rng.random() * self.zipf_cdf[-1]) + 1
        return (rank * 2_654_435_761 + 97) % self.total

    def hot(self) -> str:
        """Return one of the HOT_KEYS most popular keys (bench/locustfile.py's "100 hot keys" journey)."""
        return self.key_at((self.rng.randrange(HOT_KEYS) * 2_654_435_761 + 97) % self.total)

    def zipf(self) -> str:
        index = self.zipf_index()
        self.used.add(index)
        return self.key_at(index)

    def fresh(self) -> str:
        """Return a key never drawn before in this run (cold everywhere)."""
        while True:
            index = self.rng.randrange(self.total)
            if index not in self.used:
                self.used.add(index)
                return self.key_at(index)


def setup(args: argparse.Namespace) -> tuple[Any, Keys]:
    os.environ["HTTPS"] = "0"  # the in-process client speaks plain HTTP
    setup_django("bench_issue_page")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from issues import pagecache
    from issues.models import Membership, Project, Role

    if not os.environ.get("REDIS_URL"):
        sys.exit("bench/issue_page.py needs Redis: set REDIS_URL")
    settings.TASKRA_PAGE_REFRESH = False  # no Celery worker here: reads only
    projects = list(Project.objects.order_by("id").values_list("id", "key", "issue_counter"))
    if not projects:
        sys.exit("the database holds no projects: run manage.py seed_demo first")
    User = get_user_model()
    user = User.objects.filter(username=args.username).first()
    if user is None:  # a member of the first project, as bench/load.py picks its people
        user = (
            User.objects.filter(memberships__project_id=projects[0][0], is_active=True)
            .exclude(memberships__role=Role.VIEWER)
            .order_by("id")
            .first()
        )
    if user is None:
        sys.exit("no member of the first project to read as: name one with --username")
    # A member of every project (what bench/load.py gives its people), so every key is a page, not a 404.
    Membership.objects.bulk_create(
        [Membership(project_id=pid, user=user, role=Role.MEMBER) for pid, _, _ in projects], ignore_conflicts=True
    )
    pagecache.invalidate_all()  # every earlier run's entries are stale: misses are misses
    client = Client()
    client.force_login(user)
    print(f"user {user.username}; {len(projects)} projects", flush=True)
    return client, Keys([(k, n) for _, k, n in projects], args.seed)


def request(client: Any, journey: str, keys: Keys) -> Callable[[], Any]:
    """Return a function making one request of the journey (the key is drawn outside the timed call)."""
    from django.test import override_settings

    if journey == "floor":
        return lambda: _get(client, "/accounts/login/", 302)
    if journey in ("zipf", "hot"):
        path = f"/browse/{keys.zipf() if journey == 'zipf' else keys.hot()}"
        return lambda: _get(client, path, 200)
    path = f"/browse/{keys.fresh()}"
    if journey == "nocache":

        def uncached() -> None:
            with override_settings(TASKRA_PAGE_CACHE=False):
                _get(client, path, 200)

        return uncached
    return lambda: _get(client, path, 200)


def _get(client: Any, path: str, status: int) -> None:
    response = client.get(path)
    if response.status_code != status:
        raise SystemExit(f"GET {path}: HTTP {response.status_code}, expected {status}")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run(client: Any, keys: Keys, args: argparse.Namespace) -> dict[str, Any]:
    for _ in range(args.warmup):
        request(client, "zipf", keys)()
    for _ in range(3 * HOT_KEYS):
        request(client, "hot", keys)()
    for journey in ("floor", "miss", "nocache"):
        for _ in range(3):
            request(client, journey, keys)()
    samples: dict[str, list[float]] = {j: [] for j in JOURNEYS}
    # This process's CPU time per request: less at the mercy of the machine's other load than the wall time (but
    # without PostgreSQL's and Redis's share).
    cpu: dict[str, list[float]] = {j: [] for j in JOURNEYS}
    for _ in range(args.rounds):
        for journey in JOURNEYS:
            call = request(client, journey, keys)
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            samples[journey].append(time.perf_counter() - start)
            cpu[journey].append(time.process_time() - start_cpu)
    floor_median, floor_p95 = statistics.median(samples["floor"]), p95(samples["floor"])
    result: dict[str, Any] = {"rounds": args.rounds, "warmup": args.warmup}
    print(
        f"{'journey':<8} {'median ms':>10} {'p95 ms':>8} {'x floor (median)':>17} {'x floor (p95)':>14} "
        f"{'CPU ms (median)':>16}"
    )
    for journey, values in samples.items():
        median, high, cpu_median = statistics.median(values), p95(values), statistics.median(cpu[journey])
        result[journey] = {
            "median_ms": round(median * 1000, 2),
            "p95_ms": round(high * 1000, 2),
            "ratio_median": round(median / floor_median, 2),
            "ratio_p95": round(high / floor_p95, 2),
            "cpu_median_ms": round(cpu_median * 1000, 2),
        }
        print(
            f"{journey:<8} {median * 1000:>10.2f} {high * 1000:>8.2f} "
            f"{median / floor_median:>17.2f} {high / floor_p95:>14.2f} {cpu_median * 1000:>16.2f}"
        )
    return result


def profile(client: Any, keys: Keys, args: argparse.Namespace) -> None:
    for _ in range(args.warmup):
        request(client, "zipf", keys)()
    for _ in range(3 * HOT_KEYS):
        request(client, "hot", keys)()
    calls = [request(client, args.profile, keys) for _ in range(args.rounds)]
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for call in calls:
        call()
    profiler.disable()
    print(f"{args.profile}: {(time.perf_counter() - start) * 1000 / len(calls):.2f} ms per request (profiled)")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    print(out.getvalue())


def queries(client: Any, keys: Keys, args: argparse.Namespace) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(args.warmup):
        request(client, "zipf", keys)()
    for journey in ("miss", "zipf", "nocache"):
        call = request(client, journey, keys)
        with CaptureQueriesContext(connection) as ctx:
            call()
        print(f"--- {journey}: {len(ctx.captured_queries)} queries")
        for q in ctx.captured_queries:
            print(f"{float(q['time']) * 1000:7.2f} ms  {q['sql'][:400]}")
    # A fully cached page whose row left the row LRU (this process's heads kept, then forgotten too: another worker).
    from issues.issuepage import cached

    for case in ("row LRU cleared", "row LRU and heads cleared"):
        path = f"/browse/{keys.fresh()}"
        for _ in range(2):
            _get(client, path, 200)
        cached.issue_lru.clear()
        if case != "row LRU cleared":
            getattr(cached, "issue_heads", cached.issue_lru).clear()
        with CaptureQueriesContext(connection) as ctx:
            _get(client, path, 200)
        print(f"--- cached page, {case}: {len(ctx.captured_queries)} queries")
        for q in ctx.captured_queries:
            print(f"{float(q['time']) * 1000:7.2f} ms  {q['sql'][:120]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200, help="interleaved rounds (default 200)")
    parser.add_argument("--warmup", type=int, default=1000, help="Zipf requests before timing (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--username", default="", help="who reads (default: the first member of the first project)")
    parser.add_argument(
        "--profile", choices=("hot", "miss", "zipf", "nocache", "floor"), help="cProfile --rounds requests instead"
    )
    parser.add_argument("--queries", action="store_true", help="print the SQL of one request of each journey")
    args = parser.parse_args()
    client, keys = setup(args)
    print(f"{machine()}; load average {os.getloadavg()[0]:.2f}; {keys.total:,} issues", flush=True)
    if args.profile:
        profile(client, keys, args)
    elif args.queries:
        queries(client, keys, args)
    else:
        result = run(client, keys, args)
        result["load_average"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
