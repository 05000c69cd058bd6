"""User references in every output (pages, API, exports): one encoding, one display-name rule."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from accounts.models import display_name_of
from taskra_site.adapters import OutField


def user_from_columns(uid: int | None, username: str, first: str, last: str, shown: str | None) -> dict | None:
    """Return a user reference {id, username, display_name} from its columns, None without a user.

    The display name is accounts.models.display_name_of, the one rule.
    """
    if uid is None:
        return None
    return {
        "id": uid,
        "username": username,
        "display_name": display_name_of(username=username, first_name=first, last_name=last, profile_name=shown),
    }


def load_user_refs(ids: list[Any]) -> dict[Any, tuple[Any, ...]]:
    """Return {user id: (id, username, first name, last name, profile display name)} for the ids, in one query."""
    rows = (
        get_user_model()
        .objects.filter(pk__in=ids)
        .values_list("id", "username", "first_name", "last_name", "profile__display_name")
    )
    return {row[0]: row for row in rows}


def _user_from_loaded(row: tuple[Any, ...] | None) -> dict | None:
    return None if row is None else user_from_columns(*row)


def user_ref(name: str, path: str | None = None) -> OutField:
    """Return a user reference field ({id, username, display_name} or None) for the `<path>` foreign key.

    The one encoding of a user in Taskra's outputs. Users come from one batched query per batch of rows
    (load_user_refs) unless the adapter joins them into the row query: on PostgreSQL a 9-table join of
    an issue list costs far more planning than the 5-table query plus a users query (docs/performance.md).
    """
    p = path or name
    columns = (f"{p}_id", f"{p}__username", f"{p}__first_name", f"{p}__last_name", f"{p}__profile__display_name")
    return OutField(
        name,
        make=_user_from_loaded,
        loader=load_user_refs,
        loader_key=f"{p}_id",
        joined=OutField(name, columns, user_from_columns),
    )
