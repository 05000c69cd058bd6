"""Metrics from several processes (gunicorn workers) merged by /metrics in prometheus-client's multiprocess mode.

Two child processes each serve requests through the full middleware stack with PROMETHEUS_MULTIPROC_DIR set;
admin (staff) then reads /metrics in the test process, which merges their files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]

CHILD = """
import django, os
django.setup()
from perf import switches
switches.hold(())  # no database: the child serves only the login page
from django.test import Client
client = Client()
for _ in range({n}):
    assert client.get("/accounts/login/").status_code == 200
print(os.getpid())
"""


def test_metrics_from_two_processes_are_merged(client, admin_user, settings, tmp_path):
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "DJANGO_SETTINGS_MODULE": "taskra_site.settings",
        "TASKRA_VAR_DIR": str(tmp_path / "var"),
        "HTTPS": "0",
    }
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD.format(n=n)], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
        )
        for n in (2, 3)
    ]
    pids = []
    for child in children:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        pids.append(out.strip().splitlines()[-1])
    settings.PROMETHEUS_MULTIPROC_DIR = str(metrics_dir)
    client.force_login(admin_user)
    body = client.get("/metrics").content.decode()
    count = re.search(
        r'^taskra_request_duration_seconds_count\{method="GET",route="login",variant="-"\} ([0-9.]+)$', body, re.M
    )
    assert count and float(count.group(1)) == 5.0  # 2 + 3 requests, summed over both processes
    for pid in pids:  # each process's memory, labelled by its pid
        assert re.search(rf'^taskra_process_resident_memory_bytes\{{pid="{pid}",role="web"\}} [0-9.e+]+$', body, re.M)
