"""Search engine, issue page, timesheet, report and admin journeys on a seeded database, as ratios to a floor page.

Runs against an existing demo database (seed it first: `manage.py seed_demo --issues 200000 --users 400
--projects 8`); it writes nothing. Each journey is a request through Django's test client as the `demo`
user, interleaved round-robin with the floor journey (GET /accounts/login/) and repeated (bench._common.race);
the page cache is off unless --cache, so every request pays the uncached path. The "old" rows run the engine's
previous query shapes side by side in the same run (JQL values as subqueries; `text ~` as one IN over the
trigram UNION) on the same data.

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_perf_engine TASKRA_PAGE_CACHE=0 \\
      .venv/bin/python bench/engine.py --rounds 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, race, setup_django, versions  # noqa: E402

os.environ.setdefault("TASKRA_PAGE_CACHE", "0")
setup_django("bench_engine")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated journey names to run (default: all)")
    args = parser.parse_args()

    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client
    from django.utils import timezone

    from issues.jql import check_values, compile_jql, jql_search
    from issues.keyset import keyset_page
    from issues.models import Issue, Project
    from issues.selectors import NAVIGATOR_COUNT_CAP, issues_visible_to

    User = get_user_model()
    demo = User.objects.get(username="demo")
    client = Client()
    client.force_login(demo)
    idle = User.objects.filter(assigned_issues__isnull=True, memberships__isnull=False).order_by("pk").first()
    busy = (
        User.objects.annotate(n=Count("worklogs")).order_by("-n").values_list("username", flat=True).first()
        if hasattr(User, "worklogs")
        else None
    )
    big = Project.objects.annotate(n=Count("issues")).order_by("-n").first()
    assert idle is not None and big is not None, "seed the database first"
    last = Issue.objects.order_by("-pk").values_list("pk", flat=True).first() or 1
    rnd = random.Random(1)
    now = timezone.now()

    anonymous = Client()

    def page(path: str, *, anon: bool = False, **params: str) -> Callable[[], object]:
        def get() -> object:
            response = (anonymous if anon else client).get(path, params, secure=True)
            assert response.status_code == 200, (path, params, response.status_code)
            return response

        return get

    def uniform_issue() -> object:
        key = Issue.objects.filter(pk__gte=rnd.randint(1, last)).values_list("key", flat=True).first()
        return page(f"/browse/{key}")()

    def old_engine(jql: str) -> Callable[[], object]:
        # The previous shape: values checked, then compiled as subqueries, visibility as a membership subquery.
        def run() -> object:
            compiled = compile_jql(jql, user=demo, now=now)
            check_values(compiled, user=demo)
            qs = issues_visible_to(demo).filter(compiled.q)
            ids = keyset_page(qs.only("id"), compiled.order_by, cursor=None, size=50).rows
            return ids, qs.order_by()[: NAVIGATOR_COUNT_CAP + 1].count()

        return run

    def new_engine(jql: str) -> Callable[[], object]:
        # Today's navigator_search: ids resolved, projects written out, common text terms walked.
        def run() -> object:
            qs, order = jql_search(jql, user=demo)
            ids = keyset_page(qs.only("id"), order, cursor=None, size=50).rows
            return ids, qs.order_by()[: NAVIGATOR_COUNT_CAP + 1].count()

        return run

    idle_jql = f'assignee = "{idle.username}" AND status != Done ORDER BY updated DESC'
    sorted_jql = f'project = {big.key} AND status = "In Progress" ORDER BY priority DESC'
    text_jql = "text ~ reproduce"
    month = (now - dt.timedelta(days=30)).date()
    journeys: dict[str, Callable[[], object]] = {
        "floor": page("/accounts/login/", anon=True),
        "jql idle assignee (old)": old_engine(idle_jql),
        "jql idle assignee (new)": new_engine(idle_jql),
        "jql project+status by priority (old)": old_engine(sorted_jql),
        "jql project+status by priority (new)": new_engine(sorted_jql),
        "jql text ~ common (old)": old_engine(text_jql),
        "jql text ~ common (new)": new_engine(text_jql),
        "navigator idle assignee": page("/issues/", jql=idle_jql),
        "navigator text ~ common": page("/issues/", jql=text_jql),
        "api search idle assignee": page("/rest/api/2/search", jql=idle_jql),
        "api search text ~ common": page("/rest/api/2/search", jql=text_jql),
        "issue page uniform": uniform_issue,
        "timesheet (demo, this week)": page("/timesheet/"),
        "report month by issue": page(
            "/reports/", project=big.key, start=month.isoformat(), end=now.date().isoformat(), group="issue"
        ),
        "admin search by key": page("/admin/issues/issue/", q=f"{big.key}-1234"),
    }
    if args.only:
        wanted = {"floor", *[w.strip() for w in args.only.split(",")]}
        journeys = {k: v for k, v in journeys.items() if k in wanted}
    print(machine(), versions("Django", "psycopg"), sep="\n")
    print(f"issues={Issue.objects.count():,} idle={idle.username} busy={busy} big={big.key} rounds={args.rounds}")
    medians = race(journeys, rounds=args.rounds, warmup=1)
    floor = medians["floor"]
    print(f"{'journey':42} {'median ms':>10} {'x floor':>8}")
    for name, seconds in medians.items():
        print(f"{name:42} {seconds * 1000:10.1f} {seconds / floor:8.1f}")


if __name__ == "__main__":
    main()
