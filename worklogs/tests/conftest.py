"""Worklog fixtures: issues in DEMO (alice admin, carol viewer) and OPS (bob member), and a worklog factory.

Who sees what: alice sees DEMO only; bob sees OPS only; carol sees DEMO but may not log work.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo

import pytest

# Playwright's sync API runs an event loop in the test thread; the live_server ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC = dt.UTC


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
    from worklogs.services import worklog_add

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
def alice_client(client, alice):
    client.force_login(alice)
    return client
