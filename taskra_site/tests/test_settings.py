"""Settings come from the environment through typed helpers that fail with one line naming the variable."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from taskra_site.env import EnvError, env_bool, env_database, env_float, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize(
    ("helper", "name", "raw"),
    [
        (lambda env: env_bool("DEBUG", False, env), "DEBUG", "maybe"),
        (lambda env: env_database("DATABASE_URL", "sqlite:///x.db", env), "DATABASE_URL", "mysql://x"),
        (lambda env: env_database("DATABASE_URL", "sqlite:///x.db", env), "DATABASE_URL", "postgres://host:5432/"),
        (lambda env: env_url("REDIS_URL", {"redis", "rediss", "unix"}, env), "REDIS_URL", "http://x"),
        (lambda env: env_list("ALLOWED_HOSTS", [], env), "ALLOWED_HOSTS", ","),
        (lambda env: env_list("ALLOWED_HOSTS", [], env), "ALLOWED_HOSTS", "a.example,,b.example"),
        (lambda env: env_int("CACHE_TIMEOUT", 1, env, minimum=1), "CACHE_TIMEOUT", "abc"),
        (lambda env: env_int("CACHE_TIMEOUT", 1, env, minimum=1), "CACHE_TIMEOUT", "0"),
        (lambda env: env_float("RATE", 0.0, env, minimum=0, maximum=1), "RATE", "often"),
        (lambda env: env_float("RATE", 0.0, env, minimum=0, maximum=1), "RATE", "1.5"),
        (lambda env: env_float("RATE", 0.0, env, minimum=0, maximum=1), "RATE", "-0.1"),
        (lambda env: env_float("RATE", 0.0, env, minimum=0, maximum=1), "RATE", "nan"),
    ],
)
def test_bad_values_raise_one_line_naming_the_variable(helper, name, raw):
    with pytest.raises(EnvError) as exc:
        helper({name: raw})
    message = str(exc.value)
    assert message.startswith(f"{name}=")
    assert "\n" not in message


def test_good_values_parse():
    assert env_bool("DEBUG", False, {"DEBUG": " Yes "}) is True
    assert env_bool("DEBUG", True, {"DEBUG": "0"}) is False
    assert env_bool("DEBUG", True, {}) is True
    assert env_int("N", 5, {"N": " 42 "}) == 42
    assert env_int("N", 5, {"N": ""}) == 5
    assert env_float("R", 0.01, {"R": " 0.25 "}) == 0.25
    assert env_float("R", 0.01, {}) == 0.01
    assert env_list("H", ["d"], {"H": "a.example, b.example"}) == ["a.example", "b.example"]
    assert env_list("H", ["d"], {}) == ["d"]
    assert env_url("REDIS_URL", {"redis"}, {"REDIS_URL": " "}) is None
    assert env_url("REDIS_URL", {"redis"}, {"REDIS_URL": "redis://127.0.0.1:6379/0"}) == "redis://127.0.0.1:6379/0"
    assert env_str("S", "d", {}) == "d"
    pg = env_database("DATABASE_URL", "sqlite:///x", {"DATABASE_URL": "postgres://u:p@db.example:5433/taskra"})
    assert (pg["ENGINE"], pg["NAME"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "taskra",
        "db.example",
        5433,
    )
    assert env_database("DATABASE_URL", "sqlite:////tmp/t.db", {})["ENGINE"] == "django.db.backends.sqlite3"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run manage.py in a fresh process with only the given settings variables set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
    for name in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CACHE_TIMEOUT", "HTTPS", "TEST_DATABASE_NAME"):
        clean.pop(name, None)
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "http://x"),
        ("ALLOWED_HOSTS", ","),
        ("CACHE_TIMEOUT", "abc"),
    ],
)
def test_manage_check_with_a_bad_value_exits_with_one_line(name, raw, tmp_path):
    result = manage("check", **{name: raw, "TASKRA_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Configuration error: {name}=")
    assert result.stdout == ""


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(48),  # 64 characters
        ALLOWED_HOSTS="taskra.example.com",
        TASKRA_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_the_development_key(tmp_path):
    result = manage("check", "--deploy", DEBUG="0", ALLOWED_HOSTS="taskra.example.com", TASKRA_VAR_DIR=str(tmp_path))
    assert "security.W009" in result.stdout + result.stderr


def test_email_url_parses_smtp_and_smtps():
    from taskra_site.env import env_email

    assert env_email("EMAIL_URL", {}) == {}
    assert env_email("EMAIL_URL", {"EMAIL_URL": "smtp://me%40x.org:p%3Ass@mail.example.com:2525"}) == {
        "host": "mail.example.com",
        "port": 2525,
        "user": "me@x.org",
        "password": "p:ss",
        "use_ssl": False,
        "use_tls": True,
    }
    secure = env_email("EMAIL_URL", {"EMAIL_URL": "smtps://mail.example.com"})
    assert secure["port"] == 465 and secure["use_ssl"] and not secure["use_tls"]
    assert not env_email("EMAIL_URL", {"EMAIL_URL": "smtp://mail.example.com?tls=0"})["use_tls"]


@pytest.mark.parametrize("raw", ["http://mail.example.com", "smtp://", "smtp://mail.example.com:port"])
def test_bad_email_url_raises_one_line(raw):
    from taskra_site.env import env_email

    with pytest.raises(EnvError, match="EMAIL_URL"):
        env_email("EMAIL_URL", {"EMAIL_URL": raw})
