"""Durations: the one parser and formatter (issues.durations), the one form field and the one |duration filter.

Every page prints durations the Jira way: hours-per-day hours are "1d" on the issue page, the timesheet,
the reports and the admin alike (TASKRA_HOURS_PER_DAY, 8 by default).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.template import Context, Template
from hypothesis import given
from hypothesis import strategies as st

from issues.durations import MAX_DURATION_SECONDS, format_duration, parse_duration
from worklogs.services import worklog_add

H = 3600


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h 30m", 2 * H + 30 * 60),
        ("1d 4h", 12 * H),
        ("90m", 90 * 60),
        ("1.5h", 90 * 60),
        ("1,5h", 90 * 60),
        ("1w", 40 * H),
        ("1w 2d 3h 4m", 40 * H + 16 * H + 3 * H + 4 * 60),
        ("2h30m", 9000),
        ("  3h  ", 3 * H),
        ("2 hours 15 minutes", 2 * H + 15 * 60),
        ("4H", 4 * H),
        ("0.5m", 30),
    ],
)
def test_parse_duration_reads_jira_style_text(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2x", "unknown unit 'x'"),
        ("-1h", "negative"),
        ("", "empty"),
        ("   ", "empty"),
        ("0m", "zero"),
        ("99999w", "too long"),
        ("90", "number without a unit"),
        ("1h 1h", "gives 'h' twice"),
        ("h", "not understood"),
        ("2h and 3m", "not understood near 'and'"),
        ("1h -30m", "not understood near '-'"),
    ],
)
def test_parse_duration_rejects_bad_text_with_a_clear_message(text, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_parse_duration_allows_zero_only_when_asked():
    assert parse_duration("0m", allow_zero=True) == 0


def test_parse_duration_follows_work_time_settings(settings):
    settings.TASKRA_HOURS_PER_DAY = 6
    settings.TASKRA_DAYS_PER_WEEK = 4
    assert parse_duration("1d") == 6 * H
    assert parse_duration("1w") == 24 * H
    assert format_duration(24 * H + 6 * H + 60) == "1w 1d 1m"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(9000, "2h 30m"), (0, "0m"), (None, ""), (60, "1m"), (20, "1m"), (8 * H, "1d"), (41 * H, "1w 1h"), (90, "2m")],
)
def test_format_duration_writes_jira_style_text(seconds, text):
    assert format_duration(seconds) == text


@given(st.integers(min_value=1, max_value=MAX_DURATION_SECONDS // 60))
def test_format_then_parse_round_trips_whole_minutes(minutes):
    assert parse_duration(format_duration(minutes * 60)) == minutes * 60


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), ("", ""), (0, "0m"), (9000, "2h 30m"), (8 * H, "1d"), (16 * H, "2d"), (33 * H + 1800, "4d 1h 30m")],
)
def test_duration_filter_writes_what_format_duration_writes(seconds, text):
    rendered = Template("{% load duration_tags %}{{ value|duration }}").render(Context({"value": seconds}))
    assert rendered == text


def test_duration_filter_follows_work_time_settings(settings):
    settings.TASKRA_HOURS_PER_DAY = 6
    assert Template("{% load duration_tags %}{{ value|duration }}").render(Context({"value": 12 * H})) == "2d"


def test_issue_page_and_timesheet_print_a_work_day_alike(client, alice, project_a, make_issue):
    # alice administers DEMO: she sees her 8h worklog on the issue page and on her timesheet.
    issue = make_issue(project_a, summary="A day of work")
    started = dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC)  # Tuesday of ISO week 2026-W10
    worklog_add(issue=issue, author=alice, time_spent=8 * H, started=started)
    client.force_login(alice)
    issue_page = client.get(f"/browse/{issue.key}").content.decode()
    timesheet = client.get("/timesheet/?week=2026-W10").content.decode()
    assert re.search(r'data-time="spent">1d<', issue_page)
    assert re.search(r'id="week-total">1d<', timesheet)
