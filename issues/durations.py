"""Durations, Jira style: "2h 30m", "1d 4h", "90m", "1.5h", "1w 2d"; 1d and 1w follow the work-time settings.

The one parser and the one formatter of the product: forms (issues.forms.DurationField), pydantic types
(issues.schemas.Duration), template filters (|duration), exports and reports all call these.
"""

from __future__ import annotations

import math
import re

from django.conf import settings

# Issue and worklog time columns are 32-bit integers (PostgreSQL integer): the largest duration they hold.
MAX_DURATION_SECONDS = 2**31 - 1

# ---------------------------------------------------------------------------------------------------------
# Durations, Jira style: "2h 30m", "1d 4h", "90m", "1.5h", "1w 2d"; 1d and 1w follow the work-time settings.
# ---------------------------------------------------------------------------------------------------------

_UNITS = ("w", "d", "h", "m")
_TOKEN_RE = re.compile(r"(\d+(?:[.,]\d+)?)\s*([a-zA-Z]+)")
_UNIT_ALIASES = {
    "w": "w",
    "wk": "w",
    "wks": "w",
    "week": "w",
    "weeks": "w",
    "d": "d",
    "day": "d",
    "days": "d",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
}


def unit_seconds(*, hours_per_day: int | None = None, days_per_week: int | None = None) -> dict[str, int]:
    """Return the length in seconds of each duration unit under the configured work-time rules."""
    hpd = hours_per_day if hours_per_day is not None else settings.TASKRA_HOURS_PER_DAY
    dpw = days_per_week if days_per_week is not None else settings.TASKRA_DAYS_PER_WEEK
    return {"w": dpw * hpd * 3600, "d": hpd * 3600, "h": 3600, "m": 60}


def parse_duration(
    text: str,
    *,
    allow_zero: bool = False,
    hours_per_day: int | None = None,
    days_per_week: int | None = None,
) -> int:
    """Return the number of seconds in a Jira-style duration such as "2h 30m", "1d 4h", "90m" or "1.5h".

    Units: w (week), d (day), h (hour), m (minute); by default 1d = 8h and 1w = 5d
    (settings.TASKRA_HOURS_PER_DAY / TASKRA_DAYS_PER_WEEK). Each unit may appear once. Raise
    ValueError with a message fit to show the user for anything else: empty text, a missing or
    unknown unit, a negative or zero duration (unless allow_zero), or one too long to store.
    """
    if not isinstance(text, str):
        raise ValueError(f"Duration must be text such as '2h 30m', not {type(text).__name__}.")
    raw = text.strip()
    if not raw:
        raise ValueError("Duration is empty: write it like '2h 30m', '1d 4h' or '90m'.")
    if raw.startswith("-"):
        raise ValueError(f"Duration '{raw}' is negative: durations must be positive.")
    units = unit_seconds(hours_per_day=hours_per_day, days_per_week=days_per_week)
    total = 0.0
    seen: set[str] = set()
    pos = 0
    for match in _TOKEN_RE.finditer(raw):
        gap = raw[pos : match.start()]
        if gap.strip():
            raise ValueError(f"Duration '{raw}' is not understood near '{gap.strip()}': write it like '2h 30m'.")
        pos = match.end()
        number, unit_text = match.group(1), match.group(2).lower()
        unit = _UNIT_ALIASES.get(unit_text)
        if unit is None:
            raise ValueError(
                f"Duration '{raw}' has an unknown unit '{match.group(2)}': "
                "use w (weeks), d (days), h (hours), m (minutes)."
            )
        if unit in seen:
            raise ValueError(f"Duration '{raw}' gives '{unit}' twice.")
        seen.add(unit)
        total += float(number.replace(",", ".")) * units[unit]
    rest = raw[pos:]
    if rest.strip():
        if re.fullmatch(r"\s*\d+(?:[.,]\d+)?\s*", rest):
            raise ValueError(
                f"Duration '{raw}' has a number without a unit: add one, e.g. '{rest.strip()}m' or '{rest.strip()}h'."
            )
        raise ValueError(f"Duration '{raw}' is not understood near '{rest.strip()}': write it like '2h 30m'.")
    if not seen:
        raise ValueError(f"Duration '{raw}' is not understood: write it like '2h 30m', '1d 4h' or '90m'.")
    if not math.isfinite(total) or total > MAX_DURATION_SECONDS:
        raise ValueError(f"Duration '{raw}' is too long: at most {MAX_DURATION_SECONDS // 3600} hours.")
    seconds = round(total)
    if seconds == 0 and not allow_zero:
        raise ValueError(f"Duration '{raw}' is zero: it must be more than zero.")
    return seconds


def format_duration(seconds: int | None, *, hours_per_day: int | None = None, days_per_week: int | None = None) -> str:
    """Return seconds written the Jira way ("1w 2d 3h 30m"), rounded to the minute; "" for None, "0m" for zero."""
    if seconds is None:
        return ""
    if seconds < 0:
        return "-" + format_duration(-seconds, hours_per_day=hours_per_day, days_per_week=days_per_week)
    units = unit_seconds(hours_per_day=hours_per_day, days_per_week=days_per_week)
    remaining = int(round(seconds / 60)) * 60
    if remaining == 0:
        return "1m" if seconds > 0 else "0m"
    parts = []
    for unit in _UNITS:
        count, remaining = divmod(remaining, units[unit])
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)
