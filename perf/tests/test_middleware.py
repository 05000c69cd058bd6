"""Request metrics, Server-Timing and the slow-request log (perf/middleware.py).

Personas: alice (member of DEMO) browses; admin (superuser, staff) reads the metrics.
"""

from __future__ import annotations

import logging
import re

import pytest
from prometheus_client import REGISTRY

from perf import rollups
from perf.middleware import server_timing
from taskra_site import timing


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(autouse=True)
def _fresh_rollups():
    rollups.web.reset()
    yield
    rollups.web.reset()


def _timing_parts(header: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+);dur=([0-9.]+)", header)}


def test_metrics_recorded_per_route_name_not_path(client, alice, project_a, make_issue):
    issue = make_issue(project_a)
    client.force_login(alice)
    before_browse = _sample(
        "taskra_request_duration_seconds_count", {"route": "issues:browse", "method": "GET", "variant": "-"}
    )
    before_nav = _sample("taskra_requests_total", {"route": "issues:navigator", "method": "GET", "status": "2xx"})
    assert client.get(f"/browse/{issue.key}").status_code == 200
    assert client.get("/issues/?jql=project%3DDEMO").status_code == 200
    assert (
        _sample("taskra_request_duration_seconds_count", {"route": "issues:browse", "method": "GET", "variant": "-"})
        == before_browse + 1
    )
    assert (
        _sample("taskra_requests_total", {"route": "issues:navigator", "method": "GET", "status": "2xx"})
        == before_nav + 1
    )
    # SQL statements were counted for the issue page (at least the user and the issue).
    assert _sample("taskra_request_sql_queries_total", {"route": "issues:browse"}) >= 2
    assert _sample("taskra_response_bytes_total", {"route": "issues:browse"}) > 0
    # The perf page's rollups have both routes, and no raw path anywhere.
    # Every five-minute slot of this process (the two requests may straddle a slot boundary: no wall-clock slot).
    rows = [k for (size, _start), slot in rollups.web.slots.items() if size == rollups.SHORT for k in slot.rows]
    assert {rollups.split_key(k)[0] for k in rows} >= {"issues:browse", "issues:navigator"}
    assert not any(issue.key in k for k in rows)


def test_server_timing_parts_add_up_to_no_more_than_total(client, alice, project_a, make_issue):
    issue = make_issue(project_a)
    client.force_login(alice)
    for url in (f"/browse/{issue.key}", "/issues/?jql=project%3DDEMO", "/perf/"):
        header = client.get(url)["Server-Timing"]
        parts = _timing_parts(header)
        assert set(parts) == {"db", "cache", "render", "total"}
        assert parts["db"] + parts["cache"] + parts["render"] <= parts["total"]


def test_server_timing_rounds_parts_down_and_total_up():
    record = timing.RequestTiming()
    record.db_ns, record.cache_ns, record.render_ns = 1_000_999, 333_999, 665_999
    parts = _timing_parts(server_timing(record, 2_000_001))
    assert parts == {"db": 1.0, "cache": 0.333, "render": 0.665, "total": 2.001}


def test_server_timing_can_be_turned_off(client, alice, settings):
    settings.TASKRA_SERVER_TIMING = False
    client.force_login(alice)
    assert "Server-Timing" not in client.get("/issues/")


def test_slow_request_logged_with_route_queries_and_slowest_query(client, alice, project_a, settings, caplog):
    settings.TASKRA_SLOW_REQUEST_MS = 1  # every request is "slow": the log line's content is what is tested
    client.force_login(alice)
    with caplog.at_level(logging.WARNING, logger="taskra.perf.slow"):
        client.get("/issues/?jql=project%3DDEMO")
    [line] = [r.getMessage() for r in caplog.records if r.name == "taskra.perf.slow"]
    assert "GET issues:navigator" in line
    assert re.search(r"\d+ queries", line)
    assert "SELECT" in line
    slow = rollups.slowest(
        [{"slow": [s.__dict__ for _ms, _seq, s in slot.slow]} for slot in rollups.web.slots.values()]
    )
    assert slow and slow[0]["route"] == "issues:navigator" and slow[0]["queries"] > 0


def test_errors_counted_for_5xx(client, alice, monkeypatch):
    client.raise_request_exception = False
    client.force_login(alice)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("issues.views.navigator.cached_result_page", boom)
    before = _sample("taskra_request_errors_total", {"route": "issues:navigator", "method": "GET"})
    assert client.get("/issues/?jql=project%3DDEMO").status_code == 500
    assert _sample("taskra_request_errors_total", {"route": "issues:navigator", "method": "GET"}) == before + 1
