"""Admin search by issue key: the issue changelist's cost against the floor page, side by side in one run.

Run against a seeded PostgreSQL database (seed_demo, e.g. 1,000,000 issues and 137 projects):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_admin_1m REDIS_URL=redis://127.0.0.1:6379/9 \\
    .venv/bin/python bench/admin_search.py --rounds 200

A staff member with the issue admin's permissions (bench/load.py's staff_for_admin_search: view and change
issues through a group, not a superuser) searches the issue list for keys spread over every project, with
the project filter as Django's link per project ("links", what the admin had) and as a key box ("key box",
issues.admin.ProjectKeyFilter). Each round requests the floor (GET /accounts/login/ when logged in: a 302) and
both variants in a shuffled order; prints each one's p50 and p95, its ratio to the floor's, and its queries.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import setup_django  # noqa: E402


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("HTTPS", "0")  # the test client speaks plain HTTP
    setup_django("admin_search")

    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.load import staff_for_admin_search
    from issues.admin import ProjectKeyFilter
    from issues.models import Issue, Membership, Project

    model_admin: Any = admin.site._registry[Issue]
    key_box = tuple(model_admin.list_filter)
    links = tuple("project" if f is ProjectKeyFilter else f for f in key_box)
    variants = {"links": links, "key box": key_box}

    person = Membership.objects.filter(user__is_superuser=False).order_by("-user_id").values_list("user_id", flat=True)
    staff = staff_for_admin_search(person[0])
    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.get(username=staff))
    projects = list(Project.objects.filter(issue_counter__gt=0).values_list("key", "issue_counter"))
    rng = random.Random(13)
    print(f"database {connection.settings_dict['NAME']}: {Issue.objects.count():,} issues, {len(projects)} projects")

    def search(key: str) -> None:
        response = client.get("/admin/issues/issue/", {"q": key})
        assert response.status_code == 200 and f">{key}</a>" in response.text, key

    def floor() -> None:
        assert client.get("/accounts/login/").status_code == 302

    queries = {}
    for name, filters in variants.items():
        model_admin.list_filter = filters
        key = "{}-{}".format(*projects[0])
        search(key)
        with CaptureQueriesContext(connection) as ctx:
            search(key)
        queries[name] = len(ctx.captured_queries)
    times: dict[str, list[float]] = {"floor": [], **{name: [] for name in variants}}
    for _ in range(10):  # warm-up
        floor()
    for _ in range(args.rounds):
        project, count = rng.choice(projects)
        key = f"{project}-{rng.randint(1, count)}"
        order = ["floor", *variants]
        rng.shuffle(order)
        for name in order:
            if name != "floor":
                model_admin.list_filter = variants[name]
            started = time.perf_counter()
            floor() if name == "floor" else search(key)
            times[name].append((time.perf_counter() - started) * 1000)
    model_admin.list_filter = key_box
    base50, base95 = statistics.median(times["floor"]), quantile(times["floor"], 0.95)
    print(f"{args.rounds} rounds, interleaved; ratios to the floor's p50 / p95 in the same run")
    print(f"{'request':24} {'p50 ms':>7} {'p95 ms':>7} {'x p50':>6} {'x p95':>6} {'queries':>7}")
    for name, values in times.items():
        p50, p95 = statistics.median(values), quantile(values, 0.95)
        q = queries.get(name, "")
        print(f"{name:24} {p50:7.2f} {p95:7.2f} {p50 / base50:6.2f} {p95 / base95:6.2f} {q!s:>7}")


if __name__ == "__main__":
    main()
