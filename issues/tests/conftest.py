"""Fixtures shared by the page-cache tests: a private local-memory cache, a private Redis prefix, a second process.

Personas: alice is admin of DEMO (conftest.py at the root); the reader process reads as any of them.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from conftest import database_url_for_subprocess
from issues import pagecache
from issues.issuepage import cached as issuepage
from issues.pagecache import generations

REDIS_URL = os.environ.get("REDIS_URL", "")
IN_CI = bool(os.environ.get("CI"))
BASE_DIR = Path(__file__).resolve().parents[2]


def reset_all() -> None:
    """Forget every process-local cache state: breaker, pending bumps, metrics, hot rows, roles."""
    pagecache.reset_state()
    issuepage.reset_state()


@pytest.fixture
def locmem_page_cache() -> Iterator[None]:
    """Run the test on a private local-memory cache with the page cache forced on."""
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-cache-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=caches, TASKRA_PAGE_CACHE=True):
        reset_all()
        yield
        reset_all()


class Builder:
    """A page builder that counts its calls and returns the current value of a mutable source."""

    def __init__(self, value: object = "v1", delay: float = 0.0) -> None:
        self.value = value
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> object:
        with self._lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return self.value


class Bumps:
    """Every generation bump made while installed: each call's keys, in order."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def per_key(self) -> Counter[str]:
        """Return how many times each counter was bumped."""
        return Counter(key for call in self.calls for key in call)

    def issues(self) -> Counter[int]:
        """Return how many times each issue's counter was bumped."""
        return self._ids("gen:issue:")

    def projects(self) -> Counter[int]:
        """Return how many times each project's counter was bumped."""
        return self._ids("gen:project:")

    def _ids(self, prefix: str) -> Counter[int]:
        return Counter({int(k.removeprefix(prefix)): n for k, n in self.per_key().items() if k.startswith(prefix)})

    def clear(self) -> None:
        """Forget the bumps counted so far."""
        self.calls.clear()


@pytest.fixture
def bumps(monkeypatch: pytest.MonkeyPatch) -> Bumps:
    """Count generation bumps: wrap the one function every invalidation goes through (generations.bump)."""
    seen = Bumps()
    real = generations.bump

    def counting(keys: Sequence[str], **kwargs: Any) -> None:
        seen.calls.append(list(keys))
        real(keys, **kwargs)

    monkeypatch.setattr(generations, "bump", counting)
    return seen


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
        reset_all()
        try:
            yield prefix
        finally:
            from django.core.cache import cache  # the cache of this override, looked up after it is in force

            cache.delete_pattern("*")
            reset_all()


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


# ---------------------------------------------------------------------------------------------
# A second Django process on the test database and this test's cache prefix.


def run_in_other_process(script: str, prefix: str) -> None:
    """Run a Django script in a separate process on the test database and this test's cache prefix."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "CACHE_KEY_PREFIX": prefix,
        "DJANGO_SETTINGS_MODULE": "taskra_site.settings",
    }
    env.pop("TEST_DATABASE_NAME", None)
    subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, env=env, check=True, timeout=60)


# A second process: the same code path a second web server runs for the issue page and a result page.
READER = r"""
import json, os, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from issues import pagecache
from issues.models import Issue
from issues.permissions import visible_project_ids
from issues.selectors import issue_for_user, issue_page_data

builds = {"issue": 0, "navigator": 0}

def issue_page(key, username):
    user = get_user_model().objects.get(username=username)
    issue = issue_for_user(key=key, user=user)
    if issue is None:
        return {"status": 404}
    def build():
        builds["issue"] += 1
        return issue_page_data(issue=issue)
    # No DB-side version here on purpose: freshness must come from the generation bumps alone.
    data = pagecache.get_or_build("issue", [issue.pk], build, issue_id=issue.pk, issue_ids=[issue.parent_id])
    return {"status": 200, "data": data}

def result_page(username):
    user = get_user_model().objects.get(username=username)
    projects = sorted(visible_project_ids(user).values_list("project_id", flat=True))
    def build():
        builds["navigator"] += 1
        rows = Issue.objects.filter(project_id__in=projects).order_by("-updated", "-id")[:50]
        return [{"key": i.key, "summary": i.summary, "time_spent": i.time_spent} for i in rows]
    rows = pagecache.get_or_build("navigator", [tuple(projects), "order by updated desc"], build,
                                   project_ids=projects)
    return {"status": 200, "rows": rows}

for line in sys.stdin:
    cmd = json.loads(line)
    before = dict(builds)
    if cmd["op"] == "issue":
        out = issue_page(cmd["key"], cmd["user"])
    else:
        out = result_page(cmd["user"])
    out["built"] = builds != before
    print(json.dumps(out), flush=True)
"""


class Reader:
    """A long-lived second Django process answering page reads over stdin/stdout."""

    def __init__(self, prefix: str, redis_url: str) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "taskra_site.settings",
            "DATABASE_URL": database_url_for_subprocess(),
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": prefix,
            "PYTHONPATH": str(BASE_DIR),
        }
        env.pop("TEST_DATABASE_NAME", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, **cmd: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("reader process died")
        return json.loads(line)

    def issue(self, key: str, user: str = "alice") -> dict[str, Any]:
        return self.ask(op="issue", key=key, user=user)

    def results(self, user: str = "alice") -> dict[str, Any]:
        return self.ask(op="results", user=user)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture
def reader(redis_prefix: str, lookups: None) -> Iterator[Reader]:
    proc = Reader(redis_prefix, REDIS_URL)
    try:
        yield proc
    finally:
        proc.close()


def warm(reader: Reader, key: str) -> dict[str, Any]:
    """Read a page twice in the second process and prove the second read came from the cache."""
    reader.issue(key)
    page = reader.issue(key)
    assert page["built"] is False, "second read should have been a cache hit"
    return page["data"]


def warm_results(reader: Reader) -> list[dict[str, Any]]:
    reader.results()
    page = reader.results()
    assert page["built"] is False
    return page["rows"]
