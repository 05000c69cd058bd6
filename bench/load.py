"""Load test: Locust (bench/locustfile.py) against gunicorn on PostgreSQL + Redis, at a chosen data size.

    make bench-load SIZE=20000 USERS=16 DURATION=60s
    .venv/bin/python bench/load.py --size 1000000 --users 16 --duration 300s --database-url postgres://...

1. Creates the PostgreSQL database if missing, migrates it and seeds SIZE issues with seed_demo, unless it
   already holds exactly SIZE issues (a database with another count is refused: name another one).
2. Lets USERS seeded people (members of the first project, with real worklogs) log in, as members of every
   project, with the seed's password, and makes one more seeded person staff with the issue admin's model
   permissions (the admin search journey); writes the journeys' data (keys, names, report range) to a JSON file.
3. Starts gunicorn (taskra_site/gunicorn_conf.py, WORKERS sync workers, no worker recycling) on the database
   and REDIS_URL, runs Locust headless for DURATION (statistics from the moment the last client has logged
   in), samples each gunicorn worker's RSS from /proc meanwhile,
   and prints p50/p95/p99 per journey, each p95 against the floor journey's p95 in the same run, errors and
   each worker's peak RSS. Every process it started is stopped before it returns, also on errors, Ctrl-C or
   SIGTERM.

Quick mode (`--quick`, CI's `make bench-check` through quick_ratios()): a small, bounded run of the same harness
(QUICK_SIZE issues, QUICK_USERS clients for QUICK_DURATION, gunicorn with 2 workers, a cache prefix of its own
whose keys are deleted afterwards) that also logs every journey request (bench/locust_rounds.py) and writes, with
`--json`, each journey's p50 and p95 over the floor journey's in each of QUICK_ROUNDS equal time rounds: ratios
taken side by side in one run (every journey interleaved with the floor by Locust's random task choice), never
absolute times.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FLOOR = "floor: GET /accounts/login/"
SETUP = ("login form", "login", "(setup")  # requests of the clients' start, not journeys
# Quick mode (CI): small and bounded. As many clients as workers, without think time (BENCH_NO_WAIT): each worker
# always serves one request and none waits in the listen queue, which would add the same wait to every journey.
QUICK_SIZE = 2000
QUICK_USERS = 2
QUICK_DURATION = "45s"
QUICK_ROUNDS = 3
QUICK_TIMEOUT = 240.0  # seconds; the whole quick run (seeding a fresh database included) is well under this
MIN_SAMPLES = 2  # a journey's round needs this many requests (and the floor's) to give a ratio


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20000, help="issues in the database (default 20000)")
    parser.add_argument("--users", type=int, default=16, help="concurrent Locust clients (default 16)")
    parser.add_argument("--duration", default="60s", help="Locust run time, e.g. 60s or 5m (default 60s)")
    parser.add_argument(
        "--think",
        default="0.1,0.5",
        help="each client's think time between requests, seconds MIN,MAX (default 0.1,0.5: 16 clients then "
        "saturate 2 workers and every journey's p95 is mostly queueing; 2,6 models people reading pages)",
    )
    parser.add_argument("--spawn-rate", type=float, default=4.0, help="clients started per second (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--port", type=int, default=8765, help="gunicorn port on 127.0.0.1 (default 8765)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL") or "",
        help="PostgreSQL database to seed and serve (default: BENCH_DATABASE_URL, else taskra_bench_<size> on "
        "127.0.0.1)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or "",
        help="Redis for the cache and sessions (default: BENCH_REDIS_URL, else REDIS_URL; required)",
    )
    parser.add_argument("--cache-prefix", default=os.environ.get("CACHE_KEY_PREFIX") or "bench-load")
    parser.add_argument("--password", default="demo-pass-123", help="the seed's password (seed_demo --password)")
    parser.add_argument("--markdown", type=Path, help="append the result table to this file")
    parser.add_argument(
        "--cache-off-percent",
        type=int,
        default=50,
        help="split sessions on the live page_cache switch with this share in variant off, for the '(cache off)' "
        "journeys (bench/locustfile.py); the switch is put back as it was afterwards. 0: no split, no such journeys "
        "(default 50; quick mode 0)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"CI's quick mode: defaults to --size {QUICK_SIZE} --users "
        f"{QUICK_USERS} --duration {QUICK_DURATION}, a free port, per-round ratios (see --json)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="quick mode: write the per-round ratios to this file")
    parser.add_argument("--rounds", type=int, default=QUICK_ROUNDS, help="quick mode: time rounds of the run")
    if "--quick" in (argv if argv is not None else sys.argv[1:]):
        parser.set_defaults(
            size=QUICK_SIZE, users=QUICK_USERS, duration=QUICK_DURATION, spawn_rate=2.0, port=0, cache_off_percent=0
        )
    args = parser.parse_args(argv)
    if not args.redis_url:
        parser.error("set REDIS_URL (or BENCH_REDIS_URL, --redis-url): the load test runs on Redis")
    try:
        think = [float(x) for x in args.think.split(",")]
    except ValueError:
        think = []
    if len(think) != 2 or not 0 <= think[0] <= think[1]:
        parser.error("--think takes MIN,MAX seconds with 0 <= MIN <= MAX, e.g. 2,6")
    if not 0 <= args.cache_off_percent < 100:
        parser.error("--cache-off-percent takes 0 (no split) to 99")
    if args.size < 1000 or args.users < 1 or args.workers < 1:
        parser.error("--size >= 1000, --users >= 1 and --workers >= 1 are required")
    args.database_url = args.database_url or f"postgres://postgres@127.0.0.1:5432/taskra_bench_{args.size}"
    if args.port == 0:
        args.port = free_port()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must name a PostgreSQL database")
    return args


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now (CI may run other servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database `url` names if it does not exist."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def prepare(args: argparse.Namespace, data_path: Path) -> dict[str, Any]:
    """Migrate and seed the database (once per size), give the load-test people access, write the journeys' data."""
    os.environ.update(
        {"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url, "CACHE_KEY_PREFIX": args.cache_prefix}
    )
    os.environ.update(
        {"DJANGO_SETTINGS_MODULE": "taskra_site.settings", "DEBUG": "0", "CELERY_BROKER_URL": "memory://"}
    )
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from issues import pagecache
    from issues.models import Issue, Membership, Project, Role

    call_command("migrate", verbosity=0)
    count = Issue.objects.count()
    if count == 0:
        started = time.perf_counter()
        call_command("seed_demo", issues=args.size, password=args.password)
        print(f"seeded {args.size:,} issues in {time.perf_counter() - started:.0f} s")
    elif count != args.size:
        raise SystemExit(f"{args.database_url} holds {count:,} issues, not {args.size:,}: name another database")
    else:
        print(f"{args.database_url} already holds {count:,} issues: not seeding")

    projects = list(Project.objects.order_by("id").values_list("id", "key", "issue_counter"))
    first_id, first_key, first_count = projects[0]
    team = list(
        Membership.objects.filter(project_id=first_id)
        .exclude(role=Role.VIEWER)
        .exclude(user__username="demo")
        .order_by("user_id")
        .values_list("user_id", "user__username")
    )
    people, assignees = team[: args.users], [u for _, u in team[args.users : args.users + 20]] or [team[0][1]]
    Membership.objects.bulk_create(
        [Membership(project_id=pid, user_id=uid, role=Role.MEMBER) for uid, _ in people for pid, _, _ in projects],
        ignore_conflicts=True,
    )
    pagecache.invalidate_on_commit(config_ids=[pid for pid, _, _ in projects])  # members: bulk_create
    # Not in quick mode: its two clients' few samples per journey are CI's paired ratios (an unchecked journey
    # would only thin them out).
    staff = "" if args.quick else staff_for_admin_search(team[-1][0])
    inline = settings.TASKRA_EXPORT_INLINE_ROWS
    export_key, export_rows = max(
        ((key, n) for _, key, n in projects if n <= inline), key=lambda p: p[1], default=(first_key, first_count)
    )
    today = dt.date.today()
    month_end = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    data = {
        "users": [u for _, u in people],
        "password": args.password,
        "projects": [(key, n) for _, key, n in projects],
        "assignees": assignees,
        "text_word": "reproduce",
        "deep_pages": 20,
        "log_project": first_key,
        "log_project_issues": first_count,
        "report": {"project": first_key, "start": today.replace(day=1).isoformat(), "end": month_end.isoformat()},
        "export_project": export_key,
        "export_rows": export_rows,
        "staff_user": staff,
    }
    if args.cache_off_percent:
        data["cache_off_split"] = {"name": "page_cache", "percent_off": args.cache_off_percent}
        data["session_cookie"] = settings.SESSION_COOKIE_NAME
    data_path.write_text(json.dumps(data), encoding="utf-8")
    return data


# The page_cache switch's fields as they were before the run (None: no row), put back by restore_cache_switch().
SwitchState = dict[str, Any] | None


def split_cache_switch(percent_off: int) -> SwitchState:
    """Split sessions on the live page_cache switch: percent_off % in variant "off", the rest "on".

    The same experiment an operator starts in the admin (perf.switches): a session's key alone decides its
    variant, so the cache-off journeys' clients log in until their session lands in "off" (bench/locustfile.py).
    Return the switch's previous state. Runs before gunicorn starts, so every worker reads the split.
    """
    from perf.models import Switch, SwitchMode  # after prepare()'s django.setup(), like its own imports

    previous = Switch.objects.filter(name="page_cache").values("mode", "variant_a", "variant_b", "percent_b").first()
    Switch.objects.update_or_create(
        name="page_cache",
        defaults={"mode": SwitchMode.SPLIT, "variant_a": "on", "variant_b": "off", "percent_b": percent_off},
    )
    return None if previous is None else dict(previous)


def restore_cache_switch(previous: SwitchState) -> None:
    """Put the page_cache switch back as split_cache_switch() found it."""
    from perf.models import Switch  # after prepare()'s django.setup()

    if previous is None:
        Switch.objects.filter(name="page_cache").delete()
    else:
        Switch.objects.update_or_create(name="page_cache", defaults=previous)


def staff_for_admin_search(user_id: int) -> str:
    """Make a seeded person staff with the issue admin's permissions (view and change issues); return the username.

    The admin journey searches the issue list as an operator would: a staff account whose access comes from
    Django's model permissions through a group, not a superuser (issues.permissions: the admin is the site's tool).
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name="Issue administrators")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="issues", codename__in=("view_issue", "change_issue"))
    )
    user = get_user_model().objects.get(pk=user_id)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(group)
    return str(user.get_username())


def children_of(pid: int) -> list[int]:
    """Return the ids of the processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def rss_kib(pid: int) -> int:
    """Return the resident set size of a process in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Sample the RSS of every child of the gunicorn master four times a second; keep each one's peak and last."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.peak: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            for pid in children_of(self.master):
                kib = rss_kib(pid)
                if kib:
                    self.peak[pid] = max(self.peak.get(pid, 0), kib)
                    self.last[pid] = kib


def stop(process: subprocess.Popen[bytes] | None, name: str) -> None:
    """Stop a process group this script started: SIGTERM, then SIGKILL after 30 s."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in 30 s: killing it")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until_up(url: str, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"gunicorn did not answer {url} within {timeout:.0f} s")


