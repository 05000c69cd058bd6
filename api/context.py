"""The request a REST API response is written for: base URLs and API version (2: plain text, 3: ADF).

Set by the api_view decorator for the duration of one request; the row builders of api/adapters.py read it
when they write `self` URLs and description bodies, so plans stay shared between versions and hosts.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class ApiContext:
    origin: str  # "https://taskra.example.com"
    version: int  # 2 or 3
    user_id: int | None = None  # the authenticated caller: linked issues are shown only when they may see them

    @property
    def base(self) -> str:
        """The API root of this request: "https://taskra.example.com/rest/api/2"."""
        return f"{self.origin}/rest/api/{self.version}"


_DEFAULT = ApiContext("http://localhost", 2)
_current: contextvars.ContextVar[ApiContext | None] = contextvars.ContextVar("api_context", default=None)


def current() -> ApiContext:
    """Return the context of the request being answered (a localhost v2 default outside requests)."""
    return _current.get() or _DEFAULT


def activate(context: ApiContext) -> contextvars.Token[ApiContext | None]:
    """Make `context` current; pass the returned token to deactivate()."""
    return _current.set(context)


def deactivate(token: contextvars.Token[ApiContext | None]) -> None:
    _current.reset(token)
