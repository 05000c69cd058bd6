"""The django-redis serializer and compressor of cache entries (taskra_site.cache_serializer)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from taskra_site.cache_serializer import OrjsonPickleSerializer, ThresholdZlibCompressor


@pytest.mark.parametrize(
    "value",
    [
        {"summary": "x", "n": 1, "f": 1.5, "none": None, "items": [1, "a", {"b": True}]},
        "<div>rendered page ✓</div>",
        ("a", 1),
        {"when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "day": dt.date(2026, 1, 2)},
        {1: "int key"},
        {"ids": {1, 2}},
        Decimal("1.10"),
        [uuid.UUID(int=5)],
        2**70,
        True,
    ],
)
def test_serializer_round_trips_exact_types(value):
    serializer = OrjsonPickleSerializer({})
    compressor = ThresholdZlibCompressor({})
    packed = compressor.compress(serializer.dumps(value))
    back = serializer.loads(compressor.decompress(packed))
    assert back == value
    assert type(back) is type(value)


def test_compressor_compresses_only_large_values():
    compressor = ThresholdZlibCompressor({})
    small = b"x" * 100
    large = b"<tr><td>DEMO-1</td></tr>" * 200
    assert compressor.compress(small) == b"R" + small
    packed = compressor.compress(large)
    assert packed[:1] == b"Z" and len(packed) < len(large) / 5
    assert compressor.decompress(packed) == large
