"""Deterministic demo data at any size: projects, people, issues with comments, history and worklogs.

Everything is generated from one random.Random(seed) in a fixed order, so the same seed (and the same
`now`) gives the same keys, summaries and field values. The organisation scales with the issue count, as
a real one would: about one person per 250 issues, one large legacy project (a third of the issues) and a
long tail of team projects, and nobody logs more than 10 hours on a working day. Rows are written as
plain tuples through taskra_site.sql.insert_rows (COPY on PostgreSQL), with issue ids reserved up front
so sub-tasks and child rows need no read-back; issue numbers come from allocate_issue_numbers so project
counters stay right, and each issue's time_spent is the sum of the worklogs written for it. The `demo`
login gets open issues assigned, issues reported and worklogs in the current week, so its first visit
shows a filled home page, "My open issues" and timesheet.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import Profile, user_zone
from issues import pagecache
from issues.models import (
    Comment,
    History,
    Issue,
    IssueType,
    Label,
    Membership,
    Priority,
    Project,
    Resolution,
    Role,
    Status,
    StatusCategory,
)
from issues.services import allocate_issue_numbers, history_text, resolution_for_status
from taskra_site.sql import insert_rows, is_postgresql, relax_commit
from worklogs.models import Worklog, WorklogRollup
from worklogs.services import worklog_rollup_rebuild

User = get_user_model()
if TYPE_CHECKING:
    # The default user model (settings leave AUTH_USER_MODEL alone); get_user_model() is what runs.
    from django.contrib.auth.models import User as AuthUser

_T = TypeVar("_T")

PROJECTS = [
    ("DEMO", "Demo project", "A sandbox with a bit of everything."),
    ("OPS", "Operations", "Infrastructure, on-call and incidents."),
    ("WEB", "Website", "The public website and customer portal."),
    ("MOB", "Mobile apps", "iOS and Android apps."),
    ("DATA", "Data platform", "Pipelines, warehouse and reporting."),
    ("SEC", "Security", "Audits, vulnerabilities and compliance."),
    ("API", "Public API", "REST API and SDKs."),
    ("HR", "People team", "Hiring, onboarding and internal tooling."),
]
FIRST_NAMES = [
    "Anna", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kira", "Liam", "Maya",
    "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe",
]  # fmt: skip
LAST_NAMES = [
    "Adams", "Berg", "Chen", "Diaz", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito", "Jensen", "Kowalski", "Lopez",
    "Müller", "Nakamura", "Okafor", "Petrov", "Quispe", "Rossi", "Schmidt", "Tanaka", "Umeh", "Varga", "Wong",
]  # fmt: skip
TIME_ZONES = [
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Warsaw", "Europe/Madrid", "America/New_York", "America/Chicago",
    "America/Los_Angeles", "America/Sao_Paulo", "Asia/Tokyo", "Asia/Kolkata", "Asia/Singapore", "Australia/Sydney",
    "Africa/Lagos", "Pacific/Auckland",
]  # fmt: skip
LABELS = [
    "backend", "frontend", "ux", "performance", "security", "tech-debt", "customer", "regression", "flaky-test",
    "docs", "infra", "database", "api", "mobile", "accessibility", "i18n", "billing", "search", "onboarding",
    "monitoring", "release-blocker", "good-first-issue", "needs-info", "design", "analytics", "privacy",
]  # fmt: skip
VERBS = [
    "Fix", "Add", "Improve", "Refactor", "Investigate", "Remove", "Document", "Speed up", "Migrate", "Test",
    "Support", "Redesign", "Automate", "Audit", "Localise",
]  # fmt: skip
OBJECTS = [
    "login page", "password reset email", "CSV export", "search results", "billing webhook", "dashboard charts",
    "notification settings", "user avatars", "audit log", "API rate limiting", "dark mode", "push notifications",
    "invoice PDF", "onboarding checklist", "session timeout", "file uploads", "SSO with Okta", "backup job",
    "deploy pipeline", "error pages", "checkout flow", "sitemap", "release notes", "time zone handling",
    "sprint report", "offline mode", "cache warm-up", "database indexes", "load balancer health checks",
    "mobile deep links",
]  # fmt: skip
QUALIFIERS = [
    "", "", "", "on Safari", "for large accounts", "after upgrade", "in the EU region", "on Android 14",
    "for admins", "under load", "when offline", "for new users", "in the nightly build", "behind the proxy",
]  # fmt: skip
COMMENTS = [
    "I can reproduce this on staging.",
    "Looks related to the change we shipped last sprint.",
    "Can we get logs from the customer?",
    "PR is up for review.",
    "Tested on my machine, works after the fix.",
    "Moving this to the next sprint, blocked on the API change.",
    "Added a regression test.",
    "@team please take a look when you have a minute.",
    "The root cause was a missing index.",
    "Deployed to production, monitoring for a day.",
    "Design mock-ups attached in the wiki.",
    "This needs a product decision first.",
]
WORKLOG_COMMENTS = ["", "", "Investigation", "Implementation", "Code review", "Testing", "Pairing", "Deploy"]

# Further projects of a large organisation (key stem, name); past this list keys get a number (PAY2, PAY3, ...).
AREAS = [
    ("PAY", "Payments"), ("CRM", "Customer relations"), ("INF", "Infrastructure"), ("QA", "Quality"),
    ("DES", "Design system"), ("BIL", "Billing"), ("SRCH", "Search"), ("NOTIF", "Notifications"),
    ("AUTH", "Identity"), ("ANL", "Analytics"), ("SUP", "Support tooling"), ("ML", "Machine learning"),
    ("CORE", "Core services"), ("INT", "Integrations"), ("DOCS", "Documentation"), ("FIN", "Finance systems"),
    ("LEG", "Legal and compliance"), ("MKT", "Marketing site"), ("PLAT", "Platform"), ("REL", "Release engineering"),
]  # fmt: skip

ISSUES_CHUNK = 5000  # issues generated and written per round: bounded memory, few statements
ISSUES_PER_PERSON = 250  # one person per 250 issues, as in large Jira installations
MIN_PEOPLE = 12
ISSUES_PER_PROJECT = 7500  # past the first four projects, one more per 7,500 issues (sizes vary, see _project_sizes)
MIN_TEAM = 8
TEAM_FACTOR = 1.25  # people per project: its share of the people, plus some who work in several projects
DAY_LIMIT = 10 * 3600  # at most 10 h of worklogs per person per working day
HISTORY_DAYS = 120  # issues are created over the last four months
WORKLOG_DAYS = 90  # worklogs fall in the last three months
WORKLOG_SECONDS = [1800, 3600, 3600, 5400, 7200, 7200, 10800, 14400]
DEMO_ASSIGNED = 12  # open DEMO issues assigned to the demo login
DEMO_REPORTED = 8  # DEMO issues it reported
DEMO_SLOTS = ((9, 0, 5400), (11, 0, 7200), (14, 0, 9000))  # its worklogs each working day this week: 6 h
MAX_PROJECTS = 1000
ROWS_BATCH = 5000  # users per statement (SQLite allows 32,766 parameters)
ISSUE_COLUMNS = (
    "id", "project_id", "number", "key", "summary", "description", "type_id", "status_id", "priority_id",
    "resolution_id", "assignee_id", "reporter_id", "parent_id", "due_date", "original_estimate", "remaining_estimate",
    "time_spent", "created", "updated", "resolved", "source",
)  # fmt: skip
# From this many issues on PostgreSQL, secondary indexes are dropped for the load and built again after it.
BULK_INDEX_THRESHOLD = 200_000
WORKLOG_COLUMNS = ("issue_id", "author_id", "started", "time_spent", "comment", "created", "updated", "source")


@dataclass
class SeedResult:
    """What seed_demo wrote, and how long it took."""

    projects: int = 0
    users: int = 0
    memberships: int = 0
    issues: int = 0
    labels: int = 0
    issue_labels: int = 0
    comments: int = 0
    history: int = 0
    worklogs: int = 0
    people: int = 0
    seconds: float = 0.0
    demo_created: bool = False

    @property
    def rows(self) -> int:
        """Return the total number of rows inserted."""
        return (
            self.projects + self.users * 2 + self.memberships + self.issues + self.labels + self.issue_labels
            + self.comments + self.history + self.worklogs
        )  # fmt: skip


def default_people(issues: int) -> int:
    """Return how many people an organisation with this many issues has: about one per 250 issues."""
    return max(MIN_PEOPLE, round(issues / ISSUES_PER_PERSON))


def default_projects(issues: int) -> int:
    """Return how many projects an organisation with this many issues has: four, plus one per 7,500 issues."""
    return 4 + issues // ISSUES_PER_PROJECT


def project_specs(count: int) -> list[tuple[str, str, str]]:
    """Return (key, name, description) of the first `count` demo projects, in a fixed order."""
    specs = list(PROJECTS[:count])
    n = 0
    while len(specs) < count:
        stem, name = AREAS[n % len(AREAS)]
        round_ = n // len(AREAS) + 1
        key, title = (stem, name) if round_ == 1 else (f"{stem}{round_}", f"{name} {round_}")
        specs.append((key, title, f"The {title.lower()} team's work."))
        n += 1
    return specs


def _project_sizes(issues: int, count: int) -> list[int]:
    """Split the issues over the projects: the first (DEMO, the legacy product) a third, the others a long tail.

    With four projects the split is 3:2:2:2; with more, project i of the rest weighs 1/(i+1)^0.8, so a
    million issues make one 333,333-issue project, a few of 30,000-60,000 and many of a few thousand.
    """
    if count <= 4:
        weights = [3.0, 2.0, 2.0, 2.0][:count]
        share = [int(issues * w / sum(weights)) for w in weights]
        share[0] += issues - sum(share)
        return share
    rest = [1 / (i + 1) ** 0.8 for i in range(count - 1)]
    share = [issues // 3, *(int((issues - issues // 3) * w / sum(rest)) for w in rest)]
    share[1] += issues - sum(share)
    return share


def _pick_weighted(rng: random.Random, items: Sequence[_T], weights: list[int]) -> _T:
    return rng.choices(items, weights=weights, k=1)[0]


def _ensure_users(rng: random.Random, count: int, password_hash: str) -> tuple[list[AuthUser], int]:
    """Create `count` demo users with profiles unless they exist; return them in a fixed order and the new count."""
    specs = []
    seen: set[str] = set()
    for i in range(count):
        first = FIRST_NAMES[i % len(FIRST_NAMES)]
        last = LAST_NAMES[(i * 7 + i // len(FIRST_NAMES)) % len(LAST_NAMES)]
        username = f"{first}.{last}".lower().replace("ü", "ue")
        if username in seen:
            username = f"{username}{i}"
        seen.add(username)
        specs.append((username, first, last, rng.choice(TIME_ZONES)))
    usernames = [s[0] for s in specs]
    existing: set[str] = set()
    for start in range(0, len(usernames), ROWS_BATCH):  # SQLite allows 32,766 parameters per statement
        batch = usernames[start : start + ROWS_BATCH]
        existing.update(User.objects.filter(username__in=batch).values_list("username", flat=True))
    now = timezone.now()
    User.objects.bulk_create(
        [
            User(username=u, first_name=f, last_name=la, email=f"{u}@example.com", password=password_hash,
                 date_joined=now)
            for u, f, la, _ in specs
            if u not in existing
        ],
        batch_size=ROWS_BATCH,
    )  # fmt: skip
    # With their profiles: history rows name people by the one display-name rule (issues.services.history_text).
    named: dict[str, AuthUser] = {}
    for start in range(0, len(usernames), ROWS_BATCH):
        batch = usernames[start : start + ROWS_BATCH]
        named.update((u.username, u) for u in User.objects.filter(username__in=batch))
    # bulk_create sends no post_save, so profiles are written here.
    Profile.objects.bulk_create(
        [Profile(user=named[u], display_name=f"{f} {la}", time_zone=tz) for u, f, la, tz in specs if u not in existing],
        batch_size=ROWS_BATCH,
        ignore_conflicts=True,
    )
    profiles = {p.user_id: p for p in Profile.objects.filter(user_id__in=[u.pk for u in named.values()])}
    for user in named.values():
        if user.pk in profiles:
            user.profile = profiles[user.pk]
    return [named[u] for u in usernames], len(usernames) - len(existing)


def _ensure_demo_login(username: str, password: str) -> tuple[AuthUser, bool]:
    """Return the demo login (staff and superuser), creating it with `password` if missing."""
    user = User.objects.select_related("profile").filter(username=username).first()
    if user is not None:
        return user, False
    user = User.objects.create_superuser(username, f"{username}@example.com", password, first_name="Demo")
    Profile.objects.filter(user=user).update(display_name="Demo User")
    return User.objects.select_related("profile").get(pk=user.pk), True


def _summary(rng: random.Random) -> str:
    qualifier = rng.choice(QUALIFIERS)
    text = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    return f"{text} {qualifier}" if qualifier else text


def _reserve_ids(model: type[Model], count: int) -> list[int]:
    """Return `count` new primary keys for `model`, so rows can be written with their ids already known.

    PostgreSQL: drawn from the table's own sequence (safe next to concurrent writers). Elsewhere (SQLite,
    inside seed_demo's write transaction, which holds the database lock): the ids after the largest one.
    """
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
            )
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}")
        top = cursor.fetchone()[0]
        return list(range(top + 1, top + 1 + count))


@contextmanager
def _indexes_built_after(models: Sequence[type[Model]], *, enabled: bool) -> Iterator[None]:
    """Drop the tables' secondary indexes and foreign keys for the body and add them again after it.

    PostgreSQL only, if enabled. Building an index once over a million rows costs a fraction of updating
    it row by row (the trigram GIN indexes on summary and description most of all), and adding a foreign
    key checks all rows in one join, where a loaded row queues a deferred per-row check (measured at 1M
    issues: over 5 minutes of checks at commit). Primary keys and unique constraints stay. It all runs
    inside seed_demo's transaction: on failure everything comes back with the rollback. The DROPs lock the
    tables until commit, which is why only large (offline) loads take this path.
    """
    if not (enabled and is_postgresql()):
        yield
        return
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [tables],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
            [tables],
        )
        foreign_keys = cursor.fetchall()
        # Rows written earlier in the transaction have checks pending, and PostgreSQL alters no table with
        # pending checks: run them now (a few hundred users and memberships), defer again once done.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, name, _ in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, ddl in indexes:
            cursor.execute(ddl)
        for table, name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's foreign keys are INITIALLY DEFERRED


def _week_start(now: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """Return Monday 00:00 of `now`'s week in `zone`."""
    local = now.astimezone(zone)
    monday = local.date() - dt.timedelta(days=local.weekday())
    return dt.datetime.combine(monday, dt.time(), tzinfo=zone)


