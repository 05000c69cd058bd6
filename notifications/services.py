"""Notifications: watching, recording issue events, the fan-out to watchers, and batched e-mail digests.

The flow (docs/notifications.md):
1. A service emits an event (issues.events); `event_record` writes a PendingEvent row in the writer's
   transaction (and auto-watches reporter, assignee and commenter).
2. Once the transaction (or a held bulk job) commits, one `fan_out` task runs `events_fan_out`: for every
   pending event it finds who should hear of it (watchers, the new assignee, the mentioned), keeps only people
   who may still see the issue (membership re-checked now), never the actor, and those whose settings want the
   kind; it writes their notifications and schedules one digest e-mail per person per batch window.
3. `digest_send` sends the person's pending notifications as one e-mail with an unsubscribe link.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import display_name
from issues import events
from issues.models import Issue, Membership
from issues.permissions import project_role, visible_project_ids
from notifications.models import Notification, NotificationSettings, PendingEvent, Watch
from taskra_site import sql

logger = logging.getLogger("taskra.notifications")
User = get_user_model()

UNSUBSCRIBE_SALT = "notifications.unsubscribe"
# Events handled per fan-out transaction: a backlog is worked through in bounded steps.
FAN_OUT_BATCH = 500
# Notifications listed in one digest e-mail (the rest are on the notifications page).
DIGEST_MAX_LINES = 50

# Event kind -> the settings switch that governs it.
SETTING_OF_KIND = {
    events.CREATED: "on_created",
    events.ASSIGNED: "on_assigned",
    events.STATUS: "on_status",
    events.COMMENTED: "on_commented",
    events.MENTIONED: "on_mentioned",
    events.WORKLOG: "on_worklog",
    events.BULK: "on_bulk",
}


# ---------------------------------------------------------------------------------------------------------
# Watching
# ---------------------------------------------------------------------------------------------------------


def _require_visible(user: Any, issue: Issue) -> None:
    if project_role(user, issue.project_id) is None:
        raise PermissionDenied("No such issue.")


@transaction.atomic
def watch_add(*, issue: Issue, user: Any) -> bool:
    """Start watching an issue the user may see; return whether they were not watching before."""
    _require_visible(user, issue)
    _, created = Watch.objects.get_or_create(issue_id=issue.pk, user_id=user.pk)
    return created


@transaction.atomic
def watch_remove(*, issue: Issue, user: Any) -> bool:
    """Stop watching an issue; return whether they were watching."""
    deleted, _ = Watch.objects.filter(issue_id=issue.pk, user_id=user.pk).delete()
    return bool(deleted)


def _auto_watch(*, issue_ids: Sequence[int], user_ids: Iterable[int | None]) -> None:
    rows = [Watch(issue_id=i, user_id=u) for i in issue_ids for u in {u for u in user_ids if u is not None}]
    if rows:
        Watch.objects.bulk_create(rows, ignore_conflicts=True)


# ---------------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------------


def settings_for(*, user_id: int) -> NotificationSettings:
    """Return the user's settings (unsaved defaults when they never changed them)."""
    found = NotificationSettings.objects.filter(user_id=user_id).first()
    return found if found is not None else NotificationSettings(user_id=user_id)


@transaction.atomic
def settings_update(*, user: Any, values: dict[str, bool]) -> NotificationSettings:
    """Save the user's notification switches (the fields of NotificationSettings but digest_due)."""
    allowed = {*SETTING_OF_KIND.values(), "email"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"Unknown notification settings: {', '.join(sorted(unknown))}")
    row, _ = NotificationSettings.objects.get_or_create(user_id=user.pk)
    for name, value in values.items():
        setattr(row, name, bool(value))
    row.save(update_fields=list(values))
    return row


