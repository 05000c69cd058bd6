"""What the format readers share: the error of a file that cannot be read, and naive dates made aware."""

from __future__ import annotations

import datetime as dt
from typing import Any

# Taskra's custom-field type of each Jira custom field type (the key's part after the colon); others are text.
FIELD_TYPES = {
    "textfield": "text",
    "textarea": "text",
    "readonlyfield": "text",
    "float": "number",
    "datepicker": "date",
    "datetime": "datetime",
    "select": "select",
    "radiobuttons": "select",
    "cascadingselect": "select",
    "multiselect": "multiselect",
    "multicheckboxes": "multiselect",
    "userpicker": "user",
    "multiuserpicker": "user",
    "url": "url",
    "labels": "labels",
}


def field_type(type_key: str | None) -> str:
    """Return Taskra's custom-field type of a Jira custom field type key (`...customfieldtypes:float`)."""
    return FIELD_TYPES.get((type_key or "").rsplit(":", 1)[-1], "text")


class SourceError(Exception):
    """The file as a whole cannot be read: the job fails with this message."""


def shorten(value: Any, limit: int = 60) -> str:
    """Return a value as a row error quotes it: its text, cut to `limit` characters."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TailReader:
    """A file object for the XML parser that counts the bytes it gave and keeps the last of them.

    A syntax error once the whole file was read, in a file that does not end with its root's closing tag, is a
    file cut off (whatever the parser calls it: in an attribute, a tag, text); any other is a broken file.
    """

    def __init__(self, stream: Any, closing: bytes) -> None:
        self.stream = stream
        self.closing = closing
        self.count = 0
        self.tail = b""
        self.eof = False

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        self.eof = not data
        if data:
            self.tail = (self.tail + data)[-256:]
        return data

    def truncated(self) -> bool:
        """Return whether the file ended without its root's closing tag (call after a parser error)."""
        while not self.eof:  # the parser stops at the error: read on to learn where the file ends
            if len(self.read(1 << 20)) == 0:
                break
        return not self.tail.rstrip().endswith(self.closing)


def xml_error_message(name: str, exc: Any, *, record: int, offset: int, truncated: bool, what: str = "record") -> str:
    """Return a readable sentence for an XML parser error: where the file broke, not the parser's dump."""
    text = str(getattr(exc, "msg", "") or exc)
    reason = text.split(",", 1)[0].split("(", 1)[0].strip().rstrip(".") or "unexpected text"
    line = getattr(exc, "lineno", None)
    where = f"{what} {record:,}" + (f", line {line:,}" if line else "")
    if truncated:
        return (
            f"{name} is truncated: it ends at byte {offset:,}, in the middle of {where} (the upload or export was "
            "cut off). The records before it are imported; import the complete file again for the rest."
        )
    return f"{name} is not valid XML at {where} (read up to byte {offset:,}): {reason}."


_DATE_FIELDS = ("created", "updated", "resolved")
_CHILD_DATES = {
    "worklogs": ("started", "created", "updated"),
    "comments": ("created", "updated"),
    "history": ("created",),
}


def _aware(value: Any, tz: dt.tzinfo) -> Any:
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return value  # the record's validation names the field and the value
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    return value


def localize(record: dict[str, Any], tz: dt.tzinfo) -> dict[str, Any]:
    """Return the record with naive date texts read in `tz` (a backup's dates are in the site's time zone)."""
    for name in _DATE_FIELDS:
        record[name] = _aware(record.get(name), tz)
    for attr, names in _CHILD_DATES.items():
        for child in record.get(attr) or ():
            for name in names:
                child[name] = _aware(child.get(name), tz)
    for custom in record.get("custom_fields") or ():
        if custom.get("type") == "datetime":  # kept as text in the record: with its offset, read where written
            custom["values"] = [
                moment.isoformat() if isinstance(moment := _aware(v, tz), dt.datetime) else v for v in custom["values"]
            ]
    return record
