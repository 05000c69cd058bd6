"""Shareable HTML of the issue page body: per-request tokens out before storing, back in per request."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template import RequestContext
from django.template.backends.django import Template as DjangoBackendTemplate
from django.template.loader import get_template
from django.template.loader_tags import BlockNode

from issues.idempotency import new_token
from issues.rendering import link_references

CSRF_PLACEHOLDER = "__TASKRA_CSRF_TOKEN__"
FORM_TOKEN_PLACEHOLDER = "__TASKRA_FORM_TOKEN__"
_CSRF_RE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')
_FORM_TOKEN_RE = re.compile(r'(name="form_token" value=")[^"]*(")')


class NotShareable(Exception):
    """A rendered body held a per-request token the placeholders did not recognise: never share it."""

    def __init__(self, html: str) -> None:
        super().__init__("rendered body is not shareable")
        self.html = html


def shareable_html(html: str) -> str:
    """Return the HTML with CSRF and one-time form tokens replaced by placeholders; raise NotShareable."""
    out, csrf = _CSRF_RE.subn(rf"\g<1>{CSRF_PLACEHOLDER}\g<2>", html)
    out, tokens = _FORM_TOKEN_RE.subn(rf"\g<1>{FORM_TOKEN_PLACEHOLDER}\g<2>", out)
    # Every token must have been recognised, or one user's token would reach another (or a reload).
    if csrf != html.count("csrfmiddlewaretoken") or tokens != html.count('name="form_token"'):
        raise NotShareable(html)
    return out


def personalize_html(html: str, request: HttpRequest) -> str:
    """Fill the placeholders of a shared body for this request: its CSRF token and fresh one-time form tokens.

    Mentions and issue keys in the Markdown become links here, per viewer (issues.rendering.link_references): a
    body shared by viewers of one role must not carry links to what only some of them may see.
    """
    html = link_references(html, user=request.user)
    if CSRF_PLACEHOLDER in html:
        html = html.replace(CSRF_PLACEHOLDER, get_token(request))
    if FORM_TOKEN_PLACEHOLDER in html:
        html = re.sub(FORM_TOKEN_PLACEHOLDER, lambda _m: new_token(), html)
    return html


def render_block(request: HttpRequest, template_name: str, block_name: str, context: dict[str, Any]) -> str:
    """Render one {% block %} of a template with the request's context processors (the shareable page body)."""
    loaded = get_template(template_name)
    if not isinstance(loaded, DjangoBackendTemplate):
        # Blocks are a feature of the Django template language: another engine's template has no nodelist.
        raise TypeError(f"{template_name} is not a Django template; cannot render block {block_name!r}")
    template = loaded.template
    # get_nodes_by_type is typed as returning plain Nodes; the isinstance check narrows them to BlockNode.
    block = next(
        n for n in template.nodelist.get_nodes_by_type(BlockNode) if isinstance(n, BlockNode) and n.name == block_name
    )
    ctx = RequestContext(request, context)
    with ctx.bind_template(template):
        return block.render(ctx)