def report(prefix: str, sampler: RssSampler, args: argparse.Namespace, load: tuple[float, float]) -> str:
    """Return the result as a Markdown table (journeys by p95), the errors and the workers' RSS."""
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["Name"] != "Aggregated"]
    floor = next((float(r["95%"]) for r in rows if r["Name"] == FLOOR), 0.0)
    lines = [
        f"size {args.size:,} issues, {args.users} users, {args.duration}, gunicorn {args.workers} sync workers; "
        f"load average {load[0]:.1f} before, {load[1]:.1f} after",
        "",
        "| journey | requests | errors | p50 ms | p95 ms | p99 ms | p95 × floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    journeys = [r for r in rows if not r["Name"].startswith(SETUP)]
    setup = [r for r in rows if r["Name"].startswith(SETUP) and int(r["Request Count"])]
    for r in sorted(journeys, key=lambda r: float(r["95%"] or 0)):
        p95 = float(r["95%"] or 0)
        ratio = f"{p95 / floor:.1f}×" if floor else "-"
        lines.append(
            f"| {r['Name']} | {r['Request Count']} | {r['Failure Count']} | {r['50%']} | {r['95%']} | {r['99%']} | "
            f"{ratio} |"
        )
    if setup:
        starts = ", ".join(f"{r['Name']} p50 {r['50%']} ms, p95 {r['95%']} ms ({r['Request Count']}×)" for r in setup)
        lines += ["", f"Start-up of the clients (not journeys): {starts}"]
    errors = Path(f"{prefix}_failures.csv")
    if errors.exists():
        with errors.open(newline="", encoding="utf-8") as f:
            failures = list(csv.DictReader(f))
        if failures:
            lines += ["", "Errors:"] + [f"- {e['Name']}: {e['Error']} ({e['Occurrences']}×)" for e in failures]
    total_errors = sum(int(r["Failure Count"]) for r in rows)
    lines += ["", f"errors in total: {total_errors}"]
    for pid in sorted(sampler.peak):
        lines.append(
            f"gunicorn worker {pid}: peak RSS {sampler.peak[pid] / 1024:.0f} MiB, "
            f"at the end {sampler.last[pid] / 1024:.0f} MiB"
        )
    return "\n".join(lines)


def journey_slug(name: str) -> str:
    """Return a journey's stable ratio name: "export CSV (668 rows)" -> "export_csv" (sizes vary by data)."""
    return re.sub(r"[^a-z0-9]+", "_", name.split(" (")[0].lower()).strip("_")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]  # nearest rank


