"""End to end in headless Chromium: log time from the timesheet grid and watch the week total change.

alice (DEMO admin, Europe/Berlin) logs in through the login page; the test also saves screenshots of the
timesheet and of a time report to docs/screenshots/ for the docs.
"""

from __future__ import annotations

# Waits use Playwright's expect(), not wait_for_function: the Content-Security-Policy forbids the eval() it needs.
import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from conftest import SCREENSHOTS
from issues.durations import format_duration
from worklogs.models import Worklog
from worklogs.tests.conftest import MON, WEEK, at

pytestmark = pytest.mark.e2e

SHOTS = SCREENSHOTS
CONSOLE: list[str] = []


@pytest.fixture
def browser_page(plain_http_server, browser):
    context = browser.new_context(viewport={"width": 1360, "height": 820}, color_scheme="light")
    page = context.new_page()
    page.on("console", lambda m: CONSOLE.append(m.text))
    page.on("pageerror", lambda e: CONSOLE.append(str(e)))
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def jira_defaults(transactional_db):
    """Seed statuses, types and priorities again: a flush by an earlier live-server test removes them."""
    import importlib

    from django.apps import apps

    importlib.import_module("issues.migrations.0002_jira_defaults").seed(apps, None)


@pytest.fixture
def week_of_work(jira_defaults, alice, bob, project_a, project_b, make_issue, log_work):
    """A believable week for alice in DEMO (and bob's OPS work she must not see)."""
    from issues.models import Status

    doing, done = Status.objects.get(name="In Progress"), Status.objects.get(name="Done")
    issues = [
        make_issue(
            project_a,
            summary="Timesheet grid: inline editing",
            original_estimate=16 * 3600,
            status=doing,
            assignee=alice,
        ),
        make_issue(project_a, summary="Time reports with SVG charts", original_estimate=12 * 3600, status=doing),
        make_issue(project_a, summary="CSV and JSON exports", original_estimate=6 * 3600, status=done, assignee=alice),
        make_issue(project_a, summary="Code review and planning"),
    ]
    plan = {
        0: [(0, 9, 4 * 3600), (1, 13, 2 * 3600), (3, 15, 1800)],
        1: [(0, 9, 3 * 3600), (2, 12, 3 * 3600), (3, 16, 3600)],
        2: [(1, 9, 5 * 3600), (3, 14, 1800)],
        3: [(2, 9, 2 * 3600), (1, 11, 4 * 3600), (3, 15, 3 * 3600)],
        4: [(0, 9, 3 * 3600 + 1800)],
    }
    for day, items in plan.items():
        for index, hour, seconds in items:
            log_work(issues[index], alice, at(MON + dt.timedelta(days=day), hour), seconds, adjust_estimate="auto")
    ops = make_issue(project_b, summary="Rotate the logs", reporter=bob)
    log_work(ops, bob, at(MON, 9), 7200)
    return issues


def login(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_log_time_from_grid_updates_week_total(browser_page, live_server, alice, week_of_work):
    page = browser_page
    issue = week_of_work[1]  # "Time reports with SVG charts": nothing on Tuesday yet
    before = sum(Worklog.objects.filter(author=alice).values_list("time_spent", flat=True))
    login(page, live_server.url, "alice", "alice-pass-123")
    page.goto(f"{live_server.url}/timesheet/?week={WEEK}")
    total = page.locator("#week-total")
    assert total.inner_text().strip() == format_duration(before) == "3d 7h 30m"  # Jira days: 8h = 1d

    tuesday = MON + dt.timedelta(days=1)
    cell = page.locator(f'input[name="t_{issue.key}_{tuesday.isoformat()}"]')
    cell.fill("1h 30m")
    cell.press("Enter")

    try:
        expect(page.locator("#week-total")).to_have_text("4d 1h")
    except Exception:
        print("STATUS", page.inner_text("#save-status"), "TOTAL", total.inner_text(), "CONSOLE", CONSOLE)
        raise
    assert page.locator(f'.day-total[data-day="{tuesday.isoformat()}"]').inner_text().strip() == "1d 30m"
    assert "over" in (page.locator(f'.day-total[data-day="{tuesday.isoformat()}"]').get_attribute("class") or "")
    assert page.locator(f'.issue-total[data-issue="{issue.key}"]').inner_text().strip() == "1d 4h 30m"
    after = sum(Worklog.objects.filter(author=alice).values_list("time_spent", flat=True))
    assert after - before == 5400
    issue.refresh_from_db()
    assert issue.remaining_estimate == 0  # 12h estimate - 11h logged before - 1h 30m now, never below zero

    # A bad value is refused in place, and the total stays.
    cell.fill("2 hours and a bit")
    cell.press("Enter")
    page.wait_for_selector(f'input[name="t_{issue.key}_{tuesday.isoformat()}"][aria-invalid="true"]')
    assert total.inner_text().strip() == "4d 1h"
    assert "not understood" in page.inner_text("#save-status")

    # The page still adds up after a reload (the server, not just the script, has the new numbers).
    page.goto(f"{live_server.url}/timesheet/?week={WEEK}")
    assert page.locator("#week-total").inner_text().strip() == "4d 1h"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("main").screenshot(path=str(SHOTS / "timesheet.png"))

    page.goto(f"{live_server.url}/reports/?group=issue&start=2026-03-02&end=2026-03-08")
    assert "Time by issue" in page.inner_text("h1")
    assert page.locator("svg.chart rect.chart-bar").count() == 4
    page.locator("main").screenshot(path=str(SHOTS / "report-time-by-issue.png"))

    page.goto(f"{live_server.url}/reports/?group=day&start=2026-03-02&end=2026-03-08")
    page.locator("main").screenshot(path=str(SHOTS / "report-time-by-day.png"))

    page.goto(f"{live_server.url}/worklogs/?start=2026-03-02&end=2026-03-03&gaps=1")
    assert page.locator("tr.gap").count() >= 1
    page.locator("main").screenshot(path=str(SHOTS / "worklog-list-gaps.png"))

    page.goto(f"{live_server.url}/reports/tickets/?project=DEMO&group=status&sort=priority&dir=asc")
    page.locator("main").screenshot(path=str(SHOTS / "report-tickets.png"))


def test_clearing_a_cell_asks_before_deleting_its_worklog(browser_page, live_server, alice, week_of_work):
    # alice clears Monday's 30m on "Code review and planning": the browser asks; Cancel keeps the worklog.
    page = browser_page
    issue = week_of_work[3]
    login(page, live_server.url, "alice", "alice-pass-123")
    page.goto(f"{live_server.url}/timesheet/?week={WEEK}")
    cell = page.locator(f'input[name="t_{issue.key}_{MON.isoformat()}"]')
    asked: list[str] = []
    before = Worklog.objects.filter(issue=issue, author=alice).count()

    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    cell.fill("")
    cell.press("Enter")
    expect(page.locator("#save-status")).to_have_text(re.compile(r"^Not changed"))
    assert "would be deleted" in asked[0] and "worklog of 30m" in asked[0]
    assert cell.input_value() == "30m"
    assert Worklog.objects.filter(issue=issue, author=alice).count() == before

    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    cell.fill("")
    cell.press("Enter")
    expect(page.locator("#week-total")).to_have_text("3d 7h")
    assert Worklog.objects.filter(issue=issue, author=alice).count() == before - 1
    assert cell.input_value() == ""
