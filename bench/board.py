"""Boards at 5,000 cards: the board's first view vs the navigator's page of 50, a card move vs an inline status change.

Seeds its own project BOARD with N issues (bulk_create) in the scratch database, then times whole requests
through Django's test client (middleware, session, views, templates), interleaved round-robin
(bench._common.race) and repeated, and prints the ratios:

- GET /projects/BOARD/board/ (first BOARD_PAGE cards of every column, counts, WIP) vs
  GET /issues/?jql=project = BOARD (the navigator's first page of 50 with its count);
- POST /projects/BOARD/board/move (a status change and a rank, issues.ranking.issue_move) vs
  POST /browse/<key>/set/status (the issue page's inline status change), each alternating between two statuses;
- GET /projects/BOARD/board/cards (the next page of a column, deep in it: keyset) for reference.

The page cache is off (TASKRA_PAGE_CACHE=0) so both pages are built from the database on every request.

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_boards .venv/bin/python bench/board.py --issues 5000
  (without DATABASE_URL: SQLite var/bench_board.sqlite3)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["TASKRA_PAGE_CACHE"] = "0"

from bench._common import machine, migrate_quietly, race, setup_django, versions  # noqa: E402

setup_django("bench_board")

KEY = "BOARD"


def seed(n: int) -> None:
    """Add issues to BOARD until it holds n (deterministic), spread over the workflow's statuses."""
    from django.contrib.auth import get_user_model

    from issues.models import Issue, IssueType, Membership, Priority, Project, Role
    from issues.workflows import workflow_for

    User = get_user_model()
    user = User.objects.filter(username="bench_board").first() or User.objects.create_user("bench_board", None, None)
    project, _ = Project.objects.get_or_create(key=KEY, defaults={"name": "Board bench"})
    Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.MEMBER})
    have = Issue.objects.filter(project=project).count()
    if have >= n:
        return
    rnd = random.Random(7)
    statuses = workflow_for(project).status_ids
    itype, priority = IssueType.objects.get(name="Task"), Priority.objects.get(name="Medium")
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    counter = project.issue_counter
    rows = []
    for _ in range(n - have):
        counter += 1
        when = start + dt.timedelta(minutes=rnd.randrange(500_000))
        rows.append(
            Issue(
                project=project,
                number=counter,
                key=f"{KEY}-{counter}",
                summary=f"Board card {counter}",
                type=itype,
                status_id=rnd.choice(statuses),
                priority=priority,
                assignee=user if rnd.random() < 0.5 else None,
                reporter=user,
                created=when,
                updated=when,
            )
        )
    Issue.objects.bulk_create(rows, batch_size=2000)
    Project.objects.filter(pk=project.pk).update(issue_counter=counter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issues", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    migrate_quietly()
    seed(args.issues)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from issues.boards import BOARD_PAGE
    from issues.models import Issue, Project
    from issues.workflows import workflow_for

    setup_test_environment()
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench_board"))
    project = Project.objects.get(key=KEY)
    todo, progress = workflow_for(project).status_ids[:2]
    cards = Issue.objects.filter(project=project)
    # Fixed anchors at the top of two columns: a card moved "before" one of them is always a valid (fresh) drop.
    cards.update(rank=None)  # as seeded: a re-run starts from the same board
    anchors = {}
    for status in (todo, progress):
        anchor = cards.filter(status_id=status).order_by("id")[0]
        Issue.objects.filter(pk=anchor.pk).update(rank=-(10**15))
        anchors[status] = anchor.key
    mover = cards.filter(status_id=todo).exclude(key=anchors[todo]).order_by("-id")[0]
    inline = cards.filter(status_id=todo).exclude(key__in=[anchors[todo], mover.key]).order_by("-id")[0]
    where = {"move": todo, "inline": todo}

    def board() -> None:
        assert client.get(f"/projects/{KEY}/board/", secure=True).status_code == 200

    def navigator() -> None:
        assert client.get("/issues/", {"jql": f"project = {KEY}"}, secure=True).status_code == 200

    def move() -> None:
        to = progress if where["move"] == todo else todo
        response = client.post(
            f"/projects/{KEY}/board/move", {"issue": mover.key, "status": to, "before": anchors[to]}, secure=True
        )
        assert response.status_code == 200, response.content
        where["move"] = to

    def inline_status() -> None:
        to = progress if where["inline"] == todo else todo
        assert client.post(f"/browse/{inline.key}/set/status", {"status": to}, secure=True).status_code == 302
        where["inline"] = to

    deep = cards.filter(status_id=todo).order_by("id")[args.issues // 8]
    cursor = f"n{deep.pk}"

    def cards_page() -> None:
        response = client.get(f"/projects/{KEY}/board/cards", {"status": str(todo), "cursor": cursor}, secure=True)
        assert response.status_code == 200 and response.json()["html"]

    print(f"# bench/board.py: {cards.count()} cards in {KEY}, {connection.vendor}, page cache off")
    print(f"# {machine()}; {versions('Django', 'psycopg')}")
    print(f"# board first view: {BOARD_PAGE} cards per column; rounds {args.rounds}, repeated {args.repeat}x")
    for run in range(1, args.repeat + 1):
        views = race({"board": board, "navigator": navigator}, rounds=args.rounds)
        writes = race({"move": move, "inline": inline_status}, rounds=args.rounds)
        extra = race({"cards_page": cards_page}, rounds=args.rounds)
        print(
            f"run {run}: board {views['board'] * 1000:.1f} ms vs navigator {views['navigator'] * 1000:.1f} ms "
            f"= {views['board'] / views['navigator']:.2f}x (target <= 3x); "
            f"move {writes['move'] * 1000:.1f} ms vs inline status {writes['inline'] * 1000:.1f} ms "
            f"= {writes['move'] / writes['inline']:.2f}x (target <= 2x); "
            f"cards page (deep) {extra['cards_page'] * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
