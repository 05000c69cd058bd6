"""Named values of a query checked against the database, as Jira does ("Did you mean 'Done'?")."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from issues import models
from issues.jql.grammar import CompiledJQL, JQLError
from issues.jql.language import _did_you_mean
from issues.permissions import known_users_q, visible_project_ids
from issues.workflows import statuses_of_projects


def check_values(compiled: CompiledJQL, *, user: Any) -> None:
    """Raise JQLError for the first named value that does not exist, as Jira does ("Did you mean ...?").

    One small query per kind of value used (statuses, priorities, types, resolutions, the user's projects,
    users). Projects the user cannot see do not exist for them: the message is the same as for a typo.
    """

    known: dict[str, tuple[set[str], list[str]]] = {}
    for ref in compiled.values:
        if ref.model not in known:
            if ref.model == "User":
                known[ref.model] = _known_users([r.text for r in compiled.values if r.model == "User"], user=user)
            else:
                qs = getattr(models, ref.model).objects.all()
                columns = ["pk", "name"]
                if ref.model == "Project":
                    qs = qs.filter(pk__in=visible_project_ids(user)) if user is not None else qs.none()
                    columns.append("key")
                rows = list(qs.values_list(*columns))
                names = [str(n) for row in rows for n in row[1:]]
                if ref.model == "Status" and user is not None:
                    # Any status name is a value (statuses are global); the hints name the user's projects' ones.
                    used = statuses_of_projects(visible_project_ids(user)).values_list("name", flat=True)
                    names = list(used) or names
                known[ref.model] = (
                    {str(n).lower() for row in rows for n in row[1:]} | {str(row[0]) for row in rows},
                    names,
                )
        accepted, suggestions = known[ref.model]
        if ref.text.lower() in accepted:
            continue
        hint = _did_you_mean(ref.text, suggestions) if ref.model != "User" else ""
        if not hint:
            if ref.model == "User":
                hint = "Use a username, an email address, a display name or currentUser()."
            elif suggestions:
                hint = f"Values: {', '.join(sorted(set(suggestions))[:12])}."
        raise JQLError(
            f"The value '{ref.text}' does not exist for the field '{ref.field}' at column {ref.position}.",
            ref.position,
            hint,
        )


def _known_users(names: list[str], *, user: Any) -> tuple[set[str], list[str]]:
    """Return the lower-cased names (username, email, display name) among `names` that match a user.

    Only people who share a project with `user` count (issues.permissions.known_users_q): anyone else does not
    exist for them, in the same words as a typo.
    """
    User = get_user_model()
    match = Q(pk__in=[])
    for name in names:
        match |= Q(username__iexact=name) | Q(email__iexact=name) | Q(profile__display_name__iexact=name)
    found: set[str] = set()
    people = User.objects.filter(match, known_users_q(user))
    for row in people.values_list("username", "email", "profile__display_name"):
        found |= {str(v).lower() for v in row if v}
    return found, []
