"""The shared-cache access (taskra_site.sharedcache): guarded operations and the circuit breaker.

On the local-memory backend; the same against a real Redis, and a real outage, is in
issues/tests/test_pagecache_redis.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.test import override_settings

from taskra_site import sharedcache


@pytest.fixture(autouse=True)
def private_cache() -> Iterator[None]:
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}}
    with override_settings(CACHES=caches):
        sharedcache.breaker.reset()
        yield
        sharedcache.breaker.reset()


def test_counters_are_created_once_and_bumped_in_one_call():
    sharedcache.create_counters(["gen:a"], 100)
    sharedcache.create_counters(["gen:a"], 500)  # exists: left alone
    sharedcache.bump_counters(["gen:a", "gen:b"], 200)
    assert sharedcache.get_many(["gen:a", "gen:b", "gen:c"]) == {"gen:a": 101, "gen:b": 201}


def test_lock_is_held_by_one_token_until_its_owner_releases_it():
    assert sharedcache.add_lock("page:x:lock", "mine", 10)
    assert not sharedcache.add_lock("page:x:lock", "theirs", 10)
    sharedcache.release_lock("page:x:lock", "theirs")  # not the owner: nothing happens
    assert sharedcache.lock_held("page:x:lock")
    sharedcache.release_lock("page:x:lock", "mine")
    assert not sharedcache.lock_held("page:x:lock")


def test_a_failure_raises_cache_down_and_opens_the_breaker():
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ConnectionError("redis went away")

    with pytest.raises(sharedcache.CacheDown):
        sharedcache.guard(broken)
    with pytest.raises(sharedcache.CacheDown):  # breaker open: not even tried
        sharedcache.guard(broken)
    assert calls == [1]
    sharedcache.breaker.reset()
    assert sharedcache.guard(lambda: "back") == "back"


def test_sets_need_redis():
    assert sharedcache.set_add("bodyvariants:1", "admin|UTC") is False
    assert sharedcache.set_members("bodyvariants:1") == []
