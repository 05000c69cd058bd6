"""Edge middleware: requests carrying characters no database can store are refused before any view runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.html import escape

from taskra_site.adapters import dumps
from taskra_site.textguard import find_unstorable, unstorable_message
from taskra_site.validation import json_error, message_errors

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class UnstorableInputMiddleware:
    """Answer 400 for NUL or an unpaired surrogate in the path, the query, a cookie or a form body (file names too).

    Without it such a value reaches PostgreSQL ("cannot contain NUL") and answers 500. /api/ paths get the JSON
    error shape of taskra_site.validation, /rest/api/ paths Jira's; pages a short HTML message. JSON bodies are
    checked field by field by the input schemas (issues.schemas) and api.http.parse, which name the field.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = self.problem(request)
        if problem is not None:
            field, what = problem
            return self.refuse(request, field, what)
        return self.get_response(request)

    @staticmethod
    def _first(items: Iterable[tuple[str, str]], prefix: str) -> tuple[str, str] | None:
        for name, value in items:
            for text in (name, value):
                what = find_unstorable(text)
                if what:
                    safe_name = name if not find_unstorable(name) else f"a {prefix} name"
                    return safe_name, what
        return None

    def problem(self, request: HttpRequest) -> tuple[str, str] | None:
        """Return (field, what) for the first unstorable character of the request, else None."""
        what = find_unstorable(request.path_info)
        if what:
            return "path", what
        found = self._first(((k, v) for k, vs in request.GET.lists() for v in vs), "parameter")
        if found is None:
            found = self._first(request.COOKIES.items(), "cookie")
        content_type = request.content_type or ""
        if found is None and request.method not in ("GET", "HEAD") and content_type in FORM_TYPES:
            found = self._first(((k, v) for k, vs in request.POST.lists() for v in vs), "field")
            if found is None:
                found = self._first(((k, f.name or "") for k, fs in request.FILES.lists() for f in fs), "file")
        return found

    @staticmethod
    def refuse(request: HttpRequest, field: str, what: str) -> HttpResponse:
        where = "The URL" if field == "path" else f"'{field}'"
        message = unstorable_message(where, what)
        if request.path_info.startswith("/rest/api/"):
            # The REST API's clients read Jira's error shape (api.errors; infrastructure imports no app).
            body = {"errorMessages": [message], "errors": {} if field == "path" else {field: message}}
            return HttpResponse(dumps(body), status=400, content_type="application/json")
        if request.path_info.startswith("/api/"):
            return json_error(
                message,
                errors=message_errors([message], field="" if field == "path" else field, type="unstorable_character"),
            )
        return HttpResponseBadRequest(
            f"<!doctype html><title>Bad request</title><h1>Bad request</h1><p>{escape(message)}</p>",
            content_type="text/html; charset=utf-8",
        )