def round_ratios(log: Path, rounds: int) -> dict[str, list[float]]:
    """Return, per journey, its p50 and p95 over the floor's p50 and p95 in each time round of the request log.

    The run is cut into `rounds` equal spans of time; within a span every journey ran interleaved with the floor
    (Locust picks each client's next task at random), so each span is one paired round. A round where the
    journey or the floor has fewer than MIN_SAMPLES requests gives no ratio. Also "errors_share": failed requests
    over all requests, per round (a journey that starts failing fast must not pass as faster).
    """
    records: list[tuple[float, str, float, bool]] = []
    for line in log.read_text(encoding="utf-8").splitlines():
        at, journey, took, flag = line.split("\t")
        records.append((float(at), journey, float(took), flag == "1"))
    if not records:
        raise SystemExit(f"{log}: no journey request was logged")
    first, last = min(r[0] for r in records), max(r[0] for r in records)
    span = (last - first) / rounds or 1.0
    per_round: list[dict[str, list[float]]] = [{} for _ in range(rounds)]
    failed = [[0, 0] for _ in range(rounds)]
    for started, name, ms, bad in records:
        i = min(rounds - 1, int((started - first) / span))
        failed[i][0] += bad
        failed[i][1] += 1
        if not bad:
            per_round[i].setdefault(name, []).append(ms)
    out: dict[str, list[float]] = {"errors_share": [bad / total for bad, total in failed if total]}
    for times in per_round:
        floor = times.get(FLOOR, [])
        if len(floor) < MIN_SAMPLES:
            continue
        base = {"p50": _quantile(floor, 0.5), "p95": _quantile(floor, 0.95)}
        for name, values in times.items():
            if name == FLOOR or name.startswith(SETUP) or len(values) < MIN_SAMPLES:
                continue
            for tag, q in (("p50", 0.5), ("p95", 0.95)):
                out.setdefault(f"{journey_slug(name)}.{tag}", []).append(_quantile(values, q) / base[tag])
    return out


