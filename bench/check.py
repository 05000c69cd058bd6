"""CI benchmark check (`make bench-check`): quick, paired ratios of each benchmark against thresholds.

Every figure is a ratio measured in this run, never an absolute time (CI machines are shared and noisy): each
round times the optimised path and its baseline back to back, alternating which goes first, and the ratio of a
round is contender / baseline. A ratio's value is the median over the rounds; its noise is the half-width of the
median's 95% notch (1.58 * IQR / sqrt(rounds)). A check fails when even the low end of that interval exceeds the
ratio's `max` in bench/thresholds.toml: a regression beyond noise. Lower is better for every ratio.

Quick modes, on a scratch SQLite database seeded here (var/bench_check.sqlite3, or DATABASE_URL):
- adapters: a page of 50 issues through the trusted and the validated adapter vs `.values()` + orjson;
- cache: the cached issue page and navigator page vs the same pages with the page cache off (server time);
- api: the Jira search page (maxResults=50, *all) vs a `.values()` + orjson floor of the same rows;
- metrics: the cached issue page with the perf middleware vs without it (its overhead; docs/benchmarks);
- imports: 10,000 issues imported in process vs bulk_create of the same issue rows (--only imports, or all);
- load: bench/load.py's quick mode (`quick_ratios()`): gunicorn with 2 workers and Locust headless for 45 s on
  BENCH_LOAD_DATABASE_URL (PostgreSQL, seeded once with 2,000 issues) and BENCH_LOAD_REDIS_URL; each journey's p50
  and p95 over the floor journey's, per time round of the run (`load.<journey>.p50`), and the share of failed
  requests. Without those URLs it is skipped, except under CI=true where that fails (.ci/run sets them).

Each run appends one JSON line to var/bench/history.jsonl; `make bench-report` draws the trend.
Test hooks: TASKRA_BENCH_SLOW_ADAPTER=F makes the adapter contenders spin F times their fastest duration, so the
adapter ratios grow about (1+F)-fold and the check must fail (perf/tests/test_bench_check.py); TASKRA_BENCH_SLOW_PATH
and TASKRA_BENCH_SLOW_MS hold the load run's requests under a path in gunicorn (bench/gunicorn_bench.py), so those
journeys' ratios grow and the check must fail (perf/tests/test_bench_load.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
THRESHOLDS = BASE_DIR / "bench" / "thresholds.toml"
CHECKS = ("adapters", "cache", "api", "metrics", "imports", "load")
# The hook for the Locust load harness (bench/load.py, written by helper "perf-data"): a function returning
# {name: ratio} measured in one quick run; its ratios are checked like the others when thresholds name them.
LOAD_HOOK = ("bench.load", "quick_ratios")
IMPORT_PROJECT = "BENCH"  # the project key of bench/imports.py's generated export


def setup(db_name: str) -> None:
    """Point Django at a fresh scratch database and set it up (page cache on, in this one process)."""
    if not os.environ.get("DATABASE_URL"):
        path = BASE_DIR / "var" / f"{db_name}.sqlite3"
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["DEBUG"] = "0"
    os.environ["HTTPS"] = "0"  # the in-process client speaks plain HTTP
    os.environ["TASKRA_PAGE_CACHE"] = "1"  # one process: the local-memory cache is coherent
    os.environ["TASKRA_PAGE_REFRESH"] = "0"
    os.environ.setdefault("CACHE_KEY_PREFIX", f"bench-check-{os.getpid()}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    settings.TASKRA_API_RATE_LIMIT = 10**9
    settings.TASKRA_SLOW_REQUEST_MS = 10**9  # no slow-request log lines in the output
    call_command("migrate", verbosity=0, interactive=False)


class Ratio:
    """Per-round contender/baseline ratios of one comparison."""

    def __init__(self, name: str, rounds: list[float]) -> None:
        if not rounds:
            raise ValueError(f"{name}: no round gave a ratio")
        self.name = name
        self.rounds = rounds
        self.median = statistics.median(rounds)
        q = statistics.quantiles(rounds, n=4) if len(rounds) >= 2 else [self.median] * 3
        self.noise = 1.58 * (q[2] - q[0]) / len(rounds) ** 0.5


def _slowed(fn: Callable[[], object]) -> Callable[[], object]:
    factor = float(os.environ.get("TASKRA_BENCH_SLOW_ADAPTER", "0") or 0)
    if factor <= 0:
        return fn

    fastest = [float("inf")]

    def slow() -> object:
        started = time.perf_counter()
        out = fn()
        # F times the fastest call so far, not this call's own time: a call stalled by the machine's other work
        # would otherwise stall F times longer and widen the noise until the slowed ratio passed as noise.
        fastest[0] = min(fastest[0], time.perf_counter() - started)
        until = time.perf_counter() + factor * fastest[0]
        while time.perf_counter() < until:
            pass
        return out

    return slow


def paired(name: str, contender: Callable[[], object], baseline: Callable[[], object], rounds: int) -> Ratio:
    """Time contender and baseline back to back per round (alternating order); return the ratios."""
    for _ in range(2):
        contender()
        baseline()
    ratios = []
    for i in range(rounds):
        gc.collect()
        times = {}
        order = ((contender, "c"), (baseline, "b")) if i % 2 == 0 else ((baseline, "b"), (contender, "c"))
        for fn, tag in order:
            started = time.perf_counter()
            fn()
            times[tag] = time.perf_counter() - started
        ratios.append(times["c"] / times["b"])
    return Ratio(name, ratios)


def seed(issues: int) -> None:
    """Seed users, two projects and issues with comments and worklogs (bench/cache.py's seed)."""
    from bench.cache import seed as cache_seed

    cache_seed(argparse.Namespace(users=20, projects=2, issues=issues))


def check_adapters(rounds: int) -> list[Ratio]:
    from bench.adapters import baseline_values_orjson
    from issues.adapters import ISSUE_ROWS
    from issues.models import Issue

    qs = Issue.objects.filter(project__key="P00").order_by("-created", "-id")[:50]
    # A page is well under a millisecond: five per timing keep the clock's resolution out of the ratio.
    trusted = _slowed(lambda: [ISSUE_ROWS.json(qs) for _ in range(5)])
    validated = _slowed(lambda: [ISSUE_ROWS.json(qs, validate=True) for _ in range(5)])
    baseline = lambda: [baseline_values_orjson(qs) for _ in range(5)]  # noqa: E731
    return [
        paired("adapters.trusted_page50", trusted, baseline, rounds),
        paired("adapters.validated_page50", validated, baseline, rounds),
    ]


def _client() -> Any:
    from bench.cache import logged_in_client

    return logged_in_client()


def check_cache(rounds: int) -> list[Ratio]:
    from django.test import override_settings

    from bench.cache import nav_url
    from issues.models import Issue

    client = _client()
    key = Issue.objects.filter(project__key="P00").order_by("id").values_list("key", flat=True)[10]

    def get(url: str) -> Callable[[], object]:
        def run() -> object:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response

        return run

    def uncached(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with override_settings(TASKRA_PAGE_CACHE=False):
                return fn()

        return run

    issue, nav = get(f"/browse/{key}"), get(nav_url("P00"))
    return [
        paired("cache.issue_page_cached", issue, uncached(issue), rounds),
        paired("cache.navigator_cached", nav, uncached(nav), rounds),
    ]


def check_api(rounds: int) -> list[Ratio]:
    from django.contrib.auth import get_user_model

    from bench.api import floor, ours

    user = get_user_model().objects.get(username="user0")
    return [paired("api.search_page50", lambda: ours(user), lambda: floor(user), rounds)]


def check_metrics(rounds: int) -> list[Ratio]:
    from django.conf import settings
    from django.test import Client, override_settings

    from issues.models import Issue
    from perf.middleware import RequestMetricsMiddleware

    key = Issue.objects.filter(project__key="P00").order_by("id").values_list("key", flat=True)[11]
    user_client = _client()
    path = f"{RequestMetricsMiddleware.__module__}.{RequestMetricsMiddleware.__name__}"
    with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != path]):
        bare = Client()
        bare.cookies = user_client.cookies
        assert bare.get(f"/browse/{key}").status_code == 200  # loads its middleware chain without perf's
    url = f"/browse/{key}"
    with_metrics = lambda: user_client.get(url)  # noqa: E731
    without = lambda: bare.get(url)  # noqa: E731
    # A hit is 2-3 ms: ten of them per timing keep the clock's resolution and one-off stalls out of the ratio.
    return [
        paired(
            "metrics.issue_page_hit_overhead",
            lambda: [with_metrics() for _ in range(10)],
            lambda: [without() for _ in range(10)],
            rounds,
        )
    ]


