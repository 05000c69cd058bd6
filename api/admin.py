"""API tokens in the Django admin: see who holds which token, when it was used, and revoke it (never its text)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api.models import ApiToken
from api.services import api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("label", "user", "prefix", "created", "last_used", "expires", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("label", "user__username", "prefix")
    list_select_related = ("user",)
    readonly_fields = ("user", "label", "prefix", "created", "last_used", "expires", "revoked_at")
    exclude = ("key_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are made on the tokens page or with manage.py create_api_token (shown once)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token, actor=request.user)
            count += 1
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)