def quick_ratios() -> dict[str, list[float]]:
    """Run the quick load check in a child process; return its per-round ratios (bench/check.py's load hook).

    The child runs gunicorn and Locust on BENCH_LOAD_DATABASE_URL (PostgreSQL, seeded once with QUICK_SIZE
    issues) and BENCH_LOAD_REDIS_URL; without them there is nothing to run on and {} comes back (the caller
    says so). The child stops its servers itself, also when it is sent SIGTERM on QUICK_TIMEOUT.
    """
    database_url = os.environ.get("BENCH_LOAD_DATABASE_URL", "")
    redis_url = os.environ.get("BENCH_LOAD_REDIS_URL", "")
    if not database_url or not redis_url:
        return {}
    out = Path(tempfile.mkdtemp(prefix="taskra-load-quick-")) / "ratios.json"
    # The caller's Django environment (a scratch SQLite database, a forced page cache) is not the servers'.
    own = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CACHE_KEY_PREFIX", "TASKRA_PAGE_CACHE",
           "TASKRA_PAGE_REFRESH", "DJANGO_SETTINGS_MODULE")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in own}
    child = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "bench" / "load.py"), "--quick", "--database-url", database_url,
         "--redis-url", redis_url, "--cache-prefix", f"bench-load-quick-{os.getpid()}", "--json", str(out)],
        cwd=BASE_DIR, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        child.wait(QUICK_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"the quick load run took over {QUICK_TIMEOUT:.0f} s: stopped") from None
    finally:
        stop(child, "quick load run")  # SIGTERM: it stops gunicorn and Locust on its way out
    if child.returncode != 0:
        raise SystemExit(f"the quick load run failed (exit {child.returncode})")
    ratios: dict[str, list[float]] = json.loads(out.read_text(encoding="utf-8"))["ratios"]
    return ratios


