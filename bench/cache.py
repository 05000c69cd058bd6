"""Page-cache benchmark (make bench-cache): cached vs uncached pages, and a Zipf read/write workload.

On PostgreSQL and Redis only. The bench creates its own scratch database (bench_cache by default, dropped
and re-created; --reuse keeps an already seeded one), seeds it with bulk_create (no shared seed code), then:

1. Server time of the issue page (/browse/KEY) and the navigator (/issues/?jql=...), uncached vs cached,
   measured side by side (interleaved) through Django's full request handling in this process.
2. A workload of several client processes: reads of issue pages chosen by a Zipf distribution over all
   issues plus navigator pages, and 5% writes through issue_update. After a warm-up, it reports the hit
   rate from the Redis metrics counters and counts stale reads: every write records its version in Redis
   after the service returned; a reader that looked up that record before its request must see at least
   that version in the page (issue pages and navigator rows alike).

The last line printed is one JSON object with the figures.

Environment: DATABASE_URL (server to use; its database name is replaced by --db), REDIS_URL (required).
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing as mp
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/test"
TOKEN_RE = re.compile(r"bench-v(\d+)-i(\d+)")


def db_url(name: str) -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL") or DEFAULT_DB_URL)
    if not parts.scheme.startswith("postgres"):
        sys.exit("bench/cache.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(name: str) -> None:
    import psycopg

    admin = urlunsplit(urlsplit(db_url(name))._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ["DATABASE_URL"] = db_url(args.db)
    os.environ["CACHE_KEY_PREFIX"] = args.prefix
    os.environ["DEBUG"] = "0"
    os.environ["HTTPS"] = "0"  # the in-process client speaks plain HTTP
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench/cache.py needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")
    import django

    django.setup()
    from django.conf import settings

    from taskra_site.celery import app

    # Writes queue page refreshes for the bench's own worker (on its private queue), or none with --no-refresh.
    settings.TASKRA_PAGE_REFRESH = not args.no_refresh
    app.conf.task_default_queue = args.queue


def start_refresh_worker(args: argparse.Namespace) -> Any:
    """Start the Celery worker that runs the page refreshes writes queue, as `make run` does next to the web server."""
    from taskra_site.worker_process import WorkerProcess

    env = {**os.environ, "DATABASE_URL": db_url(args.db), "CACHE_KEY_PREFIX": args.prefix, "DEBUG": "0"}
    env.pop("TEST_DATABASE_NAME", None)
    worker = WorkerProcess(args.queue, env)
    worker.start()
    return worker


# --- seeding ---------------------------------------------------------------------------------------


def seed(args: argparse.Namespace) -> None:
    """Create users, projects and args.issues issues with comments, worklogs and history, all with bulk_create."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Profile
    from issues.models import Comment, History, Issue, IssueType, Membership, Priority, Project, Role, Status
    from worklogs.models import Worklog

    rng = random.Random(7)
    User = get_user_model()
    password = make_password("bench-pass-123")
    users = User.objects.bulk_create(
        [User(username=f"user{i}", password=password, first_name=f"User{i}") for i in range(args.users)]
    )
    Profile.objects.bulk_create([Profile(user=u, display_name=f"User Number {u.pk}") for u in users])
    projects = Project.objects.bulk_create(
        [Project(key=f"P{i:02d}", name=f"Project {i}", issue_counter=0) for i in range(args.projects)]
    )
    # user0 is the bench's reader/writer: a member of every project. The others are spread over projects.
    memberships = [Membership(project=p, user=users[0], role=Role.MEMBER) for p in projects]
    for u in users[1:]:
        for p in rng.sample(projects, 2):
            memberships.append(Membership(project=p, user=u, role=Role.MEMBER))
    Membership.objects.bulk_create(memberships)
    types, statuses, priorities = (
        list(IssueType.objects.all()),
        list(Status.objects.all()),
        list(Priority.objects.all()),
    )
    start = timezone.now() - dt.timedelta(days=400)
    per_project = args.issues // len(projects)
    chunk = 5000
    for p in projects:
        for base in range(0, per_project, chunk):
            with transaction.atomic():
                rows = []
                for n in range(base + 1, min(base + chunk, per_project) + 1):
                    created = start + dt.timedelta(minutes=rng.randint(0, 400 * 24 * 60))
                    rows.append(
                        Issue(
                            project=p,
                            number=n,
                            key=f"{p.key}-{n}",
                            summary="",
                            description=f"Steps to reproduce, number {n}.\n\n* first\n* second **bold**",
                            type=rng.choice(types),
                            status=rng.choice(statuses),
                            priority=rng.choice(priorities),
                            assignee=rng.choice(users),
                            reporter=rng.choice(users),
                            created=created,
                            updated=created,
                            original_estimate=rng.choice([None, 3600, 7200, 28800]),
                        )
                    )
                Issue.objects.bulk_create(rows)
        Project.objects.filter(pk=p.pk).update(issue_counter=per_project)
    # Summaries carry the version token the stale-read check looks for.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE issues_issue SET summary = 'Bench issue bench-v0-i' || id")
    ids = list(Issue.objects.values_list("id", flat=True))
    for base in range(0, len(ids), chunk):
        comments, worklogs, history = [], [], []
        for issue_id in ids[base : base + chunk]:
            when = start + dt.timedelta(days=rng.randint(0, 399))
            for c in range(rng.randint(0, 4)):
                comments.append(
                    Comment(
                        issue_id=issue_id,
                        author=rng.choice(users),
                        body=f"Comment {c}: looked at this, see `log` and **details**.",
                        created=when,
                        updated=when,
                    )
                )
            for _ in range(rng.randint(0, 2)):
                worklogs.append(
                    Worklog(
                        issue_id=issue_id,
                        author=rng.choice(users),
                        started=when,
                        time_spent=rng.choice([900, 1800, 3600]),
                        created=when,
                        updated=when,
                    )
                )
            for _ in range(rng.randint(0, 3)):
                history.append(
                    History(
                        issue_id=issue_id,
                        author=rng.choice(users),
                        created=when,
                        field="status",
                        from_value="To Do",
                        to_value="In Progress",
                    )
                )
        with transaction.atomic():
            Comment.objects.bulk_create(comments)
            Worklog.objects.bulk_create(worklogs)
            History.objects.bulk_create(history)
    from worklogs.services import issue_recalculate_time_spent, worklog_projects_fill

    worklog_projects_fill(issue_ids=None)  # raw inserts: the worklogs take their issue's project, as seed_demo's

    issue_recalculate_time_spent(issue_ids=ids)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --- measurements ----------------------------------------------------------------------------------


