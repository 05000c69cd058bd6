"""Who is calling the REST API: a personal API token (Basic or Bearer) or the browser session.

- Basic auth: `username:token` or `email:token`; Bearer: `Authorization: Bearer tkr_...`.
- The token is found by one indexed lookup (the unique SHA-256 `key_hash`) that also loads the user and
  its profile and leaves out revoked tokens. A process reuses a lookup for TASKRA_API_TOKEN_CACHE_SECONDS.
- Revocation takes effect at once: revoking bumps a generation counter in the shared cache (on commit); every
  request reads that counter (one GET, next to its rate-limit INCR) and a process drops its token entries
  when it changed. With the process-local cache (no REDIS_URL) another process could not see the bump, so
  there the per-process reuse is off and every request makes the one indexed lookup (revoked_at is in it).
- Expiry is checked on every request (cached entries too). `last_used` is written at most once a minute.
- Rate limit per token: a fixed window counter in the shared cache (TASKRA_API_RATE_LIMIT requests per
  TASKRA_API_RATE_WINDOW seconds); over it, 429 with Retry-After. A cache outage lets requests through.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from api.errors import ApiError
from api.models import ApiToken
from taskra_site import sharedcache

TOKEN_PREFIX = "tkr_"  # recognisable in logs and by secret scanners
GENERATION_KEY = "api:tokens:generation"
LAST_USED_EVERY = dt.timedelta(minutes=1)
MAX_TOKEN_LENGTH = 200
CHALLENGE = {"WWW-Authenticate": 'Basic realm="Taskra"'}


def token_hash(token: str) -> str:
    """Return the stored form of a token: the hex SHA-256 of its text."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class TokenEntry:
    """A token lookup as a process keeps it: the user (with profile) and the token's own columns."""

    user: Any
    token_id: int
    expires: dt.datetime | None
    last_used: dt.datetime | None
    loaded: float  # time.monotonic() of the lookup
    # The shared generation read before the lookup: an entry is used only while the generation is still this
    # one, so a lookup that raced a revocation (read before, stored after the bump) is never served.
    generation: Any = None


_lock = threading.Lock()
_entries: dict[str, TokenEntry] = {}
_generation: list[Any] = [None]


def reset_state() -> None:
    """Forget every token entry of this process (tests)."""
    with _lock:
        _entries.clear()
        _generation[0] = None


def _bump_generation() -> None:
    # On a cache outage entries live at most TASKRA_API_TOKEN_CACHE_SECONDS (and _check_generation trusts none).
    with contextlib.suppress(sharedcache.CacheDown):
        sharedcache.bump_counters([GENERATION_KEY], int(time.time()))
    reset_state()


def forget_tokens_on_commit() -> None:
    """After the current transaction commits, make every process drop its token entries (revocations)."""
    transaction.on_commit(_bump_generation)


def _cache_seconds() -> int:
    if sharedcache.is_process_local():
        return 0
    return settings.TASKRA_API_TOKEN_CACHE_SECONDS


def _check_generation() -> Any:
    """Return the shared generation, dropping this process's entries when a revocation moved it."""
    try:
        current = sharedcache.get_many([GENERATION_KEY]).get(GENERATION_KEY)
    except sharedcache.CacheDown:
        current = object()  # unknown: trust nothing cached, cache nothing usable
    with _lock:
        if current != _generation[0]:
            _entries.clear()
            _generation[0] = current
    return current


def _lookup(digest: str) -> TokenEntry | None:
    """The one indexed lookup: the token's user (and profile) by the token's hash, revoked tokens left out."""
    user = (
        get_user_model()
        .objects.select_related("profile")
        .filter(api_tokens__key_hash=digest, api_tokens__revoked_at__isnull=True)
        .annotate(
            _token_id=F("api_tokens__id"),
            _token_expires=F("api_tokens__expires"),
            _token_last_used=F("api_tokens__last_used"),
        )
        .first()
    )
    if user is None:
        return None
    return TokenEntry(user, user._token_id, user._token_expires, user._token_last_used, time.monotonic())


def token_user(token: str, *, identity: str | None = None, now: dt.datetime | None = None) -> tuple[Any, int]:
    """Return (user, token id) for a token, or raise ApiError(401).

    identity is the username or email of Basic auth; it must name the token's owner (case-insensitive).
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise unauthorized()
    digest = token_hash(token)
    seconds = _cache_seconds()
    entry = None
    generation = None
    if seconds:
        generation = _check_generation()
        with _lock:
            entry = _entries.get(digest)
        if entry is not None and (time.monotonic() - entry.loaded > seconds or entry.generation != generation):
            entry = None
    if entry is None:
        entry = _lookup(digest)
        if entry is None:
            raise unauthorized()
        if seconds:
            entry.generation = generation
            with _lock:
                _entries[digest] = entry
    now = now or timezone.now()
    user = entry.user
    if not user.is_active or (entry.expires is not None and entry.expires <= now):
        raise unauthorized()
    if identity is not None and identity.lower() not in (user.username.lower(), (user.email or "").lower()):
        raise unauthorized()
    if entry.last_used is None or now - entry.last_used >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=entry.token_id).update(last_used=now)
        entry.last_used = now
    return user, entry.token_id


def unauthorized() -> ApiError:
    """Return the 401 every failed authentication gets (which part failed is not told)."""
    return ApiError(401, ["You are not authenticated. Authentication required to perform this operation."],
                    headers=CHALLENGE)  # fmt: skip


def credentials(header: str) -> tuple[str, str | None] | None:
    """Return (token, identity or None) from an Authorization header, None when it names another scheme."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return value, None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise unauthorized() from None
        identity, sep, secret = decoded.partition(":")
        if not sep:
            raise unauthorized()
        return secret, identity
    return None


def rate_limit(token_id: int, *, now: float | None = None) -> None:
    """Count a request of the token in the shared cache; raise ApiError(429, Retry-After) above the limit."""
    window = settings.TASKRA_API_RATE_WINDOW
    now = time.time() if now is None else now
    slot = int(now // window)
    key = f"api:rate:{token_id}:{slot}"
    cache = sharedcache.backend()

    def count() -> int:
        cache.add(key, 0, window + 1)
        return int(cache.incr(key))

    try:
        used = sharedcache.guard(count)
    except (sharedcache.CacheDown, ValueError):
        return  # no cache: no limit rather than no API
    if used > settings.TASKRA_API_RATE_LIMIT:
        retry = max(1, int((slot + 1) * window - now + 0.999))
        raise ApiError(
            429,
            [f"Rate limit exceeded: at most {settings.TASKRA_API_RATE_LIMIT} requests in {window} seconds per token."],
            headers={"Retry-After": str(retry)},
        )
