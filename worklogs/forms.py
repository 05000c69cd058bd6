"""Input of the timesheet, worklog list and report pages: every bad value becomes an inline message."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.conf import settings

from issues.durations import parse_duration
from issues.forms import DurationField
from worklogs.reports import GROUPS, TICKET_DATE_FIELDS, TICKET_GROUPS, TICKET_SORTS
from worklogs.services import AdjustEstimate

MAX_RANGE_DAYS = 3660  # ten years: wider ranges are almost certainly typos (e.g. year 20226)
# The timesheet's estimate boxes sit inline, next to the grid.
_SHORT_DURATION = {"size": "8", "placeholder": "e.g. 2h"}
WEEK_RE = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


class ListField(forms.Field):
    """Several values from repeated parameters (?user=a&user=b) or one comma/space separated value."""

    widget = forms.SelectMultiple

    def __init__(self, *args: Any, split: str = r"[\s,]+", **kwargs: Any) -> None:
        self.split = re.compile(split)
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        out: list[str] = []
        for item in value:
            out.extend(part.strip() for part in self.split.split(str(item)) if part.strip())
        if len(out) > 200:
            raise forms.ValidationError("Choose at most 200 values.")
        return out


class DateRangeMixin(forms.Form):
    """Clean start/end: end before start and absurd ranges are errors; defaults fill the gaps."""

    def clean_range(self, cleaned: dict[str, Any], default_start: dt.date | None, default_end: dt.date | None) -> None:
        for name in ("start", "end"):
            day = cleaned.get(name)
            if day and not 1900 <= day.year <= 2999:
                self.add_error(name, f"The date {day:%Y-%m-%d} is out of range (years 1900-2999).")
                return
        start = cleaned.get("start") or default_start
        end = cleaned.get("end") or default_end
        if start and end:
            if end < start:
                self.add_error("end", f"The end date {end:%Y-%m-%d} is before the start date {start:%Y-%m-%d}.")
                return
            if (end - start).days > MAX_RANGE_DAYS:
                self.add_error("end", f"The date range is longer than {MAX_RANGE_DAYS} days; choose a shorter one.")
                return
        cleaned["start"], cleaned["end"] = start, end


def parse_week(text: str) -> dt.date:
    """Return the Monday of an ISO week written "2026-W48"; ValueError with a message otherwise."""
    m = WEEK_RE.match(text.strip())
    if not m:
        raise ValueError(f"'{text}' is not a week: write it like 2026-W48.")
    year, week = int(m.group(1)), int(m.group(2))
    try:
        return dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"Week {week} of {year} does not exist.") from None


class TimesheetForm(forms.Form):
    """Which week the timesheet shows, and the daily target the day totals are compared with."""

    week = forms.CharField(required=False, max_length=10)
    date = forms.DateField(required=False)
    target = DurationField(required=False)
    # Which page of issue rows (TASKRA_TIMESHEET_ROWS each); the day and week totals always count every row.
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    def clean_week(self) -> dt.date | None:
        text = self.cleaned_data.get("week")
        if not text:
            return None
        try:
            monday = parse_week(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        if monday.year < 1900 or monday.year > 2999:
            raise forms.ValidationError(f"Week {text} is out of range (years 1900-2999).")
        return monday

    def clean_date(self) -> dt.date | None:
        day = self.cleaned_data.get("date")
        if day and (day.year < 1900 or day.year > 2999):
            raise forms.ValidationError("The date is out of range (years 1900-2999).")
        return day

    def clean_target(self) -> int:
        target = self.cleaned_data.get("target")
        if target is None:
            return settings.TASKRA_HOURS_PER_DAY * 3600
        if target > 24 * 3600:
            raise forms.ValidationError("The daily target cannot exceed 24h.")
        return target


class EstimateFields(forms.Form):
    """Jira's adjustEstimate choice with its two companion values."""

    adjust_estimate = forms.ChoiceField(
        choices=[
            (AdjustEstimate.AUTO, "Reduce remaining estimate automatically"),
            (AdjustEstimate.LEAVE, "Leave remaining estimate"),
            (AdjustEstimate.NEW, "Set remaining estimate to"),
            (AdjustEstimate.MANUAL, "Reduce remaining estimate by"),
        ],
        initial=AdjustEstimate.AUTO,
        required=False,
    )
    new_estimate = DurationField(required=False, allow_zero=True, widget=forms.TextInput(attrs=_SHORT_DURATION))
    reduce_by = DurationField(required=False, allow_zero=True, widget=forms.TextInput(attrs=_SHORT_DURATION))

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        mode = cleaned.get("adjust_estimate") or AdjustEstimate.AUTO
        cleaned["adjust_estimate"] = mode
        if mode == AdjustEstimate.NEW and cleaned.get("new_estimate") is None and "new_estimate" not in self.errors:
            self.add_error("new_estimate", "Give the new remaining estimate, e.g. 4h.")
        if mode == AdjustEstimate.MANUAL and cleaned.get("reduce_by") is None and "reduce_by" not in self.errors:
            self.add_error("reduce_by", "Give the amount to reduce the estimate by, e.g. 1h.")
        return cleaned


