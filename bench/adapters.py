"""Benchmark of the adapter layer on Taskra's own models and schemas (make bench-adapters).

In one run, against its own freshly seeded database (SQLite var/bench_adapters.sqlite3 by default, or
DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/bench_adapters -- an empty, dedicated database):

1. dict vs model per record for this project's IssueRow: creation, field access, serialization, validation;
2. a page of 50 issues and 5,000 issues (project, assignee, reporter joined; query included), every method
   as a ratio to `.values()` + orjson on the same rows in the same run;
3. peak RSS growth of a streaming export of 100,000 worklogs (fresh subprocess), and of a non-streaming one.

The last line printed is one JSON object with the key ratios.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    current_rss_mb,
    machine,
    migrate_quietly,
    peak_rss_mb,
    per_op,
    race,
    setup_django,
    versions,
)

N_ISSUES = int(os.environ.get("BENCH_ISSUES", "20000"))
N_WORKLOGS = int(os.environ.get("BENCH_WORKLOGS", "100000"))
N_USERS = 60
PROJECT_KEY = "BENCH"

setup_django("bench_adapters")

import datetime as dt  # noqa: E402

import orjson  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from pydantic import BaseModel, ConfigDict, TypeAdapter  # noqa: E402

from accounts.models import Profile, display_name  # noqa: E402
from issues.adapters import ISSUE_ROWS  # noqa: E402
from issues.models import Issue, IssueType, Priority, Project, Status  # noqa: E402
from issues.schemas import IssueRow, ProjectRef, UserRef  # noqa: E402
from taskra_site.adapters import JSON_OPTIONS, dumps  # noqa: E402
from worklogs.adapters import WORKLOGS, iter_worklog_rows_json  # noqa: E402
from worklogs.models import Worklog  # noqa: E402

User = get_user_model()
SELECT_RELATED = ("project", "type", "status", "priority", "assignee__profile", "reporter__profile")

# ---------------------------------------------------------------------------------------------------------
# Seeding (bulk_create, deterministic)
# ---------------------------------------------------------------------------------------------------------

WORDS = [
    "login",
    "page",
    "crashes",
    "when",
    "the",
    "session",
    "expires",
    "export",
    "to",
    "csv",
    "is",
    "slow",
    "timesheet",
    "totals",
    "wrong",
    "after",
    "import",
    "board",
    "drag",
    "and",
    "drop",
    "loses",
    "order",
    "api",
    "returns",
    "500",
    "on",
    "empty",
    "body",
    "search",
    "by",
    "label",
    "misses",
    "sub-tasks",
    "email",
    "notification",
    "sent",
    "twice",
    "dark",
    "mode",
    "contrast",
    "ünïcode",
    "«quoted»",
    "café",
]


def ensure_seeded() -> Project:
    """Return the BENCH project, seeding users, issues and worklogs into an empty database first."""
    migrate_quietly()
    project = Project.objects.filter(key=PROJECT_KEY).first()
    if project is not None:
        if Issue.objects.filter(project=project).count() >= N_ISSUES and Worklog.objects.count() >= N_WORKLOGS:
            return project
        sys.exit(f"database {settings.DATABASES['default']['NAME']} has a partial {PROJECT_KEY} seed: drop it first")
    if Issue.objects.exists():
        sys.exit(
            f"database {settings.DATABASES['default']['NAME']} already holds other data: "
            "point DATABASE_URL at an empty, dedicated database (createdb -h 127.0.0.1 -U postgres bench_adapters)"
        )
    print(f"seeding {N_ISSUES} issues and {N_WORKLOGS} worklogs ...", flush=True)
    rng = random.Random(42)
    now = timezone.now().replace(microsecond=123456)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [
                User(
                    username=f"user{i:03}",
                    first_name=rng.choice(["Ann", "Ben", "Chloé", "Dev", ""]),
                    last_name=rng.choice(["Ng", "Olsen", "Park", ""]),
                    email=f"user{i}@example.com",
                    password="!",
                )
                for i in range(N_USERS)
            ]
        )
        users = list(User.objects.filter(username__startswith="user").order_by("id"))
        # A third of the users have no display name, so the fallback (full name, username) is exercised.
        Profile.objects.bulk_create(
            [Profile(user=u, display_name="" if i % 3 == 0 else f"User Nº{i}") for i, u in enumerate(users)],
            ignore_conflicts=True,
        )
        project = Project.objects.create(key=PROJECT_KEY, name="Benchmark «project»", lead=users[0])
        types, statuses, priorities = (
            list(IssueType.objects.all()),
            list(Status.objects.all()),
            list(Priority.objects.all()),
        )
        batch = []
        for n in range(1, N_ISSUES + 1):
            created = now - dt.timedelta(minutes=N_ISSUES - n, microseconds=rng.randrange(1_000_000))
            status = rng.choice(statuses)
            estimate = rng.choice([None, 3600, 7200, 4 * 3600, 8 * 3600 * 3])
            batch.append(
                Issue(
                    project=project,
                    number=n,
                    key=f"{PROJECT_KEY}-{n}",
                    summary=" ".join(rng.choices(WORDS, k=rng.randint(4, 12)))[:255],
                    description=" ".join(rng.choices(WORDS, k=40)),
                    type=rng.choice(types),
                    status=status,
                    priority=rng.choice(priorities),
                    assignee=rng.choice([None, *users]),
                    reporter=rng.choice(users),
                    due_date=rng.choice([None, (now + dt.timedelta(days=rng.randint(1, 90))).date()]),
                    original_estimate=estimate,
                    remaining_estimate=estimate,
                    created=created,
                    updated=created + dt.timedelta(hours=rng.randint(0, 48)),
                    resolved=created + dt.timedelta(days=1) if status.category == "done" else None,
                )
            )
        Issue.objects.bulk_create(batch, batch_size=2000)
        Project.objects.filter(pk=project.pk).update(issue_counter=N_ISSUES)
        issue_ids = list(Issue.objects.filter(project=project).values_list("id", flat=True))
        for start in range(0, N_WORKLOGS, 5000):
            Worklog.objects.bulk_create(
                [
                    Worklog(
                        issue_id=rng.choice(issue_ids),
                        project=project,
                        author=rng.choice(users),
                        started=now - dt.timedelta(hours=rng.randint(1, 5000)),
                        time_spent=rng.choice([900, 1800, 3600, 7200, 9000]),
                        comment=rng.choice(["", "pairing", "code review «A»", "fixed the flaky test"]),
                        created=now,
                        updated=now,
                    )
                    for _ in range(min(5000, N_WORKLOGS - start))
                ]
            )
    from worklogs.services import issue_recalculate_time_spent

    issue_recalculate_time_spent(issue_ids=issue_ids)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return project


# ---------------------------------------------------------------------------------------------------------
# Reference implementations (what the plan compares against)
# ---------------------------------------------------------------------------------------------------------

# The baseline reads every value the output holds with one .values() query, users and profiles joined.
COLUMNS = (
    "id", "key", "summary", "project_id", "project__key", "project__name", "type__name", "status__name",
    "status__category", "priority__name",
    "assignee_id", "assignee__username", "assignee__first_name", "assignee__last_name",
    "assignee__profile__display_name",
    "reporter_id", "reporter__username", "reporter__first_name", "reporter__last_name",
    "reporter__profile__display_name",
    "due_date", "original_estimate", "remaining_estimate", "time_spent", "created", "updated", "resolved",
)  # fmt: skip
ISSUE_COLUMNS = tuple(c for c in COLUMNS if not c.startswith(("assignee__", "reporter__")))
USER_COLUMNS = ("id", "username", "first_name", "last_name", "profile__display_name")


def baseline_values_orjson(qs) -> bytes:
    return orjson.dumps(list(qs.values(*COLUMNS)), option=JSON_OPTIONS)


def baseline_same_queries(qs) -> bytes:
    """.values() + orjson with the adapter's query shape (issues, then the page's users), no nesting."""
    issues = list(qs.values(*ISSUE_COLUMNS))
    ids = {i["assignee_id"] for i in issues} | {i["reporter_id"] for i in issues}
    ids.discard(None)
    users = list(User.objects.filter(pk__in=ids).values(*USER_COLUMNS)) if ids else []
    return orjson.dumps({"issues": issues, "users": users}, option=JSON_OPTIONS)


def _user_dict(user) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.username, "display_name": display_name(user)}


def hand_dicts_orjson(qs) -> bytes:
    out = []
    for i in qs.select_related(*SELECT_RELATED):
        out.append(
            {
                "id": i.id,
                "key": i.key,
                "summary": i.summary,
                "project": {"id": i.project.id, "key": i.project.key, "name": i.project.name},
                "type": i.type.name,
                "status": i.status.name,
                "status_category": i.status.category,
                "priority": i.priority.name,
                "assignee": _user_dict(i.assignee),
                "reporter": _user_dict(i.reporter),
                "due_date": i.due_date,
                "original_estimate": i.original_estimate,
                "remaining_estimate": i.remaining_estimate,
                "time_spent": i.time_spent,
                "created": i.created,
                "updated": i.updated,
                "resolved": i.resolved,
            }
        )
    return orjson.dumps(out, option=JSON_OPTIONS)


class _Attrs(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _NameA(_Attrs):
    name: str


class _StatusA(_Attrs):
    name: str
    category: str


class _ProfileA(_Attrs):
    display_name: str


class _UserA(_Attrs):
    id: int
    username: str
    first_name: str
    last_name: str
    profile: _ProfileA | None


class _ProjectA(_Attrs):
    id: int
    key: str
    name: str


class IssueFromAttributes(_Attrs):
    """The same data read with from_attributes (nested ORM objects kept as nested models)."""

    id: int
    key: str
    summary: str
    project: _ProjectA
    type: _NameA
    status: _StatusA
    priority: _NameA
    assignee: _UserA | None
    reporter: _UserA | None
    due_date: dt.date | None
    original_estimate: int | None
    remaining_estimate: int | None
    time_spent: int
    created: dt.datetime
    updated: dt.datetime
    resolved: dt.datetime | None


def per_row_model_validate(qs) -> bytes:
    parts = [
        IssueFromAttributes.model_validate(i, from_attributes=True).model_dump_json().encode()
        for i in qs.select_related(*SELECT_RELATED)
    ]
    return b"[" + b",".join(parts) + b"]"


def _nest(v: dict) -> dict:
    def user(prefix: str) -> dict | None:
        if v[f"{prefix}_id"] is None:
            return None
        full = f"{v[f'{prefix}__first_name']} {v[f'{prefix}__last_name']}".strip()
        return {
            "id": v[f"{prefix}_id"],
            "username": v[f"{prefix}__username"],
            "display_name": v[f"{prefix}__profile__display_name"] or full or v[f"{prefix}__username"],
        }

    return {
        "id": v["id"],
        "key": v["key"],
        "summary": v["summary"],
        "project": {"id": v["project_id"], "key": v["project__key"], "name": v["project__name"]},
        "type": v["type__name"],
        "status": v["status__name"],
        "status_category": v["status__category"],
        "priority": v["priority__name"],
        "assignee": user("assignee"),
        "reporter": user("reporter"),
        "due_date": v["due_date"],
        "original_estimate": v["original_estimate"],
        "remaining_estimate": v["remaining_estimate"],
        "time_spent": v["time_spent"],
        "created": v["created"],
        "updated": v["updated"],
        "resolved": v["resolved"],
    }


def _construct_row(d: dict) -> IssueRow:
    d = dict(d)
    d["project"] = ProjectRef.model_construct(**d["project"])
    for k in ("assignee", "reporter"):
        if d[k] is not None:
            d[k] = UserRef.model_construct(**d[k])
    return IssueRow.model_construct(**d)


def per_row_model_construct(qs) -> bytes:
    parts = [_construct_row(_nest(v)).model_dump_json().encode() for v in qs.values(*COLUMNS)]
    return b"[" + b",".join(parts) + b"]"


ISSUE_LIST_TA = TypeAdapter(list[IssueRow])


def typeadapter_over_values(qs) -> bytes:
    return ISSUE_LIST_TA.dump_json(ISSUE_LIST_TA.validate_python([_nest(v) for v in qs.values(*COLUMNS)]))


def trusted_json_gc_on(qs) -> bytes:
    """ISSUE_ROWS.json(qs) without gc_paused() (and without the validation switch): what pausing the GC saves."""
    plan = ISSUE_ROWS.plan(joins=ISSUE_ROWS.joins_for(qs))
    return dumps(plan.dicts_from_tuples(list(qs.values_list(*plan.columns))))


def drf_renderer():
    from rest_framework import serializers
    from rest_framework.renderers import JSONRenderer

    class ProjectS(serializers.ModelSerializer):
        class Meta:
            model = Project
            fields = ["id", "key", "name"]

    class UserS(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        display_name = serializers.SerializerMethodField()

        def get_display_name(self, user) -> str:
            return display_name(user)

    class IssueS(serializers.ModelSerializer):
        project = ProjectS()
        type = serializers.CharField(source="type.name")
        status = serializers.CharField(source="status.name")
        status_category = serializers.CharField(source="status.category")
        priority = serializers.CharField(source="priority.name")
        assignee = UserS(allow_null=True)
        reporter = UserS(allow_null=True)

        class Meta:
            model = Issue
            fields = [
                "id", "key", "summary", "project", "type", "status", "status_category", "priority", "assignee",
                "reporter", "due_date", "original_estimate", "remaining_estimate", "time_spent", "created",
                "updated", "resolved",
            ]  # fmt: skip

    renderer = JSONRenderer()

    def render(qs) -> bytes:
        return renderer.render(IssueS(qs.select_related(*SELECT_RELATED), many=True).data)

    return render


# ---------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------


def micro_table(project: Project) -> dict[str, float]:
    """Print per-record costs, dict vs model, for IssueRow; return them in µs."""
    qs = Issue.objects.filter(project=project).order_by("id")[:200]
    plan = ISSUE_ROWS.plan(joins=ISSUE_ROWS.joins_for(qs))
    tuples = list(qs.values_list(*plan.columns))
    loaded = plan._run_loaders(tuples)  # per-page loader queries (none when joined), done once: per record here
    dicts = plan.dicts_from_tuples(tuples)
    one_tuple, d = tuples[7], dicts[7]
    model = IssueRow.model_validate(d)
    row_ta = TypeAdapter(IssueRow)
    raw = model.model_dump_json()
    n = 20000
    us = 1e6
    results = {
        "create dict: row tuple -> dict (adapter row builder)": per_op(lambda: plan.build([one_tuple], loaded), n),
        "create model: dict -> IssueRow(**d) (validates)": per_op(lambda: IssueRow(**d), n),
        "create model: dict -> model_construct, nested": per_op(lambda: _construct_row(d), n),
        "field access dict: d['summary'], d['project']['key']": per_op(lambda: (d["summary"], d["project"]["key"]), n),
        "field access model: m.summary, m.project.key": per_op(lambda: (model.summary, model.project.key), n),
        "serialize dict: orjson.dumps(d)": per_op(lambda: orjson.dumps(d, option=JSON_OPTIONS), n),
        "serialize model: m.model_dump_json()": per_op(lambda: model.model_dump_json(), n),
        "serialize model: m.model_dump()": per_op(lambda: model.model_dump(), n),
        "validate dict -> model: TypeAdapter(IssueRow)": per_op(lambda: row_ta.validate_python(d), n),
        "validate dict -> dict: adapter validator (TypedDict)": per_op(lambda: plan.validator.validate_python([d]), n),
        "validate JSON bytes -> model: model_validate_json": per_op(lambda: IssueRow.model_validate_json(raw), n),
    }
    print("\n== dict vs model, per record (IssueRow, µs) ==")
    for name, seconds in results.items():
        print(f"  {name:58} {seconds * us:8.2f}")
    return {name: round(seconds * us, 3) for name, seconds in results.items()}


def page_table(title: str, qs, rounds: int) -> dict[str, float]:
    """Print every method's median time and ratio to .values()+orjson on the same rows; return the ratios."""
    drf = drf_renderer()
    assert ISSUE_ROWS.json(qs) == ISSUE_ROWS.json(qs, validate=True), "trusted and validated JSON differ"
    assert ISSUE_ROWS.json(qs) == typeadapter_over_values(qs), "adapter JSON differs from pydantic's dump_json"
    methods = {
        ".values() + orjson (baseline)": lambda: baseline_values_orjson(qs),
        ".values() + orjson, adapter's query shape (no nesting)": lambda: baseline_same_queries(qs),
        "hand-built dicts from instances + orjson": lambda: hand_dicts_orjson(qs),
        "per-row model_validate(from_attributes) + dump": lambda: per_row_model_validate(qs),
        "per-row model_construct (nested) + dump": lambda: per_row_model_construct(qs),
        "TypeAdapter(list[IssueRow]) over .values() + dump_json": lambda: typeadapter_over_values(qs),
        "DRF ModelSerializer + JSONRenderer": lambda: drf(qs),
        # The production read: validation per the settings (off, shadow-sampled at TASKRA_ADAPTER_SHADOW_RATE).
        "adapter trusted: ISSUE_ROWS.json(qs)": lambda: ISSUE_ROWS.json(qs),
        "adapter validated: ISSUE_ROWS.json(qs, validate=True)": lambda: ISSUE_ROWS.json(qs, validate=True),
        "adapter trusted, GC not paused": lambda: trusted_json_gc_on(qs),
        "adapter trusted, 4 fields: ISSUE_ROWS.json(fields=...)": lambda: ISSUE_ROWS.json(
            qs, fields=("id", "key", "summary", "status")
        ),
    }
    times = race(methods, rounds)
    base = times[".values() + orjson (baseline)"]
    print(f"\n== {title}: median of {rounds} interleaved runs, query included ==")
    print(f"  {'method':58} {'ms':>9} {'ratio':>7}")
    for name, seconds in times.items():
        print(f"  {name:58} {seconds * 1000:9.3f} {seconds / base:6.2f}x")
    return {name: seconds / base for name, seconds in times.items()}


