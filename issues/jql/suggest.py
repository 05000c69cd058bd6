"""JQL autocomplete: the field, operator and function names of the language, and values a user may see.

Both shapes are Jira's (GET /rest/api/2/jql/autocompletedata and .../autocompletedata/suggestions), so the
navigator's JQL box and Jira clients read the same data. Field and function names come from the language
table (issues.jql.language) and the sortable fields (issues.fields), so a field added there is offered here.
Values are only those the user could see anyway: projects they are a member of, people who share one of
their projects (known_users_q, as JQL itself resolves names), labels used in their projects, and the
site-wide lookup tables (statuses, types, priorities, resolutions) the navigator's filters list too.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, Model, OuterRef, Q

from issues.fields import SORT_FIELDS
from issues.jql.language import ALIASES, CATEGORY_WORDS, FIELDS, FUNCTION_NAMES, FieldSpec
from issues.models import Issue, IssueType, Label, Priority, Project, Resolution, Status
from issues.permissions import known_users_q, visible_project_ids

SUGGESTION_LIMIT = 15
MAX_PREFIX_LENGTH = 100
RESERVED_WORDS = ["and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"]
# Jira's type names per field kind, which clients use to decide what a function may be compared with.
_KIND_TYPES = {
    "user": "com.atlassian.jira.user.ApplicationUser",
    "wl_author": "com.atlassian.jira.user.ApplicationUser",
    "date": "java.util.Date",
    "datetime": "java.util.Date",
    "wl_date": "java.util.Date",
}
_USER_FUNCTIONS = {"currentUser"}
_CHOICE_MODELS: dict[str, type[Model]] = {
    "Status": Status, "IssueType": IssueType, "Priority": Priority, "Resolution": Resolution
}  # fmt: skip
_CATEGORY_LABELS = {"todo": "To Do", "in_progress": "In Progress", "done": "Done"}


def _operators(spec: FieldSpec) -> list[str]:
    order = ["=", "!=", "~", "!~", ">", ">=", "<", "<=", "in", "not in", "is", "is not"]
    return [op for op in order if op in spec.ops]


def _type_of(spec: FieldSpec) -> str:
    return _KIND_TYPES.get(spec.kind, "java.lang.String")


def autocomplete_data() -> dict[str, Any]:
    """Return Jira's autocomplete data: visible field names with operators, function names, reserved words."""
    fields = []
    for key, spec in FIELDS.items():
        fields.append(
            {
                "value": spec.name,
                "displayName": spec.name,
                "orderable": "true" if key in SORT_FIELDS else "false",
                "searchable": "true",
                "operators": _operators(spec),
                "types": [_type_of(spec)],
            }
        )
    functions = []
    for name in FUNCTION_NAMES:
        kind = "com.atlassian.jira.user.ApplicationUser" if name in _USER_FUNCTIONS else "java.util.Date"
        functions.append({"value": f"{name}()", "displayName": f"{name}()", "types": [kind]})
    return {"visibleFieldNames": fields, "visibleFunctionNames": functions, "jqlReservedWords": RESERVED_WORDS}


def _field(name: str) -> FieldSpec | None:
    key = name.strip().strip('"').lower()
    return FIELDS.get(ALIASES.get(key, key))


def _result(value: str, display: str | None = None) -> dict[str, str]:
    return {"value": value, "displayName": display or value}


def value_suggestions(*, user: Any, field_name: str, prefix: str) -> list[dict[str, str]]:
    """Return up to SUGGESTION_LIMIT values of a field that start with (or, for names, contain) the prefix.

    An unknown field, or one whose values are free text or dates, has no suggestions (an empty list).
    """
    spec = _field(field_name)
    if spec is None:
        return []
    prefix = prefix.strip().strip("\"'")[:MAX_PREFIX_LENGTH]
    if spec.kind == "choice" and spec.model == "Project":
        projects = Project.objects.filter(pk__in=visible_project_ids(user))
        if prefix:
            projects = projects.filter(Q(key__istartswith=prefix) | Q(name__icontains=prefix))
        rows = projects.order_by("key").values_list("key", "name")[:SUGGESTION_LIMIT]
        return [_result(key, f"{key} - {name}") for key, name in rows]
    if spec.kind == "choice":
        names = _CHOICE_MODELS[spec.model]._default_manager.all()
        if prefix:
            names = names.filter(name__istartswith=prefix)
        values = [_result(name) for name in names.order_by("name").values_list("name", flat=True)[:SUGGESTION_LIMIT]]
        if spec.model == "Resolution" and "unresolved".startswith(prefix.lower()):
            values.insert(0, _result("Unresolved"))
        return values[:SUGGESTION_LIMIT]
    if spec.kind == "category":
        lowered = prefix.lower()
        categories = [
            label
            for value, label in _CATEGORY_LABELS.items()
            if any(word.startswith(lowered) for word, category in CATEGORY_WORDS.items() if category == value)
        ]
        return [_result(f'"{label}"' if " " in label else label, label) for label in categories]
    if spec.kind in ("user", "wl_author"):
        return _user_suggestions(user=user, prefix=prefix)
    if spec.kind == "labels":
        used = Issue.objects.filter(labels=OuterRef("pk"), project_id__in=visible_project_ids(user))
        used_labels = Label.objects.filter(Exists(used))
        if prefix:
            used_labels = used_labels.filter(name__istartswith=prefix)
        label_names = used_labels.order_by("name").values_list("name", flat=True)[:SUGGESTION_LIMIT]
        return [_result(name) for name in label_names]
    return []


def _user_suggestions(*, user: Any, prefix: str) -> list[dict[str, str]]:
    """Return currentUser() and the people the user may name in JQL whose username or name matches."""
    results: list[dict[str, str]] = []
    if "currentuser()".startswith(prefix.lower()):
        results.append(_result("currentUser()"))
    people = get_user_model().objects.filter(known_users_q(user), is_active=True)
    if prefix:
        people = people.filter(
            Q(username__istartswith=prefix)
            | Q(profile__display_name__icontains=prefix)
            | Q(first_name__istartswith=prefix)
            | Q(last_name__istartswith=prefix)
        )
    rows = people.order_by("username").values_list("username", "profile__display_name")[:SUGGESTION_LIMIT]
    for username, shown in rows:
        results.append(_result(username, f"{shown} ({username})" if shown else username))
    return results[:SUGGESTION_LIMIT]
