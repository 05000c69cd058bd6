"""Time reports (by project, user, issue, day), the cross-project and tickets reports, charts and exports.

Personas: alice (Europe/Berlin, DEMO admin), bob (UTC, OPS only), dave (Europe/Berlin, member of DEMO and OPS).
Expected totals are summed here from the worklogs created, independently of the report code.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from issues.export_jobs import export_job_run
from issues.models import ExportJob, Issue, Membership, Role, Status
from worklogs import selectors
from worklogs.models import Worklog
from worklogs.reports import tickets_attach_issues
from worklogs.tests.conftest import BERLIN, MON, RANGE, at, body


@pytest.fixture
def logs(alice, bob, dave, demo_issue, demo_issue2, ops_issue, log_work):
    return [
        log_work(demo_issue, alice, at(MON, 9), 3600),
        log_work(demo_issue, alice, at(MON, 23, 30), 1200),  # 22:30 UTC: still Monday in Berlin
        log_work(demo_issue2, alice, at(MON + dt.timedelta(days=1), 0, 15), 900),  # 23:15 UTC Monday: Tuesday
        log_work(demo_issue, dave, at(MON + dt.timedelta(days=2), 10), 5400),
        log_work(ops_issue, bob, at(MON + dt.timedelta(days=2), 9), 7200),
        log_work(ops_issue, dave, at(MON + dt.timedelta(days=4), 9), 2700),
        log_work(demo_issue, alice, at(MON - dt.timedelta(days=1), 9), 999),  # before the range
    ]


def visible(logs, projects):
    lo, hi = at(MON, 0), at(MON + dt.timedelta(days=7), 0)
    return [w for w in logs if lo <= w.started < hi and w.issue.project.key in projects]


def rows_of(response) -> dict[str, int]:
    return {r["row"].key: r["row"].seconds for r in response.context["rows"]}


def test_reports_require_login(client):
    for url in ("/reports/", "/reports/cross-project/", "/reports/tickets/"):
        assert client.get(url).status_code == 302


def test_time_by_project(client, dave, logs):
    client.force_login(dave)
    response = client.get(f"/reports/?{RANGE}&group=project")
    expected = Counter()
    for w in visible(logs, {"DEMO", "OPS"}):
        expected[w.issue.project.key] += w.time_spent
    assert rows_of(response) == dict(expected)
    assert response.context["report"].total == sum(expected.values())
    assert "<svg" in response.content.decode() and 'role="img"' in response.content.decode()


def test_time_by_user(client, dave, logs):
    client.force_login(dave)
    response = client.get(f"/reports/?{RANGE}&group=user")
    expected = Counter()
    for w in visible(logs, {"DEMO", "OPS"}):
        expected[w.author.username] += w.time_spent
    assert rows_of(response) == dict(expected)
    assert [r["row"].label for r in response.context["rows"]] == ["Alice Adams", "Bob Brown", "Dave Davis"]


def test_time_by_issue(alice_client, logs):
    response = alice_client.get(f"/reports/?{RANGE}&group=issue")
    expected = Counter()
    for w in visible(logs, {"DEMO"}):
        expected[w.issue.key] += w.time_spent
    assert rows_of(response) == dict(expected)


def test_time_by_day_uses_viewer_time_zone(alice_client, logs):
    response = alice_client.get(f"/reports/?{RANGE}&group=day")
    expected = Counter()
    for w in visible(logs, {"DEMO"}):
        expected[w.started.astimezone(BERLIN).date().isoformat()] += w.time_spent
    got = {k: v for k, v in rows_of(response).items() if v}
    assert got == dict(expected)
    assert got["2026-03-02"] == 3600 + 1200  # the 23:30 worklog belongs to Monday
    assert len(response.context["rows"]) == 7  # empty days still appear


def test_time_by_day_for_a_utc_viewer_moves_late_worklogs(client, bob, project_a, logs):
    # bob (UTC) joins DEMO: the 00:15 Berlin worklog is 23:15 UTC Monday for him.
    Membership.objects.create(project=project_a, user=bob, role=Role.VIEWER)
    client.force_login(bob)
    response = client.get(f"/reports/?{RANGE}&group=day&project=DEMO")
    assert rows_of(response)["2026-03-02"] == 3600 + 1200 + 900


def test_report_over_projects_user_cannot_see_shows_nothing_of_them(client, bob, logs):
    client.force_login(bob)
    response = client.get(f"/reports/?{RANGE}&group=project&project=DEMO&project=OPS")
    assert rows_of(response) == {"OPS": sum(w.time_spent for w in visible(logs, {"OPS"}))}
    assert response.context["notices"] == ["No project 'DEMO' that you are a member of; it shows nothing."]
    only_hidden = client.get(f"/reports/?{RANGE}&group=issue&project=DEMO")
    assert rows_of(only_hidden) == {}


def test_report_filters_by_user_and_jql(client, dave, logs, demo_issue):
    client.force_login(dave)
    response = client.get(f"/reports/?{RANGE}&group=project&user=dave")
    assert rows_of(response) == {"DEMO": 5400, "OPS": 2700}
    jql = client.get(f"/reports/?{RANGE}&group=issue&jql=project%20%3D%20DEMO")
    assert set(rows_of(jql)) == {"DEMO-1", "DEMO-2"}


@pytest.mark.parametrize(
    "query",
    [
        "start=2026-03-08&end=2026-03-01",
        "start=2026-02-30",
        "group=nonsense",
        "jql=status%20%3D",
        "group=day&start=2020-01-01&end=2026-01-01",
        "start=0001-01-01&end=9999-12-31",
        "start=9999-12-31&end=9999-12-31",
        "start=0001-01-01&end=0001-01-01",
    ],
)
def test_bad_report_input_is_inline_message(alice_client, query):
    response = alice_client.get(f"/reports/?{query}")
    assert response.status_code == 200
    assert response.context["errors"]
    assert "report" not in response.context


def test_report_csv_and_json_exports(client, dave, logs):
    client.force_login(dave)
    expected = Counter()
    for w in visible(logs, {"DEMO", "OPS"}):
        expected[w.author.username] += w.time_spent
    csv_resp = client.get(f"/reports/?{RANGE}&group=user&format=csv")
    assert csv_resp.streaming and csv_resp["Content-Disposition"] == 'attachment; filename="time-by-user.csv"'
    rows = list(csv.DictReader(io.StringIO(body(csv_resp).decode())))
    assert {r["user"]: int(r["seconds"]) for r in rows} == dict(expected)
    json_resp = client.get(f"/reports/?{RANGE}&group=user&format=json")
    data = json.loads(body(json_resp))
    assert {d["user"]: d["seconds"] for d in data} == dict(expected)
    assert data[0]["time"] == "1h 35m"  # alice: 3600 + 1200 + 900


def test_empty_report_exports_are_valid(alice_client):
    assert json.loads(body(alice_client.get(f"/reports/?{RANGE}&format=json"))) == []
    assert (
        body(alice_client.get(f"/reports/?{RANGE}&format=csv")).decode().strip()
        == "project,label,seconds,time,worklogs"
    )


def test_report_export_of_bad_input_is_400(alice_client):
    response = alice_client.get("/reports/?start=2026-03-08&end=2026-03-01&format=csv")
    assert response.status_code == 400
    assert b"before the start date" in response.content


def test_cross_project_report(client, dave, logs):
    client.force_login(dave)
    response = client.get(f"/reports/cross-project/?{RANGE}&project=DEMO&project=OPS")
    report = response.context["report"]
    expected = Counter()
    for w in visible(logs, {"DEMO", "OPS"}):
        expected[(w.author.username, w.issue.project.key)] += w.time_spent
    keys = [k for k, _n in report.projects]
    got = {(u, keys[i]): c for u, _l, cells, _t in report.rows for i, c in enumerate(cells) if c}
    assert got == dict(expected)
    assert report.total == sum(expected.values())
    assert report.column_totals == [sum(v for (u, p), v in expected.items() if p == k) for k in keys]
    data = json.loads(body(client.get(f"/reports/cross-project/?{RANGE}&format=json")))
    assert {(d["username"], d["project"]): d["seconds"] for d in data} == dict(expected)


def test_cross_project_report_hides_projects_of_others(client, bob, logs):
    client.force_login(bob)
    response = client.get(f"/reports/cross-project/?{RANGE}&project=DEMO&project=OPS")
    assert response.context["report"].projects == [("OPS", "Operations")]


def test_report_queries_are_grouped_and_bounded(
    client, dave, project_a, make_issue, log_work, django_assert_max_num_queries
):
    client.force_login(dave)
    for n in range(25):
        issue = make_issue(project_a, summary=f"Issue {n}")
        log_work(issue, dave, at(MON + dt.timedelta(days=n % 7), 9), 600)
    for group in ("project", "user", "issue", "day"):
        with django_assert_max_num_queries(7):
            response = client.get(f"/reports/?{RANGE}&group={group}")
        assert response.context["report"].total == 25 * 600
    with django_assert_max_num_queries(7):
        client.get(f"/reports/cross-project/?{RANGE}")


# ------------------------------------------------------------------------------------------------ tickets


@pytest.fixture
def tickets(alice, dave, project_a, make_issue, log_work):
    todo = Status.objects.get(name="To Do")
    doing = Status.objects.get(name="In Progress")
    a = make_issue(project_a, summary="Alpha", assignee=alice, original_estimate=7200)
    b = make_issue(project_a, summary="Beta", assignee=dave, status=doing, original_estimate=3600)
    c = make_issue(project_a, summary="Gamma", status=doing)
    log_work(a, alice, at(MON, 9), 1800)
    log_work(b, dave, at(MON, 9), 3600)
    log_work(b, alice, at(MON + dt.timedelta(days=10), 9), 600)  # outside the week
    return {"a": a, "b": b, "c": c, "todo": todo, "doing": doing}


def test_tickets_grouped_by_status(alice_client, tickets):
    response = alice_client.get("/reports/tickets/?project=DEMO&group=status")
    groups = {g["label"]: [i.key for i in g["issues"]] for g in response.context["groups"]}
    assert groups == {"To Do": ["DEMO-1"], "In Progress": ["DEMO-3", "DEMO-2"]}  # created desc
    by_label = {g["label"]: g for g in response.context["groups"]}
    assert by_label["In Progress"]["spent"] == 3600 + 600
    assert by_label["In Progress"]["original"] == 3600


def test_tickets_grouped_by_assignee_with_logged_in_range(alice_client, tickets):
    response = alice_client.get(f"/reports/tickets/?project=DEMO&group=assignee&{RANGE}&date_field=worklog")
    groups = {g["label"]: g for g in response.context["groups"]}
    assert set(groups) == {"Alice Adams", "Dave Davis"}  # Gamma has no work in the range
    assert groups["Dave Davis"]["logged"] == 3600  # the 600 outside the range does not count
    assert groups["Dave Davis"]["spent"] == 4200


@pytest.mark.parametrize(
    ("sort", "direction", "keys"),
    [
        ("created", "asc", ["DEMO-1", "DEMO-2", "DEMO-3"]),
        ("created", "desc", ["DEMO-3", "DEMO-2", "DEMO-1"]),
        ("assignee", "asc", ["DEMO-1", "DEMO-2", "DEMO-3"]),
        ("priority", "asc", ["DEMO-1", "DEMO-2", "DEMO-3"]),
        ("updated", "desc", ["DEMO-2", "DEMO-1", "DEMO-3"]),
    ],
)
def test_tickets_sorting(alice_client, tickets, sort, direction, keys):
    # Rows are sorted within their group: put all three in one status so the order is the sort order.
    # (DEMO-2 is updated last by its worklogs; unassigned DEMO-3 sorts last by assignee.)
    Issue.objects.filter(project__key="DEMO").update(status=tickets["doing"])
    response = alice_client.get(f"/reports/tickets/?project=DEMO&sort={sort}&dir={direction}")
    flat = [i.key for g in response.context["groups"] for i in g["issues"]]
    assert flat == keys


def test_tickets_filters(alice_client, tickets):
    def keys(query):
        response = alice_client.get(f"/reports/tickets/?project=DEMO&{query}")
        return sorted(i.key for g in response.context["groups"] for i in g["issues"])

    assert keys("status=In%20Progress") == ["DEMO-2", "DEMO-3"]
    assert keys("assignee=dave") == ["DEMO-2"]
    assert keys("assignee=unassigned") == ["DEMO-3"]
    assert keys("reporter=alice") == ["DEMO-1", "DEMO-2", "DEMO-3"]
    assert keys("worklog_author=alice") == ["DEMO-1", "DEMO-2"]
    assert keys(f"worklog_author=alice&{RANGE}&date_field=worklog") == ["DEMO-1"]
    assert keys("assignee=zed") == []


def test_tickets_bad_input_and_hidden_project(client, bob, alice_client, tickets):
    assert (
        "before the start date"
        in alice_client.get("/reports/tickets/?start=2026-03-08&end=2026-03-01").context["errors"][0]
    )
    assert alice_client.get("/reports/tickets/?sort=bogus").context["errors"]
    client.force_login(bob)
    response = client.get("/reports/tickets/?project=DEMO")
    assert response.status_code == 200
    assert response.context["notices"] == ["No project 'DEMO' that you are a member of; it shows nothing."]
    assert response.context["groups"] is None
    assert client.get("/reports/tickets/?project=DEMO&format=csv").status_code == 400


def test_tickets_exports(alice_client, tickets):
    csv_resp = alice_client.get(f"/reports/tickets/?project=DEMO&{RANGE}&date_field=worklog&format=csv")
    rows = list(csv.DictReader(io.StringIO(body(csv_resp).decode())))
    assert {r["key"]: r["logged_in_range"] for r in rows} == {"DEMO-1": "30m", "DEMO-2": "1h"}
    assert rows[0]["status"] in ("To Do", "In Progress") and rows[0]["summary"] in ("Alpha", "Beta")
    data = json.loads(body(alice_client.get(f"/reports/tickets/?project=DEMO&{RANGE}&date_field=worklog&format=json")))
    assert {d["key"]: (d["logged"], d["time_spent"]) for d in data} == {"DEMO-1": (1800, 1800), "DEMO-2": (3600, 4200)}
    everything = json.loads(body(alice_client.get("/reports/tickets/?project=DEMO&format=json")))
    assert {d["key"]: d["logged"] for d in everything} == {"DEMO-1": 1800, "DEMO-2": 4200, "DEMO-3": 0}


def test_tickets_query_count_is_bounded(
    alice_client, alice, project_a, make_issue, log_work, django_assert_max_num_queries
):
    for n in range(20):
        issue = make_issue(project_a, summary=f"Issue {n}", assignee=alice)
        log_work(issue, alice, at(MON, 9), 600)
    with django_assert_max_num_queries(9):
        response = alice_client.get(f"/reports/tickets/?project=DEMO&group=assignee&{RANGE}&date_field=worklog")
    assert sum(len(g["issues"]) for g in response.context["groups"]) == 20


@pytest.mark.parametrize("query", ["start=9999-12-31", "end=9999-12-31", "sort=priority&dir=sideways", "status=%20"])
def test_tickets_odd_input_never_fails(alice_client, tickets, query):
    response = alice_client.get(f"/reports/tickets/?project=DEMO&{query}")
    assert response.status_code == 200


def test_tickets_attach_issues_groups_rows_and_formats_hours(alice, tickets):
    # alice is admin of DEMO: all three tickets; Gamma (DEMO-3) has no assignee.
    issues = list(Issue.objects.filter(project__key="DEMO").select_related("assignee").order_by("number"))
    groups = [
        {"key": "alice", "original": 7200, "remaining": 0, "spent": 1800, "logged": 1800},
        {"key": "", "original": 0, "remaining": 0, "spent": 0, "logged": 0},
        {"key": "nobody-here", "original": 0, "remaining": 0, "spent": 0, "logged": 0},
    ]
    tickets_attach_issues(groups, issues, group="assignee")
    assert [[i.key for i in g["issues"]] for g in groups] == [["DEMO-1"], ["DEMO-3"], []]
    assert (groups[0]["original_text"], groups[0]["spent_text"], groups[1]["logged_text"]) == ("2h", "30m", "0m")
    by_status = [{"key": str(tickets["doing"].pk), "original": 0, "remaining": 0, "spent": 0, "logged": 0}]
    tickets_attach_issues(by_status, issues, group="status")
    assert [i.key for i in by_status[0]["issues"]] == ["DEMO-2", "DEMO-3"]  # DEMO-1 is To Do


def test_report_table_shows_bounded_pages_and_totals_count_every_row(
    alice_client, alice, project_a, make_issue, log_work, settings, django_assert_max_num_queries
):
    settings.TASKRA_REPORT_ROWS = 3
    for n in range(7):
        log_work(make_issue(project_a, summary=f"Issue {n}"), alice, at(MON, 9), 600)
    with django_assert_max_num_queries(12):
        first = alice_client.get(f"/reports/?{RANGE}&group=issue")
    assert [r["row"].key for r in first.context["rows"]] == ["DEMO-1", "DEMO-2", "DEMO-3"]
    assert first.context["report"].total == 7 * 600 and "4 more rows →" in first.text
    second = alice_client.get("/reports/" + first.context["rows_after_url"])
    assert [r["row"].key for r in second.context["rows"]] == ["DEMO-4", "DEMO-5", "DEMO-6"]
    assert 'href="/browse/DEMO-4"' in second.text
    exported = alice_client.get(f"/reports/?{RANGE}&group=issue&format=json")
    assert exported.status_code == 200 and b"DEMO-7" in b"".join(exported.streaming_content)  # every row


def _queries(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in ctx.captured_queries]


def test_report_and_timesheet_query_counts_do_not_depend_on_data_size(
    client, dave, project_a, project_b, make_issue, log_work
):
    client.force_login(dave)
    pages = [f"/reports/?{RANGE}&group={g}" for g in ("project", "user", "issue", "day")]
    pages += [f"/reports/?{RANGE}&project=DEMO", f"/reports/cross-project/?{RANGE}", "/timesheet/?week=2026-W10"]
    log_work(make_issue(project_a, summary="First"), dave, at(MON, 9), 600)
    small = {url: len(_queries(client, url)) for url in pages}
    people = [get_user_model().objects.create_user(f"p{n}") for n in range(6)]
    for n in range(30):
        project = project_a if n % 3 else project_b
        issue = make_issue(project, summary=f"Issue {n}")
        author = dave if n % 2 else people[n % 6]
        Membership.objects.get_or_create(project=project, user=author, defaults={"role": Role.MEMBER})
        log_work(issue, author, at(MON + dt.timedelta(days=n % 7), 8 + n % 10, 5 * (n % 12)), 300 + n)
    assert {url: len(_queries(client, url)) for url in pages} == small


def test_month_report_by_project_reads_the_rollup_not_the_worklogs(client, dave, logs):
    client.force_login(dave)
    found = _queries(client, f"/reports/?{RANGE}&project=DEMO")
    assert any("worklogs_worklogrollup" in sql for sql in found)
    assert not any('worklogs_worklog"' in sql.replace("worklogs_worklogrollup", "") for sql in found)


def test_pickers_past_the_limit_become_text_fields(client, dave, logs, monkeypatch):
    client.force_login(dave)
    page = client.get(f"/reports/?{RANGE}&user=alice")
    assert '<select name="user" multiple>' in page.text
    monkeypatch.setattr(selectors, "PICKER_LIMIT", 1)  # dave shares projects with alice, bob, carol
    page = client.get(f"/reports/?{RANGE}&user=alice&project=DEMO,OPS")
    assert '<select name="user"' not in page.text and '<input name="user" value="alice"' in page.text
    assert '<input name="project" value="DEMO, OPS"' in page.text
    assert page.context["report"].total == sum(
        w.time_spent for w in visible(logs, {"DEMO", "OPS"}) if w.author.username == "alice"
    )


def test_a_large_tickets_export_runs_as_a_job_with_the_same_file(alice_client, alice, bob, tickets, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    query = f"/reports/tickets/?project=DEMO&{RANGE}&date_field=worklog&format=csv"
    inline = body(alice_client.get(query))
    settings.TASKRA_EXPORT_INLINE_ROWS = 1  # two rows: past the threshold
    response = alice_client.get(query)
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("issues:export_job", args=[job.pk])
    assert (job.kind, job.format) == ("tickets", "csv")
    assert (job.params["project"], job.params["date_field"]) == ("DEMO", "worklog")
    done = export_job_run(job_id=job.pk)
    assert done is not None and done.state == ExportJob.State.DONE and done.rows == 2
    assert done.project_ids == [tickets["a"].project_id]
    download = alice_client.get(reverse("issues:export_job_download", args=[job.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == inline
    # Bob (not in DEMO) neither sees the job nor gets DEMO's tickets from one of his own.
    alice_client.force_login(bob)
    assert alice_client.get(reverse("issues:export_job_download", args=[job.pk])).status_code == 404
    own = ExportJob.objects.create(owner=bob, kind="tickets", format="csv", params=dict(job.params))
    failed = export_job_run(job_id=own.pk)
    assert failed is not None and failed.state == ExportJob.State.FAILED and "DEMO" in failed.error


IS_POSTGRES = connection.vendor == "postgresql"


def _worklog_scans(plan: dict) -> list[dict]:
    """Return the plan nodes that read worklogs_worklog (EXPLAIN FORMAT JSON), wherever they are in the tree."""
    found = [plan] if plan.get("Relation Name") == "worklogs_worklog" else []
    for child in plan.get("Plans", []):
        found += _worklog_scans(child)
    return found


@pytest.mark.skipif(not IS_POSTGRES and not os.environ.get("CI"), reason="reads PostgreSQL's plans (DATABASE_URL)")
@pytest.mark.parametrize("group", ["user", "issue"])
def test_report_of_a_month_reads_only_that_months_worklogs_of_the_project(
    client, dave, project_a, demo_issue, ops_issue, log_work, group
):
    # 10,000 worklogs of DEMO outside the week asked for: the report reads none of them (a range of an index on
    # `started`), and it finds DEMO's worklogs by their own project, without joining DEMO's issues to filter.
    assert IS_POSTGRES, "CI runs this on PostgreSQL"
    inside = [log_work(demo_issue, dave, at(MON + dt.timedelta(days=n % 5), 9 + n), 600) for n in range(4)]
    log_work(ops_issue, dave, at(MON, 10), 900)
    before = at(MON - dt.timedelta(days=400), 9)
    Worklog.objects.bulk_create(
        Worklog(issue=demo_issue, project_id=project_a.pk, author=dave, started=before + dt.timedelta(minutes=n),
                time_spent=60, created=before, updated=before)
        for n in range(10_000)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE worklogs_worklog")
    client.force_login(dave)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/reports/?{RANGE}&project=DEMO&group={group}")
    assert response.status_code == 200
    assert response.context["report"].total == sum(w.time_spent for w in inside)
    # By user: the sums; by issue: their count and totals, then one page of them (each its own read).
    reads = [q["sql"] for q in ctx.captured_queries if '"worklogs_worklog"' in q["sql"]]
    assert len(reads) == (1 if group == "user" else 2)
    scans = []
    for sql in reads:
        assert '"worklogs_worklog"."project_id" IN' in sql and '"issues_issue"' not in sql  # no join with issues
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            plan = cursor.fetchone()[0]
        scans += _worklog_scans((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    # Every read of the worklogs is a range of an index on `started` (by project at scale: bench/reports.py's
    # EXPLAIN at 1,000,000 issues; of every project when the planner finds the week this small): no sequential
    # scan, and none of the 10,000 outside the week (the week holds DEMO's four and OPS's one).
    assert scans and all(s["Node Type"] != "Seq Scan" for s in scans), [s["Node Type"] for s in scans]
    assert all("started" in s.get("Index Cond", "") + s.get("Recheck Cond", "") for s in scans), scans
    assert sum(s["Actual Rows"] + s.get("Rows Removed by Filter", 0) for s in scans) <= len(reads) * (len(inside) + 1)
