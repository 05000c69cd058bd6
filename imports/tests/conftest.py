"""Fixtures for import and bulk-update tests: Jira-style export files built in memory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings


def jira_issue(n: int, *, project: str = "DEMO", worklogs: int = 2, comments: int = 1, **fields: Any) -> dict[str, Any]:
    """Return one issue as Jira's /rest/api/2/search returns it, with worklogs and comments."""
    user = {
        "accountId": f"acc-{n % 3}",
        "emailAddress": f"user{n % 3}@jira.example",
        "displayName": f"Jira User {n % 3}",
    }
    body = {
        "summary": f"Imported issue {n}",
        "description": {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": f"Text {n}"}]}],
        },
        "issuetype": {"name": "Bug" if n % 2 else "Task"},
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


@pytest.fixture
def import_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def worker_media_env(media: Path) -> None:
    """Point a live worker (started after this) at the test's MEDIA_ROOT."""
    os.environ["TASKRA_TEST_MEDIA_ROOT"] = str(media)
    assert settings  # settings imported for callers
