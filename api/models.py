"""Personal API tokens: what Jira clients send as the password of Basic auth or as a Bearer token."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ApiToken(models.Model):
    """One personal API token. Only the SHA-256 of the secret is stored; the secret is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    label = models.CharField(max_length=100)
    # hex SHA-256 of the whole token text ("tkr_..."): the one indexed lookup of every API request.
    key_hash = models.CharField(max_length=64, unique=True)
    # The first characters of the token, shown in the list so a user can tell tokens apart.
    prefix = models.CharField(max_length=12)
    created = models.DateTimeField()
    last_used = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["user", "-created"], name="apitoken_user_created")]
        constraints = [
            models.CheckConstraint(condition=~Q(label=""), name="apitoken_label_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.prefix}…)"
