"""Custom-field values by type: the text people see and search, and the typed columns of `CustomFieldValue`.

One rule for every writer (imports, the admin): `value_parts` turns a field's values as a source gives them
(texts) into what is stored, or says in a sentence what the field takes.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import NamedTuple

from django.utils import timezone

from issues.models import CustomFieldType

SINGLE = {CustomFieldType.NUMBER, CustomFieldType.DATE, CustomFieldType.DATETIME}
URL_SCHEMES = ("http://", "https://", "mailto:", "ftp://", "file://")
# Jira's date texts besides ISO: its CSV export ("15/Jan/24") and its user-facing formats.
DATE_FORMATS = ("%d/%b/%y", "%d/%b/%Y", "%d/%m/%Y", "%d.%m.%Y")
MOMENT_FORMATS = ("%d/%b/%y %I:%M %p", "%d/%b/%Y %I:%M %p", "%d/%b/%y %H:%M", "%d/%b/%Y %H:%M")


class ValueParts(NamedTuple):
    text: str
    values: list[str]
    number: float | None
    date: dt.date | None
    moment: dt.datetime | None


def parse_moment(value: str, iso: type[dt.date] | type[dt.datetime], formats: tuple[str, ...]) -> dt.datetime | None:
    """Return `value` read as ISO (a date or a datetime, as `iso` says), else by the first of `formats` it fits."""
    try:
        parsed = iso.fromisoformat(value.replace(" ", "T", 1) if iso is dt.datetime else value)
    except ValueError:
        parsed = None
        for fmt in formats:
            try:
                parsed = dt.datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed if isinstance(parsed, dt.datetime) else dt.datetime.combine(parsed, dt.time())


def value_parts(field_type: str, values: list[str], *, tz: dt.tzinfo | None = None) -> ValueParts:
    """Return the stored form of a field's values (raise ValueError saying what the field takes)."""
    values = [v.strip() for v in values if v and v.strip()]
    text = ", ".join(values)
    if field_type in SINGLE and len(values) > 1:
        raise ValueError(f"takes one value, got {len(values)}: '{text[:60]}'")
    if field_type == CustomFieldType.SELECT:  # a cascading select's option and sub-option: "Europe - Paris"
        text = " - ".join(values)
    first = values[0] if values else ""
    if field_type == CustomFieldType.NUMBER:
        try:
            number = float(first.replace(",", "")) if first else None
        except ValueError:
            number = None
        if first and (number is None or not math.isfinite(number)):
            raise ValueError(f"takes a number (e.g. 3 or 2.5), got '{first[:60]}'")
        return ValueParts(text, values, number, None, None)
    if field_type == CustomFieldType.DATE:
        parsed = parse_moment(first[:10] if len(first) > 10 and first[4:5] == "-" else first, dt.date, DATE_FORMATS)
        if first and parsed is None:
            raise ValueError(f"takes a date (e.g. 2024-01-15 or 15/Jan/24), got '{first[:60]}'")
        day = parsed.date() if parsed else None
        return ValueParts(day.isoformat() if day else text, values, None, day, None)
    if field_type == CustomFieldType.DATETIME:
        parsed = parse_moment(first, dt.datetime, MOMENT_FORMATS + DATE_FORMATS)
        if first and parsed is None:
            raise ValueError(f"takes a date and time (e.g. 2024-01-15 10:30), got '{first[:60]}'")
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz or timezone.get_default_timezone())
        return ValueParts(text, values, None, None, parsed)
    if field_type == CustomFieldType.URL:
        bad = next((v for v in values if not v.lower().startswith(URL_SCHEMES)), None)
        if bad is not None:
            raise ValueError(f"takes a web address (https://...), got '{bad[:60]}'")
    return ValueParts(text, values, None, None, None)
