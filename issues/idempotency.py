"""One-time form tokens: a form posted twice (double click, browser resubmit) creates one record.

Each create form carries a hidden random `form_token`. The first POST claims it atomically (cache.add);
a repeat POST of the same token finds it claimed and is sent to where the first one went, without writing.
A failed POST (validation error) releases the token so the corrected form can be sent again.
"""

from __future__ import annotations

import uuid

from django.core.cache import cache

TOKEN_TTL = 24 * 3600
_PENDING = "pending"


def new_token() -> str:
    """Return a fresh token for a form."""
    return uuid.uuid4().hex


def _key(user_id: int, token: str) -> str:
    return f"formtoken:{user_id}:{token}"


def claim(*, user_id: int, token: str) -> tuple[bool, str | None]:
    """Claim a token; return (claimed, url of the earlier outcome when it was already used).

    An unavailable cache (Redis down with errors ignored) returns None from add(): the write goes ahead,
    since refusing every form during an outage would be worse than a rare duplicate.
    """
    added = cache.add(_key(user_id, token), _PENDING, timeout=TOKEN_TTL)
    if added is False:
        earlier = cache.get(_key(user_id, token))
        return False, (earlier if earlier and earlier != _PENDING else None)
    return True, None


def complete(*, user_id: int, token: str, url: str) -> None:
    """Remember where the successful POST led, for repeats of the same token."""
    cache.set(_key(user_id, token), url, timeout=TOKEN_TTL)


def release(*, user_id: int, token: str) -> None:
    """Free a token whose POST failed, so the corrected form can be submitted."""
    cache.delete(_key(user_id, token))