def export_rss(mode: str) -> None:
    """Child process: export every worklog; print RSS growth in MB (sampled per piece, and ru_maxrss) as JSON."""
    qs = Worklog.objects.order_by("id")
    list(iter_worklog_rows_json(Worklog.objects.order_by("id")[:10]))  # connect and compile before the baseline
    start_rss, start_peak = current_rss_mb(), peak_rss_mb()
    high = start_rss
    size = 0
    if mode == "stream":
        for piece in iter_worklog_rows_json(qs, chunk_size=2000):
            size += len(piece)
            high = max(high, current_rss_mb())
    else:
        body = WORKLOGS.json(qs)
        high = max(high, current_rss_mb())
        size = len(body)
        del body
    result = {
        "mode": mode,
        "rows": qs.count(),
        "bytes": size,
        "rss_growth_mb": round(high - start_rss, 1),
        "peak_growth_mb": round(peak_rss_mb() - start_peak, 1),
    }
    print(json.dumps(result))


def run_export_child(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--export-rss", mode], capture_output=True, text=True, check=True, env=os.environ
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    project = ensure_seeded()
    db = connection.settings_dict["NAME"]
    print(f"Taskra adapter benchmark -- {connection.vendor} ({db})")
    print(f"machine: {machine()}")
    print("packages: " + versions("Django", "pydantic", "pydantic_core", "orjson", "djangorestframework", "psycopg"))
    print(f"data: {Issue.objects.filter(project=project).count()} issues, {Worklog.objects.count()} worklogs")

    micro = micro_table(project)
    page_qs = Issue.objects.filter(project=project).order_by("-created", "-id")[:50]
    rows_qs = Issue.objects.filter(project=project).order_by("id")[:5000]
    page = page_table("page of 50 issues", page_qs, rounds=int(os.environ.get("BENCH_PAGE_ROUNDS", "150")))
    rows = page_table("5,000 issues", rows_qs, rounds=int(os.environ.get("BENCH_ROWS_ROUNDS", "9")))

    stream = run_export_child("stream")
    whole = run_export_child("whole")
    print("\n== export of every worklog, RSS growth (fresh process each) ==")
    for label, run in (
        ("streaming iter_worklog_rows_json(chunk_size=2000)", stream),
        ("whole WORKLOGS.json()", whole),
    ):
        print(
            f"  {label:50} {run['rows']} rows, {run['bytes'] / 2**20:.1f} MB of JSON: RSS +{run['rss_growth_mb']} MB"
            f" (sampled), peak RSS (ru_maxrss) +{run['peak_growth_mb']} MB"
        )

    def r(table: dict[str, float], prefix: str) -> float:
        return round(next(v for k, v in table.items() if k.startswith(prefix)), 3)

    summary = {
        "database": connection.vendor,
        "trusted_page50": r(page, "adapter trusted: "),
        "trusted_rows5000": r(rows, "adapter trusted: "),
        "validated_page50": r(page, "adapter validated: "),
        "validated_rows5000": r(rows, "adapter validated: "),
        "drf_page50": r(page, "DRF"),
        "drf_rows5000": r(rows, "DRF"),
        "model_validate_page50": r(page, "per-row model_validate"),
        "model_validate_rows5000": r(rows, "per-row model_validate"),
        "model_construct_page50": r(page, "per-row model_construct"),
        "model_construct_rows5000": r(rows, "per-row model_construct"),
        "typeadapter_values_page50": r(page, "TypeAdapter(list"),
        "typeadapter_values_rows5000": r(rows, "TypeAdapter(list"),
        "trusted_gc_not_paused_rows5000": r(rows, "adapter trusted, GC"),
        "hand_dicts_page50": r(page, "hand-built"),
        "hand_dicts_rows5000": r(rows, "hand-built"),
        "trusted_page50_vs_same_queries": round(
            r(page, "adapter trusted: ") / r(page, ".values() + orjson, adapter"), 3
        ),
        "trusted_rows5000_vs_same_queries": round(
            r(rows, "adapter trusted: ") / r(rows, ".values() + orjson, adapter"), 3
        ),
        "validated_page50_vs_same_queries": round(
            r(page, "adapter validated: ") / r(page, ".values() + orjson, adapter"), 3
        ),
        "validated_rows5000_vs_same_queries": round(
            r(rows, "adapter validated: ") / r(rows, ".values() + orjson, adapter"), 3
        ),
        "drf_over_trusted_page50": round(r(page, "DRF") / r(page, "adapter trusted: "), 2),
        "drf_over_validated_page50": round(r(page, "DRF") / r(page, "adapter validated: "), 2),
        "drf_over_trusted_rows5000": round(r(rows, "DRF") / r(rows, "adapter trusted: "), 2),
        "drf_over_validated_rows5000": round(r(rows, "DRF") / r(rows, "adapter validated: "), 2),
        "export_rows": stream["rows"],
        "export_rss_growth_mb": max(stream["rss_growth_mb"], stream["peak_growth_mb"]),
        "export_whole_rss_growth_mb": max(whole["rss_growth_mb"], whole["peak_growth_mb"]),
        "model_construct_us": micro["create model: dict -> model_construct, nested"],
        "model_validate_us": micro["create model: dict -> IssueRow(**d) (validates)"],
        "trusted_build_us": micro["create dict: row tuple -> dict (adapter row builder)"],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--export-rss":
        export_rss(sys.argv[2])
    else:
        main()
