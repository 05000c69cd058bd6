"""Writes of the API app: personal API tokens (created shown once, stored as a hash; revoked at once)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from api.auth import TOKEN_PREFIX, forget_tokens_on_commit, token_hash
from api.models import ApiToken


@transaction.atomic
def api_token_create(
    *, user: Any, label: str, expires: dt.datetime | None = None, now: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for the user and return (row, token text); the text is never stored nor shown again."""
    label = (label or "").strip()
    if not label:
        raise ValidationError({"label": "Give the token a label (what uses it)."})
    if len(label) > 100:
        raise ValidationError({"label": "A label has at most 100 characters."})
    now = now or timezone.now()
    if expires is not None and expires <= now:
        raise ValidationError({"expires": "The expiry date must be in the future."})
    if not user.is_active:
        raise ValidationError("Inactive users cannot have API tokens.")
    text = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, label=label, key_hash=token_hash(text), prefix=text[:8], created=now, expires=expires
    )
    return token, text


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: Any, now: dt.datetime | None = None) -> None:
    """Revoke a token (its owner or a superuser): refused from the next request on, in every process."""
    if actor is not None and actor.pk != token.user_id and not getattr(actor, "is_superuser", False):
        raise PermissionDenied("You can only revoke your own tokens.")
    if token.revoked_at is not None:
        return
    token.revoked_at = now or timezone.now()
    token.save(update_fields=["revoked_at"])
    forget_tokens_on_commit()
