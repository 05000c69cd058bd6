"""The bounded in-process LRU maps (issues.lru)."""

from __future__ import annotations

import pytest

from issues.lru import IssueLRU


def test_lru_stays_within_its_bound():
    lru = IssueLRU(3)
    for i in range(10):
        lru.put(f"DEMO-{i}", i, 1, (1,), object())
        assert len(lru) <= 3
    assert lru.peek("DEMO-9") is not None
    assert lru.peek("DEMO-0") is None


def test_lru_rejects_a_zero_bound():
    with pytest.raises(ValueError):
        IssueLRU(0)
