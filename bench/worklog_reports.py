"""Benchmark of time reports and worklog exports: a year of worklogs for 500 people.

In one run, against its own seeded database (SQLite var/bench_worklogs.sqlite3 by default, or DATABASE_URL,
e.g. postgres://postgres@127.0.0.1:5432/bench_worklogs -- an empty, dedicated database):

1. peak Python memory (tracemalloc) of the streamed CSV and JSON worklog exports (worklogs.exports, the
   adapters' generator form) over ~1/10 of the year and over the whole year, next to a non-streamed export
   (all rows as dicts, then one CSV string) of the same rows, plus the number of queries each export ran;
2. each time report (by project, user, issue, day) over the year: one grouped query in the database, timed
   side by side with summing the same rows in a Python loop;
3. the timesheet query of one person-week, with the database's plan (which index it uses).

BENCH_WORKLOGS (default 250000 = 500 people x 250 days x 2) and BENCH_USERS (500) size the data.
The last line printed is one JSON object with the key figures.
"""

from __future__ import annotations

import functools
import json
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, migrate_quietly, race, setup_django, versions  # noqa: E402

N_WORKLOGS = int(os.environ.get("BENCH_WORKLOGS", "250000"))
N_USERS = int(os.environ.get("BENCH_USERS", "500"))
N_PROJECTS = 5
N_ISSUES = 2000
YEAR = 2025

setup_django("bench_worklogs")

import csv  # noqa: E402
import datetime as dt  # noqa: E402
import io  # noqa: E402
import zoneinfo  # noqa: E402
from collections import Counter  # noqa: E402

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import Profile  # noqa: E402
from issues.models import Issue, IssueType, Membership, Priority, Project, Role, Status  # noqa: E402
from worklogs import exports  # noqa: E402
from worklogs.adapters import worklog_row_dicts  # noqa: E402
from worklogs.models import Worklog  # noqa: E402
from worklogs.reports import time_report  # noqa: E402
from worklogs.selectors import WorklogFilter, timesheet_cells, worklog_list  # noqa: E402
from worklogs.services import worklog_rollup_rebuild  # noqa: E402

User = get_user_model()
TZ = zoneinfo.ZoneInfo("Europe/Berlin")


def seed() -> None:
    if Worklog.objects.count() >= N_WORKLOGS:
        return
    print(f"seeding {N_USERS} users, {N_ISSUES} issues, {N_WORKLOGS} worklogs ...", flush=True)
    rng = random.Random(5)
    now = dt.datetime(YEAR, 1, 1, tzinfo=dt.UTC)
    with transaction.atomic():
        Worklog.objects.all().delete()
        Issue.objects.all().delete()
        Project.objects.all().delete()
        User.objects.filter(username__startswith="bench").delete()
        users = User.objects.bulk_create(
            [User(username=f"bench{i:03d}", first_name=f"User{i:03d}", password="!") for i in range(N_USERS)]
        )
        users = list(User.objects.filter(username__startswith="bench").order_by("id"))
        Profile.objects.bulk_create(
            [
                Profile(user=u, display_name=f"Bench User {i:03d}", time_zone="Europe/Berlin")
                for i, u in enumerate(users)
            ],
            ignore_conflicts=True,
        )
        projects = [Project.objects.create(key=f"BEN{p}", name=f"Bench {p}") for p in range(N_PROJECTS)]
        Membership.objects.bulk_create(
            [Membership(project=p, user=u, role=Role.MEMBER) for p in projects for u in users]
        )
        itype, status, prio = IssueType.objects.first(), Status.objects.first(), Priority.objects.first()
        issues = []
        for n in range(N_ISSUES):
            project = projects[n % N_PROJECTS]
            number = n // N_PROJECTS + 1
            issues.append(
                Issue(
                    project=project,
                    number=number,
                    key=f"{project.key}-{number}",
                    summary=f"Bench issue {n}",
                    type=itype,
                    status=status,
                    priority=prio,
                    created=now,
                    updated=now,
                )
            )
        Issue.objects.bulk_create(issues, batch_size=2000)
        issue_ids = list(Issue.objects.values_list("id", flat=True))
        user_ids = [u.pk for u in users]
        batch = []
        for _ in range(N_WORKLOGS):
            started = now + dt.timedelta(days=rng.randrange(365), minutes=rng.randrange(7 * 60, 18 * 60))
            batch.append(
                Worklog(
                    issue_id=rng.choice(issue_ids),
                    author_id=rng.choice(user_ids),
                    started=started,
                    time_spent=rng.randrange(15, 240) * 60,
                    created=now,
                    updated=now,
                )
            )
            if len(batch) == 20000:
                Worklog.objects.bulk_create(batch)
                batch = []
        Worklog.objects.bulk_create(batch)
        # Raw inserts, as seed_demo's: the worklogs' project and the reports' rollup are filled from them once.
        worklog_rollup_rebuild()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would have after a real year


def wide_group_by_issue(user, flt) -> list:
    """Return the by-issue report the first way it was written: GROUP BY every label column (sorts all rows)."""
    return list(
        worklog_list(user=user, flt=flt)
        .values("issue_id", "issue__key", "issue__summary", "issue__project__key", "issue__number")
        .annotate(seconds=Sum("time_spent"), n=Count("id"))
        .order_by("issue__project__key", "issue__number")
    )


def viewer():
    return User.objects.select_related("profile").get(username="bench000")


def consume(response) -> int:
    return sum(len(piece) for piece in response.streaming_content)


def naive_csv(qs) -> int:
    rows = worklog_row_dicts(qs)  # every row in memory at once
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for d in rows:
        writer.writerow(
            [d["started"].isoformat(), d["issue_key"], (d["author"] or {}).get("username"), d["time_spent"]]
        )
    return len(buffer.getvalue())


