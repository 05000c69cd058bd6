"""/metrics and /perf/: staff or a bearer token only; the perf page reads no issue table.

Personas: admin is a superuser (staff); alice is a DEMO member without staff; anonymous has no session.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from perf import benchhistory, rollups


@pytest.fixture(autouse=True)
def _fresh_rollups():
    rollups.web.reset()
    yield
    rollups.web.reset()


def test_metrics_refuses_anonymous(client, db):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_refuses_non_staff(client, alice):
    client.force_login(alice)  # a project member, not staff
    assert client.get("/metrics").status_code == 403


def test_metrics_refuses_a_wrong_token_and_accepts_the_right_one(client, db, settings):
    settings.TASKRA_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    assert b"taskra_request_duration_seconds" in response.content


def test_metrics_token_unset_means_no_token_works(client, db, settings):
    settings.TASKRA_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_metrics_for_staff_lists_routes_page_cache_and_jobs(client, admin_user, alice):
    client.force_login(admin_user)
    client.get("/issues/")
    body = client.get("/metrics").content.decode()
    assert 'route="issues:navigator"' in body
    assert "taskra_page_cache_events" in body
    assert "taskra_jobs" in body
    assert "taskra_process_resident_memory_bytes" in body


def test_perf_page_is_staff_only(client, alice, db):
    assert client.get("/perf/").status_code == 302  # anonymous: to the login page
    client.force_login(alice)
    assert client.get("/perf/").status_code == 403


def test_perf_page_shows_routes_and_queries_no_issue_table(
    client, admin_user, alice, project_a, make_issue, tmp_path, settings
):
    issue = make_issue(project_a)
    settings.TASKRA_BENCH_HISTORY = str(tmp_path / "history.jsonl")
    benchhistory.append_run(
        {
            "at": "2026-12-01T10:00:00Z",
            "commit": "abc",
            "passed": True,
            "ratios": {"adapters.page": 0.4},
            "thresholds": {},
        }
    )
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    client.force_login(admin_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/perf/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "issues:browse" in text
    assert "<svg" in text and "adapters.page" in text
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "issues_issue" not in tables


def test_admin_index_links_to_the_perf_page(client, admin_user):
    client.force_login(admin_user)
    assert b'href="/perf/"' in client.get("/admin/").content


def test_grafana_dashboard_uses_only_exported_metrics(client, admin_user):
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-taskra.json").read_text())
    used = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"taskra_\w+", t["expr"])}
    client.force_login(admin_user)
    body = client.get("/metrics").content.decode()
    exported = set(re.findall(r"^# TYPE (taskra_\w+)", body, re.M))
    suffixes = ("_bucket", "_sum", "_count", "_total")
    for name in used:
        base = next((name[: -len(s)] for s in suffixes if name.endswith(s) and name[: -len(s)] in exported), name)
        assert base in exported, name
