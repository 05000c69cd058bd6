"""Deterministic demo data: projects, people, issues with comments, history and worklogs.

Everything is generated from one random.Random(seed) in a fixed order, so the same seed
gives the same keys, summaries and field values. Rows are written with bulk_create in
chunks (no per-row queries); issue numbers come from allocate_issue_numbers so project
counters stay right, and each issue's time_spent is the sum of the worklogs written for it.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import Profile
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
from worklogs.models import Worklog

User = get_user_model()
if TYPE_CHECKING:
    # The default user model (settings leave AUTH_USER_MODEL alone); get_user_model() is what runs.
    from django.contrib.auth.models import User as AuthUser

_T = TypeVar("_T")
_M = TypeVar("_M", bound=Model)

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

ISSUES_CHUNK = 2000  # issues per bulk_create round: large batches, bounded memory
ROWS_BATCH = 5000  # other rows per INSERT statement (PostgreSQL allows 65535 parameters)
HISTORY_DAYS = 120  # issues are created over the last four months
WORKLOG_DAYS = 90  # worklogs fall in the last three months


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
    seconds: float = 0.0
    demo_created: bool = False
    keys: list[str] = field(default_factory=list, repr=False)

    @property
    def rows(self) -> int:
        """Return the total number of rows inserted."""
        return (
            self.projects + self.users * 2 + self.memberships + self.issues + self.labels + self.issue_labels
            + self.comments + self.history + self.worklogs
        )  # fmt: skip


def _row_factory(model: type[_M], names: Sequence[str]) -> Callable[..., _M]:
    """Return a constructor taking values for the attnames `names` positionally; other fields get their default.

    Django's positional Model(*args) path costs about a third of the keyword one (figures:
    docs/benchmarks/2026-11-27-demo-seeding.md); mapping through the model's own field order keeps it right
    if fields move.
    Defaults are evaluated once, so this is only for models whose omitted fields have constant defaults.
    """
    fields = model._meta.concrete_fields
    position = {name: i for i, name in enumerate(names)}
    unknown = set(names) - {f.attname for f in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
    plan = [(position.get(f.attname), None if f.attname in position else f.get_default()) for f in fields]

    def make(*values: object) -> _M:
        return model(*[default if i is None else values[i] for i, default in plan])

    return make


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
    existing = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    now = timezone.now()
    User.objects.bulk_create(
        [
            User(
                username=u,
                first_name=f,
                last_name=la,
                email=f"{u}@example.com",
                password=password_hash,
                date_joined=now,
            )  # fmt: skip
            for u, f, la, _ in specs
            if u not in existing
        ],
        batch_size=ROWS_BATCH,
    )
    users = {u.username: u for u in User.objects.filter(username__in=usernames)}
    # bulk_create sends no post_save, so profiles are written here.
    Profile.objects.bulk_create(
        [Profile(user=users[u], display_name=f"{f} {la}", time_zone=tz) for u, f, la, tz in specs if u not in existing],
        batch_size=ROWS_BATCH,
        ignore_conflicts=True,
    )
    # With their profiles: history rows name people by the one display-name rule (issues.services.history_text).
    named = {u.username: u for u in User.objects.select_related("profile").filter(username__in=usernames)}
    return [named[u] for u in usernames], len(usernames) - len(existing)


def _ensure_demo_login(username: str, password: str) -> tuple[AuthUser, bool]:
    """Return the demo login (staff and superuser), creating it with `password` if missing."""
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    user = User.objects.create_superuser(username, f"{username}@example.com", password, first_name="Demo")
    Profile.objects.filter(user=user).update(display_name="Demo User")
    return user, True


def _summary(rng: random.Random) -> str:
    qualifier = rng.choice(QUALIFIERS)
    text = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    return f"{text} {qualifier}" if qualifier else text


def seed_demo(
    *,
    issues: int = 2000,
    seed: int = 1,
    projects: int = 4,
    users: int = 60,
    password: str = "demo-pass-123",
    demo_username: str = "demo",
    progress: Callable[[str], None] | None = None,
) -> SeedResult:
    """Write deterministic demo data and return what was written.

    Additive: existing projects and users with the demo names are reused, and new issues
    continue each project's numbering.
    """
    if issues < 0 or not 1 <= projects <= len(PROJECTS) or users < 1:
        raise ValueError(f"issues >= 0, 1 <= projects <= {len(PROJECTS)} and users >= 1 are required")
    started_at = time.perf_counter()
    rng = random.Random(seed)
    result = SeedResult()
    with transaction.atomic():
        _seed(rng, result, issues=issues, n_projects=projects, n_users=users, password=password,
              demo_username=demo_username, progress=progress)  # fmt: skip
    result.seconds = time.perf_counter() - started_at
    return result


def _seed(
    rng: random.Random,
    result: SeedResult,
    *,
    issues: int,
    n_projects: int,
    n_users: int,
    password: str,
    demo_username: str,
    progress: Callable[[str], None] | None,
) -> None:
    now = timezone.now().replace(microsecond=0)
    people, result.users = _ensure_users(rng, n_users, make_password(password))
    demo_user, result.demo_created = _ensure_demo_login(demo_username, password)

    # Projects, each with a lead, an admin or two, members and a couple of viewers.
    project_rows = []
    for key, name, description in PROJECTS[:n_projects]:
        project, is_new = Project.objects.get_or_create(key=key, defaults={"name": name, "description": description})
        result.projects += int(is_new)
        project_rows.append(project)
    team_of: dict[int, list[AuthUser]] = {}
    memberships_of: dict[int, list[Membership]] = {}
    memberships = []
    for project in project_rows:
        team = rng.sample(people, k=max(1, min(len(people), rng.randint(12, 25))))
        team_of[project.pk] = team
        for i, person in enumerate(team):
            role = Role.ADMIN if i < 2 else (Role.VIEWER if i >= len(team) - 2 and len(team) > 4 else Role.MEMBER)
            memberships_of.setdefault(project.pk, []).append(Membership(project=project, user=person, role=role))
        memberships.extend(memberships_of[project.pk])
        memberships.append(Membership(project=project, user=demo_user, role=Role.ADMIN))
        if project.lead_id is None:
            project.lead = team[0]
            project.save(update_fields=["lead"])
    before = Membership.objects.count()
    Membership.objects.bulk_create(memberships, batch_size=ROWS_BATCH, ignore_conflicts=True)
    result.memberships = Membership.objects.count() - before
    # Only members who may edit report issues and log work.
    workers_of = {
        pk: [u for u, m in zip(team, memberships_of[pk], strict=True) if m.role != Role.VIEWER] or team
        for pk, team in team_of.items()
    }

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

    # Split issues over projects (DEMO a bit bigger) and reserve their numbers in one UPDATE each.
    weights = [3 if i == 0 else 2 for i in range(len(project_rows))]
    share = [issues * w // sum(weights) for w in weights]
    share[0] += issues - sum(share)
    next_number = {}
    for project, n in zip(project_rows, share, strict=True):
        if n:
            next_number[project.pk] = allocate_issue_numbers(project_id=project.pk, count=n)
    order = [p for p, n in zip(project_rows, share, strict=True) for _ in range(n)]
    rng.shuffle(order)  # interleave projects so chunks and ids mix like real traffic

    history_start = now - dt.timedelta(days=HISTORY_DAYS)
    worklog_start = now - dt.timedelta(days=WORKLOG_DAYS)
    # Issues that may get sub-tasks; a chunk inserts its parents before its sub-tasks, so pks are known by then.
    parents_of: dict[int, list[Issue | int]] = {p.pk: [] for p in project_rows}
    through = Issue.labels.through
    make_label = _row_factory(through, ("issue_id", "label_id"))
    make_comment = _row_factory(Comment, ("issue_id", "author_id", "body", "created", "updated", "source"))
    make_history = _row_factory(History, ("issue_id", "author_id", "created", "field", "from_value", "to_value"))
    make_worklog = _row_factory(
        Worklog, ("issue_id", "author_id", "started", "time_spent", "comment", "created", "updated", "source")
    )
    keys: list[str] = []

    for chunk_start in range(0, len(order), ISSUES_CHUNK):
        chunk = order[chunk_start : chunk_start + ISSUES_CHUNK]
        standard: list[Issue] = []
        subtasks: list[tuple[Issue, Issue | int]] = []  # (sub-task, parent or its pk)
        inserted_upto = {pk: len(found) for pk, found in parents_of.items()}
        extras: dict[int, tuple] = {}  # id(issue) -> (labels, comments, history, worklogs) to write after insert
        for project in chunk:
            number = next_number[project.pk]
            next_number[project.pk] += 1
            team = workers_of[project.pk]
            created = history_start + dt.timedelta(seconds=rng.randrange(HISTORY_DAYS * 86400 - 3600))
            candidates = parents_of[project.pk]
            is_subtask = subtask_type is not None and len(candidates) > 0 and rng.random() < 0.15
            issue_type = (
                subtask_type if is_subtask and subtask_type is not None else _pick_weighted(rng, standard_types, type_w)
            )
            status = _pick_weighted(rng, statuses, status_w)
            reporter = rng.choice(team)
            assignee = rng.choice(team) if rng.random() < 0.85 else None
            estimate = rng.choice([None, None, 1800, 3600, 7200, 4 * 3600, 8 * 3600, 16 * 3600, 24 * 3600, 40 * 3600])
            issue = Issue(
                project_id=project.pk,
                number=number,
                key=f"{project.key}-{number}",
                summary=_summary(rng),
                description=rng.choice(
                    ["", f"Steps to reproduce:\n1. Open the {rng.choice(OBJECTS)}\n2. Watch it fail"]
                ),
                type_id=issue_type.pk,
                status_id=status.pk,
                priority_id=_pick_weighted(rng, priorities, priority_w).pk,
                assignee_id=assignee.pk if assignee else None,
                reporter_id=reporter.pk,
                due_date=(created + dt.timedelta(days=rng.randint(7, 60))).date() if rng.random() < 0.3 else None,
                original_estimate=estimate,
                created=created,
                source="demo",
            )
            keys.append(issue.key)
            # Worklogs: only issues someone started on, between creation and now, inside the last three months.
            worklogs = []
            if status.category != StatusCategory.TODO:
                first_day = max(created, worklog_start)
                span = max(int((now - first_day).total_seconds()) - 3600, 60)
                for _ in range(rng.randint(1, 3)):
                    started = first_day + dt.timedelta(seconds=rng.randrange(span))
                    worklogs.append(
                        (rng.choice(team).pk, started, rng.randint(1, 24) * 900, rng.choice(WORKLOG_COMMENTS))
                    )
            spent = sum(w[2] for w in worklogs)
            issue.time_spent = spent
            if estimate is not None:
                issue.remaining_estimate = 0 if status.category == StatusCategory.DONE else max(estimate - spent, 0)
            last_activity = max([created, *(w[1] for w in worklogs)])
            # History: the walk from To Do to the current status (status changes resolve, as in issue_update).
            history = []
            step = created
            if assignee is not None and rng.random() < 0.5:
                step = min(step + dt.timedelta(minutes=rng.randint(5, 600)), now)
                history.append((reporter.pk, step, "assignee", "", history_text(assignee)))
            if status.category != StatusCategory.TODO:
                path = [todo_status, progress_status] if status.pk != progress_status.pk else [todo_status]
                path.append(status)
                for old, new in zip(path, path[1:], strict=False):
                    if old.pk == new.pk:
                        continue
                    step = min(step + dt.timedelta(minutes=rng.randint(30, 4 * 1440)), now)
                    history.append(((assignee or reporter).pk, step, "status", old.name, new.name))
            if status.category == StatusCategory.DONE:
                given = rng.choice(other_resolutions) if other_resolutions and rng.random() < 0.25 else None
                # Entering the done status resolves, by the issue services' rule.
                resolved_at = min(max(step, last_activity), now)
                resolution_id, issue.resolved = resolution_for_status(
                    done=True,
                    resolution_id=given.pk if given else None,
                    resolved=None,
                    done_resolution=done_resolution.pk if done_resolution else None,
                    now=resolved_at,
                )
                issue.resolution_id = resolution_id
                if resolution_id is not None:
                    history.append(
                        ((assignee or reporter).pk, resolved_at, "resolution", "", resolution_names[resolution_id])
                    )
                last_activity = max(last_activity, resolved_at)
            comments = []
            for _ in range(rng.choice([0, 0, 1, 1, 1, 2, 3])):
                when = created + dt.timedelta(seconds=rng.randrange(max(int((now - created).total_seconds()), 1)))
                comments.append((rng.choice(team).pk, when, rng.choice(COMMENTS)))
            last_activity = max([last_activity, *(h[1] for h in history), *(c[1] for c in comments)])
            issue.updated = min(last_activity, now)
            labels = rng.sample(LABELS, k=rng.choice([0, 0, 1, 1, 2, 3]))
            extras[id(issue)] = (labels, comments, history, worklogs)
            if is_subtask:
                subtasks.append((issue, candidates[rng.randrange(len(candidates))]))
            else:
                standard.append(issue)
                if issue_type.pk != epic_id:  # Jira: sub-tasks hang off stories, tasks and bugs
                    candidates.append(issue)

        # Parents first, so sub-tasks in this chunk can point at parents created in it.
        Issue.objects.bulk_create(standard, batch_size=ISSUES_CHUNK)
        for issue, parent in subtasks:
            issue.parent_id = parent if isinstance(parent, int) else parent.pk
        for pk, found in parents_of.items():  # keep pks, not model instances, of earlier chunks
            found[inserted_upto[pk] :] = [p if isinstance(p, int) else p.pk for p in found[inserted_upto[pk] :]]
        Issue.objects.bulk_create([s for s, _ in subtasks], batch_size=ISSUES_CHUNK)

        written = [(issue.pk, extras[id(issue)]) for issue in [*standard, *(s for s, _ in subtasks)]]
        label_rows = [make_label(pk, label_ids[name]) for pk, (labels, *_) in written for name in labels]
        comment_rows = [make_comment(pk, a, b, w, w, "demo") for pk, (_, cs, _, _) in written for a, w, b in cs]
        history_rows = [make_history(pk, a, w, f, o, n) for pk, (_, _, hs, _) in written for a, w, f, o, n in hs]
        worklog_rows = [
            make_worklog(pk, a, s, t, c, s, s, "demo") for pk, (_, _, _, ws) in written for a, s, t, c in ws
        ]
        through.objects.bulk_create(label_rows, batch_size=ROWS_BATCH)
        Comment.objects.bulk_create(comment_rows, batch_size=ROWS_BATCH)
        History.objects.bulk_create(history_rows, batch_size=ROWS_BATCH)
        Worklog.objects.bulk_create(worklog_rows, batch_size=ROWS_BATCH)
        result.issues += len(chunk)
        result.issue_labels += len(label_rows)
        result.comments += len(comment_rows)
        result.history += len(history_rows)
        result.worklogs += len(worklog_rows)
        if progress is not None:
            progress(f"  {result.issues}/{len(order)} issues")

    result.keys = keys
    project_ids = [p.pk for p in project_rows]
    pagecache.invalidate_on_commit([], project_ids)  # bulk_create sends no signals
