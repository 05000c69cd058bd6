"""REST API benchmark (make bench-api): Jira's search page and issue read against a floor and DRF, on PostgreSQL.

The bench creates its own scratch database (bench_api by default, dropped and re-created; --reuse keeps an
already seeded one) and seeds it with bench/cache.py's bulk seeding (users, 10 projects, --issues issues with
comments, worklogs and history). Then, in one run, interleaved round-robin and repeated (bench._common.race):

Full requests through Django's stack (test Client, token auth, middleware), milliseconds per request:
  api search       GET /rest/api/2/search?jql=...&maxResults=50&fields=*all
  api issue        GET /rest/api/2/issue/KEY
  navigator page   GET /issues/?jql=... (the browser's page of the same JQL; its JSON search is retired), page
                   cache off

The same search page in-process (no HTTP), the comparison the targets are about:
  ours             api.selectors.search_offset + api.adapters.issues_json_by_ids + orjson (what the view does)
  floor            the same two search queries, then the same rows (issues with their joined lookups and users,
                   labels, comments, worklogs, sub-tasks) as .values() dicts dumped with orjson, unshaped
  floor (issues)   the same search queries and only the issue rows' .values() (a stricter floor)
  drf              the same search queries, then the page as model instances (select_related + prefetch_related)
                   through DRF serializers of the same Jira shape and DRF's JSONRenderer

Targets (issue #14): ours within 1.5x of the floor; DRF at least 3x slower than ours. The last line printed is
one JSON object with the figures.

Environment: DATABASE_URL (PostgreSQL server to use; its database name is replaced by --db).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench._common import machine, race, versions  # noqa: E402
from bench.cache import db_url, recreate_database, seed  # noqa: E402

JQL = "project = P00 ORDER BY created DESC"


def setup_django(args: argparse.Namespace) -> None:
    os.environ["DATABASE_URL"] = db_url(args.db)
    os.environ["DEBUG"] = "0"
    os.environ["HTTPS"] = "0"  # the in-process client speaks plain HTTP
    os.environ["TASKRA_PAGE_CACHE"] = "0"  # server work every time, for every contender
    os.environ.setdefault("CACHE_KEY_PREFIX", f"bench-api-{os.getpid()}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.TASKRA_API_RATE_LIMIT = 10**9  # the bench's token is not throttled
    settings.ALLOWED_HOSTS = ["*"]


# ---------------------------------------------------------------------------------------------------------
# The contenders
# ---------------------------------------------------------------------------------------------------------


def ours(user: Any) -> bytes:
    from api import context
    from api.adapters import issues_json_by_ids
    from api.fields import select_fields
    from api.selectors import search_offset
    from taskra_site.adapters import dumps

    token = context.activate(context.ApiContext("http://testserver/rest/api/2", 2))
    try:
        page = search_offset(user=user, jql=JQL, start=0, size=50)
        fields = select_fields(["*all"], default="*navigable")
        issues = issues_json_by_ids(page.ids, fields)
        return dumps({"expand": "schema,names", "startAt": 0, "maxResults": 50, "total": page.total, "issues": issues})
    finally:
        context.deactivate(token)


ISSUE_COLUMNS = (
    "id", "key", "summary", "description", "created", "updated", "resolved", "due_date", "original_estimate",
    "remaining_estimate", "time_spent", "parent_id",
    "status_id", "status__name", "status__category", "priority_id", "priority__name", "priority__color",
    "type_id", "type__name", "type__description", "type__is_subtask", "project_id", "project__key", "project__name",
    "resolution_id", "resolution__name", "resolution__description",
    "assignee_id", "assignee__username", "assignee__email", "assignee__first_name", "assignee__last_name",
    "assignee__profile__display_name", "assignee__profile__account_id", "assignee__profile__time_zone",
    "reporter_id", "reporter__username", "reporter__email", "reporter__first_name", "reporter__last_name",
    "reporter__profile__display_name", "reporter__profile__account_id", "reporter__profile__time_zone",
)  # fmt: skip
USER = ("author_id", "author__username", "author__email", "author__first_name", "author__last_name",
        "author__profile__display_name")  # fmt: skip


def floor(user: Any, *, issues_only: bool = False) -> bytes:
    import orjson

    from api.selectors import search_offset
    from issues.models import Comment, Issue
    from worklogs.models import Worklog

    page = search_offset(user=user, jql=JQL, start=0, size=50)
    rows = list(Issue.objects.filter(pk__in=page.ids).values(*ISSUE_COLUMNS))
    body: dict[str, Any] = {"total": page.total, "issues": rows}
    if not issues_only:
        ids = page.ids
        body["labels"] = list(Issue.labels.through.objects.filter(issue_id__in=ids).values("issue_id", "label__name"))
        body["comments"] = list(Comment.objects.filter(issue_id__in=ids).order_by("created", "id")
                                .values("id", "issue_id", "body", "created", "updated", *USER))  # fmt: skip
        body["worklogs"] = list(Worklog.objects.filter(issue_id__in=ids).order_by("started", "id")
                                .values("id", "issue_id", "comment", "started", "time_spent", "created", "updated",
                                        *USER))  # fmt: skip
        body["subtasks"] = list(Issue.objects.filter(parent_id__in=ids).values("id", "parent_id", "key", "summary"))
    return orjson.dumps(body)


def drf_page() -> Any:
    """Return a function rendering the search page through DRF serializers of Jira's issue shape."""
    from django.db.models import Prefetch
    from rest_framework import serializers
    from rest_framework.renderers import JSONRenderer

    from accounts.models import display_name_of
    from api.selectors import search_offset
    from issues.durations import format_duration
    from issues.models import Comment, Issue
    from worklogs.models import Worklog

    base = "http://testserver/rest/api/2"

    class UserS(serializers.Serializer):
        accountId = serializers.SerializerMethodField()  # noqa: N815
        name = serializers.CharField(source="username")
        key = serializers.CharField(source="username")
        emailAddress = serializers.CharField(source="email")  # noqa: N815
        displayName = serializers.SerializerMethodField()  # noqa: N815
        active = serializers.BooleanField(source="is_active")
        timeZone = serializers.CharField(source="profile.time_zone")  # noqa: N815
        self = serializers.SerializerMethodField()

        def get_accountId(self, user: Any) -> str:  # noqa: N802
            return user.profile.account_id or str(user.pk)

        def get_displayName(self, user: Any) -> str:  # noqa: N802
            return display_name_of(username=user.username, first_name=user.first_name, last_name=user.last_name,
                                   profile_name=user.profile.display_name)  # fmt: skip

        def get_self(self, user: Any) -> str:
            return f"{base}/user?accountId={self.get_accountId(user)}"

    class StatusS(serializers.Serializer):
        id = serializers.CharField()
        name = serializers.CharField()
        statusCategory = serializers.SerializerMethodField()  # noqa: N815

        def get_statusCategory(self, status: Any) -> dict[str, Any]:  # noqa: N802
            return {"key": status.category}

    class LookupS(serializers.Serializer):
        id = serializers.CharField()
        name = serializers.CharField()

    class ProjectS(serializers.Serializer):
        id = serializers.CharField()
        key = serializers.CharField()
        name = serializers.CharField()

    class CommentS(serializers.ModelSerializer):
        id = serializers.CharField()
        author = UserS()
        created = serializers.DateTimeField()
        updated = serializers.DateTimeField()

        class Meta:
            model = Comment
            fields = ["id", "author", "body", "created", "updated"]

    class WorklogS(serializers.ModelSerializer):
        id = serializers.CharField()
        author = UserS()
        timeSpent = serializers.SerializerMethodField()  # noqa: N815
        timeSpentSeconds = serializers.IntegerField(source="time_spent")  # noqa: N815

        class Meta:
            model = Worklog
            fields = ["id", "author", "started", "timeSpent", "timeSpentSeconds", "comment", "created", "updated"]

        def get_timeSpent(self, worklog: Any) -> str:  # noqa: N802
            return format_duration(worklog.time_spent)

    class FieldsS(serializers.ModelSerializer):
        status = StatusS()
        priority = LookupS()
        issuetype = LookupS(source="type")
        project = ProjectS()
        resolution = LookupS(allow_null=True)
        assignee = UserS(allow_null=True)
        reporter = UserS(allow_null=True)
        labels = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
        comment = serializers.SerializerMethodField()
        worklog = serializers.SerializerMethodField()
        timetracking = serializers.SerializerMethodField()
        subtasks = serializers.SerializerMethodField()
        resolutiondate = serializers.DateTimeField(source="resolved")
        duedate = serializers.DateField(source="due_date")
        timeoriginalestimate = serializers.IntegerField(source="original_estimate")
        timeestimate = serializers.IntegerField(source="remaining_estimate")
        timespent = serializers.IntegerField(source="time_spent")

        class Meta:
            model = Issue
            fields = ["summary", "status", "assignee", "reporter", "priority", "issuetype", "project", "labels",
                      "created", "updated", "resolution", "resolutiondate", "duedate", "description", "comment",
                      "worklog", "timetracking", "subtasks", "timeoriginalestimate", "timeestimate",
                      "timespent"]  # fmt: skip

        def get_comment(self, issue: Any) -> dict[str, Any]:
            rows = CommentS(issue.comments.all(), many=True).data
            return {"startAt": 0, "maxResults": len(rows), "total": len(rows), "comments": rows}

        def get_worklog(self, issue: Any) -> dict[str, Any]:
            rows = WorklogS(issue.worklogs.all(), many=True).data
            return {"startAt": 0, "maxResults": len(rows), "total": len(rows), "worklogs": rows}

        def get_timetracking(self, issue: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if issue.original_estimate is not None:
                out["originalEstimate"] = format_duration(issue.original_estimate)
                out["originalEstimateSeconds"] = issue.original_estimate
            return out

        def get_subtasks(self, issue: Any) -> list[dict[str, Any]]:
            return [{"id": str(s.pk), "key": s.key} for s in issue.subtasks_prefetched]

    class IssueS(serializers.Serializer):
        id = serializers.CharField()
        key = serializers.CharField()
        self = serializers.SerializerMethodField()
        fields = serializers.SerializerMethodField(method_name="fields_of")  # get_fields is DRF's own

        def get_self(self, issue: Any) -> str:
            return f"{base}/issue/{issue.pk}"

        def fields_of(self, issue: Any) -> Any:
            return FieldsS(issue).data

    renderer = JSONRenderer()
    users = ("author", "author__profile")

    def render(user: Any) -> bytes:
        page = search_offset(user=user, jql=JQL, start=0, size=50)
        queryset = (
            Issue.objects.filter(pk__in=page.ids)
            .select_related(
                "status", "priority", "type", "project", "resolution", "assignee__profile", "reporter__profile"
            )  # fmt: skip
            .prefetch_related(
                "labels",
                Prefetch("comments", Comment.objects.select_related(*users).order_by("created", "id")),
                Prefetch("worklogs", Worklog.objects.select_related(*users).order_by("started", "id")),
                Prefetch("subtasks", Issue.objects.only("id", "key", "parent_id"), to_attr="subtasks_prefetched"),
            )
        )
        by_id = {i.pk: i for i in queryset}
        issues = [by_id[pk] for pk in page.ids if pk in by_id]
        return renderer.render({"startAt": 0, "maxResults": 50, "total": page.total,
                                "issues": IssueS(issues, many=True).data})  # fmt: skip

    return render


# ---------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="bench_api", help="scratch database name (dropped and re-created)")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded scratch database")
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds per contender")
    args = parser.parse_args()

    seeded_in = None
    if not args.reuse:
        recreate_database(args.db)
    setup_django(args)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from api.services import api_token_create
    from issues.models import Issue

    if not args.reuse or not Issue.objects.exists():
        started = time.perf_counter()
        seed(args)
        seeded_in = time.perf_counter() - started
    total = Issue.objects.count()
    user = get_user_model().objects.get(username="user0")
    token = api_token_create(user=user, label="bench")[1]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    api = Client()
    browser = Client()
    browser.force_login(user)
    key = Issue.objects.filter(project__key="P00").order_by("-created").values_list("key", flat=True)[7]
    search_url = "/rest/api/2/search?" + "&".join(
        [f"jql={JQL.replace(' ', '+').replace('=', '%3D')}", "maxResults=50", "fields=*all"]
    )
    nav_url = f"/issues/?jql={JQL.replace(' ', '+').replace('=', '%3D')}"

    def get(client: Client, url: str, **extra: Any) -> bytes:
        response = client.get(url, **extra)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        return response.content

    # Same content check: ours and DRF carry the same 50 issues in the same order as the floor.
    render_drf = drf_page()
    ours_body = json.loads(ours(user))
    floor_body = json.loads(floor(user))
    drf_body = json.loads(render_drf(user))
    order = [i["key"] for i in ours_body["issues"]]
    assert len(order) == 50 and order == [i["key"] for i in drf_body["issues"]]
    assert set(order) == {i["key"] for i in floor_body["issues"]}
    assert json.loads(get(api, search_url, **headers))["issues"][0]["key"] == order[0]

    print(f"bench/api.py  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {machine()}")
    print(f"versions: {versions('Django', 'pydantic', 'orjson', 'djangorestframework', 'psycopg')}")
    print(f"database: PostgreSQL {args.db}, {total} issues" + (f" (seeded in {seeded_in:.0f} s)" if seeded_in else ""))
    print(f"JQL: {JQL}; page of 50, fields=*all; {args.rounds} interleaved rounds, medians")
    sizes = (len(ours(user)), len(floor(user)), len(floor(user, issues_only=True)), len(render_drf(user)))
    print("bytes: ours {}, floor {}, floor (issues) {}, drf {}".format(*sizes))

    times = race(
        {
            "api search (HTTP)": lambda: get(api, search_url, **headers),
            "api issue (HTTP)": lambda: get(api, f"/rest/api/2/issue/{key}", **headers),
            "navigator page (HTTP)": lambda: get(browser, nav_url),
            "ours (in-process)": lambda: ours(user),
            "floor": lambda: floor(user),
            "floor (issues only)": lambda: floor(user, issues_only=True),
            "drf": lambda: render_drf(user),
        },
        rounds=args.rounds,
    )
    ms = {name: seconds * 1000 for name, seconds in times.items()}
    print()
    for name, value in ms.items():
        print(f"  {name:<24} {value:8.2f} ms")
    ratios = {
        "ours / floor": ms["ours (in-process)"] / ms["floor"],
        "ours / floor (issues only)": ms["ours (in-process)"] / ms["floor (issues only)"],
        "api search (HTTP) / floor": ms["api search (HTTP)"] / ms["floor"],
        "drf / ours": ms["drf"] / ms["ours (in-process)"],
        "navigator page / api search": ms["navigator page (HTTP)"] / ms["api search (HTTP)"],
    }
    print()
    for name, value in ratios.items():
        print(f"  {name:<30} {value:6.2f}x")
    print()
    print(f"target ours within 1.5x of floor: {'met' if ratios['ours / floor'] <= 1.5 else 'MISSED'}; "
          f"DRF at least 3x slower than ours: {'met' if ratios['drf / ours'] >= 3 else 'MISSED'}")  # fmt: skip
    print(json.dumps({"issues": total, "ms": ms, "ratios": ratios}))


if __name__ == "__main__":
    main()
