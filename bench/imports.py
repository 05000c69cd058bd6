"""Import benchmark: `make bench-import` or `python bench/imports.py [--issues N] [--bulk-update]`.

Generates a Jira-style JSON export (`/rest/api/2/search` shape) of N issues with ~5 worklogs and 2
comments each, imports it through a live Celery worker on PostgreSQL, and prints issues/s,
worklogs/s, the worker's peak RSS and the ratio of the import's time to a raw COPY of the same rows
(measured in the same run), and to the same COPY into copies that also have the tables' foreign keys (the
checks PostgreSQL makes at COMMIT for every row an import writes, which a plain `LIKE ... INCLUDING ALL` copy
lacks). --bulk-update times a bulk status change of every imported issue.
The last line printed is one JSON object with the figures.

--scale R: R rounds, interleaved, of (a) the import through ONE worker process, then a raw COPY of the same
rows, and (b) the same import through TWO worker processes (each `--concurrency 1`) sharing the chunk tasks;
prints import/COPY per round (one worker), the two-worker speedup per round, and the peak PSS of the
worker processes (sum over all their processes, sampled every 0.2 s).

Database: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_imports, created when
missing). Broker: CELERY_BROKER_URL (default: the filesystem broker under var/).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BASE_DIR, setup_django  # noqa: E402
from taskra_site.worker_process import WorkerProcess  # noqa: E402

if TYPE_CHECKING:
    from imports.models import Job

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/bench_imports"
PROJECT = "BENCH"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in url when it does not exist."""
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def generate(path: Path, issues: int, *, worklogs: int = 5, comments: int = 2) -> None:
    """Write a Jira search-results file of `issues` issues, streaming (never the whole file in memory)."""
    import orjson

    users = [
        {"accountId": f"bench-{u}", "emailAddress": f"bench{u}@example.com", "displayName": f"Bench User {u}"}
        for u in range(50)
    ]
    statuses = [
        {"name": "To Do", "statusCategory": {"key": "new"}},
        {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
        {"name": "Done", "statusCategory": {"key": "done"}},
    ]
    with open(path, "wb") as out:
        out.write(b'{"startAt": 0, "maxResults": %d, "total": %d, "issues": [\n' % (issues, issues))
        for n in range(1, issues + 1):
            user = users[n % 50]
            day = 1 + n % 28
            issue = {
                "id": str(100000 + n),
                "key": f"{PROJECT}-{n}",
                "fields": {
                    "summary": f"Benchmark issue {n}: something is slow",
                    "description": {
                        "type": "doc",
                        "version": 1,
                        "content": [{"type": "paragraph", "content": [{"type": "text", "text": f"Steps for {n}."}]}],
                    },
                    "issuetype": {"name": ("Task", "Bug", "Story")[n % 3]},
                    "status": statuses[n % 3],
                    "priority": {"name": ("High", "Medium", "Low")[n % 3]},
                    "resolution": {"name": "Done"} if n % 3 == 2 else None,
                    "assignee": user,
                    "reporter": users[(n + 7) % 50],
                    "labels": [f"area{n % 20}", "imported"],
                    "created": f"2024-03-{day:02d}T10:00:00.000+0000",
                    "updated": f"2024-03-{day:02d}T12:00:00.000+0000",
                    "timeoriginalestimate": 28800,
                    "timeestimate": 14400,
                    "project": {"key": PROJECT, "name": "Benchmark"},
                    "worklog": {
                        "startAt": 0,
                        "total": worklogs,
                        "worklogs": [
                            {
                                "id": str(n * 10 + w),
                                "author": users[(n + w) % 50],
                                "started": f"2024-03-{day:02d}T{9 + w:02d}:00:00.000+0000",
                                "timeSpentSeconds": 900 * (w + 1),
                                "comment": f"worked on part {w}",
                            }
                            for w in range(worklogs)
                        ],
                    },
                    "comment": {
                        "comments": [
                            {
                                "id": str(n * 10 + c),
                                "author": users[(n + c + 3) % 50],
                                "body": f"Comment {c} on issue {n}.",
                                "created": f"2024-03-{day:02d}T{14 + c:02d}:00:00.000+0000",
                            }
                            for c in range(comments)
                        ]
                    },
                },
            }
            if n > 1:
                out.write(b",\n")
            out.write(orjson.dumps(issue))
        out.write(b"\n]}\n")


def reset_data() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE issues_history, issues_comment, worklogs_worklogrollup, worklogs_worklog, issues_issue_labels, "
            "issues_issue RESTART IDENTITY CASCADE"
        )
        # Job ids keep rising: a worker keeps a job's writer (its look-ups) by job id until the job ends in
        # that process, and a job id used again would find the previous run's writer there.
        cursor.execute("TRUNCATE imports_joberror, imports_job CASCADE")
        # The rows naming the project (its workflow, members, filters) go with it: a re-run creates it again.
        for table, column in (
            ("issues_workflowtransition", "project_id"),
            ("issues_workflowstatus", "project_id"),
            ("issues_membership", "project_id"),
            ("issues_savedfilter", "shared_with_id"),
        ):
            cursor.execute(
                f"DELETE FROM {table} WHERE {column} IN (SELECT id FROM issues_project WHERE key = %s)", [PROJECT]
            )
        cursor.execute("DELETE FROM issues_project WHERE key = %s", [PROJECT])
        cursor.execute("ANALYZE")


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _reader_pids(worker: WorkerProcess) -> list[int]:
    out = []
    for pid in worker.pids()[1:]:
        with contextlib.suppress(OSError):
            out += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return out


