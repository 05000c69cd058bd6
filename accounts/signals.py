"""Give every new user a profile so display names and time zones always resolve; count failed log-ins."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts import throttle
from accounts.models import Profile


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def ensure_profile(sender: type, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """Create the profile of a newly created user."""
    if created and not raw:
        name = instance.get_full_name() or instance.get_username()
        Profile.objects.get_or_create(user=instance, defaults={"display_name": name})


@receiver(user_login_failed)
def count_login_failure(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    """Count a failed log-in towards the lock of this username from this address (accounts/throttle.py)."""
    username = throttle.credentials_username(credentials)
    if request is not None and username:
        throttle.login_failed(username=username, address=throttle.client_address(request))


@receiver(user_logged_in)
def reset_login_failures(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A successful log-in forgets the failures of this username from this address."""
    if request is not None:
        throttle.login_succeeded(username=user.get_username(), address=throttle.client_address(request))