def check_imports(rounds: int, issues: int = 10_000) -> list[Ratio]:
    """Import `issues` issues in process vs bulk_create of the same rows; a round each (slow: 2-3 rounds)."""
    import tempfile

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from bench.imports import generate
    from imports.services import import_job_create, job_run
    from issues.models import Issue, IssueType, Priority, Project, Status

    user = get_user_model().objects.get(username="user0")
    project = Project.objects.get(key="P01")
    tmp = Path(tempfile.mkdtemp(prefix="bench-check-"))
    source = tmp / "export.json"
    generate(source, issues, worklogs=0, comments=0)

    def reset() -> None:
        Issue.objects.filter(project__key=IMPORT_PROJECT).delete()
        Issue.objects.filter(project=project, summary__startswith="bulk-baseline").delete()

    def run_import() -> None:
        job = import_job_create(user=None, paths=[source], source="command", enqueue=False)
        job_run(job_id=job.pk)

    itype, status, priority = IssueType.objects.first(), Status.objects.first(), Priority.objects.first()
    now = timezone.now()

    def bulk() -> None:
        with transaction.atomic():
            Issue.objects.bulk_create(
                [
                    Issue(
                        project=project,
                        key=f"{project.key}-{900000 + n}",
                        number=900000 + n,
                        summary=f"bulk-baseline {n}",
                        type=itype,
                        status=status,
                        priority=priority,
                        reporter=user,
                        created=now,
                        updated=now,
                    )
                    for n in range(issues)
                ],
                batch_size=2000,
            )

    ratios = []
    for i in range(rounds):
        times = {}
        for fn, tag in ((run_import, "c"), (bulk, "b")) if i % 2 == 0 else ((bulk, "b"), (run_import, "c")):
            reset()
            started = time.perf_counter()
            fn()
            times[tag] = time.perf_counter() - started
        ratios.append(times["c"] / times["b"])
    reset()
    return [Ratio("imports.issues_10000_vs_bulk_create", ratios)]


