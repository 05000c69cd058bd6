"""JQL values that are functions or dates: now(), startOfWeek(-1), "2026-11-27", -7d (the Compiler's date half)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from django.db.models import Q

from issues.jql.grammar import JQLError, Val
from issues.jql.language import (
    DATE_FUNCTIONS,
    FUNCTION_NAMES,
    ISSUE_FUNCTIONS,
    USER_FUNCTIONS,
    FieldSpec,
    _did_you_mean,
)

_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?$")
_REL_RE = re.compile(r"^([+-]?)\s*((?:\d{1,6}\s*[yMwdhm]\s*)+)$")
_REL_PART_RE = re.compile(r"(\d{1,6})\s*([yMwdhm])")
_OFFSET_RE = re.compile(r"^([+-]?)(\d{1,6})([yMwdhm]?)$")
DATE_HINT = 'Use a date like "2026-11-27" or "2026/11/27 10:00", a relative date like -7d, or a function like now().'


def _add_months(value: dt.datetime, months: int) -> dt.datetime:
    month_index = value.year * 12 + (value.month - 1) + months
    year, month = divmod(month_index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def _shift(value: dt.datetime, amount: int, unit: str) -> dt.datetime:
    if unit == "y":
        return _add_months(value, 12 * amount)
    if unit == "M":
        return _add_months(value, amount)
    delta = {
        "w": dt.timedelta(weeks=amount),
        "d": dt.timedelta(days=amount),
        "h": dt.timedelta(hours=amount),
        "m": dt.timedelta(minutes=amount),
    }[unit]
    return value + delta


@dataclass(frozen=True)
class DateValue:
    """An instant, and the end of its period when the value named a whole day ("2026-11-27")."""

    start: dt.datetime
    day_end: dt.datetime | None = None


class DateFunctions:
    """Date values and functions of a compile: the user's time zone (`tz`) and the pinned `now`."""

    tz: dt.tzinfo
    now: dt.datetime

    def _unknown_function(self, value: Val, expected: str) -> JQLError:
        known = value.text.lower() in DATE_FUNCTIONS | USER_FUNCTIONS | ISSUE_FUNCTIONS
        hint = "" if known else _did_you_mean(value.text, FUNCTION_NAMES)
        message = (
            f"The function {value.text}() at column {value.pos} cannot be used here."
            if known
            else f"Unknown function '{value.text}' at column {value.pos}."
        )
        return JQLError(message, value.pos, hint or f"Use {expected}.")

    # ----- dates

    def date_value(self, value: Val) -> DateValue:
        try:
            return self._date_value(value)
        except (OverflowError, ValueError) as exc:
            raise JQLError(
                f"The date {value.describe()} at column {value.pos} is out of range.", value.pos, DATE_HINT
            ) from exc

    def _date_value(self, value: Val) -> DateValue:
        if value.kind == "func":
            return DateValue(self.date_function(value))
        if value.kind == "empty":
            raise JQLError(f"EMPTY at column {value.pos} is not a date.", value.pos, "Write IS EMPTY.")
        text = value.text.strip()
        match = _DATE_RE.match(text)
        if match:
            year, month, day, hour, minute = match.groups()
            try:
                base = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0))
            except ValueError as exc:
                raise JQLError(f"'{text}' at column {value.pos} is not a valid date.", value.pos, DATE_HINT) from exc
            start = base.replace(tzinfo=self.tz)
            day_end = None
            if hour is None:
                day_end = (base + dt.timedelta(days=1)).replace(tzinfo=self.tz)
            # Normalise to UTC now so an out-of-range instant fails here, not in the database.
            return DateValue(start.astimezone(dt.UTC), day_end.astimezone(dt.UTC) if day_end else None)
        match = _REL_RE.match(text)
        if match:
            sign = -1 if match.group(1) == "-" else 1
            result = self.now
            for amount, unit in _REL_PART_RE.findall(match.group(2)):
                result = _shift(result, sign * int(amount), unit)
            return DateValue(result.astimezone(dt.UTC))
        raise JQLError(f"'{text}' at column {value.pos} is not a date.", value.pos, DATE_HINT)

    def date_function(self, value: Val) -> dt.datetime:
        name = value.text.lower()
        if name not in DATE_FUNCTIONS:
            raise self._unknown_function(value, "now() or startOfDay()")
        if name == "now":
            if value.args:
                raise JQLError(f"now() at column {value.pos} takes no arguments.", value.pos, "Write now().")
            return self.now
        if len(value.args) > 1:
            raise JQLError(
                f"{value.text}() at column {value.pos} takes at most one argument.",
                value.pos,
                f"Write {value.text}(-1).",
            )
        period = name[len("startof") :] if name.startswith("startof") else name[len("endof") :]
        default_unit = {"day": "d", "week": "w", "month": "M", "year": "y"}[period]
        amount, unit = 0, default_unit
        if value.args:
            arg = value.args[0]
            match = _OFFSET_RE.match(arg.text.strip()) if arg.kind == "str" else None
            if not match:
                raise JQLError(
                    f"'{arg.text}' at column {arg.pos} is not an offset.",
                    arg.pos,
                    f"Write e.g. {value.text}(-1) or (+2d).",
                )
            amount = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
            unit = match.group(3) or default_unit
        local = self.now.astimezone(self.tz)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if period == "week":
            start -= dt.timedelta(days=start.weekday())
        elif period == "month":
            start = start.replace(day=1)
        elif period == "year":
            start = start.replace(month=1, day=1)
        if name.startswith("endof"):
            step = {"day": ("d", 1), "week": ("w", 1), "month": ("M", 1), "year": ("y", 1)}[period]
            start = _shift(start, step[1], step[0]) - dt.timedelta(microseconds=1)
        shifted = _shift(start.replace(tzinfo=None), amount, unit)
        return shifted.replace(tzinfo=self.tz).astimezone(dt.UTC)

    def date_eq(self, spec: FieldSpec, value: Val) -> Q:
        dv = self.date_value(value)
        if spec.kind == "date":
            return Q(**{spec.path: self.local_date(dv.start)})
        if dv.day_end is not None:
            return Q(**{f"{spec.path}__gte": dv.start, f"{spec.path}__lt": dv.day_end})
        return Q(**{spec.path: dv.start})

    def date_range(self, spec: FieldSpec, lookup: str, value: Val) -> Q:
        dv = self.date_value(value)
        if spec.kind == "date":
            return Q(**{f"{spec.path}__{lookup}": self.local_date(dv.start)})
        return Q(**{f"{spec.path}__{lookup}": dv.start})

    def local_date(self, instant: dt.datetime) -> dt.date:
        try:
            return instant.astimezone(self.tz).date()
        except (OverflowError, ValueError) as exc:
            raise JQLError("The date is out of range.", None, DATE_HINT) from exc

    # ----- ORDER BY
