"""Jira's error shape: every error of the REST API is {"errorMessages": [...], "errors": {"field": "message"}}.

Views raise ApiError (or let the services' Django ValidationError / PermissionDenied, a pydantic
ValidationError or a JQLError reach the api_view decorator); `error_response` writes the body.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from pydantic import ValidationError as PydanticValidationError

from issues.jql import JQLError
from taskra_site.adapters import dumps
from taskra_site.validation import error_list

# What Jira answers for an issue that is missing or not visible (the two are never told apart).
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."


class ApiError(Exception):
    """An error answered in Jira's shape with its status code (and extra headers, e.g. Retry-After)."""

    def __init__(
        self,
        status: int,
        messages: list[str] | str = (),  # type: ignore[assignment]
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})
        super().__init__("; ".join(self.messages) or str(self.errors))


def error_response(
    status: int, messages: list[str], errors: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> HttpResponse:
    """Return Jira's error body with the status code."""
    response = HttpResponse(
        dumps({"errorMessages": messages, "errors": errors or {}}), status=status, content_type="application/json"
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def field_name(loc: list[Any]) -> str:
    """Return the Jira field an error path names: ("fields", "summary") -> "summary", ("jql",) -> "jql"."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("fields", "update") and len(parts) > 1:
        parts = parts[1:]
    return parts[0] if parts else ""


def validation_errors(exc: PydanticValidationError | DjangoValidationError) -> ApiError:
    """Return a 400 ApiError from a body or service validation error: one message per field, the rest as lines."""
    errors: dict[str, str] = {}
    messages: list[str] = []
    for err in error_list(exc):
        name = field_name(err["loc"])
        if name and name not in errors:
            errors[name] = err["message"]
        elif not name:
            messages.append(err["message"])
    return ApiError(400, messages, errors)


def jql_error(exc: JQLError, jql: str) -> ApiError:
    """Return Jira's 400 for a bad query: the message names the line and character, as the navigator's caret does."""
    text = exc.message
    if exc.position:
        before = jql[: exc.position - 1]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1)
        text = f"{text} (line {line}, character {column})"
    if exc.hint:
        text = f"{text} {exc.hint}"
    return ApiError(400, [f"Error in the JQL Query: {text}"])
