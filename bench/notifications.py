"""Notifications fan-out of a bulk change: 10,000 issues watched by 50 people.

Measures, in one process and one run, a bulk change job (imports.services.job_run, the path the navigator's bulk
page and the admin action queue) with notifications off and on, paired and interleaved (ABBA): "off" unsubscribes
the notifications app from issues.events (no events recorded, nothing fanned out); "on" records the job's events
and, at the job's end, runs its one fan-out task eagerly in this process (Celery's task_always_eager), so the
measured call holds everything the notifications add to the bulk change. The digest e-mails are sent a batch
window later by their own task: the bench takes the users that task would get and times their digests
separately (mail to Django's locmem backend). Every run changes every issue (the priority flips High/Low).

Prints per pair: the job's time off and on, the overhead ratio, the time spent inside the notifications' code in
the "on" run, its fan-out tasks and notifications per person, the digest task's e-mails and time. Seeds its own
data into the database DATABASE_URL names (SQLite var/bench-notifications.sqlite3 by default).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<scratch db> \
        .venv/bin/python bench/notifications.py --issues 10000 --watchers 50 --pairs 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import migrate_quietly, setup_django  # noqa: E402


def seed(issues: int, watchers: int) -> tuple[int, list[int]]:
    """Create a project with `issues` issues and `watchers` members who each watch every issue; return ids."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from issues.models import Issue, IssueType, Membership, Priority, Project, Role, Status
    from notifications.models import Notification, NotificationSettings, PendingEvent, Watch
    from taskra_site import sql

    user_model = get_user_model()
    with transaction.atomic():
        PendingEvent.objects.all().delete()
        Notification.objects.all().delete()
        NotificationSettings.objects.all().delete()
        Project.objects.filter(key="NOTE").delete()
        user_model.objects.filter(username__startswith="bench-note-").delete()
        actor = user_model.objects.create_user("bench-note-actor", "actor@example.com", "x")
        project = Project.objects.create(key="NOTE", name="Notifications bench", lead=actor)
        Membership.objects.create(project=project, user=actor, role=Role.ADMIN)
        people = [
            user_model.objects.create_user(f"bench-note-{n}", f"watcher{n}@example.com", "x") for n in range(watchers)
        ]
        Membership.objects.bulk_create([Membership(project=project, user=u, role=Role.MEMBER) for u in people])
        now = timezone.now()
        kind, status = IssueType.objects.get(name="Task"), Status.objects.order_by("position").first()
        low = Priority.objects.get(name="Low")
        Issue.objects.bulk_create(
            [
                Issue(project=project, number=n, key=f"NOTE-{n}", summary=f"Issue {n}", type=kind, status=status,
                      priority=low, reporter=actor, created=now, updated=now)
                for n in range(1, issues + 1)
            ],
            batch_size=2000,
        )  # fmt: skip
        Project.objects.filter(pk=project.pk).update(issue_counter=issues)
        ids = list(Issue.objects.filter(project=project).values_list("pk", flat=True))
        since = now - dt.timedelta(days=1)
        rows = [(i, u.pk, since) for u in people for i in ids]
        if sql.is_postgresql():
            sql.insert_rows(Watch, ("issue_id", "user_id", "created"), rows)
        else:
            Watch.objects.bulk_create([Watch(issue_id=i, user_id=u, created=c) for i, u, c in rows], batch_size=5000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return actor.pk, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issues", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=4, help="off/on pairs, in ABBA order")
    args = parser.parse_args()

    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ["NOTIFICATIONS_QUEUE_TASKS"] = "1"
    setup_django("bench-notifications")
    migrate_quietly()
    from celery.signals import task_prerun
    from django.contrib.auth import get_user_model
    from django.core import mail

    from imports.services import bulk_update_job_create, job_run
    from issues import events
    from notifications import services
    from notifications.models import Notification
    from taskra_site.celery import app

    app.conf.task_always_eager = True
    tasks_run: Counter[str] = Counter()
    task_prerun.connect(lambda sender=None, **kw: tasks_run.update([sender.name]), weak=False)

    started = time.perf_counter()
    actor_id, ids = seed(args.issues, args.watchers)
    print(
        f"seeded {len(ids):,} issues, {args.watchers} watchers each watching all: {time.perf_counter() - started:.1f} s"
    )
    actor = get_user_model().objects.get(pk=actor_id)
    inside = [0.0]  # seconds spent in the notifications' own code (recording and the eager fan-out) during a run

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                inside[0] += time.perf_counter() - start

        return wrapper

    subscribed = [timed(f) for f in events._recorders], [timed(f) for f in events._flushers]
    flips = iter(["High", "Low"] * (args.pairs * 2 + 2))

    digest_users: list[int] = []
    # The digest task is queued for a window later: record whom it would mail, send them after the timed job.
    services._enqueue_digests = lambda user_ids, countdown, queue: digest_users.extend(user_ids)

    def run(notify: bool) -> tuple[float, Counter[str], tuple[int, float], Counter[int], float]:
        events._recorders[:] = subscribed[0] if notify else []
        events._flushers[:] = subscribed[1] if notify else []
        tasks_run.clear()
        digest_users.clear()
        inside[0] = 0.0
        mail.outbox = []
        before = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        job = bulk_update_job_create(user=actor, changes={"priority": next(flips)}, jql="project = NOTE", enqueue=False)
        start = time.perf_counter()
        job_run(job_id=job.pk)
        seconds = time.perf_counter() - start
        per_person = Counter(Notification.objects.filter(pk__gt=before).values_list("user_id", flat=True))
        start = time.perf_counter()
        for user_id in list(digest_users):
            services.digest_send(user_id=user_id)
        digests = (len(mail.outbox), time.perf_counter() - start)
        return seconds, Counter(tasks_run), digests, per_person, inside[0]

    run(False)  # warm-up of both paths (plans, caches)
    run(True)
    print(f"database: {os.environ['DATABASE_URL'].split('@')[-1]}")
    print(
        "pair | order | job off (s) | job on (s) | on/off | in notifications code (s) | share of the on job | "
        "fan-out tasks | notifications/person | e-mails | digests (s)"
    )
    ratios: list[float] = []
    shares: list[float] = []
    for pair in range(args.pairs):
        order = (False, True) if pair % 2 == 0 else (True, False)
        results = {notify: run(notify) for notify in order}
        off, on = results[False][0], results[True][0]
        _, tasks, (emails, digest_seconds), per_person, own = results[True]
        ratios.append(on / off)
        shares.append(own / (on - own))
        most = max(per_person.values()) if per_person else 0
        print(
            f"{pair + 1} | {'off,on' if order[0] is False else 'on,off'} | {off:.3f} | {on:.3f} | {on / off:.3f} | "
            f"{own:.3f} | {own / (on - own):+.1%} | {tasks['notifications.tasks.fan_out']} | "
            f"{len(per_person)} people, at most {most} each | {emails} | {digest_seconds:.3f}"
        )
    print(
        f"overhead of notifications on the bulk change: median {statistics.median(ratios) - 1:+.1%}, "
        f"range {min(ratios) - 1:+.1%} .. {max(ratios) - 1:+.1%} over {args.pairs} pairs; time inside the "
        f"notifications' code against the rest of the same job: median {statistics.median(shares):+.1%}, "
        f"range {min(shares):+.1%} .. {max(shares):+.1%}"
    )
    events._recorders[:], events._flushers[:] = subscribed


if __name__ == "__main__":
    main()
