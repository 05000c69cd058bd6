"""Matching the people named in import records to Taskra users; people nobody matches become placeholders.

Any importer's file may name anyone, so for an importer who is not staff a person is matched only by Jira
account id: an account id already on a profile (set by an administrator, or a placeholder's), or a mapping
of a placeholder the importer (or staff) recorded on a job page. E-mail and username are trusted only from
staff and the command line (issues.permissions.may_manage_accounts). An import never writes the account id
of an existing profile.

Everybody else becomes a placeholder (imports.models.Placeholder): an inactive user with an unusable
password, so nobody signs in as them, until they are mapped to an account on the job page or an
administrator activates them. People with the same account id (or, without one, the same e-mail or
username) are one placeholder, within the file and across imports. One query per kind of match for a whole
chunk; results are remembered for the job.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db.models.functions import Lower

from accounts.models import Profile
from imports.models import Placeholder
from imports.schemas import UserRef
from issues.permissions import may_manage_accounts

User = get_user_model()
_USERNAME_BAD = re.compile(r"[^\w.@+-]+")

Ident = tuple[str, str]


def placeholder_key(ident: Ident) -> str:
    """Return the placeholder key of an identity: the Jira account id, else "email:..." or "username:..."."""
    kind, value = ident
    return value if kind == "account" else f"{kind}:{value}"


class UserMatcher:
    """Resolve user references to user ids for one job by `actor` (None: the command line); cached across chunks."""

    def __init__(self, actor: Any | None = None) -> None:
        self.actor_id: int | None = getattr(actor, "pk", None)
        self.trusted = may_manage_accounts(actor)
        self.users: dict[Ident, int] = {}
        self.placeholders: set[int] = set()  # user ids of the placeholders met (the job's people)

    def _mapping_applies(self, mapped_by: int | None, by_staff: bool | None) -> bool:
        """Return whether a recorded mapping binds this job: staff's bind everyone, anyone else's their own imports."""
        return bool(by_staff) or (mapped_by is not None and mapped_by == self.actor_id)

    def resolve(self, refs: Iterable[UserRef]) -> None:
        """Find the users behind these references or create placeholders (one query per kind of match)."""
        wanted: dict[Ident, UserRef] = {}
        for ref in refs:
            ident = ref.identity()
            if ident not in self.users:
                wanted.setdefault(ident, ref)
        if not wanted:
            return
        keys = {placeholder_key(ident): ident for ident in wanted}
        known: dict[Ident, int] = {}  # placeholders met before, unmapped (or mapped by someone else)
        for key, user_id, mapped_to, mapped_by, by_staff in Placeholder.objects.filter(
            account_id__in=list(keys)
        ).values_list("account_id", "user_id", "mapped_to_id", "mapped_by_id", "mapped_by__is_staff"):
            if mapped_to is not None and self._mapping_applies(mapped_by, by_staff):
                self.users[keys[key]] = mapped_to
            else:
                known[keys[key]] = user_id
        accounts = [v for (k, v) in wanted if k == "account" and (k, v) not in self.users]
        if accounts:
            for account, user_id in Profile.objects.filter(account_id__in=accounts).values_list(
                "account_id", "user_id"
            ):
                assert account is not None, "filtered on account_id__in"
                self.users[("account", account)] = user_id
        if self.trusted:
            self._match_by_email_and_username(wanted)
        for ident, user_id in known.items():
            self.users.setdefault(ident, user_id)
        self.placeholders.update(user_id for ident, user_id in known.items() if self.users[ident] == user_id)
        missing = {ident: ref for ident, ref in wanted.items() if ident not in self.users}
        if missing:
            self._create_placeholders(missing)

    def _match_by_email_and_username(self, wanted: dict[Ident, UserRef]) -> None:
        """Match the rest by e-mail, then by username (staff and the command line only); link no account id.

        Real accounts only, active or not (a former colleague's worklogs stay theirs); placeholders by their key.
        """
        by_email = {ref.email: ident for ident, ref in wanted.items() if ident not in self.users and ref.email}
        if by_email:
            found = (
                User.objects.annotate(email_l=Lower("email"))
                .filter(email_l__in=list(by_email), placeholder__isnull=True)  # placeholders: by their key
                .order_by("pk")
                .values_list("email_l", "pk")
            )
            for email, user_id in found:
                self.users.setdefault(by_email[email], user_id)
        by_username = {ref.username: ident for ident, ref in wanted.items() if ident not in self.users and ref.username}
        if by_username:
            for username, user_id in User.objects.filter(
                username__in=list(by_username), placeholder__isnull=True
            ).values_list("username", "pk"):
                self.users[by_username[username]] = user_id

    def _create_placeholders(self, missing: dict[Ident, UserRef]) -> None:
        """Create an inactive user without a usable password, its profile and its Placeholder row per person."""
        # Usernames are the person's name plus a hash of their key: the same every run, never a name a real
        # account might want, and never telling the importer which usernames exist (no "-2" when one is taken).
        usernames: dict[Ident, str] = {}
        for ident, ref in missing.items():
            base = _USERNAME_BAD.sub("", (ref.display_name or ref.username or "").replace(" ", ".").lower())
            digest = uuid.uuid5(uuid.NAMESPACE_OID, placeholder_key(ident)).hex[:16]
            usernames[ident] = f"{base[:100] or 'jira'}-{digest}"
        unusable = make_password(None)
        User.objects.bulk_create(
            [
                User(
                    username=usernames[ident],
                    email=ref.email or "",
                    password=unusable,
                    first_name=(ref.display_name or "")[:150],
                    is_active=False,  # no login until mapped to an account or activated by an administrator
                )
                for ident, ref in missing.items()
            ]
        )
        ids = dict(User.objects.filter(username__in=list(usernames.values())).values_list("username", "pk"))
        profiles = []
        placeholders = []
        for ident, ref in missing.items():
            user_id = ids[usernames[ident]]
            self.users[ident] = user_id
            self.placeholders.add(user_id)
            profiles.append(
                Profile(
                    user_id=user_id,
                    display_name=(ref.display_name or ref.username or ref.email or ident[1])[:150],
                    account_id=ref.account_id,  # no profile has it: it would have matched
                )
            )
            placeholders.append(Placeholder(user_id=user_id, account_id=placeholder_key(ident)))
        Profile.objects.bulk_create(profiles, ignore_conflicts=True)
        # Not ignore_conflicts: a concurrent job creating the same person fails this chunk, which is retried.
        Placeholder.objects.bulk_create(placeholders)

    def user_id(self, ref: UserRef | None) -> int | None:
        """Return the id of a resolved reference (None for none)."""
        return None if ref is None else self.users[ref.identity()]
