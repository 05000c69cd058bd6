"""The REST API's request handling, shared by every endpoint: `@api_view("GET", "POST")`.

For each request the decorator
1. answers 405 in Jira's shape for other methods, and 413 for bodies over TASKRA_API_MAX_BODY_BYTES;
2. authenticates (api.auth): a token (Basic or Bearer) or the browser session; writes by session must pass
   Django's CSRF check; no credentials is a 401 with `WWW-Authenticate` (views marked `anonymous=True`,
   such as serverInfo, also serve anonymous callers); a token is counted against its rate limit (429);
3. sets the api.context (base URL, version 2 or 3) for the row builders;
4. turns errors into Jira's shape: ApiError, Http404 (404), PermissionDenied (403), a pydantic or Django
   ValidationError (400, by field), a body over Django's upload limit (413). Bad JQL and bad page tokens
   become ApiError(400) in api.selectors, where the query text is known (the message names its position).

A view receives the request (request.user set) and its URL arguments, and returns a response or a
JSON-ready value (written with orjson; `ok(status=201)`, `no_content()` for 204).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from api import auth, context
from api.errors import ApiError, error_response, field_name, validation_errors
from taskra_site.adapters import dumps
from taskra_site.textguard import find_unstorable, unstorable_message

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def ok(data: Any, *, status: int = 200) -> HttpResponse:
    """Return a JSON response of JSON-ready data."""
    return HttpResponse(dumps(data), status=status, content_type="application/json")


def no_content() -> HttpResponse:
    return HttpResponse(status=204)


def _no_view(request: HttpRequest) -> HttpResponse:  # the CSRF check looks at the view for csrf_exempt only
    return HttpResponse()


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    result = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, _no_view, (), {})
    if result is None:
        return None
    return error_response(403, ["XSRF check failed: writes by browser session need the CSRF token."])


def _authenticate(request: HttpRequest, *, anonymous: bool) -> HttpResponse | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    found = auth.credentials(header) if header else None
    if found is not None:
        token, identity = found
        user, token_id = auth.token_user(token, identity=identity)
        request.user = user
        request.api_token_id = token_id  # type: ignore[attr-defined]
        auth.rate_limit(token_id)
        return None
    if request.user.is_authenticated:
        if request.method not in SAFE_METHODS:
            return _csrf_failure(request)
        return None
    if anonymous:
        return None
    raise auth.unauthorized()


def _body_too_big(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return length > settings.TASKRA_API_MAX_BODY_BYTES


def api_view(*methods: str, anonymous: bool = False) -> Callable[[Callable[..., Any]], Callable[..., HttpResponseBase]]:
    """Make a function a REST API endpoint for the given methods (HEAD comes with GET)."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())

    def decorate(view: Callable[..., Any]) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, version: str = "2", **kwargs: Any) -> HttpResponseBase:
            if request.method not in allowed:
                response = error_response(405, [f"Method {request.method} is not allowed here."])
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            if _body_too_big(request):
                return error_response(413, [f"The request body is over {settings.TASKRA_API_MAX_BODY_BYTES} bytes."])
            scheme = "https" if request.is_secure() else "http"
            token = context.activate(context.ApiContext(f"{scheme}://{request.get_host()}", 3 if version == "3" else 2))
            try:
                refused = _authenticate(request, anonymous=anonymous)
                if refused is not None:
                    return refused
                # The caller, for row builders that show related issues (issue links); reset with the outer token.
                context.activate(dataclasses.replace(context.current(), user_id=request.user.pk))
                result = view(request, *args, **kwargs)
            except ApiError as exc:
                return error_response(exc.status, exc.messages, exc.errors, exc.headers)
            except Http404 as exc:
                return error_response(404, [str(exc) or "Not found."])
            except PermissionDenied as exc:
                return error_response(403, [str(exc) or "You do not have the permission to do this."])
            except (PydanticValidationError, DjangoValidationError) as exc:
                error = validation_errors(exc)
                return error_response(400, error.messages, error.errors)
            except RequestDataTooBig:
                return error_response(413, ["The request body is too large."])
            finally:
                context.deactivate(token)
            return result if isinstance(result, HttpResponseBase) else ok(result)

        return login_not_required(csrf_exempt(wrapper))

    return decorate


def parse(model: type[BaseModel], request: HttpRequest) -> Any:
    """Validate the raw JSON body straight from bytes (the Pydantic adapter layer's validated path).

    Text no database can store (NUL, an unpaired surrogate) is Jira's 400 naming the field, never a 500.
    """
    body = request.body or b"{}"
    parsed = model.model_validate_json(body)
    found = _unstorable(parsed.model_dump(exclude_unset=True), ())
    if found is not None:
        path, what = found
        name = field_name(list(path))
        message = unstorable_message(f"'{name}'" if name else "The body", what)
        raise ApiError(400, [] if name else [message], {name: message} if name else {})
    return parsed


def _unstorable(value: Any, path: tuple[Any, ...]) -> tuple[tuple[Any, ...], str] | None:
    """Return (path, what) of the first unstorable text in a parsed body (keys and values), else None."""
    if isinstance(value, str):
        what = find_unstorable(value)
        return (path, what) if what else None
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = [(k, v) for k, v in value.items()]
        for key in value:
            if isinstance(key, str) and find_unstorable(key):
                return path, find_unstorable(key) or ""
    elif isinstance(value, list | tuple):
        items = list(enumerate(value))
    for key, item in items:
        found = _unstorable(item, (*path, key))
        if found is not None:
            return found
    return None