def measure(fn) -> tuple[float, int, int]:
    """Return (peak MB traced, queries, bytes) of one call."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    with CaptureQueriesContext(connection) as ctx:
        size = fn()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, len(ctx.captured_queries), size


def main() -> None:
    migrate_quietly()
    seed()
    user = viewer()
    total = Worklog.objects.count()
    print(f"{machine()}; {connection.vendor}; {versions('Django', 'pydantic', 'orjson')}")
    print(f"{total} worklogs, {N_USERS} users, {N_ISSUES} issues in {N_PROJECTS} projects")
    figures: dict[str, object] = {"vendor": connection.vendor, "worklogs": total}

    # 1. Exports: streamed vs all-in-memory, on a tenth of the year and on the whole year.
    print("\n1. worklog exports (peak traced Python memory, queries, size)")
    if os.environ.get("BENCH_SKIP_EXPORTS"):
        print("  skipped (BENCH_SKIP_EXPORTS)")
    ranges = {
        "5 weeks": (dt.date(YEAR, 1, 1), dt.date(YEAR, 2, 5)),
        "year": (dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31)),
    }
    for label, (start, end) in ({} if os.environ.get("BENCH_SKIP_EXPORTS") else ranges).items():
        flt = WorklogFilter(start=start, end=end, tz=TZ)
        qs = worklog_list(user=user, flt=flt)
        rows = qs.count()
        results = {
            "stream csv": measure(lambda qs=qs: consume(exports.worklogs_response(qs, fmt="csv", tz=TZ))),
            "stream json": measure(lambda qs=qs: consume(exports.worklogs_response(qs, fmt="json", tz=TZ))),
            "in-memory csv": measure(lambda qs=qs: naive_csv(qs)),
        }
        for name, (peak, queries, size) in results.items():
            print(
                f"  {label:8} {rows:>7} rows  {name:14} peak {peak:8.1f} MB  {queries:4} queries  "
                f"{size / 2**20:7.1f} MB out"
            )
            figures[f"{label} {name} peak MB"] = round(peak, 1)
            figures[f"{label} {name} queries"] = queries
        figures[f"{label} rows"] = rows

    # 2. Reports: one grouped query each vs a Python loop over the same rows.
    print("\n2. time reports over the year (median of interleaved runs)")
    flt = WorklogFilter(start=dt.date(YEAR, 1, 1), end=dt.date(YEAR, 12, 31), tz=TZ)
    for group in ("project", "user", "issue", "day"):
        with CaptureQueriesContext(connection) as ctx:
            report = time_report(user=user, flt=flt, group=group)
        queries = len(ctx.captured_queries)
        path = {"project": "issue__project__key", "user": "author__username", "issue": "issue__key", "day": "started"}[
            group
        ]

        def python_loop(path=path, group=group) -> Counter:
            sums: Counter = Counter()
            for key, seconds in (
                worklog_list(user=user, flt=flt).values_list(path, "time_spent").iterator(chunk_size=5000)
            ):
                if group == "day":
                    key = key.astimezone(TZ).date()
                sums[key] += seconds
            return sums

        loop = python_loop()
        assert sum(loop.values()) == report.total, "the grouped query and the loop disagree"
        timing = race(
            {"db": functools.partial(time_report, user=user, flt=flt, group=group), "loop": python_loop},
            rounds=3,
            warmup=1,
        )
        ratio = timing["loop"] / timing["db"]
        print(
            f"  by {group:8} {len(report.rows):5} rows  {queries} query  db {timing['db'] * 1000:8.1f} ms  "
            f"python loop {timing['loop'] * 1000:8.1f} ms  loop/db {ratio:5.1f}x"
        )
        figures[f"report {group} queries"] = queries
        figures[f"report {group} db ms"] = round(timing["db"] * 1000, 1)
        figures[f"report {group} loop/db"] = round(ratio, 1)

    # The optimisation kept: group on the foreign key and carry labels as Max() vs GROUP BY all label columns.
    timing = race(
        {
            "narrow": lambda: time_report(user=user, flt=flt, group="issue"),
            "wide": lambda: wide_group_by_issue(user, flt),
        },
        rounds=3,
        warmup=1,
    )
    ratio = timing["wide"] / timing["narrow"]
    print(
        f"  by issue: GROUP BY issue_id + Max(labels) {timing['narrow'] * 1000:8.1f} ms, "
        f"GROUP BY all label columns {timing['wide'] * 1000:8.1f} ms, wide/narrow {ratio:4.1f}x"
    )
    figures["report issue wide/narrow"] = round(ratio, 1)

    # 3. Timesheet: one person-week.
    print("\n3. timesheet of one person-week")
    author = User.objects.filter(username="bench007").select_related("profile").get()
    monday = dt.date(YEAR, 6, 2)
    began = time.perf_counter()
    for _ in range(20):
        cells = timesheet_cells(user=author, start=monday, end=monday + dt.timedelta(days=6), tz=TZ)
    per = (time.perf_counter() - began) / 20
    print(f"  {len(cells)} cells, {per * 1000:.2f} ms per query")
    figures["timesheet ms"] = round(per * 1000, 2)
    lo = dt.datetime.combine(monday, dt.time.min, tzinfo=TZ)
    plan = (
        Worklog.objects.filter(author_id=author.pk, started__gte=lo, started__lt=lo + dt.timedelta(days=7))
        .values("issue_id")
        .explain()
    )
    print("  plan: " + " | ".join(line.strip() for line in plan.splitlines()))
    figures["timesheet uses (author, started) index"] = "worklog_author_started" in plan
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
