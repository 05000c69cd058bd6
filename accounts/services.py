"""Writes to accounts: a person's own profile (display name, time zone)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Profile, validate_time_zone


@transaction.atomic
def profile_update(*, user: Any, display_name: str, time_zone: str) -> Profile:
    """Change the user's own display name and time zone (an IANA name such as Europe/Berlin)."""
    display_name = (display_name or "").strip()
    if len(display_name) > 150:
        raise ValidationError({"display_name": "A display name has at most 150 characters."})
    time_zone = (time_zone or "").strip()
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        raise ValidationError({"time_zone": exc.messages}) from None
    profile, _created = Profile.objects.get_or_create(user=user)
    profile.display_name, profile.time_zone = display_name, time_zone
    # The profile's receiver (issues.signals) retires pages that show the name.
    profile.save(update_fields=["display_name", "time_zone"])
    return profile
