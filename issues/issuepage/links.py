"""The issue page's links section: the one part of the page that may differ between viewers of the same role.

A link may name an issue of another project, which only that project's members may see. The cached body
(shared by viewers with the same role and time zone) of an issue with such a link therefore holds a
placeholder where the section goes; each request fills it in with the links this viewer may see (one query:
the viewer's roles). Links within the issue's own project are visible to every viewer of the page: the
section of an issue with only those (most issues) is rendered once, into the shared body.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from issues.permissions import can_edit_in, project_roles

LINKS_PLACEHOLDER = "<!--taskra:issue-links-->"


def visible_links(*, links: Iterable[dict[str, Any]], project_id: int, request: HttpRequest) -> list[dict[str, Any]]:
    """Return the links (schema PageLink) whose other issue the viewer may see; project_id is the page's issue's."""
    links = list(links)
    if any(link["issue"]["project_id"] != project_id for link in links):
        roles = project_roles(user=request.user)
        return [link for link in links if link["issue"]["project_id"] in roles]
    return links


def grouped(links: Iterable[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Return the links grouped by how they read from this issue ("blocks", "is blocked by"), in payload order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for link in links:
        groups.setdefault(link["phrase"], []).append(link)
    return list(groups.items())


def links_html(*, data: dict[str, Any], role: str | None, request: HttpRequest, error: str = "") -> SafeString:
    """Return the links section of the issue page for this viewer (with its forms when they may edit)."""
    issue = data["issue"]
    shown = visible_links(links=data.get("links", ()), project_id=issue["project"]["id"], request=request)
    context = {
        "issue": issue,
        "groups": grouped(shown),
        "count": len(shown),
        "link_types": data.get("link_types", ()),
        "can_edit": can_edit_in(role),
        "link_error": error,
    }
    return mark_safe(render_to_string("issues/_links.html", context, request=request))


def shared_links_html(*, data: dict[str, Any], role: str | None, request: HttpRequest) -> SafeString:
    """Return the links section for the shared body: rendered when every viewer of the page sees the same links
    (none leaves the issue's project), else the placeholder fill_links replaces per request."""
    project_id = data["issue"]["project"]["id"]
    if any(link["issue"]["project_id"] != project_id for link in data.get("links", ())):
        return mark_safe(LINKS_PLACEHOLDER)
    return links_html(data=data, role=role, request=request)


def fill_links(body: str, *, data: dict[str, Any], role: str | None, request: HttpRequest) -> str:
    """Return the page body with the links section of this viewer in place of the placeholder."""
    if LINKS_PLACEHOLDER not in body:
        return body
    return body.replace(LINKS_PLACEHOLDER, links_html(data=data, role=role, request=request), 1)