class LogWorkForm(forms.Form):
    """Log time on any visible issue and day of the week shown (adds to what the day already holds)."""

    issue = forms.CharField(max_length=32, label="Issue")
    day = forms.DateField(label="Day")
    time = DurationField(label="Time spent")
    comment = forms.CharField(required=False, max_length=65535, widget=forms.Textarea(attrs={"rows": 1}))

    def clean_day(self) -> dt.date:
        day = self.cleaned_data["day"]
        if day.year < 1900 or day.year > 2999:
            raise forms.ValidationError("The date is out of range (years 1900-2999).")
        return day

    def clean_time(self) -> int:
        value = self.cleaned_data["time"]
        if value is None:
            raise forms.ValidationError("Give the time spent, e.g. 1h 30m.")
        if value > 24 * 3600:
            raise forms.ValidationError("One day holds at most 24h.")
        return value


def parse_cell(text: str) -> int:
    """Return the seconds typed in a timesheet cell ("" or 0 clears it); ValueError with a message otherwise."""
    text = (text or "").strip()
    if text in ("", "0", "-"):
        return 0
    seconds = parse_duration(text, allow_zero=True)
    if seconds > 24 * 3600:
        raise ValueError(f"'{text}' is more than a day holds (24h).")
    return seconds


class WorklogFilterForm(DateRangeMixin, forms.Form):
    """Filters of the worklog list and the time reports."""

    user = ListField(required=False)
    project = ListField(required=False)
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)
    jql = forms.CharField(required=False, max_length=10000)
    gaps = forms.BooleanField(required=False)
    workday_start = forms.TimeField(required=False)
    workday_end = forms.TimeField(required=False)

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        self.today = today
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        monday = self.today - dt.timedelta(days=self.today.weekday())
        self.clean_range(cleaned, monday, monday + dt.timedelta(days=6))
        ws = cleaned.get("workday_start") or dt.time(9, 0)
        we = cleaned.get("workday_end") or dt.time(17, 0)
        if we <= ws and "workday_end" not in self.errors:
            self.add_error("workday_end", "The workday must end after it starts.")
        cleaned["workday_start"], cleaned["workday_end"] = ws, we
        return cleaned


class ReportForm(WorklogFilterForm):
    group = forms.ChoiceField(choices=[(g, g) for g in GROUPS], required=False)
    # Which page of rows (TASKRA_REPORT_ROWS each); the totals, chart and exports cover every row.
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    def clean_group(self) -> str:
        return self.cleaned_data.get("group") or "project"


class TicketsForm(DateRangeMixin, forms.Form):
    """Filters and ordering of the tickets report of one project."""

    project = forms.CharField(max_length=10, required=False)
    group = forms.ChoiceField(choices=[(g, g) for g in TICKET_GROUPS], required=False)
    sort = forms.ChoiceField(choices=[(s, s) for s in TICKET_SORTS], required=False)
    dir = forms.ChoiceField(choices=[("asc", "asc"), ("desc", "desc")], required=False)
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)
    date_field = forms.ChoiceField(choices=[(f, f) for f in TICKET_DATE_FIELDS], required=False)
    status = ListField(required=False, split=r",")  # status names have spaces ("In Progress")
    assignee = ListField(required=False)
    reporter = ListField(required=False)
    worklog_author = ListField(required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        self.clean_range(cleaned, None, None)
        cleaned["group"] = cleaned.get("group") or "status"
        cleaned["sort"] = cleaned.get("sort") or "created"
        cleaned["dir"] = cleaned.get("dir") or "desc"
        cleaned["date_field"] = cleaned.get("date_field") or "updated"
        return cleaned
