"""The CI benchmark check (bench/check.py) fails when an optimised path regresses: the slowed-adapter hook.

No persona: the check seeds its own scratch database in a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from perf.benchhistory import read_history, trend_series

BASE_DIR = Path(__file__).resolve().parents[2]


def test_slowed_adapter_fails_the_check_and_is_recorded(tmp_path):
    history = tmp_path / "history.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "CACHE_KEY_PREFIX")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'check.sqlite3'}",
        TASKRA_VAR_DIR=str(tmp_path / "var"),
        # Each adapter call then spins four times its own duration: its ratios grow fivefold.
        TASKRA_BENCH_SLOW_ADAPTER="4",
    )
    result = subprocess.run(
        [
            sys.executable,
            "bench/check.py",
            "--only",
            "adapters",
            "--rounds",
            "7",
            "--issues",
            "200",
            "--history",
            str(history),
        ],  # fmt: skip
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL adapters.trusted_page50" in result.stdout
    [run] = read_history(history)
    assert run["passed"] is False and run["slowed"] is True
    assert set(run["ratios"]) == {"adapters.trusted_page50", "adapters.validated_page50"}
    [printed] = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert printed == run
    assert trend_series([run])["adapters.trusted_page50"] == [run["ratios"]["adapters.trusted_page50"]]


def test_thresholds_file_names_every_ratio_of_the_check():
    thresholds = tomllib.loads((BASE_DIR / "bench" / "thresholds.toml").read_text())["ratios"]
    assert {
        "adapters.trusted_page50",
        "adapters.validated_page50",
        "cache.issue_page_cached",
        "cache.navigator_cached",
        "api.search_page50",
        "metrics.issue_page_hit_overhead",
        "imports.issues_10000_vs_bulk_create",
        "load.errors_share",
        "load.issue_page_uniform.p50",
        "load.issue_page_uniform.p95",
        "load.navigator_page_1.p50",
        "load.rest_search.p50",
    } <= set(thresholds)
    assert all(isinstance(t["max"], int | float) and t["max"] > 0 for t in thresholds.values())


def test_bench_report_draws_one_line_per_ratio(tmp_path):
    sys.path.insert(0, str(BASE_DIR))
    from bench import report

    history = tmp_path / "history.jsonl"
    history.write_text(
        '{"at": "2026-11-30T10:00:00Z", "commit": "aaa", "passed": true, "ratios": {"a.x": 0.5, "b.y": 1.2}}\n'
        "not json: a run killed mid-write\n"
        '{"at": "2026-12-01T10:00:00Z", "commit": "bbb", "passed": false, "ratios": {"a.x": 0.7}}\n'
    )
    out = tmp_path / "trend.svg"
    assert report.main(["--history", str(history), "--out", str(out)]) == 0
    svg = out.read_text()
    assert svg.count("<polyline") == 2 and "a.x" in svg and "b.y" in svg
