"""Characters no database column can hold: NUL (PostgreSQL refuses it in text) and unpaired UTF-16 surrogates
(not encodable as UTF-8). One check, used at the edge (taskra_site.middleware) and by input schemas."""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def find_unstorable(text: str) -> str | None:
    """Return a name for the first unstorable character in `text` ("NUL", "an unpaired surrogate"), else None.

    A valid surrogate pair never reaches a Python str as two code points, so any surrogate left is unpaired.
    """
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "NUL" if found.group() == "\x00" else "an unpaired surrogate"


def find_unstorable_in(value: Any) -> str | None:
    """Like find_unstorable() for a str or a (nested) list, tuple or dict of them; other values pass."""
    if isinstance(value, str):
        return find_unstorable(value)
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        for item in value:
            found = find_unstorable_in(item)
            if found:
                return found
    return None


def unstorable_message(where: str, what: str) -> str:
    """Return the one message for a refused value: "... contains NUL, which cannot be stored ..."."""
    return f"{where} contains {what}, a character that cannot be stored: remove it and try again."
