"""End to end in headless Chromium: log in, search with JQL, open an issue, log work, change status, export CSV.

Personas: alice (admin of DEMO) drives the browser; carol (viewer in DEMO) checks the read-only page.
Screenshots of the main pages land in docs/screenshots/ (light, dark and phone width).
Run: TEST_DATABASE_NAME=test_e2e .venv/bin/pytest issues/tests/test_e2e.py -q -m e2e
"""

from __future__ import annotations

import csv
import importlib
import io

import pytest
from playwright.sync_api import expect

from conftest import SCREENSHOTS as SHOTS

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(transactional_db, alice, carol, project_a, make_issue):
    """Seed the Jira defaults (a flush by an earlier live-server test removes them) and a few DEMO issues."""
    from django.apps import apps

    from issues.tests.conftest import reset_all

    reset_all()  # the LRU is keyed by issue key, and DEMO-1 is re-created in every test
    seed = importlib.import_module("issues.migrations.0002_jira_defaults").seed
    seed(apps, None)
    from issues.services import comment_add

    issue = make_issue(
        project_a,
        summary="Login page rejects valid passwords",
        description="Users report **401** after a password reset.\n\n- reset password\n- log in\n\n`auth.backends`",
        original_estimate=4 * 3600,
        labels=["auth", "frontend"],
        assignee=alice,
    )
    make_issue(project_a, summary="Dark mode for the login page", labels=["frontend"])
    make_issue(project_a, summary="Write release notes")
    make_issue(project_a, summary="Check password reset e-mail", parent=issue)
    comment_add(issue=issue, author=alice, body="Reproduced on staging: the session cookie is *not* set.")
    SHOTS.mkdir(parents=True, exist_ok=True)
    return issue


UNLABELLED_JS = """
() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, button'))
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map(el => el.outerHTML.slice(0, 80))
"""


def _unlabelled(page) -> list[str]:
    """Return form controls without an accessible name (label, aria-label(ledby) or button text)."""
    return page.evaluate(UNLABELLED_JS)