class NotRun(Exception):
    """A check that CI requires could not run."""


def check_load(rounds: int) -> list[Ratio]:
    """Return the load harness's quick ratios (per time round of one run), or none where it cannot run."""
    module_name, function = LOAD_HOOK
    quick = getattr(importlib.import_module(module_name), function)
    found = quick()
    if not found:
        message = "load: BENCH_LOAD_DATABASE_URL and BENCH_LOAD_REDIS_URL are not set (PostgreSQL and Redis)"
        if os.environ.get("CI"):
            raise NotRun(message)
        print(f"  {message}: skipped")
        return []
    ratios = []
    for name, values in sorted(found.items()):
        if len(values) < 2:
            # One round has no spread to judge noise by (a rare journey with few requests in a loaded run).
            print(f"  load.{name}: {len(values)} round(s) with enough requests: not checked")
            continue
        ratios.append(Ratio(f"load.{name}", [float(v) for v in values]))
    return ratios


def evaluate(ratios: list[Ratio], thresholds: dict[str, Any]) -> list[str]:
    """Return a failure message per ratio whose interval lies wholly above its max."""
    failures = []
    for r in ratios:
        limit = thresholds.get(r.name, {}).get("max")
        if limit is not None and r.median - r.noise > limit:
            failures.append(f"{r.name}: {r.median:.3f} ± {r.noise:.3f} exceeds max {limit} (beyond noise)")
    return failures


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=CHECKS, help="run only these checks (repeatable)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_CHECK_ROUNDS", "21")))
    parser.add_argument("--issues", type=int, default=int(os.environ.get("BENCH_CHECK_ISSUES", "2000")))
    parser.add_argument("--import-issues", type=int, default=10_000)
    parser.add_argument("--import-rounds", type=int, default=2)
    parser.add_argument("--thresholds", type=Path, default=THRESHOLDS)
    parser.add_argument("--history", type=Path, default=None, help="default: settings.TASKRA_BENCH_HISTORY")
    parser.add_argument("--db", default="bench_check")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    thresholds = tomllib.loads(args.thresholds.read_text())["ratios"]
    setup(args.db)
    from django.db import connection

    from perf.benchhistory import append_run

    if set(args.only or CHECKS) != {"load"}:  # the load check runs on its own PostgreSQL database
        seed(args.issues)
    print(f"bench-check: {connection.vendor}, {args.issues} issues, {args.rounds} paired rounds per ratio", flush=True)
    runners: dict[str, Callable[[], list[Ratio]]] = {
        "adapters": lambda: check_adapters(args.rounds),
        "cache": lambda: check_cache(args.rounds),
        "api": lambda: check_api(args.rounds),
        "metrics": lambda: check_metrics(args.rounds),
        "imports": lambda: check_imports(args.import_rounds, args.import_issues),
        "load": lambda: check_load(args.rounds),
    }
    ratios: list[Ratio] = []
    failures = []
    for name in args.only or CHECKS:
        t0 = time.perf_counter()
        try:
            found = runners[name]()
        except NotRun as exc:
            failures.append(str(exc))
            found = []
        ratios += found
        for r in found:
            limit = thresholds.get(r.name, {}).get("max")
            print(f"  {r.name:42} {r.median:7.3f} ± {r.noise:.3f}  (max {limit})", flush=True)
        print(f"  [{name}: {time.perf_counter() - t0:.1f} s]", flush=True)
    failures += evaluate(ratios, thresholds)
    seconds = time.perf_counter() - started
    cpu = time.process_time()
    run = {
        "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit(),
        "database": connection.vendor,
        "passed": not failures,
        "ratios": {r.name: round(r.median, 4) for r in ratios},
        "noise": {r.name: round(r.noise, 4) for r in ratios},
        "thresholds": {r.name: thresholds[r.name]["max"] for r in ratios if r.name in thresholds},
        "rounds": args.rounds,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "slowed": bool(os.environ.get("TASKRA_BENCH_SLOW_ADAPTER")),
    }
    append_run(run, args.history)
    print(json.dumps(run))
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"bench-check {'failed' if failures else 'passed'} in {seconds:.0f} s ({cpu:.0f} s of CPU)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
