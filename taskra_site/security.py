"""The Content-Security-Policy of every response (django-csp's CONTENT_SECURITY_POLICY setting).

Scripts, styles, fonts, frames and images come from the site only; images may also come from the hosts an
operator lists in TASKRA_CSP_IMAGE_HOSTS (so a Markdown image from anywhere else does not load). Templates carry
no inline script, style element, style attribute or event handler: behaviour lives in static/js, looks in
static/css, and per-row values (bar widths, priority colours) travel as data-* attributes set by static/js.
"""

from __future__ import annotations

from typing import Any

from csp.constants import NONE, SELF, UNSAFE_INLINE


def content_security_policy(*, image_hosts: list[str], debug_toolbar: bool) -> dict[str, Any]:
    """Return django-csp's CONTENT_SECURITY_POLICY for the given extra image hosts."""
    directives: dict[str, list[str]] = {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, *image_hosts],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
    if debug_toolbar:
        # Development only: the debug toolbar styles its panels inline.
        directives["style-src"] = [SELF, UNSAFE_INLINE]
    return {"DIRECTIVES": directives}
