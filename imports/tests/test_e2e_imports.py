"""End to end in headless Chromium: alice uploads a Jira export, watches the live progress page finish,
and sees the error table; the screenshot goes to docs/screenshots/imports-job.png.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from imports.tests.conftest import jira_issue, write_jira_json

pytestmark = [pytest.mark.e2e, pytest.mark.services]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SHOTS = Path(django_settings.BASE_DIR) / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def page(live_server, settings):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium")
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler

    # Plain HTTP live server: rebuild its handler under these settings (no SSL redirect, no secure cookies).
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    httpd = live_server.thread.httpd
    original = httpd.get_app()
    httpd.set_app(StaticFilesHandler(WSGIHandler()))
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
            pg = context.new_page()
            pg.set_default_timeout(30_000)
            yield pg
            context.close()
            browser.close()
    finally:
        httpd.set_app(original)


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
    page.wait_for_function(
        "document.getElementById('job-state').textContent.includes('Succeeded with errors')", timeout=120_000
    )
    assert page.text_content("#c-created").strip() == "398"
    assert page.text_content("#c-failed").strip() == "2"
    assert page.get_attribute("#job-bar", "value") == "100"
    table = page.text_content("#error-table")
    assert "timeSpentSeconds" in table and "DEMO-21" in table
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "imports-job.png"), full_page=True)