def _login(page, base: str, username: str, password: str, *, shot: bool = False) -> None:
    page.goto(f"{base}/issues/")
    assert "/accounts/login/" in page.url  # every page requires login
    if shot:
        page.screenshot(path=str(SHOTS / "login.png"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/issues/**")


def test_browse_search_log_work_change_status_export(plain_http_server, browser, demo, tmp_path):
    from issues.models import Issue

    base = plain_http_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Anything the Content-Security-Policy blocks (an inline script or style, a foreign image) shows here.
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

    # Log in (wrong password first: an inline error, the username kept).
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_label("Username").input_value() == "alice"
    _login(page, base, "alice", "alice-pass-123", shot=True)

    # Search with JQL in the navigator; "/" focuses the JQL box.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "jql"
    page.keyboard.type('project = DEMO AND summary ~ "login" ORDER BY key ASC')
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    table = page.locator("#issue-table")
    assert table.get_by_text("Login page rejects valid passwords").is_visible()
    assert table.get_by_text("Dark mode for the login page").is_visible()
    assert not table.get_by_text("Write release notes").count()
    page.screenshot(path=str(SHOTS / "navigator.png"), full_page=True)

    # j selects the first row, Enter opens it.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/browse/DEMO-1")
    assert page.locator("h1").inner_text().endswith("Login page rejects valid passwords")
    assert page.locator(".markdown strong", has_text="401").is_visible()
    assert page.locator('[data-time="spent"]').inner_text() == "None"
    assert page.locator('[data-time="remaining"]').inner_text() == "4h"

    # "l" opens the log-work form; a bad duration keeps what was typed and says why.
    page.keyboard.press("l")
    time_field = page.get_by_label("Time spent")
    assert page.evaluate("document.activeElement.name") == "time_spent"
    # The start defaults to now in alice's profile time zone (filled in by taskra.js; the HTML is shared).
    import datetime as dt
    import zoneinfo

    today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Berlin")).date().isoformat()
    assert page.get_by_label("Date started").input_value() == today
    assert len(page.get_by_label("Time started").input_value()) == 5
    time_field.fill("1h 30")
    page.get_by_label("Work description").fill("Traced the cookie flags")
    page.get_by_role("button", name="Log work", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_text("number without a unit").is_visible()
    assert page.get_by_label("Time spent").input_value() == "1h 30"
    assert page.get_by_label("Work description").input_value() == "Traced the cookie flags"
    page.get_by_label("Time spent").fill("1h 30m")
    page.get_by_role("button", name="Log work", exact=True).click()
    page.wait_for_url(f"{base}/browse/DEMO-1#worklog-*")
    assert page.locator('[data-time="spent"]').inner_text() == "1h 30m"
    assert page.locator('[data-time="remaining"]').inner_text() == "2h 30m"
    assert page.locator(".worklog-table").get_by_text("Traced the cookie flags").is_visible()

    # Change the status inline: the select submits itself.
    page.get_by_label("Status", exact=True).select_option(label="In Progress")
    page.wait_for_load_state()
    page.wait_for_selector(".messages")  # not wait_for_function: the CSP forbids its eval()
    assert page.locator("#history").get_by_text("In Progress").first.is_visible()
    page.screenshot(path=str(SHOTS / "issue.png"), full_page=True)
    assert _unlabelled(page) == []
    issue = Issue.objects.select_related("status").get(key="DEMO-1")
    assert issue.status.name == "In Progress" and issue.time_spent == 5400

    # "?" lists the shortcuts.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert dialog.is_visible()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()

    # Export the search as CSV from the navigator's export link.
    page.goto(f"{base}/issues/?jql=project%20%3D%20DEMO%20ORDER%20BY%20key%20ASC")
    with page.expect_download() as download_info:
        page.locator("#export-csv").click()
    target = tmp_path / "export.csv"
    download_info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    by_key = {row.get("key") or row.get("Key"): row for row in rows}
    assert set(by_key) == {"DEMO-1", "DEMO-2", "DEMO-3", "DEMO-4"}
    assert "In Progress" in by_key["DEMO-1"].values()

    # "c" opens the create form; create an issue and land on it.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("c")
    page.wait_for_url(f"{base}/issues/new")
    page.get_by_label("Summary").fill("Add rate limiting to the login form")
    page.get_by_label("Description").fill("Lock out after **5** failures.")
    page.get_by_label("Original estimate").fill("1d")
    page.get_by_label("Labels").fill("auth security")
    page.screenshot(path=str(SHOTS / "create.png"), full_page=True)
    assert _unlabelled(page) == []
    page.get_by_role("button", name="Create", exact=True).click()
    page.wait_for_url(f"{base}/browse/DEMO-5")
    assert page.locator('[data-time="original"]').inner_text() == "1d"
    # The estimate bar's width comes from data-width through taskra.js (the policy blocks style attributes).
    assert page.locator(".bar-fill.estimate").evaluate("e => e.style.width") == "100%"

    dark = browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme="dark", storage_state=context.storage_state()
    )
    dark_page = dark.new_page()
    dark_page.goto(f"{base}/browse/DEMO-1")
    dark_page.screenshot(path=str(SHOTS / "issue-dark.png"), full_page=True)
    dark.close()

    # Phone width and dark mode keep the page usable.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", storage_state=context.storage_state()
    )
    mobile = phone.new_page()
    mobile.goto(f"{base}/browse/DEMO-1")
    mobile.screenshot(path=str(SHOTS / "issue-phone-dark.png"), full_page=True)
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
    background = mobile.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(22, 26, 29)"  # the dark palette follows the system setting
    phone.close()
    assert not errors, errors
    context.close()


def test_viewer_sees_the_issue_read_only(plain_http_server, browser, demo):
    base = plain_http_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    _login(page, base, "carol", "carol-pass-123")
    page.goto(f"{base}/browse/DEMO-1")
    assert page.get_by_text("Read only").is_visible()
    assert page.locator("#log-work").count() == 0
    assert page.get_by_label("Status", exact=True).count() == 0
    # Another project's issue answers 404 like a missing one.
    assert page.goto(f"{base}/browse/OPS-1").status == 404
    assert page.goto(f"{base}/browse/DEMO-404").status == 404
    context.close()


def test_bulk_change_previews_then_runs_on_confirm(plain_http_server, browser, demo):
    # alice checks two DEMO issues, picks a status, sees the preview (count, issues, change) and only then confirms.
    from imports.models import Job
    from issues.models import Issue

    base = plain_http_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, base, "alice", "alice-pass-123")
    page.goto(f"{base}/issues/?jql=project%20%3D%20DEMO%20ORDER%20BY%20key%20ASC")
    page.get_by_label("Select DEMO-2").check()
    page.get_by_label("Select DEMO-3").check()
    page.get_by_role("button", name="Bulk change…").click()
    page.wait_for_url(f"{base}/imports/bulk/")
    page.get_by_label("Transition to").select_option(label="Done")
    page.get_by_role("button", name="Preview changes").click()
    page.wait_for_load_state()
    assert page.locator("#bulk-preview-count").inner_text().startswith("2 issues will change")
    issues = page.locator(".bulk-preview-issues")
    assert issues.get_by_text("DEMO-2").is_visible() and issues.get_by_text("Write release notes").is_visible()
    assert not issues.get_by_text("DEMO-1", exact=True).count()
    assert page.locator(".bulk-preview-changes").get_by_text("Done").is_visible()
    page.screenshot(path=str(SHOTS / "bulk-preview.png"), full_page=True)
    assert _unlabelled(page) == []
    assert not Job.objects.exists()  # nothing queued, nothing written before the confirmation
    assert not Issue.objects.filter(status__name="Done").exists()
    page.get_by_role("button", name="Confirm: change 2 issues").click()
    page.wait_for_url(f"{base}/imports/*/")
    job = Job.objects.get(kind="bulk_update")
    assert sorted(job.options["ids"]) == sorted(
        Issue.objects.filter(key__in=["DEMO-2", "DEMO-3"]).values_list("pk", flat=True)
    )
    assert not errors, errors
    context.close()


def test_navigator_fits_a_phone_and_autocompletes_jql(plain_http_server, browser, demo):
    # alice (DEMO admin) on a 390 px wide phone: the navigator has no sideways scroll (the table scrolls in
    # its own box), and the JQL box suggests fields, then values she may see, picked with the keyboard.
    base = plain_http_server.url
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, base, "alice", "alice-pass-123")
    page.goto(f"{base}/issues/?jql=")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    page.screenshot(path=str(SHOTS / "navigator-phone.png"), full_page=True)

    box = page.locator("#jql-input")
    box.click()
    box.type("proj", delay=10)
    suggestions = page.locator("#jql-suggest li")
    expect(suggestions.first).to_have_text("projectfield")
    box.press("Enter")  # takes the suggestion instead of searching
    expect(box).to_have_value("project ")
    box.type("= D", delay=10)
    expect(suggestions.first).to_contain_text("DEMO - Demo project")
    box.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "navigator-jql-autocomplete.png"), full_page=True)
    box.press("Tab")
    expect(box).to_have_value("project = DEMO ")
    expect(page.locator("#jql-suggest")).to_be_visible()  # AND / OR / ORDER BY come next
    box.press("Escape")
    expect(page.locator("#jql-suggest")).to_be_hidden()
    box.press("Enter")
    page.wait_for_url("**/issues/?*jql=project*")
    expect(page.locator("#page-range")).to_have_text("1\u20134 of 4")
    assert errors == []
    context.close()