def reader_peak_rss_mb(worker: WorkerProcess) -> float:
    """Return the highest peak RSS of the import's reader processes (children of the worker's pool process)."""
    return max([_peak_rss_mb(pid) for pid in _reader_pids(worker)], default=0.0)


def pss_mb(worker: WorkerProcess) -> float:
    """Return the memory the worker's processes use now, in MB: the sum of their PSS.

    The reader process is forked from the pool process and shares pages with it, which each one's RSS
    counts in full; PSS splits every shared page between the processes sharing it, so the sum is the
    real footprint.
    """
    total = 0.0
    for pid in [*worker.pids(), *_reader_pids(worker)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
                    break
    return total


READER_PEAK: dict[int, float] = {}  # job id -> the reader process's peak RSS seen while waiting
PSS_PEAK: dict[int, float] = {}  # job id -> the highest sum of the worker's processes' PSS seen while waiting


def wait(job_id: int, worker: WorkerProcess, timeout: float = 3600) -> tuple[Job, float]:
    from imports.models import Job

    peak = 0.0
    deadline = time.monotonic() + timeout
    started = last_print = time.monotonic()
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        peak = max(peak, worker.peak_rss_mb())
        READER_PEAK[job_id] = max(READER_PEAK.get(job_id, 0.0), reader_peak_rss_mb(worker))
        pss = pss_mb(worker)
        PSS_PEAK[job_id] = max(PSS_PEAK.get(job_id, 0.0), pss)
        if time.monotonic() - last_print >= 60:  # a long run shows its progress (and memory so far)
            last_print = time.monotonic()
            print(
                f"  {last_print - started:.0f}s: {job.processed:,} records written, worker PSS {pss:.0f} MB "
                f"(peak {PSS_PEAK[job_id]:.0f} MB), load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        if job.is_finished:
            return job, max(peak, worker.peak_rss_mb())
        if not worker.alive():
            raise SystemExit(f"worker died:\n{worker.log_tail(3000)}")
        time.sleep(0.2)
    raise SystemExit(f"job {job_id} not finished after {timeout}s")


def copy_baseline(*, foreign_keys: bool = False) -> float:
    """Return the seconds a raw COPY of the imported rows takes into empty copies of the tables (indexes included).

    `CREATE TABLE ... (LIKE ... INCLUDING ALL)` copies no foreign keys: with foreign_keys, the copies get the
    tables' own (deferred, checked at COMMIT, as for the import), to show what those checks alone cost.
    """
    from django.db import connection

    tables = ["issues_issue", "worklogs_worklog", "issues_comment", "issues_issue_labels"]
    dumps = {}
    raw = connection.connection
    with raw.cursor() as cur:
        for table in tables:
            buf = io.BytesIO()
            with cur.copy(f"COPY {table} TO STDOUT") as copy:
                for data in copy:
                    buf.write(data)
            dumps[table] = buf.getvalue()
        for table in tables:
            cur.execute(f"DROP TABLE IF EXISTS bench_copy_{table}")
            cur.execute(f"CREATE UNLOGGED TABLE bench_copy_{table} (LIKE {table} INCLUDING ALL)")
            cur.execute(f"ALTER TABLE bench_copy_{table} SET LOGGED")
            if foreign_keys:
                cur.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'f'",
                    [table],
                )
                for name, definition in cur.fetchall():
                    short = f"bench_{name}"[:63]
                    cur.execute(f'ALTER TABLE bench_copy_{table} ADD CONSTRAINT "{short}" {definition}')
        raw.commit()
        start = time.perf_counter()
        for table in tables:
            with cur.copy(f"COPY bench_copy_{table} FROM STDIN") as copy:
                copy.write(dumps[table])
        raw.commit()
        seconds = time.perf_counter() - start
        for table in tables:
            cur.execute(f"DROP TABLE bench_copy_{table}")
        raw.commit()
    return seconds


def raw_update_baseline() -> float:
    """Return the seconds one plain UPDATE of every benchmark issue's status takes (the floor of a bulk update)."""
    from django.db import connection, transaction

    from issues.models import Status

    target = Status.objects.get(name="To Do").pk
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE issues_issue SET status_id = %s, updated = now() WHERE project_id = "
            "(SELECT id FROM issues_project WHERE key = %s)",
            [target, PROJECT],
        )
    return time.perf_counter() - start


