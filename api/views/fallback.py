"""Paths under the API root that Taskra does not implement: Jira's 404, in Jira's error shape."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from api.errors import error_response
from api.http import api_view


@api_view("GET", "POST", "PUT", "DELETE", "PATCH", anonymous=True)
def unsupported(request: HttpRequest) -> HttpResponse:
    return error_response(404, [f"Taskra does not support {request.method} {request.path}: see docs/api.md."])
