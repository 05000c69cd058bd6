"""The CI load check (bench/check.py --only load, bench/load.py's quick mode) fails when a journey is slowed.

No persona: the quick run seeds and serves its own PostgreSQL database with gunicorn (2 workers) and Locust, in
child processes. It needs PostgreSQL and Redis: BENCH_LOAD_DATABASE_URL and BENCH_LOAD_REDIS_URL, or under CI a
database of its own (bench_check_load, as .ci/run's bench-check) on the PostgreSQL and Redis of the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from perf.benchhistory import read_history
from perf.models import Switch, SwitchMode
from perf.switches import Rule, session_bucket, variant_of

BASE_DIR = Path(__file__).resolve().parents[2]


def _load_urls() -> tuple[str, str] | None:
    database, redis = os.environ.get("BENCH_LOAD_DATABASE_URL", ""), os.environ.get("BENCH_LOAD_REDIS_URL", "")
    if database and redis:
        return database, redis
    main = os.environ.get("DATABASE_URL", "")
    if os.environ.get("CI") and main.startswith(("postgres://", "postgresql://")) and os.environ.get("REDIS_URL"):
        return urlsplit(main)._replace(path="/bench_check_load").geturl(), os.environ["REDIS_URL"]
    return None


@pytest.mark.services
@pytest.mark.skipif(_load_urls() is None, reason="needs PostgreSQL and Redis (BENCH_LOAD_DATABASE_URL/REDIS_URL)")
def test_slowed_issue_page_fails_the_load_check(tmp_path):
    database, redis = _load_urls()  # type: ignore[misc]
    history = tmp_path / "history.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        BENCH_LOAD_DATABASE_URL=database,
        BENCH_LOAD_REDIS_URL=redis,
        TASKRA_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'check.sqlite3'}",  # the check's own scratch database (unused here)
        # Every issue page waits this long in the gunicorn worker before Django sees it.
        TASKRA_BENCH_SLOW_PATH="/browse/",
        TASKRA_BENCH_SLOW_MS="1200",
    )
    result = subprocess.run(
        [sys.executable, "bench/check.py", "--only", "load", "--history", str(history)],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL load.issue_page_" in result.stdout, result.stdout
    [run] = read_history(history)
    assert run["passed"] is False
    assert "load.floor" not in " ".join(run["ratios"])  # the floor is the baseline, never a ratio of its own
    assert {"load.issue_page_uniform.p50", "load.errors_share"} <= set(run["ratios"])


def test_round_ratios_pair_each_journey_with_the_floor_per_time_round(tmp_path):
    sys.path.insert(0, str(BASE_DIR))
    from bench import load

    log = tmp_path / "requests.tsv"
    lines = []
    for round_start, slow in ((0.0, 1.0), (10.0, 2.0), (20.0, 1.0)):  # round 2: the whole machine twice slower
        for k in range(5):
            at = round_start + k
            lines.append(f"{at:.3f}\t{load.FLOOR}\t{10 * slow * (1 + k / 10):.2f}\t0")
            lines.append(f"{at + 0.5:.3f}\tissue page uniform\t{40 * slow * (1 + k / 10):.2f}\t0")
            lines.append(f"{at + 0.6:.3f}\texport CSV (12 rows)\t{50 * slow:.2f}\t{int(k == 0)}")
    lines.append(f"{29.9:.3f}\tlogin\t900.00\t0")  # start-up names are never journeys
    log.write_text("\n".join(lines) + "\n")
    ratios = load.round_ratios(log, 3)
    # The machine's slowdown in round 2 cancels out: each round's ratio is taken within the round.
    assert ratios["issue_page_uniform.p50"] == [4.0, 4.0, 4.0]
    assert ratios["issue_page_uniform.p95"] == [4.0, 4.0, 4.0]
    assert ratios["export_csv.p50"] == [pytest.approx(50 / 12), pytest.approx(50 / 12), pytest.approx(50 / 12)]
    assert ratios["errors_share"] == [1 / 15, 1 / 15, pytest.approx(1 / 16)]
    assert not any(name.startswith(("floor", "login")) for name in ratios)


# Run in a child process: importing Locust patches the standard library for gevent (threads included).
_PROBE = """
import json, sys
from bench import locustfile
keys = json.loads(sys.argv[1])
split = locustfile.SPLIT is not None
print(json.dumps({
    "tasks": sorted({t.__name__ for t in locustfile.Client.tasks}),
    "buckets": [locustfile.session_bucket("page_cache", k) for k in keys],
    "off": [locustfile.cache_is_off(k) for k in keys] if split else [],
}))
"""


def _probe_locustfile(tmp_path, split, keys):
    """Return what bench/locustfile.py makes of a journeys' data file holding this split."""
    data = {"projects": [["A", 10]], "users": ["u"], "password": "p", "assignees": ["a"], "text_word": "w"}
    if split:
        data["cache_off_split"] = split
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    env = {**os.environ, "BENCH_DATA": str(path)}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(keys)], cwd=BASE_DIR, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_locust_clients_put_a_session_in_the_variant_the_server_picks(tmp_path):
    keys = [f"{n:032x}" for n in range(400)]
    found = _probe_locustfile(tmp_path, {"name": "page_cache", "percent_off": 30}, keys)
    rule = Rule("page_cache", SwitchMode.SPLIT, "on", "off", 30)
    assert found["buckets"] == [session_bucket("page_cache", k) for k in keys]
    assert found["off"] == [variant_of(rule, k) == "off" for k in keys]
    assert 80 < sum(found["off"]) < 160  # about 30% of the sessions


def test_cache_off_journeys_run_only_with_a_split(tmp_path):
    names = {"jql_text_cache_off", "jql_assignee_cache_off", "rest_search_cache_off"}
    assert names <= set(_probe_locustfile(tmp_path, {"name": "page_cache", "percent_off": 50}, [])["tasks"])
    assert not names & set(_probe_locustfile(tmp_path, None, [])["tasks"])


@pytest.mark.django_db
def test_the_load_run_puts_the_page_cache_switch_back_as_it_was():
    sys.path.insert(0, str(BASE_DIR))
    from bench import load

    previous = load.split_cache_switch(40)
    assert previous is None
    switch = Switch.objects.get(name="page_cache")
    assert (switch.mode, switch.variant_a, switch.variant_b, switch.percent_b) == (SwitchMode.SPLIT, "on", "off", 40)
    load.restore_cache_switch(previous)
    assert not Switch.objects.filter(name="page_cache").exists()

    Switch.objects.create(name="page_cache", mode=SwitchMode.B, variant_a="on", variant_b="off", percent_b=10)
    previous = load.split_cache_switch(50)
    load.restore_cache_switch(previous)
    switch = Switch.objects.get(name="page_cache")
    assert (switch.mode, switch.percent_b) == (SwitchMode.B, 10)