def logged_in_client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="user0"))
    return client


def nav_url(project_key: str) -> str:
    return f"/issues/?jql=project+%3D+{project_key}+ORDER+BY+updated+DESC"


def side_by_side(args: argparse.Namespace) -> dict[str, Any]:
    """Return median server times (ms) of uncached and cached issue and navigator pages, interleaved."""
    from django.test import override_settings

    from issues.models import Issue, Project

    client = logged_in_client()
    rng = random.Random(11)
    keys = list(Issue.objects.order_by("?").values_list("key", flat=True)[: args.samples])
    projects = list(Project.objects.values_list("key", flat=True))
    out: dict[str, Any] = {}
    for page, urls in (
        ("issue", [f"/browse/{k}" for k in keys]),
        ("navigator", [nav_url(rng.choice(projects)) for _ in range(args.samples)]),
    ):
        cold, warm = [], []
        for url in urls:
            with override_settings(TASKRA_PAGE_CACHE=False):
                t = time.perf_counter()
                r = client.get(url)
                cold.append(time.perf_counter() - t)
                assert r.status_code == 200, (url, r.status_code)
            client.get(url)  # fill the entry
            t = time.perf_counter()
            r = client.get(url)
            warm.append(time.perf_counter() - t)
            assert r.status_code == 200, (url, r.status_code)
        uncached, cached = statistics.median(cold) * 1000, statistics.median(warm) * 1000
        out[page] = {
            "uncached_ms": round(uncached, 2),
            "cached_ms": round(cached, 2),
            "speedup": round(uncached / cached, 2),
        }
    return out


class Zipf:
    """Sample ranks 0..n-1 with P(k) proportional to 1/(k+1)^s."""

    def __init__(self, n: int, s: float, rng: random.Random) -> None:
        total, cdf = 0.0, []
        for k in range(1, n + 1):
            total += k**-s
            cdf.append(total)
        self.cdf = [c / total for c in cdf]
        self.rng = rng

    def sample(self) -> int:
        return min(bisect.bisect_left(self.cdf, self.rng.random()), len(self.cdf) - 1)


