"""User profiles: Taskra users are Django auth users with a display name and time zone."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


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
        return self.display_name or self.user.get_username()

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


def display_name(user: object) -> str:
    """Return the best human name for a user (profile display name, full name, username)."""
    if user is None:
        return ""
    profile = getattr(user, "profile", None)
    if profile is not None and profile.display_name:
        return profile.display_name
    full = user.get_full_name()  # type: ignore[attr-defined]
    return full or user.get_username()  # type: ignore[attr-defined]
