"""Markdown for issue descriptions and comments: rendered with markdown-it-py, then sanitized with nh3.

Raw HTML in the source is escaped by the renderer (html=False) and the output is cleaned again with an
allow-list, so neither a ``<script>`` nor a ``javascript:`` link survives even if the renderer had a bug.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable(["table", "strikethrough"])

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
    "code": {"class"},
}


_ALIGN_STYLE = re.compile(r'\s+style="(?:text-align:\s*(left|center|right);?\s*|[^"]*)"')


def render_markdown(text: str) -> str:
    """Return sanitized HTML for Markdown text (safe to mark_safe)."""
    if not text:
        return ""
    html = _md.render(text)
    html = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
    # The Content-Security-Policy blocks style attributes: a table column's alignment becomes a class.
    return _ALIGN_STYLE.sub(lambda m: f' class="align-{m.group(1)}"' if m.group(1) else "", html)
