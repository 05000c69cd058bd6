"""Pydantic shapes of worklogs: rows for timesheets/reports/exports, and validated input."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, model_validator

from issues.schemas import Duration, DurationOrZero, IssueKey, Text, UserRef

AdjustEstimateName = Literal["auto", "leave", "new", "manual"]


class WorklogOut(BaseModel):
    """One worklog as timesheets, reports, the API and exports see it (time in seconds)."""

    id: int
    issue_id: int
    issue_key: str
    author: UserRef | None
    started: dt.datetime
    time_spent: int
    comment: str
    created: dt.datetime
    updated: dt.datetime


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _EstimateRules(_Input):
    adjust_estimate: AdjustEstimateName = "auto"
    new_estimate: DurationOrZero | None = None
    reduce_by: DurationOrZero | None = None

    @model_validator(mode="after")
    def _estimate_given(self) -> Self:
        if self.adjust_estimate == "new" and self.new_estimate is None:
            raise ValueError("adjust_estimate 'new' needs new_estimate (e.g. '4h').")
        if self.adjust_estimate == "manual" and self.reduce_by is None:
            raise ValueError("adjust_estimate 'manual' needs reduce_by (e.g. '1h').")
        return self


class WorklogCreate(_EstimateRules):
    """Log work: time_spent as "2h 30m" or seconds; started must carry a time zone."""

    issue: IssueKey | None = None  # usually comes from the URL; required in bulk imports
    started: AwareDatetime
    time_spent: Duration
    comment: Annotated[Text, StringConstraints(max_length=65535)] = ""


class WorklogUpdate(_EstimateRules):
    """A partial worklog edit: only the fields sent are validated (use `payload.changes()`)."""

    # None means "not sent" (pydantic never validates defaults), so the default need not fit the type.
    started: AwareDatetime = None  # type: ignore[assignment]
    time_spent: Duration = None  # type: ignore[assignment]
    comment: Annotated[Text, StringConstraints(max_length=65535)] = None  # type: ignore[assignment]

    def changes(self) -> dict[str, object]:
        """Return only started/time_spent/comment as sent (estimate options excluded)."""
        return self.model_dump(exclude_unset=True, include={"started", "time_spent", "comment"})


__all__ = ["WorklogCreate", "WorklogOut", "WorklogUpdate"]
