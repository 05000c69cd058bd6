"""What the page cache's outbox check costs per cache hit (docs/cache.md, "Bumps cannot be lost").

Measured in one process, interleaved, on the configured database (DATABASE_URL; its name is replaced by --db,
dropped and re-created on PostgreSQL): the per-request user query without and with the outbox probe column
(the fast path's check), and the check as a query of its own (pagecache.replay_outbox on an empty outbox: the
other cache reads), and what a write transaction pays (its row inserted, deleted after the bump). Prints
median and 10th-percentile microseconds and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="bench_outbox_check", help="scratch database name (dropped and re-created)")
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        sys.exit("bench/outbox_check.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    import psycopg

    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{args.db}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from accounts import backends
    from issues import pagecache

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user("bench", "bench@example.com", "bench-pass-123")
    backend = backends.ProfileModelBackend()
    probes = dict(backends.user_load_annotations)
    connection.ensure_connection()

    def user_plain() -> None:
        backends.user_load_annotations.clear()
        try:
            backend.get_user(user.pk)
        finally:
            backends.user_load_annotations.update(probes)

    def user_with_probe() -> None:
        backend.get_user(user.pk)

    def own_query() -> None:
        pagecache.replay_outbox()

    from django.db import transaction

    from issues.models import CacheBump
    from issues.pagecache import generations

    write_times: dict[str, list[float]] = {"outbox_insert_in_transaction": [], "outbox_delete_after_commit": []}

    def write_overhead() -> None:
        # What a write transaction pays: its row inserted inside it (sharing its commit), deleted after the bump.
        with transaction.atomic():
            t = time.perf_counter()
            row = CacheBump.objects.create(keys="gen:issue:1 gen:project:1")
            write_times["outbox_insert_in_transaction"].append(time.perf_counter() - t)
        t = time.perf_counter()
        generations.delete_applied([row.pk])
        write_times["outbox_delete_after_commit"].append(time.perf_counter() - t)

    cases = {"user_query": user_plain, "user_query_with_probe": user_with_probe, "outbox_query": own_query}
    times: dict[str, list[float]] = {name: [] for name in cases}
    rng = random.Random(5)
    order = list(cases.items())
    for _ in range(200):  # warm up connections and plans
        for _name, fn in order:
            fn()
    for _ in range(args.rounds):
        rng.shuffle(order)  # no case always runs right after another
        for name, fn in order:
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    write_times = {name: [] for name in write_times}  # drop the warm-up
    for _ in range(min(args.rounds, 2000)):
        write_overhead()
    times.update(write_times)
    # On a shared, loaded machine the median moves with other processes; the 10th percentile is the steadier figure.
    figures: dict[str, float] = {}
    for name, values in times.items():
        figures[f"{name}_median_us"] = round(statistics.median(values) * 1e6, 1)
        figures[f"{name}_p10_us"] = round(statistics.quantiles(values, n=10)[0] * 1e6, 1)
    for stat in ("median", "p10"):
        figures[f"probe_column_cost_{stat}_us"] = round(
            figures[f"user_query_with_probe_{stat}_us"] - figures[f"user_query_{stat}_us"], 1
        )
    for name, value in figures.items():
        print(f"{name:32} {value:8.1f} µs ({args.rounds} rounds, interleaved in random order)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