def delete_prefix(redis_url: str, prefix: str) -> int:
    """Delete every key of a cache prefix (a quick run's page cache, sessions and rollups); return how many."""
    import redis

    client = redis.Redis.from_url(redis_url)
    deleted = 0
    batch = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM (a CI timeout, quick_ratios' stop) unwinds like Ctrl-C: main's finally stops gunicorn and Locust.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    ensure_database(args.database_url)
    workdir = Path(tempfile.mkdtemp(prefix="taskra-load-"))
    data_path = workdir / "data.json"
    prepare(args, data_path)
    switch_before: SwitchState = None
    split = bool(args.cache_off_percent)
    if split:
        switch_before = split_cache_switch(args.cache_off_percent)
    host = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CACHE_KEY_PREFIX": args.cache_prefix,
        "CELERY_BROKER_URL": "memory://",  # nothing the journeys do needs a worker; nothing lands on a shared broker
        "TASKRA_PAGE_REFRESH": "0",
        "DEBUG": "0",
        "HTTPS": "0",
        "WEB_BIND": f"127.0.0.1:{args.port}",
        "WEB_WORKERS": str(args.workers),
        "WEB_MAX_REQUESTS": "0",  # no recycling: the RSS figures are of workers that served the whole run
        "WEB_ACCESS_LOG": "",
        "WEB_LOG_LEVEL": "warning",
        "BENCH_DATA": str(data_path),
        "BENCH_REQUEST_LOG": str(workdir / "requests.tsv") if args.quick else "",
        "BENCH_NO_WAIT": "1" if args.quick else "",
        "BENCH_THINK": args.think,
    }
    if args.quick:
        env["TASKRA_SLOW_REQUEST_MS"] = "60000"  # no slow-request log lines in CI's output (a loaded machine)
    server: subprocess.Popen[bytes] | None = None
    locust: subprocess.Popen[bytes] | None = None
    sampler: RssSampler | None = None
    try:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "bench/gunicorn_bench.py", "taskra_site.wsgi"],
            cwd=BASE_DIR, env=env, start_new_session=True,
        )  # fmt: skip
        wait_until_up(f"{host}/accounts/login/", server)
        sampler = RssSampler(server.pid)
        sampler.start()
        prefix = str(workdir / "locust")
        before = os.getloadavg()[0]
        locust = subprocess.Popen(
            [
                str(BIN / "locust"), "-f", "bench/locustfile.py,bench/locust_rounds.py", "--headless",
                "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.duration, "-H", host, "--csv", prefix,
                "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "30",
            ],
            cwd=BASE_DIR, env=env, start_new_session=True,
        )  # fmt: skip
        locust.wait()
        after = os.getloadavg()[0]
        sampler.done.set()
        sampler.join()
        text = report(prefix, sampler, args, (before, after))
        if args.quick:
            ratios = round_ratios(workdir / "requests.tsv", args.rounds)
            print("\n" + text)
            print(f"\nquick mode: {args.rounds} rounds; median ratio per journey over the floor:")
            for name, values in sorted(ratios.items()):
                print(f"  {name:40} {statistics.median(values):7.3f}  ({len(values)} rounds)")
            if args.json:
                args.json.write_text(json.dumps({"ratios": ratios, "load": [before, after]}), encoding="utf-8")
            return
        # The servers' own p95 per route (what /perf/ shows) next to Locust's, from this run's rollups.
        agreement = subprocess.run(
            [str(BIN / "python"), "bench/perf_agreement.py", "--stats", f"{prefix}_stats.csv", "--seconds", "7200"],
            cwd=BASE_DIR, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        text += "\n\nThe perf page's p95 (server side) against Locust's, routes with one journey:\n\n"
        text += agreement.stdout.strip() or f"(not available: {agreement.stderr.strip()[-300:]})"
        print()
        print(text)
        if args.markdown:
            with args.markdown.open("a", encoding="utf-8") as f:
                f.write("\n" + text + "\n")
    finally:
        if sampler is not None:
            sampler.done.set()
        stop(locust, "locust")
        stop(server, "gunicorn")
        if split:
            restore_cache_switch(switch_before)
        if args.quick:
            delete_prefix(args.redis_url, args.cache_prefix)


if __name__ == "__main__":
    main()
