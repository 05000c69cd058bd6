"""Search journeys of issue #13 (navigator, JQL, REST search, admin key search) as ratios to a floor page, in one run.

Runs against an existing seeded database (`manage.py seed_demo --issues 1000000`); it writes nothing. Every
journey is a request through Django's test client as a member of the first project (the kind of user
bench/load.py logs in), interleaved round-robin with the floor journey (a logged-in GET /accounts/login/,
answered 302 as in bench/locustfile.py) and repeated (bench._common.race); medians and ratios are printed.
Journeys marked "cache off" run with the page cache off (TASKRA_PAGE_CACHE=False for that request only); the
others read the page cache as a server does (its first call fills the entry).

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_navigator_1m REDIS_URL=redis://127.0.0.1:6379/6 \\
      CACHE_KEY_PREFIX=navigator .venv/bin/python bench/search.py --rounds 15
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote_plus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, race, setup_django, versions  # noqa: E402

setup_django("bench_search")

NEXT_RE = re.compile(r'href="\?([^"]*)" rel="next"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--deep-pages", type=int, default=20, help="Next links followed to reach the deep page")
    parser.add_argument("--only", default="", help="comma-separated journey names to run (default: all)")
    args = parser.parse_args()

    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import override_settings

    from issues.models import Issue, Membership, Project, Role

    first = Project.objects.order_by("id").first()
    assert first is not None, "seed the database first"
    team = list(
        Membership.objects.filter(project_id=first.pk)
        .exclude(role=Role.VIEWER)
        .exclude(user__username="demo")
        .order_by("user_id")
        .values_list("user_id", "user__username")
    )
    viewer_id, viewer = team[0]
    # An assignee of the first project with open issues, as bench/load.py picks them (people after the clients).
    assignee = team[min(len(team) - 1, 17)][1]
    big = Project.objects.annotate(n=Count("issues")).order_by("-n").values_list("key", flat=True).first()
    key = Issue.objects.filter(project__key=big).order_by("-number").values_list("key", flat=True)[1000]
    client = Client()
    client.force_login(Membership.objects.filter(user_id=viewer_id).first().user)  # type: ignore[union-attr]

    # The admin changelist needs a staff login: the seeded `demo` superuser.
    staff = Client()
    staff.force_login(get_user_model().objects.get(username="demo"))

    def get(
        path: str,
        query: dict[str, str] | None = None,
        *,
        status: int = 200,
        cache: bool = True,
        admin: bool = False,
        **named: str,
    ) -> Callable[[], object]:
        params = {**(query or {}), **named}

        def run() -> object:
            with override_settings(TASKRA_PAGE_CACHE=None if cache else False):
                response = (staff if admin else client).get(path, params, secure=True)
            assert response.status_code == status, (path, params, response.status_code)
            return response

        return run

    deep = "/issues/"
    for _ in range(args.deep_pages):
        found = NEXT_RE.search(client.get(deep, secure=True).content.decode())
        if not found:
            break
        deep = "/issues/?" + html.unescape(found[1])
    deep_path, _, deep_query = deep.partition("?")
    deep_params = dict(p.split("=", 1) for p in deep_query.split("&")) if deep_query else {}

    deep_params = {k: unquote_plus(v) for k, v in deep_params.items()}
    assignee_jql = f'assignee = "{assignee}" AND status != Done'
    journeys: dict[str, Callable[[], object]] = {
        "floor: GET /accounts/login/ (302)": get("/accounts/login/", status=302),
        "navigator page 1": get("/issues/"),
        "navigator deep page": get(deep_path, deep_params),
        "navigator page 1 (cache off)": get("/issues/", cache=False),
        "navigator deep page (cache off)": get(deep_path, deep_params, cache=False),
        "JQL text ~ reproduce (cache off)": get("/issues/", cache=False, jql='text ~ "reproduce"'),
        "JQL assignee AND status (cache off)": get("/issues/", cache=False, jql=assignee_jql),
        "JQL project+status BY priority (cache off)": get(
            "/issues/", cache=False, jql=f'project = {big} AND status = "In Progress" ORDER BY priority DESC'
        ),
        "REST search": get("/rest/api/2/search", jql=f"{assignee_jql} ORDER BY updated DESC", maxResults="50"),
        "REST search (cache off)": get(
            "/rest/api/2/search", cache=False, jql=f"{assignee_jql} ORDER BY updated DESC", maxResults="50"
        ),
        "REST search text ~ (cache off)": get(
            "/rest/api/2/search", cache=False, jql='text ~ "reproduce"', maxResults="50"
        ),
        "admin search by key": get("/admin/issues/issue/", admin=True, q=key.lower()),
    }
    if args.only:
        wanted = {"floor: GET /accounts/login/ (302)", *[w.strip() for w in args.only.split(",")]}
        journeys = {k: v for k, v in journeys.items() if k in wanted}
    print(machine(), versions("Django", "psycopg"), sep="\n")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} before")
    print(
        f"issues={Issue.objects.count():,} viewer={viewer} assignee={assignee} big={big} key={key} "
        f"deep page={deep[:80]}... rounds={args.rounds}"
    )
    medians = race(journeys, rounds=args.rounds, warmup=1)
    floor = medians["floor: GET /accounts/login/ (302)"]
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} after")
    print(f"| {'journey':44} | {'median ms':>9} | {'x floor':>7} |")
    print(f"|{'-' * 46}|{'-' * 10}:|{'-' * 8}:|")
    for name, seconds in medians.items():
        print(f"| {name:44} | {seconds * 1000:9.1f} | {seconds / floor:6.1f}x |")


if __name__ == "__main__":
    main()
