"""Taskra settings: one module, every knob read from the environment.

Embedded defaults (SQLite, local-memory cache, filesystem Celery broker) need no
server; DATABASE_URL, REDIS_URL and CELERY_BROKER_URL switch to real services.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from taskra_site.env import (
    env_bool,
    env_csp_sources,
    env_database,
    env_email,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)
from taskra_site.security import content_security_policy

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TASKRA_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# The fallback key is for development only; `check --deploy` flags it in production.
SECRET_KEY = env_str("SECRET_KEY", "django-insecure-taskra-development-key-change-me")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "accounts",
    "issues",
    "worklogs",
    "notifications",
    "imports",
    "api",
    "perf",
]

MIDDLEWARE = [
    # Request metrics, Server-Timing, the slow-request log and each request's A/B variants (perf/middleware.py):
    # first, so its total covers every other middleware.
    "perf.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # NUL or an unpaired surrogate in the URL, a cookie or a form: a clear 400 before any session or database read.
    "taskra_site.middleware.UnstorableInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page requires login unless its view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every response (taskra_site/security.py).
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "taskra_site.urls"
WSGI_APPLICATION = "taskra_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # {% load links %} for {{ key|issue_url }}: an issue link per row without a reverse() per row.
            # {% load chrome %} for base.html's {% topbar %}: the header rendered once per user name, not per request.
            "libraries": {"links": "taskra_site.links", "chrome": "taskra_site.chrome"},
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'taskra.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the Celery worker share the file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not :memory:, so a live Celery worker in the tests can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / env_str("TEST_DATABASE_NAME", "test_taskra.sqlite3"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not env_bool("TASKRA_PG_JIT", False):
    # PostgreSQL's JIT compiles any query whose estimated cost is high, and a `text ~` or LIKE estimate is
    # often far off: measured 600-770 ms of compilation on 15 ms queries (docs/benchmarks/2026-12-01-engine.md).
    # Short interactive queries never repay it; TASKRA_PG_JIT=1 turns it back on (e.g. for reporting replicas).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side prepared statements for the few reads that bind on the server (taskra_site.sql.fetch_pipelined:
    # the issue page's lists): psycopg prepares a statement on its 5th run on a connection, and PostgreSQL stops
    # planning it, which cost 5-10 times running it (docs/benchmarks/2026-12-01-issue-page-2.md). Django's own
    # cursors bind on the client and never prepare. TASKRA_PG_PREPARE=0 turns it off (a transaction-pooling
    # PgBouncer before 1.21 cannot keep prepared statements).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["prepare_threshold"] = 5 if env_bool("TASKRA_PG_PREPARE", True) else None
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3" and env_str("TEST_DATABASE_NAME", ""):
    # Lets parallel runs on one PostgreSQL server use separate test databases.
    DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Covering indexes (Index(include=...), e.g. the time reports' worklog_project_started) are a PostgreSQL
    # speed-up; SQLite builds the same index without the extra columns, which is all the embedded default needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

REDIS_URL = env_url("REDIS_URL", {"redis", "rediss", "unix"})
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "taskra"),
            "TIMEOUT": env_int("CACHE_TIMEOUT", 3600, minimum=1),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "PARSER_CLASS": "redis.connection._HiredisParser",
                "SERIALIZER": "taskra_site.cache_serializer.OrjsonPickleSerializer",
                "COMPRESSOR": "taskra_site.cache_serializer.ThresholdZlibCompressor",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                "CONNECTION_POOL_KWARGS": {"max_connections": 50, "retry_on_timeout": False},
                # A cache outage must never fail a request: errors are logged, reads miss.
                "IGNORE_EXCEPTIONS": True,
                "LOG_IGNORED_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "taskra",
            "TIMEOUT": env_int("CACHE_TIMEOUT", 3600, minimum=1),
            "OPTIONS": {"MAX_ENTRIES": 10000},
        }
    }

# Celery: a filesystem broker by default so `make run` needs no server.
CELERY_BROKER_URL = (
    env_url("CELERY_BROKER_URL", {"redis", "rediss", "amqp", "amqps", "pyamqp", "filesystem", "memory"})
    or "filesystem://"
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / env_str("CELERY_FILESYSTEM_DIR", "broker")
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Without this kombu writes its broadcast exchanges to ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis", "rediss")):
    # A job longer than the visibility timeout would be delivered twice; imports can run long.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Celery beat (periodic tasks, taskra_site/celery.py) keeps its schedule state here, not in the working directory.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# The per-request user lookup joins the profile (time zone, display name): one query instead of two.
AUTHENTICATION_BACKENDS = ["accounts.backends.ProfileModelBackend"]
# Sessions are read from the cache (Redis when configured) and written through to the database, so a
# page-cache hit needs no session query and a cache flush or outage logs nobody out. taskra_site.sessions is
# Django's cached_db with its cache calls behind the shared cache's circuit breaker: an outage is quiet.
SESSION_ENGINE = "taskra_site.sessions"
LOGIN_REDIRECT_URL = "worklogs:home"
# Login throttling (accounts/throttle.py): this many wrong passwords for one username from one address lock that
# pair out for LOGIN_LOCKOUT_SECONDS (counted in the shared cache); a success resets the count.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Uploaded import files and the chunk files of imports split across workers go through the "imports" storage, so
# a worker on another machine reads them: the file system under IMPORTS_STORAGE_ROOT (default MEDIA_ROOT; on
# several machines a shared folder), or any Django storage backend, e.g. S3-compatible storage with
# django-storages (IMPORTS_STORAGE_BACKEND=storages.backends.s3.S3Storage plus its AWS_* settings; docs/imports.md).
IMPORTS_STORAGE_BACKEND = env_str("IMPORTS_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "imports": {
        "BACKEND": IMPORTS_STORAGE_BACKEND,
        # Without IMPORTS_STORAGE_ROOT the file system storage follows MEDIA_ROOT.
        "OPTIONS": (
            {"location": env_str("IMPORTS_STORAGE_ROOT", "")}
            if IMPORTS_STORAGE_BACKEND.endswith("FileSystemStorage") and env_str("IMPORTS_STORAGE_ROOT", "")
            else {}
        ),
    },
}

# Upload limits for imports (bytes); Django's own memory limit stays small so big files go to disk.
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 500 * 1024 * 1024, minimum=1024)
# Stored uploads one person may keep at once (bytes), and how long uploads are kept before a periodic task
# (Celery beat, imports.tasks.expire_import_files) deletes them. Only project members (or superusers) upload.
IMPORT_USER_QUOTA_BYTES = env_int("IMPORT_USER_QUOTA_BYTES", 2 * 1024 * 1024 * 1024, minimum=1024)
IMPORT_RETENTION_DAYS = env_int("IMPORT_RETENTION_DAYS", 30, minimum=1)
# Exports of more rows than this run as background jobs (issues/export_jobs.py): the file is written by a
# worker and downloaded from the job's page, so no export depends on a request outliving WEB_TIMEOUT.
TASKRA_EXPORT_INLINE_ROWS = env_int("TASKRA_EXPORT_INLINE_ROWS", 50_000, minimum=1)
# Hours an export job's file stays downloadable before the hourly clean-up deletes it.
TASKRA_EXPORT_RETENTION_HOURS = env_int("TASKRA_EXPORT_RETENTION_HOURS", 24, minimum=1)
# A running import/bulk job is taken over by another worker when its worker commits nothing for this long.
IMPORTS_LEASE_SECONDS = env_int("IMPORTS_LEASE_SECONDS", 120, minimum=5)
# Imports read and validate the next chunk in a forked process while the worker writes (imports.parsers.ReaderProcess).
# Off by default when tasks run eagerly: a fork inside a threaded web server is not safe.
IMPORTS_READER_PROCESS = env_bool("IMPORTS_READER_PROCESS", not CELERY_TASK_ALWAYS_EAGER)
# Imports run by a Celery worker split Jira JSON and JSON Lines files into chunk tasks that any number of workers
# import in parallel (imports.chunks); off, or with tasks run eagerly, one process reads and writes the whole file.
IMPORTS_CHUNK_SIZE = env_int("IMPORTS_CHUNK_SIZE", 1000, minimum=1)  # records per chunk task
IMPORTS_CHUNK_TASKS = env_bool("IMPORTS_CHUNK_TASKS", not CELERY_TASK_ALWAYS_EAGER)
# Tests only: a folder where a chunk task finding `hold-<index>` waits (after renaming it `held-<index>` with its
# pid) until `release` appears, so a test can kill the worker in the middle of that chunk.
IMPORTS_TEST_HOLD_DIR = env_str("IMPORTS_TEST_HOLD_DIR", "")
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Issue attachments (docs/collaboration.md): the largest file, what one person may keep attached in total,
# and the most pixels an image may have (a guard against decompression bombs; larger images are refused).
TASKRA_ATTACHMENT_MAX_BYTES = env_int("TASKRA_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
TASKRA_ATTACHMENT_USER_QUOTA_BYTES = env_int("TASKRA_ATTACHMENT_USER_QUOTA_BYTES", 1024 * 1024 * 1024, minimum=1024)
TASKRA_ATTACHMENT_MAX_PIXELS = env_int("TASKRA_ATTACHMENT_MAX_PIXELS", 40_000_000, minimum=10_000)
# Where attachment files live, through Django's storage API: "filesystem" (MEDIA_ROOT/attachments) or "s3", any
# S3-compatible service through django-storages (not installed by default: pip install "django-storages[s3]";
# bucket, endpoint and keys from the AWS_* variables that library reads). Files are never served by the storage:
# every download goes through the permission check (issues.views.attachments).
TASKRA_ATTACHMENT_STORAGE = env_str("TASKRA_ATTACHMENT_STORAGE", "filesystem")
_ATTACHMENT_STORAGES: dict[str, dict[str, Any]] = {
    "filesystem": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT / "attachments"), "base_url": None},
    },
    "s3": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("TASKRA_ATTACHMENT_BUCKET", "taskra-attachments"),
            "location": "attachments",
            "default_acl": "private",
            "file_overwrite": False,
        },
    },
}
if TASKRA_ATTACHMENT_STORAGE not in _ATTACHMENT_STORAGES:
    raise ImproperlyConfigured("TASKRA_ATTACHMENT_STORAGE must be 'filesystem' or 's3'.")
STORAGES["attachments"] = _ATTACHMENT_STORAGES[TASKRA_ATTACHMENT_STORAGE]

# Work-time conventions, Jira's defaults: 1d = 8h, 1w = 5d.
TASKRA_HOURS_PER_DAY = env_int("TASKRA_HOURS_PER_DAY", 8, minimum=1)
TASKRA_DAYS_PER_WEEK = env_int("TASKRA_DAYS_PER_WEEK", 5, minimum=1)

# Security: secure by default whenever DEBUG is off (`check --deploy` stays clean).
HTTPS = env_bool("HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {"django_redis": {"level": "ERROR"}, "taskra": {"level": env_str("LOG_LEVEL", "INFO")}},
}

# django-debug-toolbar: development only, and only when DEBUG is on.
ENABLE_DEBUG_TOOLBAR = DEBUG and env_bool("DEBUG_TOOLBAR", True)

# Content-Security-Policy (django-csp): everything from the site only; images also from these hosts
# (comma-separated host sources, e.g. https://img.example.com). Markdown images from elsewhere do not load.
TASKRA_CSP_IMAGE_HOSTS = env_csp_sources("TASKRA_CSP_IMAGE_HOSTS")
CONTENT_SECURITY_POLICY = content_security_policy(
    image_hosts=TASKRA_CSP_IMAGE_HOSTS, debug_toolbar=ENABLE_DEBUG_TOOLBAR
)
if ENABLE_DEBUG_TOOLBAR:
    INSTALLED_APPS.append("debug_toolbar")
    MIDDLEWARE.insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    INTERNAL_IPS = ["127.0.0.1", "::1"]
    # Collapsed: open, the toolbar covers the navigator's last columns and the JQL Search button.
    DEBUG_TOOLBAR_CONFIG = {"IS_RUNNING_TESTS": False, "SHOW_COLLAPSED": True}
    # Page-cache hits, misses and rebuild times (issues/pagecache/metrics.py) next to the default panels.
    from debug_toolbar.settings import PANELS_DEFAULTS

    DEBUG_TOOLBAR_PANELS = [*PANELS_DEFAULTS, "taskra_site.cache_panel.PageCachePanel"]

# Page cache of issue and result pages (issues/pagecache, docs/cache.md): unset = on with Redis, off on the local-memory
# default (a Celery worker's writes could not reach the web server's memory); 1/0 forces it.
TASKRA_PAGE_CACHE = env_bool("TASKRA_PAGE_CACHE", True) if env_str("TASKRA_PAGE_CACHE", "") else None
TASKRA_ISSUE_LRU_SIZE = env_int("TASKRA_ISSUE_LRU_SIZE", 512, minimum=1)
# After a write commits, a Celery worker re-renders the issue pages readers recently used (issues.issuepage.refresh).
TASKRA_PAGE_REFRESH = env_bool("TASKRA_PAGE_REFRESH", True)

# Adapter validation (taskra_site/adapters.py): reads of our own rows skip it. The test suite turns
# TASKRA_ADAPTER_VALIDATE on (conftest.py) so a row that breaks its schema fails a test; in production
# TASKRA_ADAPTER_SHADOW_RATE (0..1) is the fraction of reads checked anyway, failures logged and counted.
TASKRA_ADAPTER_VALIDATE = env_bool("TASKRA_ADAPTER_VALIDATE", False)
TASKRA_ADAPTER_SHADOW_RATE = env_float("TASKRA_ADAPTER_SHADOW_RATE", 0.01, minimum=0.0, maximum=1.0)

# Jira-compatible REST API (api/, docs/api.md): requests per token per window (in the shared cache, so the
# limit holds across processes with Redis), the largest body accepted, the page size cap of searches, and how
# long a process may reuse a token lookup (0: never; revocation still takes effect at once, see api/auth.py).
TASKRA_API_RATE_LIMIT = env_int("TASKRA_API_RATE_LIMIT", 600, minimum=1)
TASKRA_API_RATE_WINDOW = env_int("TASKRA_API_RATE_WINDOW", 60, minimum=1)
TASKRA_API_MAX_BODY_BYTES = env_int("TASKRA_API_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
TASKRA_API_MAX_RESULTS = env_int("TASKRA_API_MAX_RESULTS", 100, minimum=1)
# Issue rows per timesheet page: a busy week's further rows are on the next pages (day totals count them all).
TASKRA_TIMESHEET_ROWS = env_int("TASKRA_TIMESHEET_ROWS", 100, minimum=1)
# Rows per page of a time report's table (a month by issue can hold thousands); CSV/JSON exports hold them all.
TASKRA_REPORT_ROWS = env_int("TASKRA_REPORT_ROWS", 200, minimum=1)
TASKRA_API_TOKEN_CACHE_SECONDS = env_int("TASKRA_API_TOKEN_CACHE_SECONDS", 30, minimum=0)

# Notifications (notifications/, docs/notifications.md): e-mail goes out as one digest per person per batch window
# (seconds), sent by Celery. Mail through Django's mail framework: the console backend unless EMAIL_URL
# (smtp://user:password@host:587, smtps://... for implicit TLS) or EMAIL_HOST is set; EMAIL_BACKEND overrides both.
NOTIFICATIONS_EMAIL_WINDOW = env_int("NOTIFICATIONS_EMAIL_WINDOW", 300, minimum=1)
# Queue the fan-out after each write (off: events wait for the periodic backstop; the test suite turns it off
# except next to a live worker, as TASKRA_PAGE_REFRESH).
NOTIFICATIONS_QUEUE_TASKS = env_bool("NOTIFICATIONS_QUEUE_TASKS", True)
# The site's address in e-mail links (the issue pages, the unsubscribe link): e-mail is sent by a worker, which
# has no request to take it from.
TASKRA_SITE_URL = env_str("TASKRA_SITE_URL", "http://localhost:8000")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Taskra <taskra@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
_email = env_email("EMAIL_URL")
EMAIL_HOST = _email.get("host") or env_str("EMAIL_HOST", "")
EMAIL_PORT = _email.get("port") or env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = _email.get("user") or env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("password") or env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("use_tls", env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587))
EMAIL_USE_SSL = _email.get("use_ssl", env_bool("EMAIL_USE_SSL", False))
# Where the file backend (EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend) writes messages.
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)

# Operations (perf app, docs/operations.md). Request metrics and rollups for /perf/ (TASKRA_METRICS), the
# Server-Timing header (TASKRA_SERVER_TIMING), requests logged as slow on taskra.perf.slow from this many ms,
# the bearer token a Prometheus scraper sends to /metrics (empty: staff sessions only), and how long a process
# keeps the A/B switches before reading them again.
TASKRA_METRICS = env_bool("TASKRA_METRICS", True)
TASKRA_SERVER_TIMING = env_bool("TASKRA_SERVER_TIMING", True)
TASKRA_SLOW_REQUEST_MS = env_int("TASKRA_SLOW_REQUEST_MS", 1000, minimum=1)
TASKRA_METRICS_TOKEN = env_str("TASKRA_METRICS_TOKEN", "")
TASKRA_SWITCH_CACHE_SECONDS = env_int("TASKRA_SWITCH_CACHE_SECONDS", 10, minimum=0)
# prometheus-client's multiprocess mode: set it (an empty directory, wiped at each deploy) for gunicorn and Celery.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")
# The CI benchmark check's history (bench/check.py appends, /perf/ and `make bench-report` read).
TASKRA_BENCH_HISTORY = env_str("TASKRA_BENCH_HISTORY", str(VAR_DIR / "bench" / "history.jsonl"))
