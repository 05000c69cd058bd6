"""The login form: Django's, refusing a locked username before it checks the password (accounts/throttle.py)."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from accounts import throttle


class ThrottleMixin:
    """Say clearly that the username is locked from this address, and for how long, instead of "wrong password"."""

    request: Any
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username:
            seconds = throttle.locked_for(username=username, address=throttle.client_address(self.request))
            if seconds:
                raise forms.ValidationError(throttle.lock_message(seconds), code="locked")
        return super().clean()  # type: ignore[misc]  # the form class this is mixed into


class LoginForm(ThrottleMixin, AuthenticationForm):
    """The login page's form."""


class AdminLoginForm(ThrottleMixin, AdminAuthenticationForm):
    """The admin site's login form."""


def is_locked_out(form: forms.Form) -> bool:
    """Return whether a bound login form was refused because of the lock."""
    return any(error.code == "locked" for error in form.errors.as_data().get("__all__", []))


class ProfileForm(forms.Form):
    """One's own display name and time zone (the profile page)."""

    display_name = forms.CharField(max_length=150, required=False, help_text="Shown instead of your username.")
    time_zone = forms.ChoiceField(help_text="Times on every page and in reports are shown in it.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(name, name) for name in sorted(zoneinfo.available_timezones())]
