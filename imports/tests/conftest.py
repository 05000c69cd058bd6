"""Fixtures for import and bulk-update tests: Jira-style export files, and waiting on jobs.

Personas (see /work/main/conftest.py): alice is admin of DEMO and imports into it; bob (OPS only)
must not see alice's jobs nor change DEMO issues; admin_user (superuser, staff) may create projects.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

USER_FIELDS = ("accountId", "emailAddress", "displayName")


def jira_user(n: int) -> dict[str, str]:
    return {
        "accountId": f"acc-{n % 3}",
        "emailAddress": f"user{n % 3}@jira.example",
        "displayName": f"Jira User {n % 3}",
    }


def jira_issue(n: int, *, project: str = "DEMO", worklogs: int = 2, comments: int = 1, **fields: Any) -> dict[str, Any]:
    """Return one issue as Jira's /rest/api/2/search returns it, with worklogs and comments."""
    user = jira_user(n)
    adf = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": f"Text {n}"}]}],
    }
    body: dict[str, Any] = {
        "summary": f"Imported issue {n}",
        "description": adf,
        # A record with a parent is a sub-task, as Jira's hierarchy (issues.services) wants.
        "issuetype": {"name": "Sub-task" if "parent" in fields else ("Bug" if n % 2 else "Task")},
        "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
        "priority": {"name": "High"},
        "assignee": user,
        "reporter": user,
        "labels": ["imported", f"batch{n % 2}"],
        "created": "2024-01-15T10:30:00.000+0000",
        "updated": "2024-01-16T10:30:00.000+0000",
        "timeoriginalestimate": 7200,
        "project": {"key": project, "name": "Demo project"},
        "worklog": {
            "worklogs": [
                {
                    "id": f"{n}0{w}",
                    "author": user,
                    "started": "2024-01-15T12:00:00.000+0000",
                    "timeSpentSeconds": 1800,
                    "comment": f"work {w}",
                }
                for w in range(worklogs)
            ]
        },
        "comment": {
            "comments": [
                {
                    "id": f"{n}9{c}",
                    "author": user,
                    "body": f"comment {c} on {n}",
                    "created": "2024-01-15T13:00:00.000+0000",
                }
                for c in range(comments)
            ]
        },
    }
    body.update(fields)
    return {"id": str(10000 + n), "key": f"{project}-{n}", "fields": body}


def write_jira_json(path: Path, issues: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"startAt": 0, "maxResults": len(issues), "total": len(issues), "issues": issues}))
    return path


def wait_for_job(job_id: int, *, timeout: float = 90, until: Any = None) -> Any:
    """Poll the job until it is finished (or `until(job)` is true); fail with its state on timeout."""
    from imports.models import Job

    deadline = time.monotonic() + timeout
    job = Job.objects.get(pk=job_id)
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if until(job) if until else job.is_finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job.state} after {timeout}s: processed {job.processed}, {job.message}")


@pytest.fixture
def requires_services() -> None:
    """Tests of real-service behaviour: skip on embedded defaults only when not in CI."""
    if os.environ.get("CI") and not (
        settings.REDIS_URL and settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    ):
        pytest.fail("CI must run these tests on PostgreSQL and Redis")


@pytest.fixture(autouse=True)
def _jira_lookups(request: pytest.FixtureRequest) -> None:
    # transactional_db (live_worker) flushes the tables after each test, taking the statuses, types and
    # priorities seeded by migration issues/0002 with it: put them back for the worker tests.
    if "live_worker" not in request.fixturenames:
        return
    import importlib

    from django.apps import apps

    request.getfixturevalue("transactional_db")
    importlib.import_module("issues.migrations.0002_jira_defaults").seed(apps, None)
