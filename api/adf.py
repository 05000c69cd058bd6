"""Atlassian Document Format (API v3 bodies) to plain text (Taskra's descriptions and comments) and back.

Supported both ways: paragraphs (blank line between them), hard breaks (a newline inside a paragraph),
bullet lists ("- item"), ordered lists ("1. item") and code blocks (``` fences, with a language).
From ADF only: headings ("# text"), block quotes ("> text"), rules ("---"), mentions, emoji, dates,
status lozenges and cards, which become their text; marks (bold, links...) keep only their text.
"""

from __future__ import annotations

import re
from typing import Any

_BULLET = re.compile(r"^[-*] (.*)$")
_ORDERED = re.compile(r"^(\d{1,9})[.)] (.*)$")
_FENCE = re.compile(r"^```\s*([\w+#.-]*)\s*$")


def _text_node(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _inline(text: str) -> list[dict[str, Any]]:
    """Return the inline content of lines of text: text nodes joined by hard breaks."""
    content: list[dict[str, Any]] = []
    for i, line in enumerate(text.split("\n")):
        if i:
            content.append({"type": "hardBreak"})
        if line:
            content.append(_text_node(line))
    return content


def _list_node(kind: str, items: list[str], start: int = 1) -> dict[str, Any]:
    node: dict[str, Any] = {
        "type": kind,
        "content": [{"type": "listItem", "content": [{"type": "paragraph", "content": _inline(i)}]} for i in items],
    }
    if kind == "orderedList" and start != 1:
        node["attrs"] = {"order": start}
    return node


def text_to_adf(text: str | None) -> dict[str, Any] | None:
    """Return an ADF document for plain text; None for None, an empty document for ""."""
    if text is None:
        return None
    content: list[dict[str, Any]] = []
    lines = text.replace("\r\n", "\n").split("\n")
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            content.append({"type": "paragraph", "content": _inline("\n".join(paragraph))})
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            node: dict[str, Any] = {"type": "codeBlock", "content": [_text_node("\n".join(body))] if body else []}
            if fence.group(1):
                node["attrs"] = {"language": fence.group(1)}
            content.append(node)
            i += 1
            continue
        if _BULLET.match(line) or _ORDERED.match(line):
            flush()
            kind = "bulletList" if _BULLET.match(line) else "orderedList"
            pattern = _BULLET if kind == "bulletList" else _ORDERED
            start = int(_ORDERED.match(line).group(1)) if kind == "orderedList" else 1  # type: ignore[union-attr]
            items = []
            while i < len(lines) and (m := pattern.match(lines[i])):
                items.append(m.group(m.lastindex or 1))
                i += 1
            content.append(_list_node(kind, items, start))
            continue
        if line.strip():
            paragraph.append(line)
        else:
            flush()
        i += 1
    flush()
    return {"type": "doc", "version": 1, "content": content}


def _inline_text(nodes: list[Any]) -> str:
    parts = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        attrs = _dict(node.get("attrs"))
        if kind == "text":
            parts.append(str(node.get("text", "")))
        elif kind == "hardBreak":
            parts.append("\n")
        elif kind == "mention":
            shown = str(attrs.get("text") or attrs.get("id") or "")
            parts.append(shown if shown.startswith("@") else f"@{shown}")
        elif kind == "emoji":
            parts.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        elif kind in ("inlineCard", "blockCard"):
            parts.append(str(attrs.get("url") or ""))
        elif kind == "status":
            parts.append(str(attrs.get("text") or ""))
        elif kind == "date":
            parts.append(str(attrs.get("timestamp") or ""))
        else:
            parts.append(_inline_text(node.get("content") or []))
    return "".join(parts)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _block_text(node: dict[str, Any]) -> str:
    kind = node.get("type")
    content = _list(node.get("content"))
    blocks = [b for b in content if isinstance(b, dict)]
    attrs = _dict(node.get("attrs"))
    if kind == "paragraph":
        return _inline_text(content)
    if kind == "heading":
        return "#" * max(1, min(_int(attrs.get("level"), 1), 6)) + " " + _inline_text(content)
    if kind == "codeBlock":
        return f"```{attrs.get('language') or ''}\n{_inline_text(content)}\n```"
    if kind in ("bulletList", "orderedList"):
        start = _int(attrs.get("order"), 1)
        lines = []
        for n, item in enumerate(blocks):
            mark = "-" if kind == "bulletList" else f"{start + n}."
            text = "\n".join(_block_text(b) for b in _list(item.get("content")) if isinstance(b, dict))
            lines.append(f"{mark} {text}")
        return "\n".join(lines)
    if kind == "blockquote":
        inner = "\n\n".join(_block_text(b) for b in blocks)
        return "\n".join(f"> {line}" for line in inner.split("\n"))
    if kind == "rule":
        return "---"
    if kind in ("panel", "expand", "nestedExpand", "layoutSection", "layoutColumn", "table", "tableRow"):
        return "\n\n".join(_block_text(b) for b in blocks)
    if kind in ("tableCell", "tableHeader", "listItem"):
        return " ".join(_block_text(b) for b in blocks)
    return _inline_text([node])


def adf_to_text(doc: Any) -> str:
    """Return the plain text of an ADF document (or of a bare list of nodes); "" for None or an empty document."""
    if doc is None:
        return ""
    if isinstance(doc, str):
        return doc
    nodes = doc.get("content") if isinstance(doc, dict) else doc
    if not isinstance(nodes, list):
        return ""
    return "\n\n".join(_block_text(b) for b in nodes if isinstance(b, dict))


def is_adf(value: Any) -> bool:
    """Return whether a body value is an ADF document."""
    return isinstance(value, dict) and value.get("type") == "doc"
