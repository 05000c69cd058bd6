"""The home page (/): my open issues, reported issues that changed, my week's time, my projects and boards.

Personas: alice admin of DEMO (project_a), bob member of OPS (project_b) only; bob's issues never show to alice.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from issues.models import Status
from issues.services import saved_filter_create
from worklogs.home import home_data
from worklogs.services import worklog_add

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_home_lists_my_open_and_reported_issues_and_boards(project_a, project_b, make_issue, client, alice, bob):
    mine = make_issue(project_a, assignee=alice, summary="Mine to do")
    done = make_issue(project_a, assignee=alice, summary="Mine but done", status=Status.objects.get(name="Done"))
    hidden = make_issue(project_b, reporter=bob, assignee=alice, summary="Elsewhere")  # OPS: alice is no member
    saved_filter_create(owner=alice, name="Hot", jql="project = DEMO")
    worklog_add(issue=mine, author=alice, time_spent=5400, started=timezone.now())
    client.force_login(alice)

    body = client.get(reverse("worklogs:home")).content.decode()

    assert mine.key in body and done.key in body.split('id="h-reported"')[1]  # reported by alice, changed now
    assert done.key not in body.split('id="h-week"')[0]  # not among the open ones
    assert hidden.key not in body
    assert "1h 30m</strong> of 1w" in body  # 8h x 5 days: a week in Jira's units
    assert reverse("issues:board", args=["DEMO"]) in body and "Hot</a>" in body


def test_root_url_is_the_home_page(client, alice):
    client.force_login(alice)
    assert client.get("/").status_code == 200


def test_week_time_counts_my_worklogs_of_this_week_only(project_a, make_issue, alice):
    issue = make_issue(project_a)
    now = dt.datetime(2026, 12, 2, 12, 0, tzinfo=BERLIN)  # a Wednesday
    worklog_add(issue=issue, author=alice, time_spent=3600, started=dt.datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN))
    worklog_add(issue=issue, author=alice, time_spent=7200, started=dt.datetime(2026, 11, 29, 9, 0, tzinfo=BERLIN))
    week = home_data(user=alice, now=now, tz=BERLIN)["week"]
    assert (week.start, week.end, week.seconds, week.target) == (
        dt.date(2026, 11, 30),
        dt.date(2026, 12, 6),
        3600,
        144000,
    )


def test_home_query_count_does_not_grow_with_data(project_a, make_issue, client, alice, django_assert_num_queries):
    client.force_login(alice)
    make_issue(project_a, assignee=alice)
    client.get("/")
    with CaptureQueriesContext(connection) as first:
        client.get("/")
    for _ in range(4):
        issue = make_issue(project_a, assignee=alice)
        worklog_add(issue=issue, author=alice, time_spent=600, started=timezone.now())
    saved_filter_create(owner=alice, name="Mine", jql="assignee = currentUser()")
    with django_assert_num_queries(len(first.captured_queries)):
        client.get("/")
