"""Admin of the live A/B switches; saving one applies in this process at once, elsewhere within the cache interval."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from perf import switches
from perf.models import Switch


@admin.register(Switch)
class SwitchAdmin(admin.ModelAdmin):
    list_display = ["name", "mode", "variant_a", "variant_b", "percent_b", "updated"]
    list_editable = ["mode", "percent_b"]
    readonly_fields = ["updated"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        switches.forget()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        switches.forget()
