"""gunicorn settings for `make serve` (and bench/load.py), read from the environment like Django's settings.

`gunicorn -c taskra_site/gunicorn_conf.py taskra_site.wsgi`. Sync workers: each serves one request at a
time, so WEB_WORKERS bounds concurrency (about 2 per core). WEB_TIMEOUT kills a worker whose request runs
longer, including a streamed response still being written: keep it above the slowest inline export (large
exports run as background jobs, see docs/operations.md, section Serving).
"""

from __future__ import annotations

from taskra_site.env import env_int, env_str

bind = env_str("WEB_BIND", "127.0.0.1:8000")
workers = env_int("WEB_WORKERS", 2, minimum=1)
worker_class = "sync"
timeout = env_int("WEB_TIMEOUT", 120, minimum=1)
graceful_timeout = env_int("WEB_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = env_int("WEB_KEEPALIVE", 5, minimum=0)
# Recycle workers now and then so a leak cannot grow without bound; jitter keeps them from restarting together.
max_requests = env_int("WEB_MAX_REQUESTS", 5000, minimum=0)
max_requests_jitter = env_int("WEB_MAX_REQUESTS_JITTER", 500, minimum=0)
accesslog = env_str("WEB_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = env_str("WEB_LOG_LEVEL", "info")
# The app is imported in each worker after the fork (no preload): no database connection or Redis client
# opened by the master is ever shared between processes.
preload_app = False
