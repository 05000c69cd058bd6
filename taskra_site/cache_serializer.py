"""django-redis serializer and compressor tuned for Taskra's cache entries."""

from __future__ import annotations

import pickle
import zlib
from typing import Any

import orjson
from django_redis.compressors.base import BaseCompressor
from django_redis.serializers.base import BaseSerializer

_ORJSON = b"J"
_PICKLE = b"P"
_TEXT = b"S"

_JSON_SCALARS = (str, int, float, bool, type(None))


def _json_exact(value: Any, depth: int = 0) -> bool:
    """Return whether orjson round-trips the value unchanged.

    orjson happily writes datetimes, UUIDs, enums and tuples, but reads them back as
    strings and lists: caching those through JSON would silently change their type.
    """
    kind = type(value)
    if kind in _JSON_SCALARS:
        return True
    if depth > 64:
        return False
    if kind is list:
        return all(_json_exact(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(k) is str and _json_exact(v, depth + 1) for k, v in value.items())
    return False


class OrjsonPickleSerializer(BaseSerializer):
    """Serialize JSON-exact values with orjson (fast), text as UTF-8, and everything else with pickle.

    Every payload starts with a one-byte tag, so a value always comes back as the
    type it went in as (a datetime stays a datetime, a tuple stays a tuple).
    """

    def dumps(self, value: Any) -> bytes:
        if type(value) is str:
            # Rendered page bodies: no JSON quoting/escaping needed.
            return _TEXT + value.encode()
        if _json_exact(value):
            try:
                return _ORJSON + orjson.dumps(value)
            except (TypeError, orjson.JSONEncodeError):  # e.g. an int beyond 64 bits
                pass
        return _PICKLE + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, value: bytes) -> Any:
        tag, body = value[:1], value[1:]
        if tag == _TEXT:
            return body.decode()
        if tag == _ORJSON:
            return orjson.loads(body)
        if tag == _PICKLE:
            return pickle.loads(body)
        raise ValueError("unknown cache payload tag")


class ThresholdZlibCompressor(BaseCompressor):
    """Compress only values large enough for zlib to pay off; small ones stay raw."""

    min_length = 1024
    level = 1
    _Z = b"Z"
    _R = b"R"

    def compress(self, value: bytes) -> bytes:
        if len(value) >= self.min_length:
            packed = zlib.compress(value, self.level)
            if len(packed) < len(value):  # incompressible data stays raw
                return self._Z + packed
        return self._R + value

    def decompress(self, value: bytes) -> bytes:
        tag, body = value[:1], value[1:]
        if tag == self._Z:
            return zlib.decompress(body)
        if tag == self._R:
            return body
        raise ValueError("unknown compression tag")
