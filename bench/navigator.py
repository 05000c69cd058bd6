"""Issue navigator paging: keyset (seek) pages vs OFFSET pages at growing depth, side by side.

Seeds its own scratch database with N issues (bulk_create, 5 projects, a user in 4 of them) when it holds
fewer, then for several orderings times the page query at depth 0 and deep into the result, keyset vs
OFFSET, interleaved (bench._common.race), and prints the ratios plus the EXPLAIN of the deepest keyset page.

  createdb -h 127.0.0.1 -U postgres bench_navigator
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_navigator .venv/bin/python bench/navigator.py --issues 300000
  (without DATABASE_URL: SQLite var/bench_navigator.sqlite3)
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, migrate_quietly, race, setup_django, versions  # noqa: E402

setup_django("bench_navigator")

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from issues.models import Issue

PROJECT_KEYS = ("BA", "BB", "BC", "BD", "BE")


def seed(n: int) -> None:
    """Add issues until there are n (deterministic, bulk_create in chunks)."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from issues.models import Issue, IssueType, Label, Membership, Priority, Project, Role, Status

    User = get_user_model()
    rnd = random.Random(1)
    if not User.objects.filter(username="bench_alice").exists():
        users = [User.objects.create_user(f"bench_user{i}", f"bench{i}@example.com", None) for i in range(40)]
        alice = User.objects.create_user("bench_alice", "bench_alice@example.com", None)
        projects = [Project.objects.get_or_create(key=k, defaults={"name": k})[0] for k in PROJECT_KEYS]
        for project in projects[:4]:
            Membership.objects.get_or_create(project=project, user=alice, defaults={"role": Role.MEMBER})
        for i in range(20):
            Label.objects.get_or_create(name=f"bench-label-{i}")
        del users
    users = list(User.objects.filter(username__startswith="bench_user"))
    projects = list(Project.objects.filter(key__in=PROJECT_KEYS))
    labels = list(Label.objects.filter(name__startswith="bench-label-"))
    types, statuses = list(IssueType.objects.all()), list(Status.objects.all())
    priorities = list(Priority.objects.all())
    have = Issue.objects.filter(project__in=projects).count()
    counters = {p.pk: p.issue_counter for p in projects}
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    through = Issue.labels.through
    while have < n:
        batch = []
        for _ in range(min(5000, n - have)):
            project = rnd.choice(projects)
            counters[project.pk] += 1
            created = start + dt.timedelta(seconds=rnd.randrange(6 * 365 * 86400))
            batch.append(
                Issue(
                    project=project,
                    number=counters[project.pk],
                    key=f"{project.key}-{counters[project.pk]}",
                    summary=f"{rnd.choice(['Login', 'Export', 'Crash', 'Docs', 'Slow'])} {rnd.randrange(10**6)}",
                    type=rnd.choice(types),
                    status=rnd.choice(statuses),
                    priority=rnd.choice(priorities),
                    assignee=rnd.choice(users) if rnd.random() < 0.8 else None,
                    reporter=rnd.choice(users),
                    created=created,
                    updated=created + dt.timedelta(hours=rnd.randrange(1000)),
                )
            )
        with transaction.atomic():
            made = Issue.objects.bulk_create(batch)
            through.objects.bulk_create(
                [through(issue_id=i.pk, label_id=rnd.choice(labels).pk) for i in made if rnd.random() < 0.3],
                ignore_conflicts=True,
            )
            for project in projects:
                Project.objects.filter(pk=project.pk).update(issue_counter=counters[project.pk])
        have += len(batch)
        print(f"  seeded {have:,} issues", flush=True)


