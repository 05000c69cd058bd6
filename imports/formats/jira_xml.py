"""Jira's XML export of search results (*Export → XML*: `<rss><channel><item>...`), streamed item by item.

Each `<item>` becomes the record every format becomes (`imports.schemas.IssueRecord`); the element is
cleared once read, so memory stays flat. What an item carries that Taskra keeps nowhere (components,
versions, issue links, attachments, votes, watchers) is counted by kind in the job summary; custom fields
become the issue's custom-field values.
"""

from __future__ import annotations

import email.utils
import html
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from lxml import etree

from imports.formats.common import SourceError, TailReader, field_type, xml_error_message

# Item elements read into the record, or only describing it (links to Jira, totals derived from worklogs).
_READ = {
    "key",
    "summary",
    "description",
    "type",
    "status",
    "statusCategory",
    "priority",
    "resolution",
    "assignee",
    "reporter",
    "created",
    "updated",
    "resolved",
    "due",
    "labels",
    "parent",
    "timeoriginalestimate",
    "timeestimate",
    "comments",
    "project",
    "worklogs",
}
_DESCRIPTIVE = {"title", "link", "guid", "environment", "timespent", "aggregatetimespent", "subtasks", "version"}
_DESCRIPTIVE |= {"aggregatetimeoriginalestimate", "aggregatetimeremainingestimate", "aggregatetimeestimate"}
_KIND_NAMES = {
    "component": "components",
    "fixVersion": "fix versions",
    "version": "affects versions",
    "votes": "votes",
    "watches": "watchers",
    "issuelinks": "issue links",
    "attachments": "attachments (metadata)",
}
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>|</p>|</li>|</h\d>", re.IGNORECASE)


def html_text(value: str | None) -> str:
    """Return the plain text of the HTML Jira writes into descriptions and comments."""
    if not value:
        return ""
    text = _BREAK.sub("\n", value)
    return html.unescape(_TAG.sub("", text)).strip()


def rss_date(value: str | None) -> str | None:
    """Return an ISO date from the RSS dates Jira writes ("Mon, 15 Jan 2024 10:30:00 +0000"), or the text."""
    if not value or not value.strip():
        return None
    try:
        return email.utils.parsedate_to_datetime(value.strip()).isoformat()
    except (TypeError, ValueError):
        return value.strip()  # the record's validation names the field and the value


def _user(element: Any) -> dict[str, str] | None:
    if element is None:
        return None
    name = (element.text or "").strip()
    account = element.get("accountid") or element.get("username")
    if account in (None, "", "-1") and name in ("", "Unassigned", "Anonymous"):
        return None
    user: dict[str, str] = {"display_name": name}
    if element.get("accountid"):
        user["account_id"] = element.get("accountid")
    elif element.get("username"):
        user["username"] = element.get("username")
    else:
        user["username"] = name
    return user


def _text(item: Any, tag: str) -> str | None:
    element = item.find(tag)
    return (element.text or "").strip() if element is not None else None


def _seconds(item: Any, tag: str) -> int | str | None:
    element = item.find(tag)
    if element is None:
        return None
    value = element.get("seconds") or (element.text or "").strip()
    return int(value) if value.isdigit() else value or None


def custom_fields(element: Any) -> list[dict[str, Any]]:
    """Return an item's custom-field values (`<customfields>`: each field's id, name, type key and values)."""
    out = []
    for field in element.iterfind("customfield"):
        kind = field_type(field.get("key"))
        name = (field.findtext("customfieldname") or "").strip() or None
        values = []
        for value in field.iterfind("customfieldvalues/*"):
            text = html_text(value.text) if value.tag == "customfieldvalue" else (value.text or "").strip()
            if kind in ("date", "datetime"):
                text = rss_date(text) or text
                text = text[:10] if kind == "date" else text
            if text:
                values.append(text)
        field_id = (field.get("id") or "").strip() or name
        if field_id and values:
            out.append({"field": field_id, "name": name, "type": kind, "values": values})
    return out


