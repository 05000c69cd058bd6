"""End to end in headless Chromium: carol watches an issue, alice changes it and mentions her; carol sees the bell's
count, the notification, the mention as a link, and the digest e-mail lands in the outbox.

Personas: alice (admin of DEMO) makes the changes; carol (viewer in DEMO) watches. Tasks run eagerly in the live
server's thread (the digest's batch window is Celery's countdown, which eager mode skips), mail goes to locmem.
Screenshots: docs/screenshots/notifications.png, docs/screenshots/notifications-bell.png.
"""

from __future__ import annotations

import importlib

import pytest
from django.core import mail
from playwright.sync_api import expect

from conftest import SCREENSHOTS as SHOTS

pytestmark = pytest.mark.e2e


@pytest.fixture
def eager_notifications(settings):
    from taskra_site.celery import app

    settings.NOTIFICATIONS_QUEUE_TASKS = True
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def issue(transactional_db, alice, carol, project_a, make_issue):
    from django.apps import apps

    from issues.tests.conftest import reset_all

    reset_all()
    importlib.import_module("issues.migrations.0002_jira_defaults").seed(apps, None)
    return make_issue(project_a, summary="Invoices print twice", description="- [x] reproduce\n- [ ] fix")


def _login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")  # logging in lands on the home page


def test_watch_change_bell_mention_and_email(plain_http_server, browser, issue, eager_notifications):
    base = plain_http_server.url
    carol = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    _login(carol, base, "carol", "carol-pass-123")
    carol.goto(f"{base}/browse/{issue.key}")
    carol.get_by_role("button", name="Watch").click()
    expect(carol.locator("#watcher-list")).to_contain_text("Carol Clark")
    expect(carol.locator("#bell-count")).to_have_count(0)

    alice = browser.new_context().new_page()
    _login(alice, base, "alice", "alice-pass-123")
    alice.goto(f"{base}/browse/{issue.key}")
    alice.locator("#id_body").fill("Fixed in the print queue, @carol please verify")
    alice.get_by_role("tab", name="Preview").first.click()  # the editor's preview: same renderer
    expect(alice.locator(".md-preview a.mention")).to_have_text("@carol")
    alice.get_by_role("tab", name="Write").first.click()
    alice.locator("#add-comment").get_by_role("button", name="Save comment").click()
    expect(alice.locator("#comments")).to_contain_text("please verify")

    carol.goto(f"{base}/browse/{issue.key}")
    expect(carol.locator("#bell-count")).to_have_text("1")
    expect(carol.locator("#comments a.mention")).to_have_text("@carol")  # the mention links for who may see her
    expect(carol.locator(".task-item input[checked]")).to_have_count(1)
    carol.locator(".topbar").screenshot(path=str(SHOTS / "notifications-bell.png"))
    carol.locator("#notification-bell").click()
    expect(carol.locator("#notification-list")).to_contain_text(f"Alice Adams mentioned you on {issue.key}")
    carol.screenshot(path=str(SHOTS / "notifications.png"), full_page=True)
    carol.get_by_role("button", name="Mark all read").click()
    expect(carol.locator("#bell-count")).to_have_count(0)

    [message] = [m for m in mail.outbox if m.to == ["carol@example.com"]]
    assert f"Alice Adams mentioned you on {issue.key}" in message.body
    assert "/notifications/unsubscribe/" in message.body
    assert not [m for m in mail.outbox if m.to == ["alice@example.com"]]  # never about one's own actions
