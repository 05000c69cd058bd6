"""Bounded in-process LRU maps: hot issue rows (IssueLRU) and the role memo of the issue page."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class BoundedLRU:
    """A bounded, thread-safe LRU map: the least recently used entry goes when a put exceeds the bound."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        # Lookups by get() that found / missed their key (the role memo's hit rate on /metrics and /perf/).
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Any, default: Any = None) -> Any:
        """Return the entry (marking it recently used), or default."""
        with self._lock:
            if key not in self._data:
                self.misses += 1
                return default
            self.hits += 1
            self._data.move_to_end(key)
            return self._data[key]

    def peek(self, key: Any) -> Any:
        """Return the entry or None, without marking it used."""
        with self._lock:
            return self._data.get(key)

    def touch(self, key: Any) -> None:
        """Mark the entry recently used."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)

    def set(self, key: Any, value: Any) -> None:
        """Store the entry, dropping the least recently used ones beyond the bound."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def discard(self, key: Any) -> None:
        """Forget the entry if present."""
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._data.clear()


class IssueLRU(BoundedLRU):
    """Hot issue objects keyed by issue key, each tagged with the generations it was read at."""

    def __init__(self, max_entries: int) -> None:
        super().__init__(max_entries)

    def put(self, key: str, issue_id: int, project_id: int, gens: tuple[int, ...], issue: Any) -> None:
        """Store an issue row read at these generations (global, issue, project)."""
        self.set(key, (issue_id, project_id, gens, issue))
