"""Compare the perf page's p95 per route (the servers' own metrics) with Locust's p95 of the same requests.

Run by bench/load.py after a load run, with the run's DATABASE_URL, REDIS_URL and CACHE_KEY_PREFIX (a prefix
of its own, so the rollups hold this run only): reads the last `--seconds` of rollups exactly as /perf/ does
(perf.rollups.window, merge_rows, percentile) and prints, for each journey that is the only one on its route,
both p95s and their ratio. Locust's time includes the wait for a free gunicorn worker (the listen queue), which
the server cannot see: under saturation the two differ by that wait, which is the point of printing both.

    .venv/bin/python bench/perf_agreement.py --stats /tmp/taskra-load-x/locust_stats.csv --seconds 600
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")

# Journeys of bench/locustfile.py that are alone on their route (URL name, method) and page-cache variant: the
# "(cache off)" journeys' sessions are in the page_cache switch's "off" variant, every other session is not.
ROUTES = {
    "floor: GET /accounts/login/": ("login", "GET", False),
    "timesheet (own week)": ("worklogs:timesheet", "GET", False),
    "month report (one project)": ("worklogs:reports", "GET", False),
    "REST search": ("api:search", "GET", False),
    "REST search (cache off)": ("api:search", "GET", True),
    "log work (POST)": ("issues:worklog_add", "POST", False),
}
CACHE_OFF = "page_cache=off"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stats", type=Path, required=True, help="Locust's <prefix>_stats.csv")
    parser.add_argument("--seconds", type=int, default=3600, help="how far back the rollups are read")
    args = parser.parse_args()

    import django

    django.setup()
    from perf import rollups  # after django.setup(): the module reads settings and the cache

    with args.stats.open(newline="", encoding="utf-8") as f:
        locust = {r["Name"]: r for r in csv.DictReader(f)}
    rows = rollups.merge_rows(rollups.window(rollups.now(), args.seconds))
    by_route: dict[tuple[str, str, bool], list[float]] = {}
    for key, row in rows.items():
        route, method, variant = rollups.split_key(key)
        where = (route, method, CACHE_OFF in variant.split(","))
        merged = by_route.get(where)
        by_route[where] = row if merged is None else [a + b for a, b in zip(merged, row, strict=True)]
    print("| journey | route | Locust requests | Locust p95 ms | /perf/ requests | /perf/ p95 ms | Locust ÷ /perf/ |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for journey, (route, method, off) in ROUTES.items():
        stats = locust.get(journey)
        found = by_route.get((route, method, off))
        if stats is None or found is None:
            if stats is not None or not off:  # a run without the split has no cache-off journey
                print(f"| {journey} | {route} {method} | - | - | - | - | not seen |")
            continue
        row = found
        server_p95 = rollups.percentile(row, 0.95)
        client_p95 = float(stats["95%"] or 0)
        ratio = f"{client_p95 / server_p95:.2f}" if server_p95 else "-"
        print(
            f"| {journey} | {route} {method} | {stats['Request Count']} | {client_p95:.0f} | "
            f"{int(row[rollups.COUNT])} | {server_p95:.0f} | {ratio} |"
        )


if __name__ == "__main__":
    main()
