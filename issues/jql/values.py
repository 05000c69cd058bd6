"""Named values of a query checked against the database, as Jira does ("Did you mean 'Done'?"), and resolved to ids.

The ids found while checking are handed back to the compiler (compile_checked), so a clause like `assignee = ann`
becomes `assignee_id IN (42)`: a plain value the planner has statistics for. A subquery over users or statuses
hides the value from PostgreSQL, which then guesses: `assignee = X` for someone with no issues walked the whole
`updated` index at a million issues.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q

from issues import models
from issues.jql.grammar import CompiledJQL, JQLError, ValueRef
from issues.jql.language import _did_you_mean, _id_or_none
from issues.lookups import lookup_rows
from issues.lru import BoundedLRU
from issues.permissions import known_among, visible_project_ids
from issues.workflows import statuses_of_projects


@dataclass
class ResolvedValues:
    """The ids each named value of a query stands for: (model, lower-cased text) -> ids (empty: nothing)."""

    ids: dict[tuple[str, str], frozenset[int]] = field(default_factory=dict)
    # Values that matched nothing, in query order, with the names to suggest instead.
    unknown: list[tuple[ValueRef, list[str]]] = field(default_factory=list)
    # `text ~` terms (their words) common enough to be found by walking the sort order and testing each issue.
    common_terms: set[tuple[str, ...]] = field(default_factory=set)

    def lookup(self, model: str, text: str) -> frozenset[int]:
        return self.ids.get((model, text.strip().lower()), frozenset())


def resolve_values(compiled: CompiledJQL, *, user: Any) -> ResolvedValues:
    """Return the ids of every named value of the query (one small query per kind of value used).

    Projects the user cannot see and people who share no project with them resolve to nothing, exactly like
    a typo: nobody learns what exists outside their projects.
    """
    resolved = ResolvedValues()
    by_model: dict[str, list[ValueRef]] = {}
    for ref in compiled.values:
        by_model.setdefault(ref.model, []).append(ref)
    for model, refs in by_model.items():
        if model == "Text":
            resolved.common_terms = {words for words in {_words(r.text) for r in refs} if _is_common(words)}
            continue
        suggestions: list[str] = []
        if model == "User":
            names = _user_ids([r.text for r in refs], user=user)
        else:
            names, suggestions = _lookup_ids(model, user=user)
        hints: list[str] | None = None
        for ref in refs:
            key = ref.text.strip().lower()
            ids = set(names.get(key, ()))
            pk = _id_or_none(ref.text.strip())
            if model != "User" and pk is not None and pk in names.get("", ()):
                ids.add(pk)
            resolved.ids[(model, key)] = frozenset(ids)
            if not ids:
                if hints is None:  # only a value that does not exist needs the names to suggest
                    hints = _hint_names(model, suggestions, user=user)
                resolved.unknown.append((ref, hints))
    return resolved


# `text ~ word` is answered one of two ways. A rare word: every match from the trigram indexes (an IN over a
# UNION ALL), then sorted; cheap when few issues match. A common word ("reproduce" in half the issues): the
# sort order's index walked and each issue tested, which finds a page after a few dozen issues instead of
# collecting and sorting hundreds of thousands of ids. Which one is decided from the most recent issues: a word
# in at least COMMON_SHARE of them is common.
TEXT_SAMPLE = 2000
COMMON_SHARE = 0.05


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split("\x1f"))


def text_match_q(words: tuple[str, ...] | list[str]) -> Q:
    """Return the per-issue test of `text ~`: every word in the summary, the description or one comment."""
    summary, description, body = Q(), Q(), Q()
    for word in words:
        summary &= Q(summary__icontains=word)
        description &= Q(description__icontains=word)
        body &= Q(body__icontains=word)
    # The redundant `issue_id <= pk` keeps PostgreSQL from turning the EXISTS into a hash of every matching
    # comment (built in full before the first row: 65 ms at 200,000 issues); probed per issue it costs microseconds.
    comments = models.Comment.objects.filter(body, issue_id=OuterRef("pk"), issue_id__lte=OuterRef("pk"))
    return summary | description | Q(Exists(comments))


# The answer for a term, per process, for COMMON_TTL seconds: the sample costs about 100 ms at a million issues
# (every text column of 2,000 issues and their comments), paid by every `text ~` search before. It picks only how the
# matches are found, never which: an answer that has gone stale makes a search slower, not wrong.
COMMON_TTL = 600.0
_common_memo = BoundedLRU(1024)


def reset_state() -> None:
    """Forget the answers kept by this process (tests: a fresh database)."""
    _common_memo.clear()


def _is_common(words: tuple[str, ...]) -> bool:
    """Return whether the words occur in at least COMMON_SHARE of the most recent issues (kept COMMON_TTL s)."""
    key = tuple(word.lower() for word in words)
    now = time.monotonic()
    found = _common_memo.get(key)
    if found is not None and found[1] > now:
        return bool(found[0])
    common = _sample_is_common(words)
    _common_memo.set(key, (common, now + COMMON_TTL))
    return common


def _sample_is_common(words: tuple[str, ...]) -> bool:
    """Return whether the words occur in at least COMMON_SHARE of the most recent issues (one bounded query)."""
    recent = models.Issue.objects.order_by("-created", "-id").values("pk")[:TEXT_SAMPLE]
    sample = models.Issue.objects.filter(pk__in=recent).aggregate(
        n=Count("pk"), hits=Count("pk", filter=text_match_q(words))
    )
    return bool(sample["n"]) and sample["hits"] >= COMMON_SHARE * sample["n"]


def check_values(compiled: CompiledJQL, *, user: Any) -> ResolvedValues:
    """Return the ids of the query's named values; raise JQLError for the first that does not exist.

    As Jira does ("Did you mean ...?"). Projects the user cannot see do not exist for them: the message is the
    same as for a typo.
    """
    resolved = resolve_values(compiled, user=user)
    if not resolved.unknown:
        return resolved
    ref, suggestions = resolved.unknown[0]
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


# JQL lookup models kept per process by issues.lookups, and their field there.
_KEPT_LOOKUPS = {"Status": "status", "IssueType": "type", "Priority": "priority", "Resolution": "resolution"}


def _lookup_ids(model: str, *, user: Any) -> tuple[dict[str, set[int]], list[str]]:
    """Return lower-cased name (and project key) -> ids for a lookup table, with "" -> every id; and the names."""
    qs = getattr(models, model).objects.all()
    columns = ["pk", "name"]
    if model == "Project":
        qs = qs.filter(pk__in=visible_project_ids(user)) if user is not None else qs.none()
        columns.append("key")
    rows: Any = None
    kept = lookup_rows() if model in _KEPT_LOOKUPS else None
    if kept is not None:
        # Statuses, types, priorities, resolutions: the rows each process keeps current (issues.lookups, read in
        # the models' order), instead of one query per JQL search naming one.
        named: dict[int, Any] = kept[_KEPT_LOOKUPS[model]]  # Status, IssueType, Priority or Resolution rows
        rows = [(pk, row.name) for pk, row in named.items()]
    found: dict[str, set[int]] = {"": set()}
    names: list[str] = []
    for pk, *labels in rows if rows is not None else qs.values_list(*columns):
        found[""].add(pk)
        found.setdefault(str(pk), set()).add(pk)
        for label in labels:
            names.append(str(label))
            found.setdefault(str(label).lower(), set()).add(pk)
    return found, names


def _hint_names(model: str, names: list[str], *, user: Any) -> list[str]:
    """Return the names to suggest for a value of `model` that does not exist (one query for statuses)."""
    if model == "Status" and user is not None:
        # Any status name is a value (statuses are global); the hints name the user's projects' ones.
        used = list(statuses_of_projects(visible_project_ids(user)).values_list("name", flat=True))
        return used or names
    return names


def _user_ids(names: list[str], *, user: Any) -> dict[str, set[int]]:
    """Return lower-cased name (username, email, display name) -> ids of the users among `names`.

    Only people who share a project with `user` count (issues.permissions.known_users_q): anyone else does not
    exist for them, in the same words as a typo.
    """
    User = get_user_model()
    login, shown = Q(pk__in=[]), Q(pk__in=[])
    for name in names:
        login |= Q(username__iexact=name) | Q(email__iexact=name)
        shown |= Q(profile__display_name__iexact=name)
    # The people a name matches, found through the case-insensitive name indexes (migration
    # 0011_search_user_name_indexes) before anything else: one OR across users and profiles scanned every user
    # (12-28 ms for 4,000 people on a loaded machine, EXPLAIN ANALYZE).
    candidates = User.objects.filter(login).values("pk").union(User.objects.filter(shown).values("pk"))
    rows = list(User.objects.filter(pk__in=candidates).values_list("pk", "username", "email", "profile__display_name"))
    known = known_among(user, (row[0] for row in rows))
    found: dict[str, set[int]] = {}
    for pk, *labels in rows:
        if pk not in known:
            continue
        for label in labels:
            if label:
                found.setdefault(str(label).lower(), set()).add(pk)
    return found
