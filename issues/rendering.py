"""Markdown for issue descriptions and comments: rendered with markdown-it-py, then sanitized with nh3.

Raw HTML in the source is escaped by the renderer (html=False) and the output is cleaned again with an
allow-list, so neither a ``<script>`` nor a ``javascript:`` link survives even if the renderer had a bug.

After the cleaning, two fixed pieces of markup are added (from text the cleaner already escaped):
- task list items (``- [ ]``, ``- [x]``) start with a read-only checkbox;
- ``@username`` and issue keys (``DEMO-12``) outside code and links become reference markers,
  ``<span class="ref" data-ref-user="bob">@bob</span>``, plain text for everyone. The rendered HTML is shared
  (page cache, API) by viewers who may see different people and issues, so it links nothing: `link_references`
  turns the markers into links per request, only to users and issues that viewer may see.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import nh3
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import escape
from markdown_it import MarkdownIt

from accounts.models import display_name
from issues.models import Issue
from issues.permissions import known_users_q, visible_project_ids

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
    html = _ALIGN_STYLE.sub(lambda m: f' class="align-{m.group(1)}"' if m.group(1) else "", html)
    html = _TASK_ITEM.sub(_task_box, html)
    return _mark_references(html)


# A list item whose text starts with [ ] or [x] (markdown-it leaves them as text; loose lists wrap it in <p>).
_TASK_ITEM = re.compile(r"<li>(<p>)?\[([ xX])\]\s")


def _task_box(m: re.Match[str]) -> str:
    checked = ' checked aria-label="Done"' if m.group(2) in "xX" else ' aria-label="To do"'
    return f'<li class="task-item">{m.group(1) or ""}<input type="checkbox" disabled{checked}> '


# Django usernames are letters, digits and @.+-_; a mention starts after a non-word character, so e-mail
# addresses (name@example.com) are no mentions. A trailing "." or "-" ends the sentence, not the name.
MENTION_RE = re.compile(r"(?<![\w@.+-])@([\w.@+-]*[\w@+])")
# Issue keys as Jira writes them: a project key (a letter, then letters, digits or _) and a number.
ISSUE_KEY_RE = re.compile(r"(?<![\w-])([A-Z][A-Z0-9_]{0,19}-[1-9][0-9]{0,9})(?![\w-])")
_TAG_OR_TEXT = re.compile(r"(<[^>]*>)")
_NO_REFS_IN = {"a", "code", "pre"}


def _mark_text(text: str) -> str:
    text = MENTION_RE.sub(lambda m: f'<span class="ref" data-ref-user="{m.group(1)}">@{m.group(1)}</span>', text)
    # A username may look like a key (a user named DEMO-1): keys are marked only outside the new user markers.
    parts = re.split(r"(<span[^>]*>[^<]*</span>)", text)
    return "".join(
        p if p.startswith("<span") else ISSUE_KEY_RE.sub(r'<span class="ref" data-ref-issue="\1">\1</span>', p)
        for p in parts
    )


def _mark_references(html: str) -> str:
    """Wrap mentions and issue keys in the text of cleaned HTML in reference markers (not in code or links)."""
    if "@" not in html and "-" not in html:
        return html
    out: list[str] = []
    inside: dict[str, int] = dict.fromkeys(_NO_REFS_IN, 0)
    for part in _TAG_OR_TEXT.split(html):
        if part.startswith("<"):
            name = part.strip("</>").split()[0].lower() if part.strip("</>") else ""
            if name in inside:
                inside[name] += -1 if part.startswith("</") else 1
            out.append(part)
        elif part and not any(inside.values()):
            out.append(_mark_text(part))
        else:
            out.append(part)
    return "".join(out)


def mentioned_usernames(html: str) -> list[str]:
    """Return the usernames @mentioned in rendered Markdown (render_markdown's markers), in order, once each."""
    return list(dict.fromkeys(_USER_MARKER.findall(html)))


_USER_MARKER = re.compile(r'<span class="ref" data-ref-user="([^"]+)">@[^<]*</span>')
_ISSUE_MARKER = re.compile(r'<span class="ref" data-ref-issue="([^"]+)">[^<]*</span>')


def has_references(html: str) -> bool:
    """Return whether rendered HTML holds reference markers (only then link_references needs a query)."""
    return 'class="ref" data-ref-' in html


def link_references(html: str, *, user: Any) -> str:
    """Return the HTML with the reference markers of people and issues `user` may see turned into links.

    Others stay plain text, so a page never tells whether an account or an issue the viewer may not see exists.
    Queries: one for the issue keys, one for the usernames (none without markers).
    """
    if not has_references(html):
        return html
    keys = set(_ISSUE_MARKER.findall(html))
    names = set(_USER_MARKER.findall(html))
    issues: set[str] = set()
    if keys:
        issues = set(
            Issue.objects.filter(key__in=keys, project_id__in=visible_project_ids(user)).values_list("key", flat=True)
        )
    people: dict[str, str] = {}
    if names:
        people = {
            u.username: display_name(u)
            for u in get_user_model()
            .objects.filter(known_users_q(user), username__in=names, is_active=True)
            .select_related("profile")
        }
    browse = reverse("issues:browse", args=["KEY"]).removesuffix("KEY")
    navigator = reverse("issues:navigator")

    def issue_link(m: re.Match[str]) -> str:
        key = m.group(1)
        return f'<a class="issue-ref" href="{browse}{key}">{key}</a>' if key in issues else key

    def user_link(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in people:
            return f"@{name}"
        jql = f'assignee = "{name}" ORDER BY updated DESC'
        href = escape(f"{navigator}?{urlencode({'jql': jql})}")
        return f'<a class="mention" href="{href}" title="{escape(people[name])}">@{name}</a>'

    return _USER_MARKER.sub(user_link, _ISSUE_MARKER.sub(issue_link, html))
