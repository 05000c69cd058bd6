"""Run a few commands together and stop them all on one Ctrl-C: `make run`'s web server and Celery worker.

    python -m taskra_site.supervise -- celery -A taskra_site worker -B -- python manage.py runserver

Each command runs in its own session, so the terminal's Ctrl-C reaches only this supervisor, which then sends
SIGTERM once to each command (Celery's warm shutdown; the server stops), waits for them, and stops whatever a
command left behind in its process group (runserver's auto-reloader child). A second Ctrl-C, or a command still
running after GRACE_SECONDS, is killed. When one command exits by itself, the others are stopped too.

It replaces a shell `trap 'kill 0' INT TERM`, which signalled its own process group from inside the trap and so
re-triggered itself: thousands of "Warm shutdown" lines, a Celery RecursionError and a segfault.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

GRACE_SECONDS = 20.0
POLL_SECONDS = 0.1


def split_commands(argv: Sequence[str]) -> list[list[str]]:
    """Return the commands of `-- cmd args -- cmd args`; an empty command is an error."""
    commands: list[list[str]] = []
    for arg in argv:
        if arg == "--":
            commands.append([])
        elif not commands:
            raise SystemExit(f"usage: python -m taskra_site.supervise -- COMMAND [ARGS] [-- COMMAND ...] (got {arg!r})")
        else:
            commands[-1].append(arg)
    if not commands or any(not c for c in commands):
        raise SystemExit("usage: python -m taskra_site.supervise -- COMMAND [ARGS] [-- COMMAND ...]")
    return commands


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def run(commands: list[list[str]], *, grace: float = GRACE_SECONDS) -> int:
    """Start the commands, wait for a signal or for one of them to exit, stop them all; return the exit status."""
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    procs = [subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL) for cmd in commands]
    while not received and all(p.poll() is None for p in procs):
        time.sleep(POLL_SECONDS)
    first_exit = next((p for p in procs if p.returncode is not None), None)
    if received:
        print(f"Stopping {len(procs)} processes (Ctrl-C again to kill them)...", file=sys.stderr, flush=True)
    elif first_exit is not None:
        name = os.path.basename(commands[procs.index(first_exit)][0])
        print(f"{name} exited with status {first_exit.returncode}; stopping the rest...", file=sys.stderr, flush=True)
    signalled = len(received)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline and len(received) == signalled:
        time.sleep(POLL_SECONDS)
    for p in procs:
        if p.poll() is None:
            _signal_group(p.pid, signal.SIGKILL)
            p.wait()
        else:
            # What the command left in its group (runserver's reloader child): stopped, then killed if it lingers.
            _signal_group(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 2.0
    while any(_group_alive(p.pid) for p in procs) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    for p in procs:
        _signal_group(p.pid, signal.SIGKILL)
    if received:
        return 0
    return first_exit.returncode if first_exit is not None and first_exit.returncode else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(split_commands(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