def _page(qs: QuerySet[Issue], offset: int) -> list[Issue]:
    """Return one navigator page (51 rows: 50 and the look-ahead) starting at `offset`."""
    return list(qs.all()[offset : offset + 51])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import F

    from issues.keyset import annotation_name, order_expressions, parse_order, seek_condition
    from issues.selectors import navigator_search

    migrate_quietly()
    seed(args.issues)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE issues_issue, issues_issue_labels, issues_membership")
    print(f"{connection.vendor}; {machine()}; {versions('Django', 'psycopg')}")
    alice = get_user_model().objects.get(username="bench_alice")
    cases = [
        ("default (created DESC)", "", None, None),
        ("one project", "project = BA", None, None),
        ("sort updated ASC", "", "updated", "asc"),
        ("assignee, sort summary", "assignee = bench_user1", "summary", "asc"),
        ("label", "labels = bench-label-3", None, None),
    ]
    print(f"{'case':28} {'matches':>9} {'depth':>9} {'keyset ms':>10} {'OFFSET ms':>10} {'OFFSET/keyset':>14}")
    last_plan = ""
    for name, jql, sort, direction in cases:
        qs, order = navigator_search(user=alice, jql=jql, sort=sort, direction=direction)
        keys = parse_order(order)
        annotations = {annotation_name(i): F(k.path) for i, k in enumerate(keys) if k.path != "id"}
        base = qs.only("id").annotate(**annotations).order_by(*order_expressions(keys))
        total = qs.count()
        for fraction in (0.0, 0.5, 0.95):
            depth = int(max(total - 51, 0) * fraction)
            if depth:
                row = base[depth - 1 : depth].get()
                values = [row.pk if k.path == "id" else getattr(row, annotation_name(i)) for i, k in enumerate(keys)]
                keyset_qs = base.filter(seek_condition(keys, values))
            else:
                keyset_qs = base
            times = race(
                {
                    "keyset": functools.partial(_page, keyset_qs, 0),
                    "offset": functools.partial(_page, base, depth),
                },
                rounds=args.rounds,
            )
            ratio = times["offset"] / times["keyset"]
            print(
                f"{name:28} {total:>9,} {depth:>9,} {times['keyset'] * 1000:>10.2f} {times['offset'] * 1000:>10.2f}"
                f" {ratio:>13.1f}x",
                flush=True,
            )
            if fraction == 0.95 and name.startswith("default"):
                page = keyset_qs[:51]
                last_plan = page.explain(analyze=True) if connection.vendor == "postgresql" else page.explain()
    print("\nEXPLAIN of the default ordering's keyset page at 95% depth:\n" + last_plan)
    if connection.vendor == "postgresql":
        text_search(alice, args.rounds)


def text_search(alice: object, rounds: int) -> None:
    """Time JQL text search (first page) against the same search as one OR and without the trigram indexes."""
    from django.db import connection, transaction
    from django.db.models import Exists, OuterRef, Q

    from issues.models import Comment
    from issues.selectors import navigator_search

    def first_page(qs: QuerySet[Issue]) -> list[Issue]:
        return list(qs.only("id")[:51])

    def without_index(qs: QuerySet[Issue]) -> list[Issue]:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            return first_page(qs)

    print(f"\n{'text search (first page)':34} {'matches':>9} {'Taskra ms':>10} {'OR ms':>9} {'no index ms':>12}")
    for jql, word in (("text ~ zzzz", "zzzz"), ('text ~ "Crash 4242"', "Crash 4242"), ("summary ~ slow", None)):
        qs, _order = navigator_search(user=alice, jql=jql, sort=None, direction=None)
        # The same search as one OR over summary, description and comments (the query before the UNION form).
        if word is None:
            one_or = qs
        else:
            base, _ = navigator_search(user=alice, jql="", sort=None, direction=None)
            comments = Comment.objects.filter(body__icontains=word, issue_id=OuterRef("pk"))
            one_or = base.filter(Q(summary__icontains=word) | Q(description__icontains=word) | Exists(comments))
        times = race(
            {
                "taskra": functools.partial(first_page, qs),
                "or": functools.partial(first_page, one_or),
                "noidx": functools.partial(without_index, qs),
            },
            rounds=rounds,
        )
        print(
            f"{jql:34} {qs.count():>9,} {times['taskra'] * 1000:>10.2f} {times['or'] * 1000:>9.2f}"
            f" {times['noidx'] * 1000:>12.2f}   OR/Taskra {times['or'] / times['taskra']:.1f}x,"
            f" no index/Taskra {times['noidx'] / times['taskra']:.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
