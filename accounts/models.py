"""User profiles: Taskra users are Django auth users with a display name and time zone."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, Value
from django.db.models.functions import Coalesce, Concat, NullIf, Trim


def validate_time_zone(value: str) -> None:
    """Reject names that are not IANA time zones."""
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (e.g. Europe/Berlin)")


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    display_name = models.CharField(max_length=150, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    # Jira's accountId: imports match users by it.
    account_id = models.CharField(max_length=128, null=True, blank=True, unique=True)

    class Meta:
        indexes = [models.Index(fields=["display_name"])]

    def __str__(self) -> str:
        return display_name(self.user)

    @property
    def zoneinfo(self) -> zoneinfo.ZoneInfo:
        """Return the profile's time zone, UTC when unset or unknown."""
        try:
            return zoneinfo.ZoneInfo(self.time_zone or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo("UTC")


def user_zone(user: object) -> zoneinfo.ZoneInfo:
    """Return the user's profile time zone: UTC for anonymous users and users without a profile."""
    profile = getattr(user, "profile", None)  # RelatedObjectDoesNotExist is an AttributeError
    return profile.zoneinfo if profile is not None else zoneinfo.ZoneInfo("UTC")


def display_name_of(
    *, username: str | None, first_name: str | None = "", last_name: str | None = "", profile_name: str | None = None
) -> str:
    """Return the best human name from a user's columns: profile display name, else full name, else username.

    The one rule of the product; querysets that read the columns with values() call it on each row, and
    display_name_expression() is the same rule in SQL.
    """
    if profile_name:
        return profile_name
    full = f"{first_name or ''} {last_name or ''}".strip()
    return full or username or ""


def display_name(user: Any) -> str:
    """Return the best human name for a user (profile display name, full name, username); "" for None."""
    if user is None:
        return ""
    profile = getattr(user, "profile", None)
    return display_name_of(
        username=user.get_username(),
        first_name=getattr(user, "first_name", ""),
        last_name=getattr(user, "last_name", ""),
        profile_name=profile.display_name if profile is not None else None,
    )


def display_name_expression(prefix: str = "") -> Func:
    """Return display_name() as a SQL expression for the user at `prefix` ("" for User, "assignee__" for Issue)."""
    full = Trim(Concat(F(f"{prefix}first_name"), Value(" "), F(f"{prefix}last_name"), output_field=models.CharField()))
    return Coalesce(
        NullIf(F(f"{prefix}profile__display_name"), Value("")),
        NullIf(full, Value("")),
        F(f"{prefix}username"),
        output_field=models.CharField(),
    )