def client_process(args_dict: dict[str, Any], worker: int, ops: int, phase: str, queue: Any) -> None:
    """Run `ops` operations (5% writes) and put counts on the queue."""
    args = argparse.Namespace(**args_dict)
    setup_django(args)
    from django_redis import get_redis_connection

    from issues import pagecache
    from issues.models import Issue, Project
    from issues.services import issue_update

    raw = get_redis_connection("default")
    client = logged_in_client()
    order = list(Issue.objects.order_by("id").values_list("id", "key", "project_id"))
    random.Random(3).shuffle(order)  # rank -> issue: the same hot set in every process
    project_keys = dict(Project.objects.values_list("id", "key"))
    rng = random.Random(1000 * worker + (0 if phase == "warmup" else 1))
    zipf = Zipf(len(order), args.zipf_s, rng)
    counts = {"reads": 0, "writes": 0, "stale": 0, "checked": 0, "errors": 0, "first_touch": 0}
    trace: list[tuple[int, str, str]] = []  # (time, "r" or "w", url or issue key) for the ideal-cache bound
    for _ in range(ops):
        issue_id, key, project_id = order[zipf.sample()]
        roll = rng.random()
        if roll < args.write_ratio:
            version = int(raw.incr(f"bench:{args.prefix}:seq"))
            issue = Issue.objects.get(pk=issue_id)
            issue_update(
                issue=issue,
                actor=None,
                data={"summary": f"Bench issue bench-v{version}-i{issue_id}"},
                check_permission=False,
            )
            # Recorded only after the service returned: any read that sees this record must see the write.
            raw.hset(f"bench:{args.prefix}:p{project_id}", issue_id, version)
            counts["writes"] += 1
            trace.append((time.time_ns(), "w", key))
            continue
        expected = {int(k): int(v) for k, v in raw.hgetall(f"bench:{args.prefix}:p{project_id}").items()}
        url = nav_url(project_keys[project_id]) if roll < args.write_ratio + args.nav_ratio else f"/browse/{key}"
        # A page never read before in this run is a compulsory (cold) miss: no cache could have had it.
        counts["first_touch"] += int(raw.sadd(f"bench:{args.prefix}:seen", url))
        trace.append((time.time_ns(), "r", url))
        response = client.get(url)
        counts["reads"] += 1
        if response.status_code != 200:
            counts["errors"] += 1
            continue
        # The newest version shown per issue (history rows on the issue page show older ones too).
        shown: dict[int, int] = {}
        for version, seen_id in TOKEN_RE.findall(response.content.decode()):
            shown[int(seen_id)] = max(shown.get(int(seen_id), 0), int(version))
        for seen_id, version in shown.items():
            if seen_id in expected:
                counts["checked"] += 1
                if version < expected[seen_id]:
                    counts["stale"] += 1
    pagecache.flush_metrics()
    queue.put((counts, trace))


def ideal_hit_rates(warmup: list[tuple[int, str, str]], measured: list[tuple[int, str, str]]) -> tuple[float, float]:
    """Return the hit rates of two perfect caches (unbounded, never expiring) on the measured reads.

    Read-through: a read hits when its URL was read earlier in the run (warm-up included) and no
    write touched it since (a write to an issue invalidates its page and its project's navigator
    page). Write-through: every page read before is current, so only first reads miss. No
    cache can beat these on the same trace: the real one can only approach them.
    """
    valid: set[str] = set()
    seen: set[str] = set()
    through = ever = reads = 0
    for phase, events in ((0, sorted(warmup)), (1, sorted(measured))):
        for _t, kind, what in events:
            if kind == "w":
                valid.discard(f"/browse/{what}")
                valid.discard(nav_url(what.split("-")[0]))
                continue
            if phase:
                reads += 1
                through += what in valid
                ever += what in seen
            valid.add(what)
            seen.add(what)
    return (through / reads, ever / reads) if reads else (0.0, 0.0)


