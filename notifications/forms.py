"""The notification settings form."""

from __future__ import annotations

from django import forms

from notifications.models import NotificationSettings
from notifications.services import SETTING_OF_KIND

SETTINGS_FIELDS = [*dict.fromkeys(SETTING_OF_KIND.values()), "email"]


class NotificationSettingsForm(forms.ModelForm):
    class Meta:
        model = NotificationSettings
        fields = SETTINGS_FIELDS
