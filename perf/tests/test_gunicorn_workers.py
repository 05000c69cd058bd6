"""Metrics from both workers of a real gunicorn (2 sync workers) in prometheus-client's multiprocess mode.

No persona: anonymous requests to the login page (it needs no table: the server runs on an empty SQLite file);
the test process then merges the workers' metric files as /metrics does for staff.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, multiprocess

from bench.load import children_of

BASE_DIR = Path(__file__).resolve().parents[2]
BATCH = 16  # parallel requests: while one sync worker is busy, the other accepts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.status)


def _metrics(directory: Path) -> str:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry).decode()


def test_metrics_come_from_both_gunicorn_workers(tmp_path):
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "CACHE_KEY_PREFIX")}
    env.update(
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        DJANGO_SETTINGS_MODULE="taskra_site.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        TASKRA_VAR_DIR=str(tmp_path / "var"),
        CELERY_BROKER_URL="memory://",
        DEBUG="0",
        HTTPS="0",
        WEB_BIND=f"127.0.0.1:{port}",
        WEB_WORKERS="2",
        WEB_MAX_REQUESTS="0",
        # No worker-timeout kills: the master compares its clock with each worker's heartbeat, and a faked clock
        # (libfaketime starts every process's clock afresh: CI may run under another date) makes them disagree.
        WEB_TIMEOUT=str(10**10),
        WEB_ACCESS_LOG="",
        WEB_LOG_LEVEL="warning",
    )
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "taskra_site/gunicorn_conf.py", "taskra_site.wsgi"],
        cwd=BASE_DIR, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/accounts/login/"
    try:
        deadline = time.monotonic() + 120
        while True:  # up: the first answer
            assert server.poll() is None, "gunicorn exited"
            try:
                assert _get(url) == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer in 120 s"
                time.sleep(0.3)
        sent, pids = 1, set()
        with ThreadPoolExecutor(BATCH) as pool:
            for _ in range(30):  # bounded: stop once both workers have answered
                assert set(pool.map(_get, [url] * BATCH)) == {200}
                sent += BATCH
                pids = set(
                    re.findall(r'^taskra_process_resident_memory_bytes\{pid="(\d+)"', _metrics(metrics_dir), re.M)
                )
                if len(pids) >= 2:
                    break
        workers = {str(pid) for pid in children_of(server.pid)}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert len(pids) == 2 and pids <= workers, (pids, workers)  # each worker's own memory, labelled by its pid
    body = _metrics(metrics_dir)
    count = re.search(
        r'^taskra_request_duration_seconds_count\{method="GET",route="login",variant="-"\} ([0-9.]+)$', body, re.M
    )
    assert count and float(count.group(1)) == sent  # every request, summed over both workers' files
