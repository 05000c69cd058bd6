"""manage.py create_api_token USERNAME --label LABEL [--expires-days N]: print a new token on the last line."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from api.services import api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (alone, on the last line). It is not shown again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--label", required=True, help="what uses the token")
        parser.add_argument("--expires-days", type=int, default=None, help="days until it expires (default: never)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-days must be at least 1.")
        expires = timezone.now() + dt.timedelta(days=days) if days else None
        try:
            token, text = api_token_create(user=user, label=options["label"], expires=expires)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(f"Created token {token.label!r} for {user.username} (shown once):")
        self.stdout.write(text)
