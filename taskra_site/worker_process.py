"""A real `celery worker` subprocess on a private queue, for the tests and the import benchmark."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


class WorkerProcess:
    """Start, kill, stop and measure one `celery worker` consuming only `queue`."""

    def __init__(self, queue: str, env: dict[str, str], *, log_path: Path | None = None) -> None:
        self.queue = queue
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log_path = log_path or BASE_DIR / "var" / f"worker-{queue}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 60) -> None:
        """Start the worker and return once it reports ready."""
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "taskra_site", "worker", "-Q", self.queue,
             "--concurrency", "1", "--pool", "prefork", "--loglevel", "INFO", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-n", f"{self.queue}@%h"],
            cwd=BASE_DIR, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log_tail()}")
            if b"ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Kill the worker and its pool children at once, as a crash would."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop(self) -> None:
        """Stop the worker warmly (SIGTERM), killing it if it does not exit in time."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def pids(self) -> list[int]:
        """Return the worker's pid and its pool children's."""
        if self.proc is None:
            return []
        out = [self.proc.pid]
        with contextlib.suppress(OSError):  # the process may have exited meanwhile
            out += [int(c) for c in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        return out

    def peak_rss_mb(self) -> float:
        """Return the highest VmHWM (peak RSS) over the worker's processes, in MB."""
        best = 0.0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]) / 1024)
            except OSError:
                continue
        return best