def seed_demo(
    *,
    issues: int = 2000,
    seed: int = 1,
    projects: int | None = None,
    users: int | None = None,
    password: str = "demo-pass-123",
    demo_username: str = "demo",
    now: dt.datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> SeedResult:
    """Write deterministic demo data and return what was written.

    `projects` and `users` default to the organisation size for `issues` (default_projects, default_people).
    Additive: existing projects and users with the demo names are reused, and new issues continue each
    project's numbering. `now` (default: the current time) anchors every date, the demo login's "this week".
    """
    projects = default_projects(issues) if projects is None else projects
    users = default_people(issues) if users is None else users
    if issues < 0 or not 1 <= projects <= MAX_PROJECTS or users < 1:
        raise ValueError(f"issues >= 0, 1 <= projects <= {MAX_PROJECTS} and users >= 1 are required")
    started_at = time.perf_counter()
    rng = random.Random(seed)
    result = SeedResult()
    with transaction.atomic():
        _seed(rng, result, issues=issues, n_projects=projects, n_users=users, password=password,
              demo_username=demo_username, now=(now or timezone.now()).replace(microsecond=0),
              progress=progress)  # fmt: skip
    result.seconds = time.perf_counter() - started_at
    return result


@dataclass
class _Team:
    """One project's people: who may edit (report, be assigned, log work), as pks, and their history names."""

    workers: list[int]
    names: dict[int, str]


def _memberships(
    rng: random.Random, project_rows: list[Project], sizes: list[int], people: list[AuthUser], demo_user: AuthUser
) -> tuple[dict[int, _Team], list[Membership]]:
    """Return each project's team and the memberships to write: teams scale with the project's issues.

    People are dealt round a shuffled circle, so most work in one or two projects; each team has two
    admins (the first is the lead), two viewers and members; the demo login is admin everywhere.
    """
    order = list(people)
    rng.shuffle(order)
    cursor = 0
    teams: dict[int, _Team] = {}
    rows: list[Membership] = []
    total = max(sum(sizes), 1)
    for project, size in zip(project_rows, sizes, strict=True):
        want = round(len(people) * TEAM_FACTOR * size / total)
        n = min(len(order), max(MIN_TEAM, want))
        team = [order[(cursor + i) % len(order)] for i in range(n)]
        cursor = (cursor + n) % len(order)
        workers = []
        for i, person in enumerate(team):
            role = Role.ADMIN if i < 2 else (Role.VIEWER if i >= len(team) - 2 and len(team) > 4 else Role.MEMBER)
            rows.append(Membership(project=project, user=person, role=role))
            if role != Role.VIEWER:
                workers.append(person)
        rows.append(Membership(project=project, user=demo_user, role=Role.ADMIN))
        workers = workers or team
        teams[project.pk] = _Team([u.pk for u in workers], {u.pk: history_text(u) for u in workers})
        if project.lead_id is None:
            project.lead = team[0]
            project.save(update_fields=["lead"])
    return teams, rows


def _seed(
    rng: random.Random,
    result: SeedResult,
    *,
    issues: int,
    n_projects: int,
    n_users: int,
    password: str,
    demo_username: str,
    now: dt.datetime,
    progress: Callable[[str], None] | None,
) -> None:
    now = now.astimezone(dt.UTC)
    started = time.perf_counter()
    people, result.users = _ensure_users(rng, n_users, make_password(password))
    result.people = len(people)
    demo_user, result.demo_created = _ensure_demo_login(demo_username, password)
    demo_pk = demo_user.pk

    project_rows = []
    for key, name, description in project_specs(n_projects):
        project, is_new = Project.objects.get_or_create(key=key, defaults={"name": name, "description": description})
        result.projects += int(is_new)
        project_rows.append(project)
    sizes = _project_sizes(issues, len(project_rows))
    teams, memberships = _memberships(rng, project_rows, sizes, people, demo_user)
    before = Membership.objects.count()
    Membership.objects.bulk_create(memberships, batch_size=ROWS_BATCH, ignore_conflicts=True)
    result.memberships = Membership.objects.count() - before

    labels_before = Label.objects.count()
    Label.objects.bulk_create([Label(name=n) for n in LABELS], ignore_conflicts=True)
    label_ids = dict(Label.objects.filter(name__in=LABELS).values_list("name", "pk"))
    result.labels = Label.objects.count() - labels_before

    types = {t.name: t for t in IssueType.objects.all()}
    standard_types = [t for t in types.values() if not t.is_subtask]
    subtask_type = next((t for t in types.values() if t.is_subtask), None)
    type_weights = {"Epic": 2, "Story": 25, "Task": 35, "Bug": 25}
    epic_id = types["Epic"].pk if "Epic" in types else None
    type_w = [type_weights.get(t.name, 10) for t in standard_types]
    statuses = list(Status.objects.all())
    status_weights: dict[str, int] = {StatusCategory.TODO: 35, StatusCategory.IN_PROGRESS: 25, StatusCategory.DONE: 40}
    status_w = [status_weights.get(s.category, 10) for s in statuses]
    priorities = list(Priority.objects.order_by("rank"))
    priority_w = [[5, 15, 50, 20, 10][i] if i < 5 else 5 for i in range(len(priorities))]
    resolutions = {r.name: r for r in Resolution.objects.all()}
    done_resolution = resolutions.get("Done") or next(iter(resolutions.values()), None)
    other_resolutions = [r for r in resolutions.values() if r is not done_resolution]
    resolution_names = {r.pk: r.name for r in resolutions.values()}
    if not (standard_types and statuses and priorities):
        raise RuntimeError("Issue types, statuses and priorities are missing: run `manage.py migrate` first.")
    todo_status = next((s for s in statuses if s.category == StatusCategory.TODO), statuses[0])
    progress_status = next((s for s in statuses if s.category == StatusCategory.IN_PROGRESS), todo_status)

    # Reserve each project's issue numbers in one UPDATE, and interleave projects so ids mix like real traffic.
    next_number = {}
    for project, n in zip(project_rows, sizes, strict=True):
        if n:
            next_number[project.pk] = allocate_issue_numbers(project_id=project.pk, count=n)
    order = [p for p, n in zip(project_rows, sizes, strict=True) for _ in range(n)]
    rng.shuffle(order)

    history_start = now - dt.timedelta(days=HISTORY_DAYS)
    # Worklogs start on working days (UTC) of the last three months; booked[] holds each person's day total.
    first_day = (now - dt.timedelta(days=WORKLOG_DAYS)).date()
    workdays = [
        d
        for d in (first_day + dt.timedelta(days=k) for k in range((now.date() - first_day).days + 1))
        if d.weekday() < 5
    ]
    day_starts = [dt.datetime.combine(d, dt.time(), tzinfo=dt.UTC) for d in workdays]
    n_days = len(workdays)
    person_index = {u.pk: i for i, u in enumerate(people)}
    booked = [0] * (len(people) * n_days)

    # The demo login: open DEMO issues assigned to it (created before this week), issues it reported, and 6 h
    # of worklogs on each working day of its current week up to now, spread over its issues.
    week_start = _week_start(now, user_zone(demo_user))
    demo_slots = []
    for day in range(5):
        for hour, minute, seconds in DEMO_SLOTS:
            start = (week_start + dt.timedelta(days=day)).replace(hour=hour, minute=minute)
            if start + dt.timedelta(seconds=seconds) <= now:
                demo_slots.append((start, seconds))
    demo_project = project_rows[0]
    demo_name = history_text(demo_user)
    demo_assigned = demo_reported = 0

    parents_of: dict[int, list[int]] = {p.pk: [] for p in project_rows}
    through = Issue.labels.through
    done = StatusCategory.DONE

    bulk = len(order) >= BULK_INDEX_THRESHOLD
    with _indexes_built_after((Issue, through, Comment, History, Worklog), enabled=bulk):
        for chunk_start in range(0, len(order), ISSUES_CHUNK):
            chunk = order[chunk_start : chunk_start + ISSUES_CHUNK]
            ids = _reserve_ids(Issue, len(chunk))
            issue_rows: list[tuple] = []
            label_rows: list[tuple] = []
            comment_rows: list[tuple] = []
            history_rows: list[tuple] = []
            worklog_rows: list[tuple] = []
            for issue_id, project in zip(ids, chunk, strict=True):
                pid = project.pk
                number = next_number[pid]
                next_number[pid] += 1
                team = teams[pid]
                workers = team.workers
                created = history_start + dt.timedelta(seconds=rng.randrange(HISTORY_DAYS * 86400 - 3600))
                candidates = parents_of[pid]
                is_subtask = subtask_type is not None and len(candidates) > 0 and rng.random() < 0.15
                issue_type = (
                    subtask_type
                    if is_subtask and subtask_type is not None
                    else _pick_weighted(rng, standard_types, type_w)
                )
                status = _pick_weighted(rng, statuses, status_w)
                category = status.category
                reporter = rng.choice(workers)
                assignee = rng.choice(workers) if rng.random() < 0.85 else None
                estimate = rng.choice(
                    [None, None, 1800, 3600, 7200, 4 * 3600, 8 * 3600, 16 * 3600, 24 * 3600, 40 * 3600]
                )
                summary = _summary(rng)
                description = rng.choice(
                    ["", f"Steps to reproduce:\n1. Open the {rng.choice(OBJECTS)}\n2. Watch it fail"]
                )
                priority_id = _pick_weighted(rng, priorities, priority_w).pk
                due_date = (created + dt.timedelta(days=rng.randint(7, 60))).date() if rng.random() < 0.3 else None
                demo_k = -1
                if project is demo_project:
                    if demo_reported < DEMO_REPORTED:
                        reporter, demo_reported = demo_pk, demo_reported + 1
                    if category == StatusCategory.IN_PROGRESS and demo_assigned < DEMO_ASSIGNED:
                        assignee, demo_k, demo_assigned = demo_pk, demo_assigned, demo_assigned + 1
                        created = min(created, week_start - dt.timedelta(days=1))
                # Worklogs: only issues someone started on, on working days after creation, at most 10 h per
                # person and day (a worklog that would pass that is not written).
                worklogs = []
                if category != StatusCategory.TODO:
                    lo = bisect.bisect_left(workdays, created.date())
                    for _ in range(rng.randint(1, 3)):
                        if lo >= n_days:
                            break
                        i = rng.randrange(lo, n_days)
                        seconds = rng.choice(WORKLOG_SECONDS)
                        author = assignee if assignee is not None and rng.random() < 0.7 else rng.choice(workers)
                        if author == demo_pk:  # its time is the week's slots below
                            author = rng.choice(workers)
                        begin = max(day_starts[i] + dt.timedelta(seconds=7 * 3600 + rng.randrange(36) * 900), created)
                        slot = person_index[author] * n_days + i
                        if begin + dt.timedelta(seconds=seconds) > now or booked[slot] + seconds > DAY_LIMIT:
                            continue
                        booked[slot] += seconds
                        worklogs.append((author, begin, seconds, rng.choice(WORKLOG_COMMENTS)))
                if demo_k >= 0:
                    worklogs += [
                        (demo_pk, start, seconds, "Implementation")
                        for j, (start, seconds) in enumerate(demo_slots)
                        if j % DEMO_ASSIGNED == demo_k
                    ]
                spent = sum(w[2] for w in worklogs)
                remaining = None
                if estimate is not None:
                    remaining = 0 if category == done else max(estimate - spent, 0)
                last_activity = max([created, *(w[1] for w in worklogs)])
                # History: the walk from To Do to the current status (status changes resolve, as in issue_update).
                step = created
                if assignee is not None and rng.random() < 0.5:
                    step = min(step + dt.timedelta(minutes=rng.randint(5, 600)), now)
                    to_value = demo_name if assignee == demo_pk else team.names[assignee]
                    history_rows.append((issue_id, reporter, step, "assignee", "", to_value))
                mover = assignee or reporter
                if category != StatusCategory.TODO:
                    path = [todo_status, progress_status] if status.pk != progress_status.pk else [todo_status]
                    path.append(status)
                    for old, new in zip(path, path[1:], strict=False):
                        if old.pk == new.pk:
                            continue
                        step = min(step + dt.timedelta(minutes=rng.randint(30, 4 * 1440)), now)
                        history_rows.append((issue_id, mover, step, "status", old.name, new.name))
                        last_activity = max(last_activity, step)
                resolution_id = resolved = None
                if category == done:
                    given = rng.choice(other_resolutions) if other_resolutions and rng.random() < 0.25 else None
                    # Entering the done status resolves, by the issue services' rule.
                    resolved_at = min(max(step, last_activity), now)
                    resolution_id, resolved = resolution_for_status(
                        done=True,
                        resolution_id=given.pk if given else None,
                        resolved=None,
                        done_resolution=done_resolution.pk if done_resolution else None,
                        now=resolved_at,
                    )
                    if resolution_id is not None:
                        history_rows.append(
                            (issue_id, mover, resolved_at, "resolution", "", resolution_names[resolution_id])
                        )
                    last_activity = max(last_activity, resolved_at)
                for _ in range(rng.choice([0, 0, 1, 1, 1, 2, 3, 4])):
                    when = created + dt.timedelta(seconds=rng.randrange(max(int((now - created).total_seconds()), 1)))
                    comment_rows.append((issue_id, rng.choice(workers), rng.choice(COMMENTS), when, when, "demo"))
                    last_activity = max(last_activity, when)
                for name in rng.sample(LABELS, k=rng.choice([0, 0, 1, 1, 2, 3])):
                    label_rows.append((issue_id, label_ids[name]))
                worklog_rows += [(issue_id, a, s, t, c, s, s, "demo") for a, s, t, c in worklogs]
                parent_id = None
                if is_subtask:
                    parent_id = candidates[rng.randrange(len(candidates))]
                elif issue_type.pk != epic_id:  # Jira: sub-tasks hang off stories, tasks and bugs
                    candidates.append(issue_id)
                issue_rows.append((
                    issue_id, pid, number, f"{project.key}-{number}", summary, description, issue_type.pk, status.pk,
                    priority_id, resolution_id, assignee, reporter, parent_id, due_date, estimate, remaining, spent,
                    created, min(last_activity, now), resolved, "demo",
                ))  # fmt: skip

            # Ids ascend in the chunk and every parent precedes its sub-tasks, so rows go in as generated.
            insert_rows(Issue, ISSUE_COLUMNS, issue_rows)
            insert_rows(through, ("issue_id", "label_id"), label_rows)
            insert_rows(Comment, ("issue_id", "author_id", "body", "created", "updated", "source"), comment_rows)
            insert_rows(History, ("issue_id", "author_id", "created", "field", "from_value", "to_value"), history_rows)
            insert_rows(Worklog, WORKLOG_COLUMNS, worklog_rows)
            result.issues += len(chunk)
            result.issue_labels += len(label_rows)
            result.comments += len(comment_rows)
            result.history += len(history_rows)
            result.worklogs += len(worklog_rows)
            if progress is not None:
                progress(f"  {result.issues:,}/{len(order):,} issues ({time.perf_counter() - started:.0f} s)")

    relax_commit()  # a crash loses the seed, which is re-run; the commit need not wait for the disk
    # Raw inserts bypass the worklog services: the time reports' rollup is rebuilt from the worklogs once.
    worklog_rollup_rebuild()
    if is_postgresql():
        # Fresh planner statistics: autovacuum would take minutes to notice a million new rows.
        with connection.cursor() as cursor:
            for model in (Issue, through, Comment, History, Worklog, WorklogRollup, Membership):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    pagecache.invalidate_on_commit(config_ids=[p.pk for p in project_rows])  # raw inserts (members too): no signals
