"""Login throttling (accounts/throttle.py): N wrong passwords for one username from one address lock that pair.

Personas (conftest.py): alice has the password alice-pass-123; an attacker guesses at her account from
10.0.0.66 while alice herself logs in from 10.0.0.1. Runs on a private local-memory cache and, when
REDIS_URL is set, on Redis; a closed Redis port shows that an outage never locks anybody out.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from accounts import throttle
from taskra_site import sharedcache

REDIS_URL = os.environ.get("REDIS_URL", "")
ATTACKER = "10.0.0.66"
HOME = "10.0.0.1"


def _redis_caches(url: str) -> dict:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"test-throttle-{uuid.uuid4().hex}",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.2,
                "SOCKET_TIMEOUT": 0.2,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }


@pytest.fixture(params=["locmem", "redis"])
def cache_backend(request) -> Iterator[str]:
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("REDIS_URL is not set")
        caches = _redis_caches(REDIS_URL)
    else:
        caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}}
    with override_settings(CACHES=caches, LOGIN_FAILURE_LIMIT=3, LOGIN_LOCKOUT_SECONDS=600):
        sharedcache.breaker.reset()
        yield request.param
        sharedcache.breaker.reset()


def login(password: str, *, ip: str = ATTACKER, username: str = "alice", url: str | None = None):
    return Client(REMOTE_ADDR=ip).post(url or reverse("login"), {"username": username, "password": password})


def test_wrong_passwords_lock_the_account_for_that_address_even_with_the_right_password(alice, cache_backend):
    for _ in range(3):
        response = login("guess")
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
    # Each attempt above came from a fresh client: the lock lives in the shared cache, not in a session.
    locked = login("alice-pass-123")
    assert locked.status_code == 429
    assert b"Too many failed log-ins" in locked.content
    assert b"Try again in 10 minutes" in locked.content
    assert "_auth_user_id" not in locked.wsgi_request.session
    # The admin's login form goes through the same backend: locked there too.
    admin_login = login("alice-pass-123", url="/admin/login/")
    assert "_auth_user_id" not in admin_login.wsgi_request.session


def test_the_lock_is_per_username_and_address(alice, bob, cache_backend):
    for _ in range(3):
        login("guess")
    # alice at home is not locked out by the attacker; the attacker's address may still try other names.
    assert login("alice-pass-123", ip=HOME).status_code == 302
    assert login("bob-pass-123", username="bob").status_code == 302
    assert login("alice-pass-123").status_code == 429


def test_a_success_resets_the_count(alice, cache_backend):
    for _ in range(2):
        login("typo", ip=HOME)
    assert login("alice-pass-123", ip=HOME).status_code == 302
    for _ in range(2):
        login("typo", ip=HOME)
    assert login("alice-pass-123", ip=HOME).status_code == 302


def test_the_lock_ends_after_the_period(alice, cache_backend, monkeypatch):
    start = 1_900_000_000.0
    monkeypatch.setattr(throttle, "now", lambda: start)
    for _ in range(3):
        login("guess")
    assert login("alice-pass-123").status_code == 429
    monkeypatch.setattr(throttle, "now", lambda: start + 599)
    assert b"Try again in 1 minute" in login("alice-pass-123").content
    monkeypatch.setattr(throttle, "now", lambda: start + 601)
    assert login("alice-pass-123").status_code == 302


def test_usernames_differing_in_case_share_one_count(alice, cache_backend):
    for name in ("alice", "ALICE", "Alice"):
        login("guess", username=name)
    assert login("alice-pass-123").status_code == 429


def test_a_cache_outage_never_locks_anybody_out(alice, caplog):
    # A Redis client pointed at a closed port: the limiter cannot count, so it lets the password decide.
    with override_settings(CACHES=_redis_caches("redis://127.0.0.1:1/0"), LOGIN_FAILURE_LIMIT=1):
        sharedcache.breaker.reset()
        for _ in range(3):
            assert login("guess").status_code == 200
        assert login("alice-pass-123").status_code == 302
        sharedcache.breaker.reset()
