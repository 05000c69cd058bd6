"""Fixtures shared by the page-cache tests that run on a real Redis (test_cache_redis, test_pages)."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from issues import cache as page_cache

REDIS_URL = os.environ.get("REDIS_URL", "")
IN_CI = bool(os.environ.get("CI"))


def _redis_caches(location: str, prefix: str) -> dict[str, Any]:
    """Return CACHES for django-redis exactly as settings.py configures it, at another location/prefix."""
    if settings.CACHES["default"]["BACKEND"] != "django_redis.cache.RedisCache":
        pytest.fail("REDIS_URL is set but settings did not configure django-redis")
    config = copy.deepcopy(settings.CACHES)
    config["default"]["LOCATION"] = location
    config["default"]["KEY_PREFIX"] = prefix
    return config


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """Point the default cache at the real Redis under a key prefix private to this test."""
    if not REDIS_URL:
        pytest.fail("CI is set but REDIS_URL is not: the Redis cache tests must run on a real Redis in CI")
    prefix = f"{os.environ.get('CACHE_KEY_PREFIX', 'taskra')}-test-{uuid.uuid4().hex[:10]}"
    with override_settings(CACHES=_redis_caches(REDIS_URL, prefix), TASKRA_PAGE_CACHE=None):
        page_cache.reset_state()
        try:
            yield prefix
        finally:
            from django.core.cache import cache

            cache.delete_pattern("*")
            page_cache.reset_state()


@pytest.fixture
def lookups(transactional_db: None) -> None:
    """Restore the default statuses/types/priorities that transactional tests' flush removes."""
    from importlib import import_module

    from django.apps import apps

    import_module("issues.migrations.0002_jira_defaults").seed(apps, None)


IS_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def postgres_only(reason: str):
    """Skip on SQLite locally, but fail in CI (CI=true) where PostgreSQL must be configured."""
    if IS_POSTGRES:
        return lambda test: test
    if os.environ.get("CI"):
        return pytest.mark.usefixtures("_fail_without_postgres")
    return pytest.mark.skip(reason=f"needs PostgreSQL (DATABASE_URL): {reason}")


@pytest.fixture
def _fail_without_postgres():
    pytest.fail("CI must run this test on PostgreSQL: set DATABASE_URL=postgres://...")