def run_phase(args: argparse.Namespace, phase: str, ops: int) -> list[tuple[dict[str, int], list]]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=client_process, args=(vars(args), w, ops, phase, queue)) for w in range(args.processes)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="bench_cache", help="scratch database name (dropped and re-created)")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded scratch database")
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--samples", type=int, default=100, help="pages per type in the side-by-side timing")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--ops", type=int, default=3000, help="operations per process (after as many warm-up ops)")
    parser.add_argument("--zipf-s", type=float, default=1.1)
    parser.add_argument("--write-ratio", type=float, default=0.05)
    parser.add_argument("--nav-ratio", type=float, default=0.05, help="share of operations that read navigator")
    parser.add_argument("--prefix", default=f"bench-cache-{os.getpid()}")
    parser.add_argument("--no-refresh", action="store_true", help="no page refresh after writes (no worker)")
    args = parser.parse_args()
    args.queue = f"bench-cache-{os.getpid()}"

    if not args.reuse:
        recreate_database(args.db)
    setup_django(args)
    from django.core.management import call_command
    from django_redis import get_redis_connection

    from issues import pagecache
    from issues.models import Issue

    t = time.perf_counter()
    if not args.reuse or not Issue.objects.exists():
        call_command("migrate", verbosity=0, interactive=False)
        seed(args)
    n_issues = Issue.objects.count()
    print(f"database {args.db}: {n_issues} issues ready in {time.perf_counter() - t:.1f}s", flush=True)
    if n_issues < 100_000 and args.issues >= 100_000:
        sys.exit("fewer than 100,000 issues seeded")

    raw = get_redis_connection("default")
    worker = None if args.no_refresh else start_refresh_worker(args)
    try:
        timings = side_by_side(args)
        for page, row in timings.items():
            print(
                f"{page:9} page: uncached {row['uncached_ms']:.2f} ms, cached {row['cached_ms']:.2f} ms, "
                f"speedup {row['speedup']:.1f}x (median of {args.samples})",
                flush=True,
            )

        # Versions start above any earlier run's (a --reuse database keeps old summaries and history rows).
        raw.set(f"bench:{args.prefix}:seq", int(time.time()) * 1000)
        t = time.perf_counter()
        warm_trace = [e for _counts, trace in run_phase(args, "warmup", args.ops) for e in trace]
        print(f"warm-up: {args.processes} processes x {args.ops} ops in {time.perf_counter() - t:.1f}s", flush=True)
        pagecache.reset_metrics()
        t = time.perf_counter()
        phase = run_phase(args, "measure", args.ops)
        elapsed = time.perf_counter() - t
        results = [counts for counts, _trace in phase]
        read_through, write_through = ideal_hit_rates(warm_trace, [e for _counts, trace in phase for e in trace])
        ceiling = read_through if args.no_refresh else write_through
        metrics = pagecache.cache_metrics()
        totals = {k: sum(r[k] for r in results) for k in results[0]}
        # A page hit is a page served without rendering: the issue page's body (its payload is counted
        # separately as "issue") and the navigator's result page with its rendered rows.
        hits = sum(metrics[p]["hits"] for p in ("issue_body", "navigator"))
        lookups = hits + sum(metrics[p]["misses"] for p in ("issue_body", "navigator"))
        hit_rate = hits / lookups if lookups else 0.0
        for page in ("issue", "issue_body", "navigator"):
            m = metrics[page]
            print(
                f"{page:9} cache: hits {m['hits']}, misses {m['misses']}, rebuilds {m['rebuilds']}, "
                f"waits {m['waits']}, errors {m['errors']}, hit rate {m['hit_rate']:.1%}, "
                f"avg rebuild {m['rebuild_ms_avg']:.1f} ms",
                flush=True,
            )
        print(
            f"workload: {args.processes} processes x {args.ops} ops (Zipf s={args.zipf_s} over {n_issues} issues, "
            f"{args.write_ratio:.0%} writes, {args.nav_ratio:.0%} navigator, "
            f"{'no refresh' if args.no_refresh else 'refresh after writes'}) in {elapsed:.1f}s: "
            f"{totals['reads']} reads, {totals['writes']} writes, {totals['errors']} non-200, "
            f"{totals['checked']} version checks, {totals['stale']} stale",
            flush=True,
        )
        print(
            f"page hit rate {hit_rate:.1%}; perfect caches on the same trace (unbounded, never expiring): "
            f"read-through {read_through:.1%}, write-through {write_through:.1%} (only first reads miss); "
            f"real / perfect {'read' if args.no_refresh else 'write'}-through = "
            f"{hit_rate / ceiling if ceiling else 0:.1%}",
            flush=True,
        )
        figures = {
            "issues": n_issues,
            "issue_page_uncached_ms": timings["issue"]["uncached_ms"],
            "issue_page_cached_ms": timings["issue"]["cached_ms"],
            "issue_page_speedup": timings["issue"]["speedup"],
            "navigator_page_uncached_ms": timings["navigator"]["uncached_ms"],
            "navigator_page_cached_ms": timings["navigator"]["cached_ms"],
            "navigator_page_speedup": timings["navigator"]["speedup"],
            "page_refresh": not args.no_refresh,
            "hit_rate": round(hit_rate, 4),
            "hit_rate_ceiling": round(ceiling, 4),
            "hit_rate_perfect_read_through": round(read_through, 4),
            "hit_rate_perfect_write_through": round(write_through, 4),
            "hit_rate_vs_ceiling": round(hit_rate / ceiling, 4) if ceiling else 0.0,
            # Excluding compulsory misses (first read of a page in the run): the steady-state figure.
            "hit_rate_warm": round(hits / (lookups - totals["first_touch"]), 4)
            if lookups > totals["first_touch"]
            else 0.0,
            "cold_misses": totals["first_touch"],
            "issue_hit_rate": round(metrics["issue_body"]["hit_rate"], 4),
            "issue_payload_hit_rate": round(metrics["issue"]["hit_rate"], 4),
            "navigator_hit_rate": round(metrics["navigator"]["hit_rate"], 4),
            "reads": totals["reads"],
            "writes": totals["writes"],
            "stale_reads": totals["stale"],
            "version_checks": totals["checked"],
        }
        print(json.dumps(figures), flush=True)
    finally:
        if worker is not None:
            worker.stop()
        for key in raw.scan_iter(f"{args.prefix}:*"):
            raw.delete(key)
        for key in raw.scan_iter(f"bench:{args.prefix}:*"):
            raw.delete(key)


if __name__ == "__main__":
    main()