def unsubscribe_token(*, user_id: int) -> str:
    """Return the signed token of an e-mail's unsubscribe link (works without login, never expires)."""
    return signing.dumps({"u": user_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_user_id(token: str) -> int | None:
    """Return the user id of a valid unsubscribe token, None for a forged or mangled one."""
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    user_id = value.get("u") if isinstance(value, dict) else None
    return user_id if isinstance(user_id, int) else None


@transaction.atomic
def email_unsubscribe(*, user_id: int) -> None:
    """Turn the user's notification e-mail off (the in-app list stays) and drop what waited for a digest."""
    row, _ = NotificationSettings.objects.get_or_create(user_id=user_id)
    row.email = False
    row.digest_due = None
    row.save(update_fields=["email", "digest_due"])
    Notification.objects.filter(user_id=user_id, email_pending=True).update(email_pending=False)


# ---------------------------------------------------------------------------------------------------------
# Reading state
# ---------------------------------------------------------------------------------------------------------


def notifications_mark_read(*, user: Any, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (all unread when ids is None); return how many changed."""
    qs = Notification.objects.filter(user_id=user.pk, read=False)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read=True)


# ---------------------------------------------------------------------------------------------------------
# Recording events (inside the writer's transaction)
# ---------------------------------------------------------------------------------------------------------


def event_record(event: events.IssueEvent) -> None:
    """Store an event for the fan-out, in the writer's transaction; auto-watch who takes part in the issue.

    The watches come first: the fan-out tells the watchers whose watch is not younger than the event (someone who
    starts watching while an event waits for its fan-out does not hear of the past).
    """
    if event.kind == events.CREATED:
        _auto_watch(issue_ids=event.issue_ids, user_ids=[event.actor_id, event.data.get("assignee_id")])
    elif event.kind == events.ASSIGNED:
        _auto_watch(issue_ids=event.issue_ids, user_ids=[event.data.get("assignee_id")])
    elif event.kind == events.COMMENTED:
        _auto_watch(issue_ids=event.issue_ids, user_ids=[event.actor_id])
    PendingEvent.objects.create(
        kind=event.kind, actor_id=event.actor_id, issue_ids=list(event.issue_ids), data=event.data
    )


def fan_out_enqueue() -> None:
    """Queue the fan-out task (after the commit; a broker that does not answer leaves it to the backstop)."""
    # Function-local import: tasks call this module back (the one cycle Celery's pattern has).
    from notifications import tasks

    if not settings.NOTIFICATIONS_QUEUE_TASKS:
        return
    try:
        tasks.fan_out.delay()
    except Exception:  # the events wait in their table; the beat backstop (every minute) fans them out
        logger.exception("could not queue the notifications fan-out")


# ---------------------------------------------------------------------------------------------------------
# Fan-out
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Draft:
    user_id: int
    kind: str
    issue_id: int | None
    actor_id: int | None
    text: str


def _texts(event: PendingEvent, issue: dict[str, Any], actor: str) -> str:
    key, data = issue["key"], event.data
    if event.kind == events.CREATED:
        return f"{actor} created {key}: {issue['summary']}"
    if event.kind == events.ASSIGNED:
        return f"{actor} assigned {key} to {data.get('assignee') or 'nobody'}"
    if event.kind == events.STATUS:
        return f"{actor} changed the status of {key} to {data.get('status', '')}"
    if event.kind == events.COMMENTED:
        return f"{actor} commented on {key}: {data.get('excerpt', '')}"
    if event.kind == events.MENTIONED:
        return f"{actor} mentioned you on {key}: {data.get('excerpt', '')}"
    if event.kind == events.WORKLOG:
        return f"{actor} logged {data.get('time', '')} on {key}"
    return f"{actor} changed {key}"


def events_fan_out(*, now: dt.datetime | None = None, queue: str | None = None) -> int:
    """Turn every pending event into notifications and schedule digests; return how many notifications were made.

    `queue`: where the digest task goes (the fan-out task's own queue; None: the default). Runs in bounded
    transactions of FAN_OUT_BATCH events, claimed with SKIP LOCKED on PostgreSQL so two workers never handle the
    same event.
    """
    made = 0
    while True:
        with transaction.atomic():
            claimed = list(PendingEvent.objects.select_for_update(skip_locked=True).order_by("pk")[:FAN_OUT_BATCH])
            if not claimed:
                return made
            drafts = _drafts(claimed)
            made += _store(drafts, now=now or timezone.now(), queue=queue)
            PendingEvent.objects.filter(pk__in=[e.pk for e in claimed]).delete()


def _drafts(claimed: list[PendingEvent]) -> list[_Draft]:
    single = [e for e in claimed if e.kind != events.BULK]
    issue_ids = {i for e in single for i in e.issue_ids}
    issues: dict[int, dict[str, Any]] = {
        row["id"]: dict(row)
        for row in Issue.objects.filter(pk__in=issue_ids).values("id", "key", "summary", "project_id", "assignee_id")
    }
    watchers: dict[int, list[tuple[int, dt.datetime]]] = defaultdict(list)
    for issue_id, user_id, since in Watch.objects.filter(issue_id__in=issue_ids).values_list(
        "issue_id", "user_id", "created"
    ):
        watchers[issue_id].append((user_id, since))
    mentioned_names = {n for e in single if e.kind == events.MENTIONED for n in e.data.get("usernames", [])}
    by_name = dict(User.objects.filter(username__in=mentioned_names, is_active=True).values_list("username", "pk"))
    candidates: dict[int, set[int]] = defaultdict(set)  # project -> user ids to check
    wanted: list[tuple[PendingEvent, dict[str, Any], set[int]]] = []
    for event in single:
        for issue_id in event.issue_ids:
            issue = issues.get(issue_id)
            if issue is None:  # deleted since
                continue
            if event.kind == events.MENTIONED:
                people = {by_name[n] for n in event.data.get("usernames", []) if n in by_name}
            else:
                people = {u for u, since in watchers[issue_id] if since <= event.created}
                if event.kind == events.ASSIGNED and event.data.get("assignee_id"):
                    people.add(event.data["assignee_id"])
            people.discard(event.actor_id)  # never about one's own actions
            candidates[issue["project_id"]] |= people
            wanted.append((event, issue, people))
    members = _members(candidates)
    actors = _names({e.actor_id for e, _, _ in wanted})
    drafts: list[_Draft] = []
    mentioned_now: set[tuple[int, int]] = set()  # (user, issue): a mention replaces the comment line
    for event, issue, people in wanted:
        if event.kind == events.MENTIONED:
            mentioned_now |= {(u, issue["id"]) for u in people}
    for event, issue, people in wanted:
        text = _texts(event, issue, actors.get(event.actor_id, "Someone"))[:500]
        for user_id in sorted(people):
            if (issue["project_id"], user_id) not in members:
                continue  # may not (or no longer) see the issue: nothing is said
            if event.kind == events.COMMENTED and (user_id, issue["id"]) in mentioned_now:
                continue
            drafts.append(_Draft(user_id, event.kind, issue["id"], event.actor_id, text))
    drafts += _bulk_drafts([e for e in claimed if e.kind == events.BULK])
    return drafts


def _members(candidates: dict[int, set[int]]) -> set[tuple[int, int]]:
    """Return the (project, user) pairs among the candidates that are active members now (one query)."""
    users = {u for people in candidates.values() for u in people}
    if not users:
        return set()
    rows = Membership.objects.filter(
        project_id__in=list(candidates), user_id__in=users, user__is_active=True
    ).values_list("project_id", "user_id")
    return {(p, u) for p, u in rows if u in candidates[p]}


def _names(user_ids: Iterable[int | None]) -> dict[int | None, str]:
    wanted = {u for u in user_ids if u is not None}
    return {u.pk: display_name(u) for u in User.objects.filter(pk__in=wanted).select_related("profile")}


def _bulk_drafts(bulk: list[PendingEvent]) -> list[_Draft]:
    """One notification per person per bulk job (events of one job share data["batch"]), however many issues.

    Recipients are the active members of a changed issue's project who watch at least one changed issue: one
    query per project of a chunk, an EXISTS per member on the (user, issue) index that stops
    at the first watched issue. Counting each person's watched issues instead read every watch row of the chunk
    (250,000 rows for 5,000 issues with 50 watchers each: 0.6 s per chunk); the line says how many issues the job
    changed.
    """
    per_job: dict[tuple[Any, ...], set[int]] = defaultdict(set)  # job -> recipients
    changed: Counter[tuple[Any, ...]] = Counter()  # job -> issues changed
    jobs: dict[tuple[Any, ...], PendingEvent] = {}
    for event in bulk:
        job = (event.data.get("batch") or f"event-{event.pk}", event.actor_id)
        jobs.setdefault(job, event)
        by_project = {int(p): ids for p, ids in event.data.get("projects", {}).items()}
        changed[job] += sum(len(ids) for ids in by_project.values())
        for project_id, ids in by_project.items():
            per_job[job] |= _members_watching(project_id=project_id, issue_ids=ids)
    drafts: list[_Draft] = []
    actors = _names(actor for _, actor in jobs)
    for job, people in per_job.items():
        event = jobs[job]
        people.discard(event.actor_id)  # the actor never hears of their own change
        change = "; ".join(f"{what}: {value}" for what, value in event.data.get("changes", []))
        actor = actors.get(event.actor_id, "Someone") if event.actor_id else "A bulk change"
        count = changed[job]
        noun = "issue" if count == 1 else "issues"
        text = f"{actor} changed {count:,} {noun} in one bulk change, issues you watch among them ({change})"[:500]
        drafts += [_Draft(user_id, events.BULK, None, event.actor_id, text) for user_id in sorted(people)]
    return drafts


def _members_watching(*, project_id: int, issue_ids: list[int]) -> set[int]:
    """Return the active members of the project who watch at least one of the issues (one query).

    No age check against the event (single-issue events have one): it would read a heap row per index entry.
    On PostgreSQL the ids go as one array parameter (sql.where_in explains why); the ORM form elsewhere.
    """
    if sql.is_postgresql():
        q = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.user_id FROM {q(Membership._meta.db_table)} m "
                f"JOIN {q(User._meta.db_table)} u ON u.id = m.user_id "
                f"WHERE m.project_id = %s AND u.is_active AND EXISTS (SELECT 1 FROM {q(Watch._meta.db_table)} w "
                "WHERE w.user_id = m.user_id AND w.issue_id = ANY(%s))",
                [project_id, issue_ids],
            )
            return {row[0] for row in cursor.fetchall()}
    watches = Watch.objects.filter(user_id=OuterRef("user_id"), issue_id__in=issue_ids)
    return set(
        Membership.objects.filter(project_id=project_id, user__is_active=True)
        .filter(Exists(watches))
        .values_list("user_id", flat=True)
    )


def _store(drafts: list[_Draft], *, now: dt.datetime, queue: str | None = None) -> int:
    """Write the notifications the recipients' settings want; schedule their digest e-mails."""
    if not drafts:
        return 0
    user_ids = {d.user_id for d in drafts}
    prefs = {s.user_id: s for s in NotificationSettings.objects.filter(user_id__in=user_ids)}
    emails = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "email"))
    rows: list[Notification] = []
    mailed: set[int] = set()
    for d in drafts:
        pref = prefs.get(d.user_id) or NotificationSettings(user_id=d.user_id)
        if not getattr(pref, SETTING_OF_KIND[d.kind]):
            continue
        by_mail = bool(pref.email and emails.get(d.user_id))
        if by_mail:
            mailed.add(d.user_id)
        rows.append(
            Notification(
                user_id=d.user_id,
                kind=d.kind,
                issue_id=d.issue_id,
                actor_id=d.actor_id,
                text=d.text,
                created=now,
                email_pending=by_mail,
            )
        )
    Notification.objects.bulk_create(rows, batch_size=1000)
    _schedule_digests(user_ids=mailed, now=now, queue=queue)
    return len(rows)


def batch_window() -> dt.timedelta:
    """Return the batch window of digest e-mails (NOTIFICATIONS_EMAIL_WINDOW seconds)."""
    return dt.timedelta(seconds=settings.NOTIFICATIONS_EMAIL_WINDOW)


def _schedule_digests(*, user_ids: set[int], now: dt.datetime, queue: str | None = None) -> None:
    """Give each user without a pending digest one, due a batch window from now (queued after the commit)."""
    if not user_ids:
        return
    have = set(NotificationSettings.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True))
    NotificationSettings.objects.bulk_create(
        [NotificationSettings(user_id=u) for u in user_ids - have], ignore_conflicts=True
    )
    due = now + batch_window()
    # Only rows without a due digest: a person already waiting for one gets these lines in it.
    fresh = list(
        NotificationSettings.objects.select_for_update()
        .filter(user_id__in=user_ids, digest_due__isnull=True)
        .values_list("user_id", flat=True)
    )
    if not fresh:
        return
    NotificationSettings.objects.filter(user_id__in=fresh).update(digest_due=due)
    window = settings.NOTIFICATIONS_EMAIL_WINDOW
    transaction.on_commit(lambda: _enqueue_digests(fresh, window, queue), robust=True)


def _enqueue_digests(user_ids: list[int], countdown: int, queue: str | None) -> None:
    # Function-local import: tasks call this module back (the one cycle Celery's pattern has).
    from notifications import tasks

    if not settings.NOTIFICATIONS_QUEUE_TASKS:
        return
    # One task for everyone this fan-out gave a digest: they are all due at the same time.
    try:
        tasks.send_digests.apply_async((user_ids,), countdown=countdown, queue=queue)
    except Exception:  # the beat backstop sends due digests every minute
        logger.exception("could not queue the digests of %d user(s)", len(user_ids))


# ---------------------------------------------------------------------------------------------------------
# Digest e-mails
# ---------------------------------------------------------------------------------------------------------


def digest_send(*, user_id: int, site_url: str | None = None) -> int:
    """Send the user's pending notifications as one e-mail; return how many lines it had (0: nothing sent).

    Runs under the lock of the user's settings row, so a fan-out adding lines meanwhile either makes it into
    this e-mail or schedules the next one. A failing mail server rolls back: the task retries.
    """
    with transaction.atomic():
        pref = NotificationSettings.objects.select_for_update().filter(user_id=user_id).first()
        if pref is None:
            return 0
        pending = list(
            Notification.objects.filter(user_id=user_id, email_pending=True).select_related("issue").order_by("pk")
        )
        pref.digest_due = None
        pref.save(update_fields=["digest_due"])
        if not pending:
            return 0
        Notification.objects.filter(pk__in=[n.pk for n in pending]).update(email_pending=False)
        user = User.objects.filter(pk=user_id, is_active=True).select_related("profile").first()
        if user is None or not pref.email or not user.email:
            return 0
        # Re-check at send time: a line about an issue the person can no longer see is left out.
        visible = set(visible_project_ids(user).values_list("project_id", flat=True))
        lines = [n for n in pending if n.issue is None or n.issue.project_id in visible]
        if not lines:
            return 0
        _mail(user=user, lines=lines, site_url=site_url or settings.TASKRA_SITE_URL)
        return len(lines)


def _mail(*, user: Any, lines: list[Notification], site_url: str) -> None:
    base = site_url.rstrip("/")
    unsubscribe = base + reverse("notifications:unsubscribe", args=[unsubscribe_token(user_id=user.pk)])
    context = {
        "name": display_name(user),
        "lines": [
            {"text": n.text, "url": base + reverse("issues:browse", args=[n.issue.key]) if n.issue else ""}
            for n in lines[:DIGEST_MAX_LINES]
        ],
        "more": max(0, len(lines) - DIGEST_MAX_LINES),
        "list_url": base + reverse("notifications:list"),
        "settings_url": base + reverse("notifications:settings"),
        "unsubscribe_url": unsubscribe,
    }
    count = len(lines)
    subject = f"[Taskra] {count} update{'s' if count != 1 else ''}: {lines[0].text}"[:200]
    message = EmailMultiAlternatives(
        subject=subject.replace("\n", " "),
        body=render_to_string("notifications/email_digest.txt", context),
        to=[user.email],
        headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    message.attach_alternative(render_to_string("notifications/email_digest.html", context), "text/html")
    message.send()


def due_digest_user_ids(*, now: dt.datetime) -> list[int]:
    """Return the users whose digest is overdue (its task was lost): the beat backstop sends them."""
    late = now - dt.timedelta(seconds=60)
    return list(NotificationSettings.objects.filter(digest_due__lte=late).values_list("user_id", flat=True))


def stale_events_exist(*, now: dt.datetime) -> bool:
    """Return whether events wait longer than a minute for their fan-out (its task was lost)."""
    return PendingEvent.objects.filter(created__lte=now - dt.timedelta(seconds=60)).exists()
