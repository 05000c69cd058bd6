"""Search journeys of issue #13 (navigator, JQL, REST search, admin key search) as ratios to a floor page, in one run.

Runs against an existing seeded database (`manage.py seed_demo --issues 1000000`); it writes nothing. Every
journey is a request through Django's test client as a member of the first project (the kind of user
bench/load.py logs in), interleaved round-robin with the floor journey (a logged-in GET /accounts/login/,
answered 302 as in bench/locustfile.py) and repeated (bench._common.race); medians and ratios are printed.
Journeys marked "cache off" run with the page cache off (TASKRA_PAGE_CACHE=False for that request only); the
others read the page cache as a server does (its first call fills the entry).

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_navigator_1m REDIS_URL=redis://127.0.0.1:6379/6 \\
      CACHE_KEY_PREFIX=navigator .venv/bin/python bench/search.py --rounds 15

--parts races each optimisation of helper "search" against the code it replaced (kept here, not in the app),
on the same rows of the same database, interleaved in one run: the REST search page's issue JSON (lookup rows
joined vs read by id from the per-process rows; links in one 10-table join vs read alone), JQL user names (one OR
over users and profiles filtered by known_users_q vs the name indexes and known_among) and the navigator's
filter options (template loops vs options_html).
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, race, setup_django, versions  # noqa: E402

setup_django("bench_search")

NEXT_RE = re.compile(r'href="\?([^"]*)" rel="next"')


def first_project_team() -> tuple[Any, list[tuple[int, str]]]:
    """Return the first project and its editing members other than demo as (user id, username), by user id."""
    from issues.models import Membership, Project, Role  # after setup_django(), like the callers' imports

    first = Project.objects.order_by("id").first()
    assert first is not None, "seed the database first"
    team = list(
        Membership.objects.filter(project_id=first.pk)
        .exclude(role=Role.VIEWER)
        .exclude(user__username="demo")
        .order_by("user_id")
        .values_list("user_id", "user__username")
    )
    return first, team


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--deep-pages", type=int, default=20, help="Next links followed to reach the deep page")
    parser.add_argument("--only", default="", help="comma-separated journey names to run (default: all)")
    parser.add_argument("--parts", action="store_true", help="race each optimisation against its old code")
    args = parser.parse_args()
    if args.parts:
        parts(args.rounds)
        return

    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import override_settings

    from issues.models import Issue, Membership, Project

    first, team = first_project_team()
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


# ---------------------------------------------------------------------------------------------------------
# --parts: each optimisation against the code it replaced
# ---------------------------------------------------------------------------------------------------------


def _old_load_issuelinks(ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    """The links loader before: one query joining both ends' status, priority and type (10 tables)."""
    from django.db.models import Q

    from api import adapters as a
    from api import context
    from issues.models import IssueLink, Membership

    found: dict[Any, list[dict[str, Any]]] = {}
    user_id = context.current().user_id
    if user_id is None:
        return found
    visible = Membership.objects.filter(user_id=user_id).values("project_id")
    width = len(a._LINKED_COLUMNS)
    wanted = set(ids)
    rows = (
        IssueLink.objects.filter(
            Q(outward_issue_id__in=ids, inward_issue__project_id__in=visible)
            | Q(inward_issue_id__in=ids, outward_issue__project_id__in=visible)
        )
        .order_by("type__name", "id")
        .values_list(
            "id",
            *a._LINK_TYPE_COLUMNS,
            *(f"outward_issue__{c}" for c in a._LINKED_COLUMNS),
            *(f"inward_issue__{c}" for c in a._LINKED_COLUMNS),
        )
    )
    for pk, *row in rows:
        kind, outward, inward = row[:4], tuple(row[4 : 4 + width]), tuple(row[4 + width :])
        for issue, other, side in ((outward, inward, "outwardIssue"), (inward, outward, "inwardIssue")):
            if issue[0] in wanted:
                entry = {"id": str(pk), "self": f"{context.current().base}/issueLink/{pk}",
                         "type": a.link_type_json(*kind), side: a._linked(other)}  # fmt: skip
                found.setdefault(issue[0], []).append(entry)
    return found


