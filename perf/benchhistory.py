"""The CI benchmark check's history: one JSON object per run in var/bench/history.jsonl (bench/check.py writes it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.conf import settings


def history_path() -> Path:
    """Return where the history lives (settings.TASKRA_BENCH_HISTORY)."""
    return Path(settings.TASKRA_BENCH_HISTORY)


def read_history(path: Path | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Return the last `limit` runs, oldest first; unreadable lines are skipped (a run killed mid-write)."""
    path = path or history_path()
    try:
        lines = _tail_lines(path, limit)
    except OSError:
        return []
    runs = []
    for line in lines:
        try:
            run = json.loads(line)
        except ValueError:
            continue
        if isinstance(run, dict) and isinstance(run.get("ratios"), dict):
            runs.append(run)
    return runs


def _tail_lines(path: Path, limit: int, block: int = 65536) -> list[str]:
    """Return the file's last `limit` lines, reading from its end: the history grows with every CI run, and the
    perf page reads it on each view."""
    with path.open("rb") as f:
        end = f.seek(0, os.SEEK_END)
        data = b""
        while end > 0 and data.count(b"\n") <= limit:
            start = max(0, end - block)
            f.seek(start)
            data = f.read(end - start) + data
            end = start
    lines = data.decode("utf-8", errors="replace").splitlines()
    # A block boundary may cut the first line read: drop it unless the file's start was reached.
    if end > 0:
        lines = lines[1:]
    return lines[-limit:]


def append_run(run: dict[str, Any], path: Path | None = None) -> None:
    """Append one run as a JSON line (created with its folder)."""
    path = path or history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(run, sort_keys=True) + "\n")


def trend_series(runs: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Return each ratio's values over the runs (None where a run lacks it)."""
    names = sorted({name for run in runs for name in run["ratios"]})
    return {name: [run["ratios"].get(name) for run in runs] for name in names}
