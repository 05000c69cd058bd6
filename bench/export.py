"""Benchmark of the navigator's CSV export job at about 333,000 and 1,000,000 rows (PostgreSQL, seeded data).

Run against an already seeded database (`manage.py seed_demo --issues 1000000`), never an empty one:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> CELERY_BROKER_URL=redis://127.0.0.1:6379/<n> \
        .venv/bin/python bench/export.py [--rounds 3] [--python]

The exporting user is the member of the most projects (--user to choose). Two exports: an all-projects JQL
(every issue that user sees: the 1,000,000 one) and `project in (...)` over the first projects by key until
about --rows (333,000) rows (the largest project when its size is close). Each round runs, interleaved, for each size:

- `COPY (same SQL)`: psycopg reads `COPY (<the exporter's SELECT>) TO STDOUT (FORMAT csv)` and drops the bytes:
  what the database alone costs for the same statement, the baseline of the ratios;
- `COPY (raw columns)`: the export queryset with its columns as stored (user ids, no labels): what the
  rows cost before any formatting;
- `job, in process`: export_job_run() on a fresh ExportJob, the service the Celery task calls: the export
  written through Django's storage API (MEDIA_ROOT: a temporary directory), rows counted, job marked done;
- `job, live worker`: export_job_create() here and a real `celery worker` (one prefork child, private queue)
  running it; time from create to done as seen by polling the job; the worker's peak RSS (VmHWM) after each;
- with --python, `Python writer` (333,000 only): the adapters + csv module path (the one SQLite uses), in
  process, for the ratio against the old way.

Prints medians (rows/s), ratios to `COPY (same SQL)` and the worker's peak RSS after a 1,000-row warm-up and
after each export, then one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MEDIA = tempfile.mkdtemp(prefix="bench-export-")
os.environ["MEDIA_ROOT"] = MEDIA  # before Django reads its settings: the job files go to a scratch directory

from bench._common import current_rss_mb, machine, setup_django, versions  # noqa: E402

setup_django("bench_export")

import shutil  # noqa: E402

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from issues import export_jobs  # noqa: E402
from issues.export_jobs import export_job_create, export_job_run, issue_export_queryset  # noqa: E402
from issues.exporters import issue_csv_sql  # noqa: E402
from issues.models import ExportJob, Issue, Membership, Project  # noqa: E402
from issues.views.navigator import export  # noqa: E402
from taskra_site.celery import app  # noqa: E402
from taskra_site.worker_process import WorkerProcess  # noqa: E402

# The export's columns as stored (ids for users, no labels): what the rows cost before any formatting.
RAW_COLUMNS = (
    "key", "summary", "project__key", "type__name", "status__name", "status__category", "priority__name",
    "resolution__name", "assignee_id", "reporter_id", "parent_id", "due_date", "original_estimate",
    "remaining_estimate", "time_spent", "created", "updated", "resolved",
)  # fmt: skip


def copy_read(sql: str, params: tuple) -> int:
    """Read COPY (sql) TO STDOUT (FORMAT csv) to the end, dropping the bytes; return the rows."""
    ops: Any = connection.ops  # PostgreSQL's (main() checks the vendor)
    statement = f"COPY ({ops.compose_sql(sql, params)}) TO STDOUT (FORMAT csv)"
    rows = 0
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for _row in copy:
            rows += 1
    return rows


def job_in_process(user, params: dict[str, str]) -> int:
    job = ExportJob.objects.create(owner=user, kind="issues", format="csv", params=params)
    done = export_job_run(job_id=job.pk)
    assert done is not None and done.state == ExportJob.State.DONE, done and done.error
    shutil.rmtree(Path(MEDIA) / "exports", ignore_errors=True)
    return done.rows


def job_live(user, params: dict[str, str], timeout: float = 900) -> int:
    job = export_job_create(user=user, kind="issues", fmt="csv", params=params)  # enqueued at once (autocommit)
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db(fields=["state", "rows", "error"])
        if job.state == ExportJob.State.DONE:
            break
        if job.state == ExportJob.State.FAILED:
            raise RuntimeError(f"export job {job.pk} failed: {job.error}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"export job {job.pk} not done after {timeout}s")
        time.sleep(0.05)
    shutil.rmtree(Path(MEDIA) / "exports", ignore_errors=True)
    return job.rows


def python_writer(queryset) -> int:
    saved = export_jobs.copy_supported
    export_jobs.copy_supported = lambda queryset: False  # the path SQLite takes
    try:
        counter = export_jobs.RowCount()
        with open(os.devnull, "wb") as out:
            export_jobs.write_pieces(out, export_jobs.issue_csv_pieces(queryset, counter))
        return counter.rows
    finally:
        export_jobs.copy_supported = saved


def inline_export(user, jql: str, *, copy: bool) -> tuple[float, int]:
    """Return the seconds and rows of the navigator view's inline CSV export (COPY or Python path)."""
    saved = export_jobs.copy_supported
    if not copy:
        export_jobs.copy_supported = lambda queryset: False
    try:
        request = RequestFactory().get("/issues/export", {"format": "csv", "jql": jql})
        request.user = user
        start = time.perf_counter()
        response: Any = export(request)  # a FileResponse
        body = b"".join(response.streaming_content)
        seconds = time.perf_counter() - start
        assert response.status_code == 200 and int(response["Content-Length"]) == len(body)
        return seconds, body.count(b"\r\n") - 1
    finally:
        export_jobs.copy_supported = saved


