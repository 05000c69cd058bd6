"""gunicorn settings of bench/load.py: taskra_site/gunicorn_conf.py plus the test hook of the CI load check.

TASKRA_BENCH_SLOW_PATH=/browse/ and TASKRA_BENCH_SLOW_MS=80 make every request whose path starts with that prefix
wait that long in the worker before Django sees it: a deliberately slowed journey, which bench/check.py's load
ratios must report as a regression (perf/tests/test_bench_load.py). Unset, the hook does nothing.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from taskra_site.gunicorn_conf import *  # noqa: E402, F403 - the production settings, unchanged

SLOW_PATH = os.environ.get("TASKRA_BENCH_SLOW_PATH", "")
SLOW_SECONDS = float(os.environ.get("TASKRA_BENCH_SLOW_MS", "0") or 0) / 1000


def pre_request(worker: Any, req: Any) -> None:
    """Hold requests under TASKRA_BENCH_SLOW_PATH for TASKRA_BENCH_SLOW_MS (the slowed-journey test hook)."""
    if SLOW_PATH and SLOW_SECONDS > 0 and req.path.startswith(SLOW_PATH):
        time.sleep(SLOW_SECONDS)