def item_to_record(item: Any, not_kept: Counter[str]) -> dict[str, Any]:
    """Return the record dict of one `<item>`; count what it carries that Taskra does not keep."""
    key_element = item.find("key")
    category = item.find("statusCategory")
    resolution = _text(item, "resolution")
    record: dict[str, Any] = {
        "key": (key_element.text or "").strip() if key_element is not None else "",
        "external_id": key_element.get("id") if key_element is not None else None,
        "project_name": _text(item, "project"),
        "summary": _text(item, "summary") or "",
        "description": html_text(_text(item, "description")),
        "type": _text(item, "type") or None,
        "status": _text(item, "status") or None,
        "status_category": category.get("key") if category is not None else None,
        "priority": _text(item, "priority") or None,
        "resolution": None if resolution in (None, "", "Unresolved") else resolution,
        "assignee": _user(item.find("assignee")),
        "reporter": _user(item.find("reporter")),
        "labels": [(e.text or "").strip() for e in item.iterfind("labels/label") if (e.text or "").strip()],
        "parent": _text(item, "parent") or None,
        "original_estimate": _seconds(item, "timeoriginalestimate"),
        "remaining_estimate": _seconds(item, "timeestimate"),
        "created": rss_date(_text(item, "created")),
        "updated": rss_date(_text(item, "updated")),
        "resolved": rss_date(_text(item, "resolved")),
        "due_date": (rss_date(_text(item, "due")) or "")[:10] or None,
        "comments": [
            {
                "external_id": c.get("id"),
                "author": {"account_id": c.get("author")} if c.get("author") else None,
                "body": html_text(c.text),
                "created": rss_date(c.get("created")),
            }
            for c in item.iterfind("comments/comment")
        ],
        "worklogs": [
            {
                "external_id": w.get("id"),
                "author": {"account_id": w.get("author")} if w.get("author") else None,
                "started": rss_date(w.get("started") or w.get("created")),
                "time_spent": int(w.get("timeSpentSeconds") or w.get("timeworked") or 0) or None,
                "comment": html_text(w.text),
            }
            for w in item.iterfind("worklogs/worklog")
        ],
    }
    for child in item:
        tag = child.tag
        if not isinstance(tag, str) or tag in _READ or tag in _DESCRIPTIVE:
            continue
        if tag == "customfields":
            record["custom_fields"] = custom_fields(child)
        elif tag == "issuelinks":
            not_kept["issue links"] += len(child.findall(".//issuelink"))
        elif tag == "attachments":
            not_kept["attachments (metadata)"] += len(child)
        else:
            not_kept[_KIND_NAMES.get(tag, f"XML element <{tag}>")] += 1
    return record


def read(raw: Any, name: str, summary: dict[str, Any]) -> Iterator[tuple[int | None, Any]]:
    """Yield one record dict per `<item>`; raise SourceError for a file that is not this export or ends early."""
    not_kept: Counter[str] = summary.setdefault("not_kept", Counter())
    count = 0
    seen_root = False
    reader = TailReader(raw, b"</rss>")
    try:
        events = etree.iterparse(
            reader, events=("start", "end"), resolve_entities=False, no_network=True, huge_tree=True
        )
        for event, element in events:
            if event == "start":
                if not seen_root:
                    seen_root = True
                    if element.tag != "rss":
                        raise SourceError(f"{name} is not Jira's XML export: its root is <{element.tag}>, not <rss>.")
                continue
            if element.tag != "item":
                continue
            count += 1
            record = item_to_record(element, not_kept)
            element.clear()
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
            yield None, record
    except etree.XMLSyntaxError as exc:
        end = reader.count
        message = xml_error_message(name, exc, record=count + 1, offset=end, truncated=reader.truncated())
        raise SourceError(message) from None
