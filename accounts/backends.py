"""Authentication backend that loads the user's profile with the user (one query per request, not two)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class ProfileModelBackend(ModelBackend):
    """ModelBackend whose per-request user lookup joins the profile (display name, time zone)."""

    def get_user(self, user_id: Any) -> Any | None:
        """Return the active user with this id, profile joined, or None."""
        user_model = get_user_model()
        try:
            user = user_model._default_manager.select_related("profile").get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
