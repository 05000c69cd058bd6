"""A Locust plugin of bench/load.py's quick mode: log every journey request, with its start time, to a file.

Loaded next to bench/locustfile.py (`locust -f bench/locustfile.py,bench/locust_rounds.py`); writes nothing
unless BENCH_REQUEST_LOG names the file. Requests before the locustfile resets the statistics (once the last
client has logged in) are start-up and are not logged, so the log holds the same requests as Locust's table.
Each line: start time (s), journey name, response time (ms), 1 when it failed.

BENCH_NO_WAIT=1 drops the clients' think time: with as many clients as gunicorn workers, every worker always has
one request and none waits in the listen queue, so each response time is the request's own service time (on a
saturated server every journey's time is mostly the same queue wait, and their ratios tend to 1).
"""

from __future__ import annotations

import os
import time
from typing import Any

from locust import constant, events

_PATH = os.environ.get("BENCH_REQUEST_LOG", "")
_state: dict[str, Any] = {"file": None, "counting": False}


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    if os.environ.get("BENCH_NO_WAIT") == "1":
        for user_class in environment.user_classes:
            user_class.wait_time = constant(0)
    if not _PATH:
        return
    _state["file"] = open(_PATH, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - open for the whole run
    reset_all = environment.stats.reset_all

    def reset_and_count() -> None:
        reset_all()
        _state["counting"] = True

    environment.stats.reset_all = reset_and_count


@events.request.add_listener
def _on_request(name: str, response_time: float, exception: BaseException | None, **kwargs: Any) -> None:
    out = _state["file"]
    if out is None or not _state["counting"]:
        return
    started = kwargs.get("start_time") or time.time() - response_time / 1000
    out.write(f"{started:.3f}\t{name}\t{response_time:.2f}\t{int(exception is not None)}\n")


@events.quitting.add_listener
def _on_quit(**_: Any) -> None:
    if _state["file"] is not None:
        _state["file"].close()
        _state["file"] = None
