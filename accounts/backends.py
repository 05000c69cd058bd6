"""Authentication backend: the profile loaded with the user (one query per request), and the login throttle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import throttle

# Values other apps read in the same round trip as the per-request user: attribute name -> a function
# returning the query expression (e.g. issues' page-cache outbox probe). Registered from AppConfig.ready().
user_load_annotations: dict[str, Callable[[], Any]] = {}

# The per-request user query, built once per set of annotations: building and annotating it per request
# cost more than the extra column (docs/benchmarks/2026-12-01-outbox.md). Evaluating clones it.
_users_query: dict[tuple[Any, ...], QuerySet[Any]] = {}


def _users() -> QuerySet[Any]:
    user_model = get_user_model()
    key = (user_model, *user_load_annotations.items())
    users = _users_query.get(key)
    if users is None:
        users = user_model._default_manager.select_related("profile")
        if user_load_annotations:
            users = users.annotate(**{name: make() for name, make in user_load_annotations.items()})
        _users_query[key] = users
    return users


class ProfileModelBackend(ModelBackend):
    """ModelBackend whose per-request user lookup joins the profile (display name, time zone).

    Every password check (the login page, the admin's login, any authenticate() with a request) is refused while
    the username is locked from the caller's address (accounts/throttle.py): the password is not even checked.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any | None:
        """Check the password unless this username is locked from this address (then stop every backend)."""
        name = username if username is not None else kwargs.get(get_user_model().USERNAME_FIELD)
        if (
            request is not None
            and name
            and throttle.locked_for(username=str(name), address=throttle.client_address(request))
        ):
            raise PermissionDenied("locked")
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id: Any) -> Any | None:
        """Return the active user with this id, profile joined (and user_load_annotations set), or None."""
        user_model = get_user_model()
        try:
            user = _users().get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
