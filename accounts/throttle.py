"""Login throttling: LOGIN_FAILURE_LIMIT wrong passwords for one username from one address lock that pair out.

The counts live in the shared cache (Redis, or the local-memory default) through taskra_site.sharedcache, so
the lock holds across requests and processes that share the cache. While it holds, the password is not even
checked, the right one included. A success resets the count. When the cache is down nothing can be counted:
the password alone decides (one warning per outage from the cache's circuit breaker, no lock-out of everyone).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from taskra_site import sharedcache


def now() -> float:
    """Return the wall-clock time in seconds (tests pin it)."""
    return time.time()


def client_address(request: HttpRequest | None) -> str:
    """Return the address a login came from (REMOTE_ADDR; put the proxy's real-IP handling in front of it)."""
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR") or "")


def _keys(username: str, address: str) -> tuple[str, str]:
    digest = hashlib.sha256(f"{username.strip().lower()}\n{address}".encode()).hexdigest()[:32]
    return f"login-failures:{digest}", f"login-locked:{digest}"


def locked_for(*, username: str, address: str) -> int:
    """Return the seconds left of the lock on this username from this address, 0 when it may log in."""
    _count_key, lock_key = _keys(username, address)
    try:
        until = sharedcache.get_many([lock_key]).get(lock_key)
    except sharedcache.CacheDown:
        return 0
    if until is None:
        return 0
    return max(0, math.ceil(float(until) - now()))


def login_failed(*, username: str, address: str) -> None:
    """Count a wrong password; the LOGIN_FAILURE_LIMIT-th within the period locks the pair for the period."""
    count_key, lock_key = _keys(username, address)
    period = int(settings.LOGIN_LOCKOUT_SECONDS)
    with contextlib.suppress(sharedcache.CacheDown):
        if sharedcache.count_in_window(count_key, period) >= int(settings.LOGIN_FAILURE_LIMIT):
            # The entry outlives the lock a little; `until` decides, so a pinned clock in tests is honoured.
            sharedcache.set_value(lock_key, now() + period, period + 60)
            sharedcache.delete_many([count_key])


def login_succeeded(*, username: str, address: str) -> None:
    """Forget the failures of this username from this address."""
    with contextlib.suppress(sharedcache.CacheDown):
        sharedcache.delete_many(list(_keys(username, address)))


def lock_message(seconds: int) -> str:
    """Return the one message of a lock-out, with the time left in whole minutes."""
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "Too many failed log-ins for this username from your address. "
        f"Try again in {minutes} {unit}, or ask an administrator to reset your password."
    )


def credentials_username(credentials: dict[str, Any]) -> str:
    """Return the username of authenticate()'s credentials ("" when there is none)."""
    return str(credentials.get("username") or "")
