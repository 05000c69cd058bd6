"""One place that turns validation errors into a 400 JSON body, form errors or message lines, with field paths.

Works with pydantic's ValidationError (schemas, model_validate_json on raw bodies) and Django's
ValidationError (services raise ValidationError({"summary": "..."})).

Every JSON error of the product has one shape, built by json_error():
    {"message": "Invalid input: summary: Summary is required.",
     "errors": [{"field": "summary", "loc": ["summary"], "message": "Summary is required.", "type": "invalid"}]}
plus, for some errors, extra keys about the error (JQL errors add "position" and "hint").
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

M = TypeVar("M", bound=BaseModel)

AnyValidationError = PydanticValidationError | DjangoValidationError


class BodyError(Exception):
    """A request body that failed validation; `.response` is the 400 to return."""

    def __init__(self, error: AnyValidationError) -> None:
        super().__init__(str(error))
        self.error = error
        self.response = validation_error_response(error)


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def error_list(exc: AnyValidationError) -> list[dict[str, Any]]:
    """Return [{"field": "labels.0", "loc": ["labels", 0], "message": ..., "type": ...}] for any validation error.

    Whole-object errors have field "" (pydantic) or "__all__" mapped to "" (Django).
    """
    if isinstance(exc, PydanticValidationError):
        out = []
        for err in exc.errors(include_url=False, include_context=False, include_input=False):
            loc = list(err["loc"])
            message = err["msg"]
            # Our own validators raise ValueError: pydantic prefixes "Value error, " which reads badly.
            if err["type"] == "value_error" and message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            if err["type"] == "json_invalid":
                message = f"Invalid JSON: {message.removeprefix('Invalid JSON: ')}"
            out.append({"field": _path(tuple(loc)), "loc": loc, "message": message, "type": err["type"]})
        return out
    out = []
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            name = "" if field == NON_FIELD_ERRORS else field
            for message in errors:
                out.append({"field": name, "loc": [name] if name else [], "message": message, "type": "invalid"})
    else:
        for message in exc.messages:
            out.append({"field": "", "loc": [], "message": message, "type": "invalid"})
    return out


def errors_by_field(exc: AnyValidationError) -> dict[str, list[str]]:
    """Return {"summary": ["..."], "labels.0": ["..."], "": ["whole-object error"]}."""
    found: dict[str, list[str]] = {}
    for err in error_list(exc):
        found.setdefault(err["field"], []).append(err["message"])
    return found


def error_messages(exc: AnyValidationError) -> list[str]:
    """Return the messages of any validation error as plain lines (field names left out), for message boxes."""
    return [err["message"] for err in error_list(exc)]


def message_errors(messages: list[str], *, field: str = "", type: str = "invalid") -> list[dict[str, Any]]:
    """Return plain message lines as entries of the "errors" list of json_error()."""
    return [{"field": field, "loc": [field] if field else [], "message": m, "type": type} for m in messages]


def json_error(
    message: str, *, status: int = 400, errors: list[dict[str, Any]] | None = None, **extra: Any
) -> JsonResponse:
    """Return the one JSON error response: {"message": ..., "errors": [{"field", "loc", "message", "type"}], ...}.

    Without `errors`, the message itself is the one entry; `extra` adds keys about the error (e.g. position).
    """
    body = {"message": message, "errors": message_errors([message]) if errors is None else errors, **extra}
    return JsonResponse(body, status=status)


def validation_error_response(exc: AnyValidationError, *, status: int = 400) -> JsonResponse:
    """Return a 400 JSON response in json_error()'s shape, one entry per error, the first one in the message."""
    errors = error_list(exc)
    first = errors[0] if errors else {"field": "", "message": "Invalid input."}
    summary = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return json_error(f"Invalid input: {summary}{more}", status=status, errors=errors)


def apply_validation_errors_to_form(form: Any, exc: AnyValidationError) -> None:
    """Add the errors to a Django form: on the field named by the path's first part, else as non-field errors.

    Nested paths keep their detail in the message ("labels.1: ..."), so nothing is lost.
    """
    for err in error_list(exc):
        loc = err["loc"]
        name = str(loc[0]) if loc else None
        message = err["message"]
        if name is not None and name in form.fields:
            if len(loc) > 1:
                message = f"{err['field']}: {message}"
            form.add_error(name, message)
        else:
            form.add_error(None, f"{err['field']}: {message}" if err["field"] else message)


def parse_body(model: type[M], body: bytes | str) -> M:
    """Validate a raw JSON body straight from bytes (model_validate_json); raise BodyError with the 400 ready."""
    try:
        return model.model_validate_json(body)
    except PydanticValidationError as exc:
        raise BodyError(exc) from exc


def parse_request(model: type[M], request: HttpRequest) -> M:
    """Validate request.body as JSON for `model`; raise BodyError (its .response is the 400)."""
    return parse_body(model, request.body)


__all__ = [
    "BodyError",
    "apply_validation_errors_to_form",
    "error_list",
    "error_messages",
    "errors_by_field",
    "json_error",
    "message_errors",
    "parse_body",
    "parse_request",
    "validation_error_response",
]
