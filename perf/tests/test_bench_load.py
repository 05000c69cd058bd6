"""The CI load check (bench/check.py --only load, bench/load.py's quick mode) fails when a journey is slowed.

No persona: the quick run seeds and serves its own PostgreSQL database with gunicorn (2 workers) and Locust, in
child processes. It needs PostgreSQL and Redis: BENCH_LOAD_DATABASE_URL and BENCH_LOAD_REDIS_URL, or under CI a
database of its own (bench_check_load, as .ci/run's bench-check) on the PostgreSQL and Redis of the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from perf.benchhistory import read_history

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
