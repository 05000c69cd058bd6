"""Benchmark of the load journeys' timesheet and month report against the floor page, in one process.

Runs against an already seeded database (DATABASE_URL, e.g. a `seed_demo --issues 1000000` copy; never seeds,
never writes except the memberships bench/load.py also makes): the person is picked the way bench/load.py picks
its clients (the first member of the first project, made a member of every project), and the report is the
locust journey's one (the first project, this month; by default grouped by project, the page's default) plus,
with --groups, the other groupings. Requests go through Django's test client (middleware, templates, sessions,
the same URLs as bench/locustfile.py), interleaved round-robin and repeated; medians and ratios to the floor
(GET /accounts/login/ for a logged-in client: the 302) are printed, with each page's query count and bytes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_reports_1m .venv/bin/python bench/reports.py --rounds 30

--explain prints EXPLAIN (ANALYZE, BUFFERS) of each page's SQL; --profile NAME prints a cProfile of one page.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--groups", default="project", help="report groupings, comma-separated (project,user,...)")
    parser.add_argument("--month", default="", help="YYYY-MM of the report (default this month, as the journey)")
    parser.add_argument(
        "--rollup-writes",
        action="store_true",
        help="also time one log work's rollup step: the upsert against re-reading its bucket (rolled back)",
    )
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) of each query")
    parser.add_argument("--profile", default="", help="print a cProfile of this page (timesheet, report-project...)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        parser.error("DATABASE_URL must name a seeded database")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from issues.models import Membership, Project, Role

    projects = list(Project.objects.order_by("id").values_list("id", "key"))
    first_id, first_key = projects[0]
    person = (
        Membership.objects.filter(project_id=first_id)
        .exclude(role=Role.VIEWER)
        .exclude(user__username="demo")
        .order_by("user_id")
        .select_related("user")
        .first()
    )
    if person is None:
        parser.error("the first project has no members: is the database seeded?")
    user = person.user
    # bench/load.py makes its clients members of every project: their pickers and permission sets are the big ones.
    Membership.objects.bulk_create(
        [Membership(project_id=pid, user_id=user.pk, role=Role.MEMBER) for pid, _ in projects], ignore_conflicts=True
    )
    today = dt.date.fromisoformat(args.month + "-01") if args.month else dt.date.today()
    month_end = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    report = {"project": first_key, "start": today.replace(day=1).isoformat(), "end": month_end.isoformat()}
    pages = {"floor": "/accounts/login/", "timesheet": "/timesheet/"}
    for group in args.groups.split(","):
        query = report if group == "project" else {**report, "group": group}
        pages[f"report-{group}"] = "/reports/?" + urlencode(query)

    client = Client()
    client.force_login(user)
    expected = {"floor": 302}

    def get(name: str) -> tuple[int, int]:
        response = client.get(pages[name], secure=True)
        if response.status_code != expected.get(name, 200):
            raise SystemExit(f"{pages[name]}: HTTP {response.status_code}")
        return response.status_code, len(response.content)

    sizes: dict[str, int] = {}
    queries: dict[str, int] = {}
    for name in pages:
        for _ in range(args.warmup):
            get(name)
        with CaptureQueriesContext(connection) as ctx:
            sizes[name] = get(name)[1]
        queries[name] = len(ctx.captured_queries)
        if args.explain and name != "floor":
            print(f"\n===== {name}: {pages[name]} ({queries[name]} queries)")
            with connection.cursor() as cursor:
                for q in ctx.captured_queries:
                    sql = q["sql"]
                    if not sql.lstrip().upper().startswith("SELECT"):
                        continue
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                    print(f"--- {q['time']}s {sql[:300]}\n{plan}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            get(args.profile)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)

    samples: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(args.rounds):
        for name in pages:
            gc.collect()
            start = time.perf_counter()
            get(name)
            samples[name].append(time.perf_counter() - start)
    if args.rollup_writes:
        rollup_writes(first_id, rounds=args.rounds)
    floor = statistics.median(samples["floor"])
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"database: {connection.settings_dict['NAME']}; user {user.username}; report {report}")
    print(f"rounds {args.rounds} (interleaved), warm-up {args.warmup}\n")
    print("| page | median ms | p90 ms | × floor (medians) | queries | bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in samples.items():
        med = statistics.median(values)
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        print(
            f"| {name} | {med * 1000:.1f} | {p90 * 1000:.1f} | {med / floor:.1f}× | {queries[name]} | {sizes[name]:,} |"
        )
    return 0


def rollup_writes(project_id: int, *, rounds: int) -> None:
    """Print the median cost of one log work's rollup step, upsert vs refresh, in the busiest bucket of today."""
    from django.db import transaction
    from django.db.models import Count

    from worklogs.models import Worklog, rollup_bucket
    from worklogs.services import _rollup_add, worklog_rollup_refresh

    today = dt.datetime.combine(dt.date.today(), dt.time.min, tzinfo=dt.UTC)
    busiest = (
        Worklog.objects.filter(issue__project_id=project_id, started__gte=today)
        .values("started")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    when = rollup_bucket(busiest["started"] if busiest else today)

    def rolled_back(step: Callable[[], object]) -> float:
        start = time.perf_counter()
        with transaction.atomic():
            step()
            transaction.set_rollback(True)
        return time.perf_counter() - start

    steps: dict[str, Callable[[], object]] = {
        "refresh (re-read the bucket's worklogs)": lambda: worklog_rollup_refresh(keys=[(project_id, when)]),
        "upsert of the change": lambda: _rollup_add([(project_id, when, 900, 1)]),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(rolled_back(step))
    print(f"one log work's rollup step, bucket {when:%Y-%m-%d %H:%M} UTC, {rounds} interleaved rounds:")
    for name, values in times.items():
        print(f"  {name}: median {statistics.median(values) * 1000:.2f} ms")
    print()


if __name__ == "__main__":
    raise SystemExit(main())
