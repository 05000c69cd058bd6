"""Sessions survive a Redis outage quietly (taskra_site/sessions.py): read from the database, one warning a minute.

Before, every request of a logged-in user retried Redis for the session and django-redis logged a full
traceback each time (680 in 15 s on one process). Here the cache is a Redis client pointed at a closed port.

Personas (conftest.py): alice (admin of DEMO) stays logged in and keeps opening pages through the outage.
"""

from __future__ import annotations

import logging

import pytest
from django.test import Client, override_settings

from taskra_site import sharedcache

CLOSED_PORT = "redis://127.0.0.1:1/0"


def redis_caches(url: str) -> dict:
    # The production options (taskra_site/settings.py): errors ignored by django-redis, and logged.
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.2,
                "SOCKET_TIMEOUT": 0.2,
                "IGNORE_EXCEPTIONS": True,
                "LOG_IGNORED_EXCEPTIONS": True,
            },
        }
    }


class Clock:
    """A pinned time.monotonic for the circuit breaker: the test moves it, the machine's speed does not."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def outage(monkeypatch, settings):
    settings.DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    settings.DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    clock = Clock()
    monkeypatch.setattr(sharedcache.time, "monotonic", clock)
    with override_settings(CACHES=redis_caches(CLOSED_PORT)):
        sharedcache.breaker.reset()
        yield clock
        sharedcache.breaker.reset()


def test_logged_in_pages_keep_working_with_one_warning_and_no_traceback(alice, project_a, outage, caplog):
    client = Client()
    caplog.set_level(logging.WARNING)
    # Logging in during the outage stores the session in the database only.
    assert client.post("/accounts/login/", {"username": "alice", "password": "alice-pass-123"}).status_code == 302
    for _ in range(20):
        response = client.get("/imports/")
        assert response.status_code == 200
        assert response.wsgi_request.user.username == "alice"
    assert [r for r in caplog.records if r.exc_info] == []
    warnings = [r for r in caplog.records if r.name == "taskra.cache"]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    # A minute later the outage is still on: one more warning, still no traceback.
    outage.now += 61
    for _ in range(5):
        assert client.get("/imports/").status_code == 200
    assert len([r for r in caplog.records if r.name == "taskra.cache"]) == 2
    assert [r for r in caplog.records if r.exc_info] == []


def test_logging_out_during_the_outage_ends_the_session(alice, project_a, outage):
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": "alice-pass-123"})
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/imports/").status_code == 302  # to the login page


def test_sessions_still_use_the_cache_when_it_answers(alice, project_a, settings):
    from django.contrib.sessions.backends.base import SessionBase
    from django.core.cache import cache

    assert settings.SESSION_ENGINE == "taskra_site.sessions"
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": "alice-pass-123"})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    from taskra_site.sessions import SessionStore

    assert isinstance(SessionStore(key), SessionBase)
    assert cache.get(SessionStore.cache_key_prefix + key) is not None


def test_the_async_session_api_survives_the_outage_too(alice, project_a, outage, transactional_db):
    from asgiref.sync import async_to_sync

    from taskra_site.sessions import SessionStore

    store = SessionStore()
    store["x"] = 1
    async_to_sync(store.asave)()
    again = SessionStore(store.session_key)
    assert async_to_sync(again.aload)() == {"x": 1}
    async_to_sync(again.adelete)()
    assert async_to_sync(SessionStore(store.session_key).aload)() == {}
