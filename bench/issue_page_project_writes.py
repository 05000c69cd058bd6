"""Cached issue pages while other issues of the same project are written: hit rate, queries and time per read.

Runs against an already seeded database (seed_demo) on PostgreSQL and Redis, in this process (the test client, one
logged-in member of every project), like bench/issue_page.py. HOT_KEYS issues of the largest project are warmed,
then each round reads one of them (GET /browse/KEY) and, every --every reads, logs work on another issue of the
same project (worklogs.services.worklog_add: the commonest write). A read is a hit when it ran exactly one query
(the request's user); each read's wall time is paired with a floor request (GET /accounts/login/ of a signed-in
user) made right before it, and the medians are printed as ratios to the floor's.

Then the write side, interleaved for --writes rounds: an issue_update of a summary (a save that retires the pages
of the issues linked to it: IssueLink.other_issue_ids, one query) and that query alone, as a share of the update.

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_projgen_1m REDIS_URL=redis://127.0.0.1:6379/13 \\
  CACHE_KEY_PREFIX=projgen .venv/bin/python bench/issue_page_project_writes.py --reads 600 --every 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.issue_page import setup  # noqa: E402

HOT_KEYS = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=600, help="timed reads of hot keys (default 600)")
    parser.add_argument("--every", type=int, default=5, help="a write to another issue after this many reads")
    parser.add_argument("--writes", type=int, default=100, help="interleaved rounds of the write cost (default 100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--username", default="")
    parser.add_argument("--warmup", type=int, default=0, help="unused (bench/issue_page.py's setup argument)")
    args = parser.parse_args()
    client, _keys = setup(args)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from issues.models import Issue, IssueLink, Project
    from issues.services import issue_update
    from worklogs.services import worklog_add

    rng = random.Random(args.seed)
    project = Project.objects.order_by("-issue_counter").first()
    assert project is not None
    numbers = rng.sample(range(1, project.issue_counter + 1), 2 * HOT_KEYS)
    hot = [f"{project.key}-{n}" for n in numbers[:HOT_KEYS]]
    others = list(Issue.objects.filter(project=project, number__in=numbers[HOT_KEYS:]).select_related("project"))
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    for key in hot:  # warm: every hot page cached
        client.get(f"/browse/{key}")
    hits = 0
    reads: list[float] = []
    floors: list[float] = []
    queries: list[int] = []
    writes = 0
    started = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
    for i in range(args.reads):
        if i and i % args.every == 0:
            worklog_add(issue=rng.choice(others), author=user, time_spent=60, started=started, check_permission=False)
            writes += 1
        key = rng.choice(hot)
        gc.collect()
        t0 = time.perf_counter()
        client.get("/accounts/login/")
        floors.append(time.perf_counter() - t0)
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(f"/browse/{key}")
            reads.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise SystemExit(f"GET /browse/{key}: HTTP {response.status_code}")
        queries.append(len(ctx.captured_queries))
        hits += len(ctx.captured_queries) == 1
    floor = statistics.median(floors)
    result = {
        "project": project.key,
        "issues_in_project": project.issue_counter,
        "reads": args.reads,
        "writes": writes,
        "every": args.every,
        "hit_rate": round(hits / args.reads, 3),
        "queries_mean": round(statistics.mean(queries), 2),
        "read_median_ms": round(statistics.median(reads) * 1000, 2),
        "floor_median_ms": round(floor * 1000, 2),
        "read_x_floor": round(statistics.median(reads) / floor, 2),
    }
    updates: list[float] = []
    link_queries: list[float] = []
    for i in range(args.writes):
        issue = rng.choice(others)
        t0 = time.perf_counter()
        issue_update(issue=issue, actor=user, data={"summary": f"Bench summary {i}"}, check_permission=False)
        updates.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        IssueLink.other_issue_ids([issue.pk])
        link_queries.append(time.perf_counter() - t0)
    if not updates:
        print(json.dumps(result))
        return
    result |= {
        "update_median_ms": round(statistics.median(updates) * 1000, 2),
        "link_query_median_ms": round(statistics.median(link_queries) * 1000, 3),
        "link_query_share_of_update": round(statistics.median(link_queries) / statistics.median(updates), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