def _old_user_ids(names: list[str], *, user: Any) -> dict[str, set[int]]:
    """JQL user names before: one OR over users and profiles, filtered by known_users_q."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from issues.permissions import known_users_q

    match = Q(pk__in=[])
    for name in names:
        match |= Q(username__iexact=name) | Q(email__iexact=name) | Q(profile__display_name__iexact=name)
    found: dict[str, set[int]] = {}
    people = get_user_model().objects.filter(match, known_users_q(user))
    for pk, *labels in people.values_list("pk", "username", "email", "profile__display_name"):
        for label in labels:
            if label:
                found.setdefault(str(label).lower(), set()).add(pk)
    return found


def parts(rounds: int) -> None:
    """Race each optimisation against the code it replaced, on the same rows, interleaved; print ratios."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.template import Context, Template

    from api import adapters as a
    from api import context
    from api.fields import is_custom, select_fields
    from issues.jql import jql_search, order_expressions
    from issues.jql.values import _user_ids
    from issues.models import Issue, IssueLink, IssueLinkType
    from issues.navigator_rows import options_html
    from issues.selectors import navigator_projects
    from taskra_site.adapters import OutField, RowAdapter

    first, team = first_project_team()
    viewer = get_user_model().objects.get(pk=team[0][0])
    assignee = team[min(len(team) - 1, 17)][1]
    jql = f'assignee = "{assignee}" AND status != Done ORDER BY updated DESC'
    queryset, order = jql_search(jql, user=viewer)
    found = list(queryset.order_by(*order_expressions(order)).values_list("id", flat=True)[:100])
    ids, seeded = found[:50], found[50:]
    # The seed makes no links: two per issue of the page (to issues of the first project), inside a transaction
    # rolled back at the end, so both link loaders have rows to write. The database is left as it was.
    atomic = transaction.atomic()
    atomic.__enter__()
    link_types = list(IssueLinkType.objects.order_by("id"))
    partners = list(Issue.objects.filter(project_id=first.pk).order_by("id").values_list("id", flat=True)[:100])
    IssueLink.objects.bulk_create(
        [
            IssueLink(type=link_types[n % len(link_types)], outward_issue_id=pk, inward_issue_id=partners[2 * n + k])
            for n, pk in enumerate(ids)
            for k in range(2)
            if partners[2 * n + k] != pk
        ],
        ignore_conflicts=True,
    )
    linked = ids
    seeded = [pk for pk in seeded if pk not in set(partners)]  # a page as seeded: no links
    fields = select_fields([], default="*navigable")
    lookups = {"status", "priority", "issuetype", "resolution"}
    old_fields: list[OutField] = []
    for f in a.JIRA_ISSUE.fields.values():
        if f.name in lookups:
            assert f.joined is not None
            old_fields.append(f.joined)
        elif f.name == "issuelinks":
            old_fields.append(OutField("issuelinks", make=a._subtasks, loader=_old_load_issuelinks))
        elif f.name in ("subtasks", "attachment"):
            # Before: one query each for every page, whether or not an issue has any.
            old_fields.append(OutField(f.name, make=f.make, loader=f.loader))
        else:
            old_fields.append(f)
    old_adapter = RowAdapter("bench.api.issue.before", a.JiraIssueFields, old_fields)

    def page_json(adapter: RowAdapter, pks: list[int], *, keys: bool) -> Callable[[], object]:
        plain = ("id", "key", *(f for f in fields if not is_custom(f)))
        source = Issue.objects.filter(pk__in=pks)
        return lambda: adapter.dicts(a._with_related_keys(source) if keys else source, fields=plain)

    names = [assignee]
    projects = navigator_projects(user=viewer, jql="")
    loop = Template(
        '{% for p in projects %}<option value="{{ p.key }}"{% if p.key in selected %} selected{% endif %}>'
        "{{ p.key }} · {{ p.name }}</option>{% endfor %}"
        '{% for p in projects %}<option value="{{ p.pk }}">Members of {{ p.key }}</option>{% endfor %}'
    )
    rows = [{"pk": pk, "key": key, "name": name} for pk, key, name in projects.rows]

    def options_before() -> object:
        return loop.render(Context({"projects": rows, "selected": []}))

    def options_after() -> object:
        return options_html((key, f"{key} · {name}") for _pk, key, name in projects.rows) + options_html(
            (pk, f"Members of {key}") for pk, key, _name in projects.rows
        )

    assert options_before() == options_after(), "the options differ from the template's"
    token = context.activate(context.ApiContext("https://bench", 2, viewer.pk))
    assert _old_load_issuelinks(linked) == a._load_issuelinks(linked), "the link loaders disagree"
    before_json = page_json(old_adapter, ids, keys=False)()
    assert before_json == page_json(a.JIRA_ISSUE, ids, keys=True)(), "the issue JSON differs"
    context.deactivate(token)
    assert _old_user_ids(names, user=viewer) == _user_ids(names, user=viewer), "the name lookups disagree"
    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        f"REST page JSON, {len(seeded)} issues as seeded": (
            page_json(old_adapter, seeded, keys=False),
            page_json(a.JIRA_ISSUE, seeded, keys=True),
        ),
        "REST page JSON, 50 issues with 2 links each": (
            page_json(old_adapter, ids, keys=False),
            page_json(a.JIRA_ISSUE, ids, keys=True),
        ),
        "issue links of 50 issues, 2 links each": (
            lambda: _old_load_issuelinks(linked),
            lambda: a._load_issuelinks(linked),
        ),
        "JQL user name -> ids": (lambda: _old_user_ids(names, user=viewer), lambda: _user_ids(names, user=viewer)),
        f"navigator options, {len(rows)} projects x 2": (options_before, options_after),
    }
    journeys = {f"{name} | {side}": fn for name, (before, after) in pairs.items() for side, fn in
                (("before", before), ("after", after))}  # fmt: skip
    token = context.activate(context.ApiContext("https://bench", 2, viewer.pk))
    try:
        print(machine(), versions("Django", "psycopg"), sep="\n")
        print(f"load average {os.getloadavg()[0]:.2f} before; viewer={viewer.username} assignee={assignee} "
              f"page={len(ids)} ids, linked={len(linked)} ids, rounds={rounds}")  # fmt: skip
        medians = race(journeys, rounds=rounds, warmup=2)
        print(f"load average {os.getloadavg()[0]:.2f} after")
    finally:
        context.deactivate(token)
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)
    print(f"| {'optimisation':48} | {'before ms':>9} | {'after ms':>8} | {'after/before':>12} |")
    print(f"|{'-' * 50}|{'-' * 10}:|{'-' * 9}:|{'-' * 13}:|")
    for name in pairs:
        before, after = medians[f"{name} | before"], medians[f"{name} | after"]
        print(f"| {name:48} | {before * 1000:9.2f} | {after * 1000:8.2f} | {after / before:11.2f}x |")


if __name__ == "__main__":
    main()
