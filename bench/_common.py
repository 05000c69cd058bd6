"""Shared helpers of Taskra's benchmarks: a dedicated database, Django setup, interleaved timing, versions.

Benchmarks seed their own data into a scratch database (never the app's or another engineer's):
SQLite file var/<name>.sqlite3 by default, or the PostgreSQL database DATABASE_URL names
(e.g. `createdb -h 127.0.0.1 -U postgres bench_adapters` then
DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_adapters).
"""

from __future__ import annotations

import gc
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def setup_django(sqlite_name: str) -> None:
    """Point Django at the benchmark's own database and set it up (DEBUG off: no query log growth)."""
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")
    if not os.environ.get("DATABASE_URL"):
        (BASE_DIR / "var").mkdir(exist_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{BASE_DIR / 'var' / sqlite_name}.sqlite3"
    os.environ["DEBUG"] = "0"
    import django

    django.setup()


def migrate_quietly() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def race(methods: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 2) -> dict[str, float]:
    """Return the median seconds per call of each method, calls interleaved round-robin (same conditions)."""
    for fn in methods.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def per_op(fn: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Return the best-of-`repeat` seconds per call of fn over `number` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def versions(*names: str) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"
