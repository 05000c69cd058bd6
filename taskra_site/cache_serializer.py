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


class OrjsonPickleSerializer(BaseSerializer):
    """Serialize JSON-able values with orjson (fast) and fall back to pickle for the rest."""

    def dumps(self, value: Any) -> bytes:
        try:
            return _ORJSON + orjson.dumps(value)
        except TypeError:
            return _PICKLE + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, value: bytes) -> Any:
        tag, body = value[:1], value[1:]
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
            return self._Z + zlib.compress(value, self.level)
        return self._R + value

    def decompress(self, value: bytes) -> bytes:
        tag, body = value[:1], value[1:]
        if tag == self._Z:
            return zlib.decompress(body)
        if tag == self._R:
            return body
        raise ValueError("unknown compression tag")