def import_once(path: Path, worker_queue: str, workers: list[WorkerProcess]) -> tuple[Job, float, float]:
    """Import the file through the workers consuming `worker_queue`; return the job, wall seconds, peak PSS MB."""
    from imports import services
    from taskra_site.celery import app

    reset_data()
    app.conf.task_default_queue = worker_queue
    start = time.perf_counter()
    job = services.import_job_create(user=None, paths=[path], source="command")
    peak = 0.0
    while True:
        job = type(job).objects.get(pk=job.pk)
        peak = max(peak, sum(pss_mb(w) for w in workers))
        if job.is_finished:
            break
        for w in workers:
            if not w.alive():
                raise SystemExit(f"worker died:\n{w.log_tail(3000)}")
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if job.state != "succeeded":
        raise SystemExit(f"import ended {job.state}: {job.message}")
    return job, wall, peak


def scale(path: Path, rounds: int) -> dict[str, object]:
    """Interleave one-worker imports, raw COPYs and two-worker imports; return the figures."""
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0", "LOG_LEVEL": "WARNING"}
    env.pop("TEST_DATABASE_NAME", None)
    tag = uuid.uuid4().hex[:8]
    solo, both = f"bench-solo-{tag}", f"bench-both-{tag}"
    # Worker A consumes both queues, worker B only the shared one: a job on `solo` runs on A alone (its
    # chunk tasks follow the queue their job came from), a job on `both` on A and B.
    a = WorkerProcess(f"{solo},{both}", env)
    b = WorkerProcess(both, env)
    a.start()
    b.start()
    rows: list[dict[str, float]] = []
    try:
        for r in range(rounds):
            one, one_wall, one_pss = import_once(path, solo, [a])
            copy_seconds = copy_baseline()
            copy_fk_seconds = copy_baseline(foreign_keys=True)
            two, two_wall, two_pss = import_once(path, both, [a, b])
            row = {
                "one_worker_s": round(one_wall, 2),
                "copy_s": round(copy_seconds, 2),
                "copy_ratio": round(one_wall / copy_seconds, 2),
                "copy_fk_s": round(copy_fk_seconds, 2),
                "copy_fk_ratio": round(one_wall / copy_fk_seconds, 2),
                "load": round(os.getloadavg()[0], 1),
                "two_workers_s": round(two_wall, 2),
                "speedup": round(one_wall / two_wall, 2),
                "one_worker_pss_mb": round(one_pss, 1),
                "two_workers_pss_mb": round(two_pss, 1),
                "stages_one": one.stage_seconds,
            }
            rows.append(row)
            print(
                f"round {r + 1}: one worker {one_wall:.2f}s ({one.created_count} issues, {one.worklogs_count} "
                f"worklogs, {one.created_count / one_wall:,.0f} issues/s), raw COPY {copy_seconds:.2f}s -> "
                f"{one_wall / copy_seconds:.2f}x COPY (COPY with the foreign keys {copy_fk_seconds:.2f}s -> "
                f"{one_wall / copy_fk_seconds:.2f}x); two workers {two_wall:.2f}s -> {one_wall / two_wall:.2f}x; "
                f"peak PSS one worker {one_pss:.0f} MB, two workers {two_pss:.0f} MB; stages (one worker, s) "
                f"{one.stage_seconds}; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    finally:
        a.stop()
        b.stop()
    return {"rounds": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--worklogs", type=int, default=5)
    parser.add_argument("--comments", type=int, default=2)
    parser.add_argument("--bulk-update", action="store_true", help="also time a bulk update of every imported issue")
    parser.add_argument("--keep-file", action="store_true", help="reuse var/bench-import-N.json when present")
    parser.add_argument(
        "--bulk-only", action="store_true", help="skip the import: bulk-update the issues already there"
    )
    parser.add_argument("--scale", type=int, default=0, metavar="ROUNDS", help="one vs two workers vs COPY, R rounds")
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        raise SystemExit("bench/imports.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    ensure_database(os.environ["DATABASE_URL"])
    setup_django("bench_imports")
    from bench._common import migrate_quietly

    migrate_quietly()
    from django.db import connection

    from imports import services
    from taskra_site.celery import app

    path = BASE_DIR / "var" / f"bench-import-{args.issues}.json"
    if args.bulk_only:
        args.bulk_update = True
    elif not (args.keep_file and path.exists()):
        start = time.perf_counter()
        generate(path, args.issues, worklogs=args.worklogs, comments=args.comments)
        print(f"generated {path.name}: {path.stat().st_size / 2**20:.0f} MB in {time.perf_counter() - start:.1f}s")
    if args.scale:
        print(json.dumps(scale(path, args.scale)))
        return
    if not args.bulk_only:
        reset_data()

    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0", "LOG_LEVEL": "WARNING"}
    env.pop("TEST_DATABASE_NAME", None)
    worker = WorkerProcess(f"bench-imports-{uuid.uuid4().hex[:8]}", env)
    worker.start()
    app.conf.task_default_queue = worker.queue
    try:
        result: dict[str, object] = {}
        if not args.bulk_only:
            wall_start = time.perf_counter()
            job = services.import_job_create(user=None, paths=[path], source="command")
            job, peak = wait(job.pk, worker)
            wall = time.perf_counter() - wall_start
            if job.state != "succeeded":
                raise SystemExit(f"import ended {job.state}: {job.message}")
            seconds = job.run_seconds
            issues_per_s = job.created_count / seconds
            worklogs_per_s = job.worklogs_count / seconds
            copy_seconds = copy_baseline()
            copy_fk_seconds = copy_baseline(foreign_keys=True)
            version = ".".join(str(part) for part in connection.get_database_version())
            print(f"PostgreSQL {version}, file {path.stat().st_size / 2**20:.0f} MB")
            print(
                f"import: {job.created_count} issues, {job.worklogs_count} worklogs, {job.comments_count} comments "
                f"in {seconds:.2f}s worker time ({wall:.2f}s wall, queue to finish)"
            )
            reader = READER_PEAK.get(job.pk, 0.0)
            pss = PSS_PEAK.get(job.pk, 0.0)
            print(
                f"  {issues_per_s:,.0f} issues/s, {worklogs_per_s:,.0f} worklogs/s, worker peak RSS {peak:.0f} MB"
                f" (pool process), reader process {reader:.0f} MB; worker processes' PSS sum, peak: {pss:.0f} MB"
            )
            print(
                f"raw COPY of the same rows: {copy_seconds:.2f}s -> import takes {seconds / copy_seconds:.1f}x "
                "a raw COPY"
            )
            print(
                f"raw COPY with the tables' foreign keys (checked at COMMIT): {copy_fk_seconds:.2f}s -> import takes "
                f"{seconds / copy_fk_seconds:.1f}x"
            )
            result = {
                "issues": job.created_count,
                "worklogs": job.worklogs_count,
                "comments": job.comments_count,
                "import_seconds": round(seconds, 3),
                "issues_per_s": round(issues_per_s, 1),
                "worklogs_per_s": round(worklogs_per_s, 1),
                "worker_peak_rss_mb": round(peak, 1),
                "reader_peak_rss_mb": round(reader, 1),
                # Sampled every 0.2 s: the worker's main, pool and reader processes' PSS summed.
                "worker_peak_pss_sum_mb": round(pss, 1),
                "copy_seconds": round(copy_seconds, 3),
                "copy_ratio": round(seconds / copy_seconds, 2),
                "copy_fk_seconds": round(copy_fk_seconds, 3),
                "copy_fk_ratio": round(seconds / copy_fk_seconds, 2),
            }
        if args.bulk_update:
            from issues.models import Issue

            # This cluster runs without autovacuum: clear the dead rows earlier runs left (each bulk update
            # rewrites every row), so that repeated --bulk-only runs measure the same table.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM (ANALYZE) issues_issue, issues_issue_labels, issues_history")

            total = Issue.objects.filter(project__key=PROJECT).count()
            in_review = Issue.objects.filter(project__key=PROJECT, status__name="In Review").count()
            target_status = "In Progress" if in_review > total // 2 else "In Review"
            bulk = services.bulk_update_job_create(
                user=None,
                jql=None,
                issue_ids=list(Issue.objects.filter(project__key=PROJECT).values_list("pk", flat=True)),
                # A status and a label most issues do not have yet, so every run changes every issue.
                changes={"status": target_status, "add_labels": [f"bulk-{int(time.time())}"]},
                source="admin",
            )
            bulk, _ = wait(bulk.pk, worker)
            if bulk.state != "succeeded":
                raise SystemExit(f"bulk update ended {bulk.state}: {bulk.message}")
            print(
                f"bulk update: {bulk.updated_count} of {total} issues (status + label, history, cache invalidation) "
                f"in {bulk.run_seconds:.2f}s worker time"
            )
            raw_seconds = raw_update_baseline()
            print(
                f"raw UPDATE of the same rows (one statement, no history): {raw_seconds:.2f}s -> "
                f"bulk update takes {bulk.run_seconds / raw_seconds:.1f}x"
            )
            result["bulk_update_issues"] = bulk.updated_count
            result["bulk_update_seconds"] = round(bulk.run_seconds, 3)
            result["bulk_update_raw_seconds"] = round(raw_seconds, 3)
            result["bulk_update_ratio"] = round(bulk.run_seconds / raw_seconds, 2)
        print(json.dumps(result))
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
