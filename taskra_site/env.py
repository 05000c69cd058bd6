"""Typed helpers that read settings from the environment and fail loudly."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import dj_database_url


class EnvError(Exception):
    """A malformed environment variable; its message is one line naming it."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    """Return the variable as a string, or the default when unset."""
    return environ.get(name, default)


def env_bool(name: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """Return the variable as a boolean; anything but a clear yes/no is an error."""
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise EnvError(f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: int, environ: Mapping[str, str] = os.environ, *, minimum: int | None = None) -> int:
    """Return the variable as an integer, optionally bounded below."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise EnvError(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise EnvError(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_float(
    name: str,
    default: float,
    environ: Mapping[str, str] = os.environ,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """Return the variable as a finite number, optionally bounded (a fraction: minimum=0, maximum=1)."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise EnvError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise EnvError(f"{name}={raw!r} is not a finite number")
    if minimum is not None and value < minimum:
        raise EnvError(f"{name}={raw!r} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise EnvError(f"{name}={raw!r} must be at most {maximum}")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    """Return a comma-separated variable as a list of non-empty stripped items."""
    raw = environ.get(name)
    if raw is None:
        return default
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise EnvError(f"{name}={raw!r} has an empty item: use a comma-separated list such as a.example,b.example")
    return items


_CSP_SOURCE = re.compile(r"^(?:https?://)?(?:\*\.)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]*)?$")


def env_csp_sources(name: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Return a comma-separated list of CSP host sources (https://img.example.com, *.cdn.example), default none.

    Keywords, wildcards alone, spaces and semicolons are refused: they would widen or rewrite the policy.
    """
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return []
    items = env_list(name, [], {name: raw})
    for item in items:
        if not _CSP_SOURCE.match(item):
            raise EnvError(f"{name}={raw!r}: {item!r} is not a host source such as https://img.example.com")
    return items


def env_database(name: str, default: str, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Return Django DATABASES['default'] parsed from a URL (postgres://, sqlite:///path)."""
    raw = environ.get(name) or default
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise EnvError(
            f"{name}={raw!r} is not a supported database URL: use postgres://user@host:5432/db or sqlite:///path"
        )
    try:
        config = dict(dj_database_url.parse(raw, conn_max_age=60, conn_health_checks=True))
    except Exception as exc:  # dj_database_url raises several types on bad URLs
        raise EnvError(f"{name}={raw!r} is malformed: {exc}") from None
    if not config.get("NAME"):
        raise EnvError(f"{name}={raw!r} names no database")
    return config


def env_url(name: str, schemes: set[str], environ: Mapping[str, str] = os.environ) -> str | None:
    """Return a URL variable whose scheme is one of `schemes`, or None when unset."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in schemes:
        allowed = ", ".join(sorted(f"{s}://" for s in schemes))
        raise EnvError(f"{name}={raw!r} is not a valid URL: expected one of {allowed}")
    return raw


def env_email(name: str, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Return SMTP settings parsed from a URL (smtp://user:password@host:587, smtps:// for implicit TLS); {} if unset.

    Keys: host, port, user, password, use_tls, use_ssl. smtp:// uses STARTTLS unless ?tls=0.
    """
    raw = env_url(name, {"smtp", "smtps"}, environ)
    if raw is None:
        return {}
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        raise EnvError(f"{name}: the port is not a number") from None
    if not parts.hostname:
        raise EnvError(f"{name}: no host (smtp://user:password@host:587)")
    secure = parts.scheme == "smtps"
    tls_off = "tls=0" in parts.query
    return {
        "host": parts.hostname,
        "port": port or (465 if secure else 587),
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "use_ssl": secure,
        "use_tls": not secure and not tls_off,
    }
