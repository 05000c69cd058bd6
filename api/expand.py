"""The `expand` parts of issue responses: names, renderedFields, changelog, transitions.

Each takes the page's issue ids and answers for all of them in one query (search pages expand too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api.adapters import USER_COLUMNS, jira_datetime, status_json, user_json
from api.fields import FIELDS_BY_ID, custom_field_json, is_custom
from issues.models import CustomField, History, Issue, Project
from issues.rendering import render_markdown
from issues.workflows import Workflow, workflows_for

SUPPORTED = ("renderedFields", "names", "changelog", "transitions", "schema")


def custom_fields_meta(ids: Iterable[str] | None) -> dict[str, dict[str, Any]]:
    """Return the GET field objects of these custom-field API ids (customfield_NNNNN; None: all): one query."""
    wanted = set(ids) if ids is not None else None
    if wanted is not None and not wanted:
        return {}
    out = {}
    for field in CustomField.objects.only("id", "jira_id", "name", "type"):
        api_id = field.jira_id or f"customfield_{field.pk}"
        if wanted is None or api_id in wanted:
            out[api_id] = custom_field_json(api_id, field.name, field.type)
    return out


def names(fields: Iterable[str], custom: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    found = {f: FIELDS_BY_ID[f].name for f in fields if not is_custom(f)}
    return found | {f: meta["name"] for f, meta in (custom or {}).items()}


def schema(fields: Iterable[str], custom: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    found = {f: FIELDS_BY_ID[f].as_json()["schema"] for f in fields if not is_custom(f)}
    return found | {f: meta["schema"] for f, meta in (custom or {}).items()}


def rendered_fields(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Return per issue id Jira's renderedFields: the description as sanitised HTML, dates as text."""
    rows = Issue.objects.filter(pk__in=ids).values_list("id", "description", "created", "updated", "resolved")
    return {
        pk: {
            "description": render_markdown(description) or None,
            "created": jira_datetime(created),
            "updated": jira_datetime(updated),
            "resolutiondate": jira_datetime(resolved),
        }
        for pk, description, created, updated, resolved in rows
    }


def changelog(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Return per issue id Jira's changelog: one history per (time, author), its items the fields changed."""
    rows = (
        History.objects.filter(issue_id__in=ids)
        .order_by("issue_id", "created", "id")
        .values_list(
            "issue_id",
            "id",
            "created",
            "field",
            "from_value",
            "to_value",
            "author_id",
            *(f"author__{c}" for c in USER_COLUMNS[1:]),
        )  # fmt: skip
    )
    found: dict[int, list[dict[str, Any]]] = {pk: [] for pk in ids}
    for issue_id, pk, created, field, before, after, author_id, *user in rows:
        histories = found[issue_id]
        stamp = jira_datetime(created)
        if not histories or histories[-1]["created"] != stamp or histories[-1]["_author"] != author_id:
            histories.append({"id": str(pk), "author": user_json(author_id, *user), "created": stamp, "items": [],
                              "_author": author_id})  # fmt: skip
        name = "issuetype" if field == "type" else field
        item = {"field": name, "fieldtype": "jira", "fieldId": name, "from": None, "fromString": before or None,
                "to": None, "toString": after or None}  # fmt: skip
        histories[-1]["items"].append(item)
    out = {}
    for issue_id, histories in found.items():
        for history in histories:
            history.pop("_author")
        out[issue_id] = {"startAt": 0, "maxResults": len(histories), "total": len(histories), "histories": histories}
    return out


def transitions_for(status_id: int | None, workflow: Workflow) -> list[dict[str, Any]]:
    """Return Jira's transitions of an issue: the moves its project's workflow allows from its status.

    A transition's id is its target status's id (as strings), so that clients may post either.
    """
    return [
        {
            "id": str(step.status_id),
            "name": name,
            "to": status_json(step.status_id, step.name, step.category),
            "hasScreen": False,
            "isGlobal": step.status_id in workflow.any_to or not workflow.defined,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }  # fmt: skip
        for step, name in workflow.transitions_from(status_id)
    ]


def transitions(ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    current = {pk: (status_id, project_id) for pk, status_id, project_id in
               Issue.objects.filter(pk__in=ids).values_list("id", "status_id", "project_id")}  # fmt: skip
    workflows = workflows_for(Project.objects.filter(pk__in={p for _s, p in current.values()}).only("id", "key"))
    return {pk: transitions_for(current[pk][0], workflows[current[pk][1]]) if pk in current else [] for pk in ids}


def apply(issues: list[dict[str, Any]], wanted: Iterable[str], fields: Iterable[str]) -> dict[str, Any]:
    """Add the per-issue expansions to the issue objects; return the response-level ones (names, schema)."""
    wanted = set(wanted)
    ids = [int(i["id"]) for i in issues]
    per_issue = {
        "renderedFields": rendered_fields if "renderedFields" in wanted else None,
        "changelog": changelog if "changelog" in wanted else None,
        "transitions": transitions if "transitions" in wanted else None,
    }
    for key, load in per_issue.items():
        if load is None:
            continue
        found = load(ids) if ids else {}
        for issue in issues:
            issue[key] = found.get(int(issue["id"]))
    top: dict[str, Any] = {}
    custom: dict[str, dict[str, Any]] = {}
    if wanted & {"names", "schema"}:
        # The custom fields the page's issues show (or were asked for by id): their names, one query.
        shown = {f for issue in issues for f in issue.get("fields", {}) if f.startswith("customfield_")}
        custom = custom_fields_meta(shown | {f for f in fields if f.startswith("customfield_")})
    if "names" in wanted:
        top["names"] = names(fields, custom)
    if "schema" in wanted:
        top["schema"] = schema(fields, custom)
    return top
