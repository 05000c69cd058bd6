"""Shared fixtures: named personas, projects, and a live Celery worker process.

Personas (who may see what):
- alice: member of project A (DEMO) -- sees DEMO and nothing else.
- bob: member of project B (OPS) only -- gets 404 for anything in DEMO.
- carol: viewer in DEMO -- sees DEMO but may not edit.
- admin: superuser, member of nothing -- runs the Django admin.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from taskra_site.worker_process import WorkerProcess

BASE_DIR = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _plain_http(settings):
    # Production defaults redirect to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
    # PBKDF2's deliberate slowness costs ~100 ms per test user; tests don't need it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Page refreshes after writes would pile up on the broker with no worker consuming them; the tests of
    # the refresh turn it on next to a live worker.
    settings.TASKRA_PAGE_REFRESH = False
    # The same for the notifications fan-out: tests run it themselves, or turn the queueing on next to a worker.
    settings.NOTIFICATIONS_QUEUE_TASKS = False
    # Adapters check every row against its schema (production skips it): a row that breaks one fails the test.
    settings.TASKRA_ADAPTER_VALIDATE = True


@pytest.fixture(autouse=True)
def _fresh_process_cache_state() -> Iterator[None]:
    # The in-process issue LRU, role memo and circuit breaker outlive a test's database; a row cached by an
    # earlier test (same key, rolled-back data) must not leak into the next one.
    from issues import jql, pagecache
    from issues.issuepage import cached as issuepage
    from perf import switches

    pagecache.reset_state()
    issuepage.reset_state()
    jql.reset_state()
    # No A/B switch, and no switch query appearing in a test's query count; perf/tests turn them on.
    switches.hold(())
    yield
    pagecache.reset_state()
    issuepage.reset_state()


@pytest.fixture
def alice(db):
    user = get_user_model().objects.create_user("alice", "alice@example.com", "alice-pass-123", first_name="Alice")
    user.profile.display_name = "Alice Adams"
    user.profile.time_zone = "Europe/Berlin"
    user.profile.save()
    return user


@pytest.fixture
def bob(db):
    user = get_user_model().objects.create_user("bob", "bob@example.com", "bob-pass-123", first_name="Bob")
    user.profile.display_name = "Bob Brown"
    user.profile.save()
    return user


@pytest.fixture
def carol(db):
    user = get_user_model().objects.create_user("carol", "carol@example.com", "carol-pass-123")
    user.profile.display_name = "Carol Clark"
    user.profile.save()
    return user


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pass-123")


@pytest.fixture
def project_a(alice, carol):
    from issues.models import Membership, Project, Role

    project = Project.objects.create(key="DEMO", name="Demo project", lead=alice)
    Membership.objects.create(project=project, user=alice, role=Role.ADMIN)
    Membership.objects.create(project=project, user=carol, role=Role.VIEWER)
    return project


@pytest.fixture
def project_b(bob):
    from issues.models import Membership, Project, Role

    project = Project.objects.create(key="OPS", name="Operations", lead=bob)
    Membership.objects.create(project=project, user=bob, role=Role.MEMBER)
    return project


@pytest.fixture
def make_issue(alice):
    """Return a factory creating issues through the real service."""
    from issues.services import issue_create

    def factory(project, **kwargs):
        kwargs.setdefault("reporter", alice)
        kwargs.setdefault("summary", "Something to do")
        kwargs.setdefault("check_permission", False)
        return issue_create(project=project, **kwargs)

    return factory


def database_url_for_subprocess() -> str:
    """Return a DATABASE_URL pointing a child process at the current (test) database."""
    from django.db import connection

    sd = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{sd['NAME']}"
    user = sd.get("USER") or ""
    password = f":{sd['PASSWORD']}" if sd.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{sd['PORT']}" if sd.get("PORT") else ""
    return f"postgres://{auth}{sd.get('HOST') or '127.0.0.1'}{port}/{sd['NAME']}"


class LiveWorker(WorkerProcess):
    """A real `celery worker` process consuming a queue private to this test run."""


@pytest.fixture
def live_worker(transactional_db, settings) -> Iterator[LiveWorker]:
    """Start a live Celery worker process on the configured broker against the test database."""
    from taskra_site.celery import app

    queue = f"taskra-test-{uuid.uuid4().hex[:8]}"
    # TASKRA_PAGE_REFRESH=0: the worker's own writes queue no page refreshes onto the default queue, which no
    # test worker consumes (it still runs the refreshes the test process queues on its private queue).
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "TASKRA_PAGE_REFRESH": "0",
    }
    env.pop("TEST_DATABASE_NAME", None)
    old_queue, old_eager = app.conf.task_default_queue, app.conf.task_always_eager
    app.conf.task_default_queue = queue
    app.conf.task_always_eager = False
    worker = LiveWorker(queue, env)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        app.conf.task_default_queue = old_queue
        app.conf.task_always_eager = old_eager


# ---------------------------------------------------------------------------------------------
# Browser tests: headless Debian Chromium driven by Playwright against the live server.

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = BASE_DIR / "docs" / "screenshots"


@pytest.fixture
def browser(monkeypatch) -> Iterator[object]:
    """Return a headless Chromium; skip without one on a developer machine, fail in CI."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI (apt-get install chromium chromium-driver)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in the test thread; the ORM calls stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def plain_http_server(live_server, settings) -> Iterator[object]:
    """Serve the live server over plain HTTP.

    SecurityMiddleware reads SECURE_SSL_REDIRECT once, when the (session-wide) live server builds its
    handler, so the settings override above comes too late for it: rebuild the handler under the test settings.
    """
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler

    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    httpd = live_server.thread.httpd
    original = httpd.get_app()
    httpd.set_app(StaticFilesHandler(WSGIHandler()))
    try:
        yield live_server
    finally:
        httpd.set_app(original)