def pick_jql(user, target: int) -> tuple[str, int]:
    """Return JQL for about `target` of the user's issues, and its count.

    The user's largest project when it holds 90-110% of the target (seed_demo at 1,000,000 makes one of
    333,333 issues), else `project in (...)` over projects by key, skipping any that would overshoot by 10%.
    """
    visible = Membership.objects.filter(user=user).values("project_id")
    counts = dict(
        Issue.objects.filter(project_id__in=visible).order_by().values_list("project_id").annotate(n=Count("id"))
    )
    keys_by_pk = dict(Project.objects.filter(pk__in=counts).values_list("pk", "key"))
    largest = max(counts, key=lambda pk: counts[pk])
    if 0.9 * target <= counts[largest] <= 1.1 * target:
        return f"project = {keys_by_pk[largest]}", counts[largest]
    keys, total = [], 0
    for pk, key in sorted(keys_by_pk.items(), key=lambda item: item[1]):
        if total >= 0.9 * target:
            break
        if total + counts[pk] <= 1.1 * target:
            keys.append(key)
            total += counts[pk]
    return f"project in ({', '.join(keys)})", total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=333_000, help="size of the smaller export (rows)")
    parser.add_argument("--user", default="", help="username (default: the member of the most projects)")
    parser.add_argument("--python", action="store_true", help="also time the Python writer at the smaller size")
    parser.add_argument("--no-worker", action="store_true", help="skip the live Celery worker")
    parser.add_argument("--inline", default="", help="only time the inline export of this JQL, COPY vs Python path")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/export.py measures the PostgreSQL export: set DATABASE_URL to a seeded PostgreSQL database")

    User = get_user_model()
    if args.user:
        user = User.objects.get(username=args.user)
    else:
        top = Membership.objects.values("user_id").annotate(n=Count("id")).order_by("-n", "user_id")[0]
        user = User.objects.get(pk=top["user_id"])
    if args.inline:
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            for copy in (True, False):
                seconds, rows = inline_export(user, args.inline, copy=copy)
                times[copy].append(seconds)
        print(f"# inline export of {args.inline!r}: {rows:,} rows; load {os.getloadavg()}")
        for copy, values in times.items():
            rounded = [round(v, 2) for v in values]
            print(f"{'COPY' if copy else 'Python'} path: {rounded} s, median {statistics.median(values):.2f} s")
        return
    jql_small, _ = pick_jql(user, args.rows)
    sizes = {
        "about 333k": {"jql": jql_small, "sort": "", "dir": ""},
        "all projects": {"jql": "", "sort": "", "dir": ""},
    }
    rows_of = {name: issue_export_queryset(user=user, params=p).count() for name, p in sizes.items()}

    print(f"# {machine()}; {versions('Django', 'psycopg', 'celery')}")
    print(f"# database {connection.settings_dict['NAME']}: {Issue.objects.count():,} issues; user {user.username}")
    for name, p in sizes.items():
        print(f"# {name}: {rows_of[name]:,} rows, jql {p['jql']!r}")
    print(f"# load before: {os.getloadavg()}")

    worker: WorkerProcess | None = None
    rss: dict[str, float] = {}
    if not args.no_worker:
        queue = f"bench-export-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0", "TASKRA_PAGE_REFRESH": "0"}
        app.conf.task_default_queue = queue
        app.conf.task_always_eager = False
        worker = WorkerProcess(queue, env, log_path=Path(MEDIA) / "worker.log")
        worker.start()
        try:
            smallest = Project.objects.filter(memberships__user=user).annotate(n=Count("issues")).order_by("n", "key")
            warm_up = job_live(user, {"jql": f"project = {smallest[0].key}", "sort": "", "dir": ""})
        except BaseException:
            worker.stop()  # never leave the worker behind
            raise
        rss[f"after a warm-up export ({warm_up:,} rows)"] = worker.peak_rss_mb()

    methods: dict[str, Callable[[dict[str, str]], int]] = {
        "COPY (same SQL)": lambda p: copy_read(*issue_csv_sql(issue_export_queryset(user=user, params=p))),
        "COPY (raw columns)": lambda p: copy_read(
            *issue_export_queryset(user=user, params=p).values_list(*RAW_COLUMNS).query.sql_with_params()
        ),
        "job, in process": lambda p: job_in_process(user, p),
    }
    if worker is not None:
        methods["job, live worker"] = lambda p: job_live(user, p)
    samples: dict[tuple[str, str], list[float]] = {(s, m): [] for s in sizes for m in methods}
    if args.python:
        methods["Python writer"] = lambda p: python_writer(issue_export_queryset(user=user, params=p))
        samples[("about 333k", "Python writer")] = []
    try:
        for rnd in range(args.rounds):
            for size, params in sizes.items():
                for method, fn in methods.items():
                    if method == "Python writer" and size != "about 333k":
                        continue
                    start = time.perf_counter()
                    rows = fn(params)
                    seconds = time.perf_counter() - start
                    assert rows == rows_of[size], (method, size, rows, rows_of[size])
                    samples[(size, method)].append(rows / seconds)
                    print(f"round {rnd + 1} {size:>12} {method:<22} {seconds:7.2f} s {rows / seconds:>10,.0f} rows/s")
                    if worker is not None and method == "job, live worker":
                        rss[f"after {size} round {rnd + 1}"] = worker.peak_rss_mb()
    finally:
        if worker is not None:
            worker.stop()
        shutil.rmtree(MEDIA, ignore_errors=True)

    print(f"# load after: {os.getloadavg()}; this process RSS {current_rss_mb():.0f} MB")
    result: dict[str, object] = {"rows": rows_of, "rounds": args.rounds}
    print("\n| export | rows | method | median rows/s | ratio to COPY (same SQL) |\n|---|---:|---|---:|---:|")
    for size in sizes:
        base = statistics.median(samples[(size, "COPY (same SQL)")])
        for (s, method), values in samples.items():
            if s != size:
                continue
            median = statistics.median(values)
            result[f"{size} / {method}"] = round(median)
            print(f"| {size} | {rows_of[size]:,} | {method} | {median:,.0f} | {median / base:.2f} |")
    if rss:
        print("\n| live worker peak RSS (VmHWM) | MB |\n|---|---:|")
        for when, mb in rss.items():
            print(f"| {when} | {mb:.0f} |")
        result["worker_peak_rss_mb"] = rss
    print(json.dumps(result))


if __name__ == "__main__":
    main()
