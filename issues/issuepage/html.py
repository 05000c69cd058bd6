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
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from accounts.models import display_name
from issues.idempotency import new_token
from issues.lru import BoundedLRU
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


# (template name, block name) -> (the template object, its block node).
_blocks: dict[tuple[str, str], tuple[Any, BlockNode]] = {}


def render_block(request: HttpRequest, template_name: str, block_name: str, context: dict[str, Any]) -> str:
    """Render one {% block %} of a template with the request's context processors (the shareable page body)."""
    loaded = get_template(template_name)
    if not isinstance(loaded, DjangoBackendTemplate):
        # Blocks are a feature of the Django template language: another engine's template has no nodelist.
        raise TypeError(f"{template_name} is not a Django template; cannot render block {block_name!r}")
    template = loaded.template
    found = _blocks.get((template_name, block_name))
    if found is None or found[0] is not template:  # a template reloaded (debug) is a new object: look again
        # Walking the whole node tree cost a page miss about a millisecond: done once per template.
        # get_nodes_by_type is typed as returning plain Nodes; the isinstance check narrows them to BlockNode.
        block = next(
            n
            for n in template.nodelist.get_nodes_by_type(BlockNode)
            if isinstance(n, BlockNode) and n.name == block_name
        )
        found = _blocks[(template_name, block_name)] = (template, block)
    block = found[1]
    ctx = RequestContext(request, context)
    with ctx.bind_template(template):
        return block.render(ctx)


# project id -> (the members list it was rendered from, the options' HTML). issues.lookups.project_members returns
# the same list object while its generations (global, configuration) stand, so an identical list means the same options.
_member_options = BoundedLRU(2048)


def member_options(*, project_id: int, members: list[Any], selected: int | None) -> SafeString:
    """Return the assignee editor's <option>s of the project's active members, the current assignee's selected.

    The same markup as one {% for %} over the members, rendered once per members list: a project of a large
    organisation has hundreds of members, and looping over them in the template cost a page miss more than
    everything else it renders.
    """
    kept = _member_options.peek(project_id)
    if kept is None or kept[0] is not members:
        html = "".join(f'<option value="{m.pk}" >{escape(display_name(m))}</option>' for m in members)
        kept = (members, html)
        _member_options.set(project_id, kept)
    html = kept[1]
    if selected is not None:
        html = html.replace(f'<option value="{selected}" >', f'<option value="{selected}" selected>', 1)
    return mark_safe(html)  # noqa: S308 - ids are integers and names are escaped above


def reset_state() -> None:
    """Forget the rendered member options of this process (tests)."""
    _member_options.clear()
