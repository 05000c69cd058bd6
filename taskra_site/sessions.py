"""Session engine: Django's cached_db, with every cache call through the shared cache's circuit breaker.

Sessions are read from the cache (Redis when configured) and written through to the database. When the cache
is down, the breaker (taskra_site.sharedcache) skips it: sessions come from the database, nobody is logged out,
and the outage is one warning a minute instead of a connection attempt and a logged traceback per request.
"""

from __future__ import annotations

import contextlib
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends import cached_db

from taskra_site import sharedcache


class BreakerCache:
    """The four cache calls cached_db makes, through sharedcache: a cache that is down is a miss, never an error."""

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return sharedcache.get_many([key]).get(key, default)
        except sharedcache.CacheDown:
            return default

    def set(self, key: str, value: Any, timeout: int | None = None) -> None:
        with contextlib.suppress(sharedcache.CacheDown):
            sharedcache.set_value(key, value, timeout)

    def delete(self, key: str) -> None:
        with contextlib.suppress(sharedcache.CacheDown):
            sharedcache.delete_many([key])

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    # The async session API (aload, asave, adelete) calls these.
    async def aget(self, key: str, default: Any = None) -> Any:
        return await sync_to_async(self.get)(key, default)

    async def aset(self, key: str, value: Any, timeout: int | None = None) -> None:
        await sync_to_async(self.set)(key, value, timeout)

    async def adelete(self, key: str) -> None:
        await sync_to_async(self.delete)(key)


class SessionStore(cached_db.SessionStore):
    """cached_db sessions whose cache is BreakerCache (SESSION_ENGINE = "taskra_site.sessions")."""

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = BreakerCache()
