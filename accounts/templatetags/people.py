"""Template side of accounts.models.display_name: {{ user|display_name }} for model instances."""

from __future__ import annotations

from django import template

from accounts.models import display_name as _display_name

register = template.Library()


@register.filter
def display_name(user: object) -> str:
    """Return the user's display name (profile name, full name, username); "" for None."""
    return _display_name(user)
