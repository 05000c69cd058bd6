"""Worklog list page: filters, totals, exports and who sees what (gaps: test_timesheet.py; filter
resolution: test_selectors.py).

Personas: alice (Europe/Berlin, DEMO admin), bob (UTC, OPS member only), carol (DEMO viewer);
dave is a member of both DEMO and OPS, so he sees both projects' worklogs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from worklogs import exports
from worklogs.tests.conftest import BERLIN, MON, RANGE, at, body


def in_range(logs, *, projects=None, authors=None):
    lo, hi = at(MON, 0), at(MON + dt.timedelta(days=7), 0)
    return [
        w
        for w in logs
        if lo <= w.started < hi
        and (projects is None or w.issue.project.key in projects)
        and (authors is None or w.author.username in authors)
    ]


def test_list_requires_login(client):
    assert client.get("/worklogs/").status_code == 302


def test_default_range_is_this_week(alice_client, alice, demo_issue, log_work, monkeypatch):
    # Pinned to Thursday 5 March 2026, 00:30 in Berlin (still Wednesday in UTC): the week is alice's own.
    now = dt.datetime(2026, 3, 5, 0, 30, tzinfo=BERLIN)
    monkeypatch.setattr(timezone, "now", lambda: now.astimezone(dt.UTC))
    monday = MON
    this_week = log_work(demo_issue, alice, dt.datetime.combine(monday, dt.time(0, 30), tzinfo=BERLIN), 600)
    log_work(demo_issue, alice, dt.datetime.combine(monday, dt.time(0, 30), tzinfo=BERLIN) - dt.timedelta(hours=1), 900)

    response = alice_client.get("/worklogs/")

    assert response.context["start"] == monday
    assert response.context["end"] == monday + dt.timedelta(days=6)
    assert [e["id"] for e in response.context["entries"]] == [this_week.pk]


def test_dave_sees_both_projects_and_totals_match(client, dave, week_logs):
    client.force_login(dave)
    response = client.get(f"/worklogs/?{RANGE}")
    expected = in_range(week_logs)
    assert sorted(e["id"] for e in response.context["entries"]) == sorted(w.pk for w in expected)
    assert response.context["total"] == sum(w.time_spent for w in expected)
    assert response.context["count"] == len(expected)


def test_alice_sees_only_demo(alice_client, week_logs):
    response = alice_client.get(f"/worklogs/?{RANGE}")
    expected = in_range(week_logs, projects={"DEMO"})
    assert sorted(e["id"] for e in response.context["entries"]) == sorted(w.pk for w in expected)
    assert response.context["total"] == sum(w.time_spent for w in expected)
    assert "Rotate the logs" not in response.content.decode()


def test_row_shows_date_start_end_issue_author_time_comment(alice_client, week_logs):
    page = alice_client.get(f"/worklogs/?{RANGE}").content.decode()
    assert "Mon 2026-03-02" in page
    assert "<td>09:00</td><td>10:00</td>" in page
    assert "Build the timesheet" in page and "Alice Adams" in page and "kick-off" in page


def test_filter_by_user_and_project(client, dave, week_logs):
    client.force_login(dave)
    by_user = client.get(f"/worklogs/?{RANGE}&user=alice&user=bob")
    expected = in_range(week_logs, authors={"alice", "bob"})
    assert sorted(e["id"] for e in by_user.context["entries"]) == sorted(w.pk for w in expected)

    by_project = client.get(f"/worklogs/?{RANGE}&project=OPS")
    expected = in_range(week_logs, projects={"OPS"})
    assert by_project.context["total"] == sum(w.time_spent for w in expected)

    both = client.get(f"/worklogs/?{RANGE}&project=ops&user=dave")
    assert [e["id"] for e in both.context["entries"]] == [
        w.pk for w in in_range(week_logs, projects={"OPS"}, authors={"dave"})
    ]


def test_date_range_filter_uses_local_days(alice_client, alice, demo_issue, log_work):
    late = log_work(demo_issue, alice, at(MON, 23, 30), 600)  # 22:30 UTC Monday
    early = log_work(demo_issue, alice, at(MON + dt.timedelta(days=1), 0, 30), 600)  # 23:30 UTC Monday
    response = alice_client.get("/worklogs/?start=2026-03-02&end=2026-03-02")
    assert [e["id"] for e in response.context["entries"]] == [late.pk]
    response = alice_client.get("/worklogs/?start=2026-03-03&end=2026-03-03")
    assert [e["id"] for e in response.context["entries"]] == [early.pk]


def test_jql_restricts_the_issues(alice_client, week_logs, demo_issue):
    response = alice_client.get(f"/worklogs/?{RANGE}&jql=key%3D{demo_issue.key}")
    expected = [w for w in in_range(week_logs, projects={"DEMO"}) if w.issue_id == demo_issue.pk]
    assert sorted(e["id"] for e in response.context["entries"]) == sorted(w.pk for w in expected)


def test_bad_jql_is_inline_message(alice_client, week_logs):
    response = alice_client.get(f"/worklogs/?{RANGE}&jql=project%20%3D%3D%20")
    assert response.status_code == 200
    assert response.context["errors"][0].startswith("JQL:")
    assert "entries" not in response.context


def test_end_before_start_is_inline_message(alice_client):
    response = alice_client.get("/worklogs/?start=2026-03-08&end=2026-03-01")
    assert response.status_code == 200
    assert "before the start date" in response.context["errors"][0]


@pytest.mark.parametrize(
    "query",
    [
        "start=2026-13-01",
        "start=9999-12-31&end=9999-12-31",
        "start=1&end=2",
        "workday_start=25:00",
        "workday_start=17:00&workday_end=09:00",
    ],
)
def test_malformed_filters_are_inline_messages(alice_client, query):
    response = alice_client.get(f"/worklogs/?{query}")
    assert response.status_code == 200
    assert response.context["errors"]


def test_csv_export_streams_all_rows(client, dave, week_logs):
    client.force_login(dave)
    response = client.get(f"/worklogs/?{RANGE}&format=csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body(response).decode())))
    expected = in_range(week_logs)
    assert sorted(int(r["worklog_id"]) for r in rows) == sorted(w.pk for w in expected)
    assert sum(int(r["time_spent_seconds"]) for r in rows) == sum(w.time_spent for w in expected)
    first = next(r for r in rows if r["comment"] == "kick-off")
    assert (first["date"], first["start"], first["end"], first["issue_key"]) == (
        "2026-03-02",
        "09:00",
        "10:00",
        "DEMO-1",
    )
    assert first["issue_summary"] == "Build the timesheet" and first["author"] == "Alice Adams"
    assert first["time_spent"] == "1h"
    # Spreadsheet formulas in comments are neutralised.
    assert any(r["comment"] == "'=SUM(A1)" for r in rows)


def test_json_export_is_worklog_out_rows(alice_client, week_logs):
    response = alice_client.get(f"/worklogs/?{RANGE}&format=json")
    assert response.streaming
    data = json.loads(body(response))
    expected = in_range(week_logs, projects={"DEMO"})
    assert [d["id"] for d in data] == [w.pk for w in sorted(expected, key=lambda w: (w.started, w.pk))]
    assert set(data[0]) == {
        "id",
        "issue_id",
        "issue_key",
        "author",
        "started",
        "time_spent",
        "comment",
        "created",
        "updated",
    }
    assert data[0]["author"]["username"] == "alice"
    assert sum(d["time_spent"] for d in data) == sum(w.time_spent for w in expected)


def test_export_with_bad_input_is_400_with_message(alice_client):
    response = alice_client.get("/worklogs/?start=2026-03-08&end=2026-03-01&format=json")
    assert response.status_code == 400
    assert "before the start date" in response.json()["errors"][0]["message"]


def test_list_query_count_does_not_grow_with_rows(
    client, dave, project_a, make_issue, log_work, django_assert_max_num_queries
):
    client.force_login(dave)
    for n in range(30):
        issue = make_issue(project_a, summary=f"Issue {n}")
        log_work(issue, dave, at(MON + dt.timedelta(days=n % 5), 9), 600)
    with django_assert_max_num_queries(8):
        response = client.get(f"/worklogs/?{RANGE}&gaps=1")
    assert response.context["count"] == 30


def test_exports_read_the_rows_in_chunks(client, dave, week_logs, monkeypatch, django_assert_max_num_queries):
    # With 2-row chunks the CSV export looks up summaries once per chunk: rows are never all in memory.
    monkeypatch.setattr(exports, "CHUNK", 2)
    client.force_login(dave)
    response = client.get(f"/worklogs/?{RANGE}&format=csv")
    body = b"".join(response.streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == len(in_range(week_logs)) == 5
    # Written whole (to a spooled temporary file) before it is sent: its length is known, a failure is an error.
    assert int(response["Content-Length"]) == len(body)

    with CaptureQueriesContext(connection) as ctx:
        list(client.get(f"/worklogs/?{RANGE}&format=csv").streaming_content)
    summary_lookups = [
        q for q in ctx.captured_queries if '"summary"' in q["sql"] and "worklogs_worklog" not in q["sql"]
    ]
    assert len(summary_lookups) == 3  # ceil(5 / 2)


# --- editing from the list: the same rights as on the issue page ------------------------------------------


def _links(response) -> dict[int, dict[str, str] | None]:
    return {e["id"]: e["links"] for e in response.context["entries"]}


def test_edit_links_follow_the_issue_page_rights(client, alice, dave, carol, week_logs):
    # dave (member of DEMO and OPS) may change only his own worklogs; alice (DEMO admin) any DEMO worklog but
    # not OPS ones (she cannot see them at all); carol (DEMO viewer) none.
    client.force_login(dave)
    links = _links(client.get(f"/worklogs/?{RANGE}"))
    assert {pk for pk, link in links.items() if link} == {w.pk for w in in_range(week_logs, authors={"dave"})}
    client.force_login(alice)
    links = _links(client.get(f"/worklogs/?{RANGE}"))
    assert {pk for pk, link in links.items() if link} == {w.pk for w in in_range(week_logs, projects={"DEMO"})}
    client.force_login(carol)
    links = _links(client.get(f"/worklogs/?{RANGE}"))
    assert links and not any(links.values())


def test_edit_from_the_list_returns_to_the_list(client, dave, week_logs):
    client.force_login(dave)
    own = in_range(week_logs, authors={"dave"}, projects={"DEMO"})[0]
    list_url = f"/worklogs/?{RANGE}"
    edit_url = _links(client.get(list_url))[own.pk]["edit"]
    form = client.get(edit_url).content.decode()
    assert 'name="next"' in form
    response = client.post(
        edit_url,
        {
            "time_spent": "2h",
            "started_date": "2026-03-03",
            "started_time": "10:00",
            "comment": "more",
            "adjust_estimate": "auto",
            "next": list_url,
        },
    )
    assert response.status_code == 302 and response["Location"] == list_url
    own.refresh_from_db()
    assert own.time_spent == 7200
    delete_url = _links(client.get(list_url))[own.pk]["delete"]
    assert client.post(delete_url, {"next": list_url})["Location"] == list_url


def test_next_pointing_elsewhere_is_ignored(client, dave, week_logs):
    client.force_login(dave)
    own = in_range(week_logs, authors={"dave"}, projects={"DEMO"})[0]
    url = f"/browse/{own.issue.key}/worklogs/{own.pk}/delete"
    response = client.post(url, {"next": "https://evil.example/steal"})
    assert response["Location"] == f"/browse/{own.issue.key}#worklogs"


def test_worklog_csv_escapes_author_summary_and_comment(client, alice, demo_issue, log_work):
    # alice (admin of DEMO) exports her own worklog; her name, the summary and the comment are formulas.
    alice.profile.display_name = '=HYPERLINK("http://evil.example/")'
    alice.profile.save()
    demo_issue.summary = "@SUM(A1)"
    demo_issue.save(update_fields=["summary"])
    log_work(demo_issue, alice, at(MON, 9), 3600, "+cmd")
    client.force_login(alice)
    rows = list(csv.DictReader(io.StringIO(body(client.get(f"/worklogs/?{RANGE}&format=csv")).decode())))
    assert [(r["author"], r["issue_summary"], r["comment"]) for r in rows] == [
        ('\'=HYPERLINK("http://evil.example/")', "'@SUM(A1)", "'+cmd")
    ]


def test_export_past_the_inline_limit_is_a_job_with_the_same_rows(client, dave, week_logs, settings, tmp_path):
    # Dave's export of more than TASKRA_EXPORT_INLINE_ROWS worklogs is written by an export job; its file has
    # exactly the rows the inline export has (the filter, date range included, travels with the job).
    from django.urls import reverse

    from issues.export_jobs import export_job_run
    from issues.models import ExportJob

    settings.MEDIA_ROOT = tmp_path
    client.force_login(dave)
    inline = body(client.get(f"/worklogs/?{RANGE}&format=csv")).decode()
    settings.TASKRA_EXPORT_INLINE_ROWS = 1
    response = client.get(f"/worklogs/?{RANGE}&format=csv")
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("issues:export_job", args=[job.pk])
    assert job.kind == "worklogs" and job.owner == dave and {"start", "end"} <= set(job.params)
    done = export_job_run(job_id=job.pk)
    assert done is not None and done.state == ExportJob.State.DONE, done and done.error
    download = client.get(reverse("issues:export_job_download", args=[job.pk]))
    assert b"".join(download.streaming_content).decode() == inline
    assert done.rows == len(in_range(week_logs))
