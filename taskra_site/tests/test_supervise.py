"""`make run`'s supervisor (taskra_site/supervise.py): one Ctrl-C stops every command once, cleanly.

The children are small Python programs standing in for the Celery worker (says goodbye on SIGTERM) and
runserver (its auto-reloader leaves a child process in its group). No timing thresholds: only waits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taskra_site.supervise import split_commands

BASE_DIR = Path(__file__).resolve().parents[2]

WORKER = """
import signal, sys, time
def bye(*_):
    print("worker: warm shutdown", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
if len(sys.argv) > 1:
    open(sys.argv[1], "w").write("ready")
print("worker: ready", flush=True)
while True:
    time.sleep(0.05)
"""

# A parent that dies on SIGTERM and leaves a child behind in its process group, like runserver's reloader.
SERVER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)"])
open(sys.argv[1], "w").write(str(child.pid))
print("server: ready", flush=True)
while True:
    time.sleep(0.05)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (its parent died; init reaps it).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def start(tmp_path: Path, *commands: list[str]) -> subprocess.Popen:
    args = [sys.executable, "-m", "taskra_site.supervise"]
    for cmd in commands:
        args += ["--", *cmd]
    return subprocess.Popen(
        args, cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def test_one_sigint_stops_every_command_once(tmp_path):
    pidfile, ready = tmp_path / "grandchild.pid", tmp_path / "worker.ready"
    sup = start(tmp_path, [sys.executable, "-c", WORKER, str(ready)], [sys.executable, "-c", SERVER, str(pidfile)])
    # The worker has its SIGTERM handler once it wrote its file; the server once its child is started.
    wait_for(lambda: ready.exists() and pidfile.exists() and pidfile.read_text())
    grandchild = int(pidfile.read_text())
    sup.send_signal(signal.SIGINT)
    out, _ = sup.communicate(timeout=60)
    assert sup.returncode == 0
    assert out.count("worker: warm shutdown") == 1
    assert out.count("Stopping 2 processes") == 1
    assert len(out.splitlines()) <= 5, out
    wait_for(lambda: not alive(grandchild))


def test_when_one_command_exits_the_others_are_stopped(tmp_path):
    sup = start(tmp_path, [sys.executable, "-c", WORKER], [sys.executable, "-c", "import sys; sys.exit(3)"])
    out, _ = sup.communicate(timeout=60)
    assert sup.returncode == 3
    assert "exited with status 3" in out


def test_commands_are_split_on_double_dashes():
    assert split_commands(["--", "a", "b", "--", "c"]) == [["a", "b"], ["c"]]
    with pytest.raises(SystemExit):
        split_commands(["a"])
    with pytest.raises(SystemExit):
        split_commands(["--", "a", "--"])


def test_make_run_uses_the_supervisor_and_starts_beat():
    recipe = (BASE_DIR / "Makefile").read_text()
    assert "kill 0" not in recipe
    assert "-m taskra_site.supervise" in recipe and " -B" in recipe
