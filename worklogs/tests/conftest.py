"""Worklog fixtures: issues in DEMO (alice admin, carol viewer) and OPS (bob member), and a worklog factory.

Who sees what: alice sees DEMO only; bob sees OPS only; carol sees DEMO but may not log work.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo

import pytest
from django.contrib.auth import get_user_model

from issues.models import Membership, Role
from worklogs.services import worklog_add

# Playwright's sync API runs an event loop in the test thread; the live_server ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC = dt.UTC
# The week most tests log into: Mon 2 Mar .. Sun 8 Mar 2026 (Berlin is UTC+1 all week).
MON = dt.date(2026, 3, 2)
WEEK = "2026-W10"
RANGE = "start=2026-03-02&end=2026-03-08"


def at(day: dt.date, hour: int, minute: int = 0, tz: dt.tzinfo = BERLIN) -> dt.datetime:
    """Return an aware datetime on `day` at hour:minute in `tz` (Berlin by default)."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)


def body(response) -> bytes:
    """Return a response's bytes, streamed or not."""
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def dave(project_a, project_b):
    """dave: a plain member of both DEMO and OPS, in Berlin."""
    user = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    user.profile.display_name = "Dave Davis"
    user.profile.time_zone = "Europe/Berlin"
    user.profile.save()
    Membership.objects.create(project=project_a, user=user, role=Role.MEMBER)
    Membership.objects.create(project=project_b, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def demo_issue(project_a, make_issue):
    return make_issue(project_a, summary="Build the timesheet", original_estimate=10 * 3600)


@pytest.fixture
def demo_issue2(project_a, make_issue):
    return make_issue(project_a, summary="Write the reports")


@pytest.fixture
def ops_issue(project_b, make_issue, bob):
    return make_issue(project_b, summary="Rotate the logs", reporter=bob)


@pytest.fixture
def log_work():
    """Return a factory logging work through the real service (permission checks off for set-up)."""

    def factory(issue, author, started, seconds, comment="", adjust_estimate="leave"):
        return worklog_add(
            issue=issue,
            author=author,
            time_spent=seconds,
            started=started,
            comment=comment,
            adjust_estimate=adjust_estimate,
            check_permission=False,
        )

    return factory


@pytest.fixture
def week_logs(alice, bob, dave, demo_issue, demo_issue2, ops_issue, log_work):
    """Worklogs of the week of 2 March 2026 (and one before it)."""
    return [
        log_work(demo_issue, alice, at(MON, 9), 3600, "kick-off"),
        log_work(demo_issue2, alice, at(MON, 11), 1800),
        log_work(demo_issue, dave, at(MON + dt.timedelta(days=1), 10), 5400, "=SUM(A1)"),
        log_work(ops_issue, bob, at(MON + dt.timedelta(days=1), 9), 7200),
        log_work(ops_issue, dave, at(MON + dt.timedelta(days=3), 9), 2700),
        log_work(demo_issue, alice, at(MON - dt.timedelta(days=1), 9), 999),  # previous week
    ]


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client
