"""End to end in headless Chromium: alice uploads a Jira export, watches the live progress page finish,
and sees the error table; the screenshot goes to docs/screenshots/imports-job.png.
"""

from __future__ import annotations

import pytest

from conftest import SCREENSHOTS
from imports.tests.conftest import jira_issue, write_jira_json

pytestmark = [pytest.mark.e2e, pytest.mark.services]
SHOTS = SCREENSHOTS


@pytest.fixture
def page(plain_http_server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def test_upload_and_watch_progress(live_worker, page, live_server, tmp_path, project_a, alice):
    issues = [jira_issue(n) for n in range(1, 401)]
    issues[10]["fields"]["worklog"]["worklogs"][0]["timeSpentSeconds"] = 0
    issues[20]["fields"]["created"] = "not a date"
    path = write_jira_json(tmp_path / "jira-export.json", issues)

    page.goto(f"{live_server.url}/accounts/login/?next=/imports/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-pass-123")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url("**/imports/")
    page.set_input_files("input[name=files]", str(path))
    page.click("#import-form button[type=submit]")
    page.wait_for_url("**/imports/*/")
    # The page polls progress.json: the state turns to "Succeeded with errors" without a reload.
    # A selector, not wait_for_function: the Content-Security-Policy forbids the eval() that one needs.
    page.wait_for_selector("#job-state:has-text('Succeeded with errors')", timeout=120_000)
    assert page.text_content("#c-created").strip() == "398"
    assert page.text_content("#c-failed").strip() == "2"
    assert page.get_attribute("#job-bar", "value") == "100"
    table = page.text_content("#error-table")
    assert "timeSpentSeconds" in table and "DEMO-21" in table
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "imports-job.png"), full_page=True)
