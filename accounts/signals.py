"""Give every new user a profile so display names and time zones always resolve."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Profile


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def ensure_profile(sender: type, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """Create the profile of a newly created user."""
    if created and not raw:
        name = instance.get_full_name() or instance.get_username()
        Profile.objects.get_or_create(user=instance, defaults={"display_name": name})
