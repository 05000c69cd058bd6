"""Django admin for users and their profiles (display name, time zone, Jira account id)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from accounts.forms import AdminLoginForm
from accounts.models import Profile, display_name
from taskra_site.pagination import EstimatedCountPaginator

User = get_user_model()


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    fields = ("display_name", "time_zone", "account_id")


# The admin's login says so when a username is locked out (accounts/throttle.py), like the login page.
admin.site.login_form = AdminLoginForm

if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin, plus the profile inline and search by display name (used by every autocomplete)."""

    inlines = (ProfileInline,)
    list_display = ("username", "display_name", "email", "time_zone", "is_staff", "is_active", "last_login")
    list_select_related = ("profile",)
    search_fields = ("username", "profile__display_name", "first_name", "last_name", "email")
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description="Display name", ordering="profile__display_name")
    def display_name(self, obj: Any) -> str:
        return display_name(obj)

    @admin.display(description="Time zone", ordering="profile__time_zone")
    def time_zone(self, obj: Any) -> str:
        profile = getattr(obj, "profile", None)
        return profile.time_zone if profile else ""

    def get_inline_instances(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # The post_save signal creates the profile of a new user; an inline on the add form would create a second.
        if obj is None:
            return []
        return super().get_inline_instances(request, obj)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "time_zone", "account_id")
    list_select_related = ("user",)
    list_filter = ("time_zone",)
    search_fields = ("display_name", "user__username", "=account_id")
    autocomplete_fields = ("user",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
