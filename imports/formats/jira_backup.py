"""Jira site backup (the zip with `entities.xml`, or `entities.xml` itself): streamed, never loaded whole.

`entities.xml` holds every row of a Jira Server / Data Center site, one element per row directly under
`<entity-engine-xml>`, in an order Jira does not promise (comments may come before their issue). It is read
once with lxml's `iterparse`, each element cleared as soon as it is read, and its rows go where they fit:

- small look-ups (projects, users, statuses, priorities, resolutions, issue types, link types) in memory;
- issues, comments, worklogs, labels and issue links in a temporary SQLite file (the "spill"), so memory
  stays flat however large the site; once the file is read, issues are read back in file order with their
  children and become the same records as every other format (`imports.schemas.IssueRecord`).

Sub-task links (link types of style `jira_subtask`) become parents. Everything else the backup carries that
Taskra keeps nowhere (other issue links, change history, attachments' metadata, workflows, custom field
values, ...) is counted by kind in the job summary (`not_kept`), and the statuses each project's issues use
are listed (`workflows`), so nothing is dropped silently.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from imports.formats.common import SourceError, TailReader, xml_error_message

# Jira's status category ids (table statuscategory): 1 "No category", 2 "To Do", 3 "Done", 4 "In Progress".
STATUS_CATEGORIES = {"1": "todo", "2": "todo", "3": "done", "4": "in_progress"}
SUBTASK_STYLE = "jira_subtask"
# Rows this reader turns into records or uses as look-ups; any other entity is counted as not kept.
USED = {
    "Project",
    "ApplicationUser",
    "User",
    "Status",
    "Priority",
    "Resolution",
    "IssueType",
    "Issue",
    "Worklog",
    "Label",
    "IssueLinkType",
}
# What a person calls the entities the summary counts (the rest keep Jira's entity name).
KIND_NAMES = {
    "FileAttachment": "attachments (metadata)",
    "WorkflowScheme": "workflow schemes",
    "CustomFieldValue": "custom field values",
    "CustomField": "custom fields",
    "Component": "components",
    "Version": "versions",
    "NodeAssociation": "component and version links",
}
# Jira's link between a project and its workflow scheme (table nodeassociation).
PROJECT_SCHEME = ("Project", "WorkflowScheme", "ProjectScheme")


def kind_name(entity: str) -> str:
    """Return the job summary's name of a backup entity Taskra does not keep."""
    return KIND_NAMES.get(entity, f"backup entity '{entity}'")


def _entities_stream(raw: BinaryIO, name: str) -> tuple[Any, Any]:
    """Return the stream of entities.xml (inside the zip, or the file itself) and the zip to close, if any."""
    head = raw.read(4)
    raw.seek(0)
    if head != b"PK\x03\x04":
        return raw, None
    try:
        archive = zipfile.ZipFile(raw)  # noqa: SIM115 - closed by the caller
    except zipfile.BadZipFile as exc:
        raise SourceError(f"{name} is not a readable zip file ({exc}); a truncated upload looks like this.") from None
    members = [m for m in archive.namelist() if m.rsplit("/", 1)[-1] == "entities.xml"]
    if not members:
        archive.close()
        raise SourceError(f"{name} holds no entities.xml: it is not a Jira site backup.")
    return archive.open(members[0]), archive


class _Spill:
    """Issues and their children in a temporary SQLite file, read back in file order."""

    def __init__(self, directory: str) -> None:
        self.db = sqlite3.connect(str(Path(directory) / "spill.sqlite3"))
        self.db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
            CREATE TABLE issue (id TEXT PRIMARY KEY, data TEXT);
            CREATE TABLE child (issue TEXT, kind TEXT, data TEXT);
            CREATE TABLE link (linktype TEXT, source TEXT, destination TEXT);
            CREATE TABLE changegroup (id TEXT, issue TEXT, author TEXT, created TEXT);
            CREATE TABLE changeitem (grp TEXT, field TEXT, old TEXT, new TEXT);
            """
        )

    def add(self, table: str, *values: str) -> None:
        marks = ",".join("?" * len(values))
        self.db.execute(f"INSERT INTO {table} VALUES ({marks})", values)  # noqa: S608 - table names are ours

    def close(self) -> None:
        self.db.close()


def _row(element: Any) -> dict[str, str]:
    """Return an entity's attributes and its child elements' text (Jira writes long text as children)."""
    data = dict(element.attrib)
    for child in element:
        if isinstance(child.tag, str):
            data[child.tag] = child.text or ""
    return data


def read(raw: Any, name: str, summary: dict[str, Any]) -> Iterator[tuple[int | None, Any]]:
    """Yield one record dict per issue of the backup (dates naive, in the site's time zone: `localize`)."""
    stream, archive = _entities_stream(raw.f, name)
    with tempfile.TemporaryDirectory(prefix="taskra-backup-") as directory:
        spill = _Spill(directory)
        try:
            lookups = _read_entities(stream, raw, name, spill, summary)
            yield from _records(spill, lookups, summary)
        finally:
            spill.close()
            if archive is not None:
                stream.close()
                archive.close()


def _read_entities(stream: Any, raw: Any, name: str, spill: _Spill, summary: dict[str, Any]) -> dict[str, Any]:
    not_kept: Counter[str] = summary.setdefault("not_kept", Counter())
    lookups: dict[str, dict[str, Any]] = {
        "Project": {},
        "ApplicationUser": {},
        "User": {},
        "Status": {},
        "Priority": {},
        "Resolution": {},
        "IssueType": {},
        "IssueLinkType": {},
        "JiraWorkflows": {},
        "WorkflowSchemeEntity": {},
        "ProjectWorkflowScheme": {},
    }
    depth = 0
    rows = 0
    reader = TailReader(stream, b"</entity-engine-xml>")
    try:
        events = etree.iterparse(
            reader,
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            huge_tree=True,
            remove_comments=True,
        )
        for event, element in events:
            if event == "start":
                depth += 1
                if depth == 1 and element.tag != "entity-engine-xml":
                    raise SourceError(
                        f"{name} is not a Jira backup: its root is <{element.tag}>, not <entity-engine-xml>."
                    )
                continue
            depth -= 1
            if depth != 1:
                continue
            rows += 1
            tag = element.tag
            data = _row(element)
            # Free the element and those before it: the tree never grows beyond one row.
            element.clear()
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
            if hasattr(raw, "f"):
                raw.count = raw.f.tell()  # progress: bytes of the upload (compressed) read so far
            if tag == "JiraWorkflows":
                lookups[tag][data.get("workflowname", "")] = data.get("descriptor", "")
            elif (
                tag == "NodeAssociation"
                and (
                    data.get("sourceNodeEntity"),
                    data.get("sinkNodeEntity"),
                    data.get("associationType"),
                )
                == PROJECT_SCHEME
            ):
                lookups["ProjectWorkflowScheme"][data.get("sourceNodeId", "")] = data.get("sinkNodeId", "")
            elif tag in lookups:
                lookups[tag][data.get("id", "")] = data
                if tag == "ApplicationUser":
                    lookups[tag][data.get("userKey", "")] = data
                elif tag == "User":
                    lookups[tag][(data.get("lowerUserName") or data.get("userName", "")).lower()] = data
            elif tag == "Issue":
                spill.add("issue", data.get("id", ""), json.dumps(data))
            elif tag == "Action" and data.get("type", "comment") == "comment":
                spill.add("child", data.get("issue", ""), "comment", json.dumps(data))
            elif tag == "Worklog":
                spill.add("child", data.get("issue", ""), "worklog", json.dumps(data))
            elif tag == "Label":
                if data.get("fieldid"):  # a labels custom field: not Taskra's labels
                    not_kept["custom field values"] += 1
                else:
                    spill.add("child", data.get("issue", ""), "label", data.get("label", ""))
            elif tag == "ChangeGroup":
                spill.add(
                    "changegroup",
                    data.get("id", ""),
                    data.get("issue", ""),
                    data.get("author", ""),
                    data.get("created", ""),
                )
            elif tag == "ChangeItem":
                old, new = (
                    data.get("oldstring") or data.get("oldvalue") or "",
                    data.get("newstring") or data.get("newvalue") or "",
                )
                spill.add("changeitem", data.get("group", ""), data.get("field", ""), old, new)
            elif tag == "IssueLink":
                spill.add("link", data.get("linktype", ""), data.get("source", ""), data.get("destination", ""))
            else:
                not_kept[kind_name(tag)] += 1
    except etree.XMLSyntaxError as exc:
        # The byte of entities.xml (inside a zip: of the unpacked file) where it ends or breaks.
        end = reader.count
        message = xml_error_message(name, exc, record=rows + 1, offset=end, truncated=reader.truncated(), what="row")
        raise SourceError(message) from None
    except (EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise SourceError(
            f"{name} is damaged or truncated: its entities.xml cannot be unpacked after row {rows:,} "
            f"(byte {reader.count:,} of entities.xml; {exc}). Upload the complete backup again."
        ) from None
    if rows == 0:
        raise SourceError(f"{name} holds no rows: it is not a Jira site backup's entities.xml.")
    return lookups


def _user(key: str | None, lookups: dict[str, Any]) -> dict[str, str] | None:
    if not key:
        return None
    app = lookups["ApplicationUser"].get(key) or {}
    lower = (app.get("lowerUserName") or key).lower()
    person = lookups["User"].get(lower) or {}
    user = {"account_id": key, "username": person.get("userName") or lower}
    if person.get("emailAddress"):
        user["email"] = person["emailAddress"]
    if person.get("displayName"):
        user["display_name"] = person["displayName"]
    return user


def _named(lookups: dict[str, Any], table: str, pk: str | None) -> str | None:
    row = lookups[table].get(pk or "")
    return row.get("name") if row else None


def _records(spill: _Spill, lookups: dict[str, Any], summary: dict[str, Any]) -> Iterator[tuple[int | None, Any]]:
    not_kept: Counter[str] = summary["not_kept"]
    projects = {pk: row.get("key", "") for pk, row in lookups["Project"].items()}
    subtask_types = [pk for pk, row in lookups["IssueLinkType"].items() if row.get("style") == SUBTASK_STYLE]
    db = spill.db
    db.execute("CREATE INDEX child_issue ON child (issue)")
    db.execute("CREATE INDEX link_destination ON link (destination)")
    db.execute("CREATE INDEX link_source ON link (source)")
    db.execute("CREATE INDEX changegroup_issue ON changegroup (issue)")
    db.execute("CREATE INDEX changeitem_group ON changeitem (grp)")
    history_sql = (
        "SELECT g.author, g.created, i.field, i.old, i.new FROM changegroup g JOIN changeitem i ON i.grp = g.id "
        "WHERE g.issue = ? ORDER BY g.created, i.rowid"
    )
    marks = ",".join("?" * len(subtask_types))
    outside = db.execute(
        f"SELECT count(*) FROM link WHERE linktype NOT IN ({marks}) AND (source NOT IN (SELECT id FROM issue) "  # noqa: S608
        "OR destination NOT IN (SELECT id FROM issue))",
        subtask_types,
    ).fetchone()[0]
    if outside:
        not_kept["issue links to issues not in the backup"] += outside
    links_sql = (
        "SELECT l.linktype, 1, o.data FROM link l JOIN issue o ON o.id = l.destination "  # noqa: S608
        f"WHERE l.source = ? AND l.linktype NOT IN ({marks}) "
        "UNION ALL SELECT l.linktype, 0, o.data FROM link l JOIN issue o ON o.id = l.source "
        f"WHERE l.destination = ? AND l.linktype NOT IN ({marks})"
    )
    orphans = db.execute("SELECT count(*) FROM child WHERE issue NOT IN (SELECT id FROM issue)").fetchone()[0]
    orphans += db.execute(
        "SELECT count(*) FROM changeitem WHERE grp NOT IN "
        "(SELECT id FROM changegroup WHERE issue IN (SELECT id FROM issue))"
    ).fetchone()[0]
    if orphans:
        not_kept["comments, worklogs, labels and history of issues not in the backup"] += orphans
    workflows: dict[str, set[str]] = {}
    parent_sql = f"SELECT source FROM link WHERE destination = ? AND linktype IN ({marks}) LIMIT 1"  # noqa: S608
    issue_keys: dict[str, str] = {}

    def key_of(data: dict[str, str]) -> str:
        if data.get("key"):  # Jira before 6.1 kept the key on the issue row
            return data["key"]
        return f"{projects.get(data.get('project', ''), '')}-{data.get('number', '')}"

    for issue_id, text in db.execute("SELECT id, data FROM issue ORDER BY rowid"):
        data = json.loads(text)
        key = key_of(data)
        status = lookups["Status"].get(data.get("status", "")) or {}
        category = STATUS_CATEGORIES.get(status.get("statuscategory") or "")
        record: dict[str, Any] = {
            "key": key,
            "external_id": issue_id,
            "project_name": _named(lookups, "Project", data.get("project")),
            "summary": data.get("summary", ""),
            "description": data.get("description", ""),
            "type": _named(lookups, "IssueType", data.get("type")),
            "status": status.get("name"),
            "status_category": category,
            "priority": _named(lookups, "Priority", data.get("priority")),
            "resolution": _named(lookups, "Resolution", data.get("resolution")),
            "assignee": _user(data.get("assignee"), lookups),
            "reporter": _user(data.get("reporter"), lookups),
            "original_estimate": int(data["timeoriginalestimate"]) if data.get("timeoriginalestimate") else None,
            "remaining_estimate": int(data["timeestimate"]) if data.get("timeestimate") else None,
            "created": data.get("created") or None,
            "updated": data.get("updated") or None,
            "resolved": data.get("resolutiondate") or None,
            "due_date": (data.get("duedate") or "")[:10] or None,
            "labels": [],
            "worklogs": [],
            "comments": [],
        }
        if status.get("name"):
            workflows.setdefault(key.rsplit("-", 1)[0], set()).add(status["name"])
        if subtask_types:
            parent = db.execute(parent_sql, [issue_id, *subtask_types]).fetchone()
            if parent is not None:
                parent_key = issue_keys.get(parent[0])
                if parent_key is None:
                    row = db.execute("SELECT data FROM issue WHERE id = ?", (parent[0],)).fetchone()
                    parent_key = key_of(json.loads(row[0])) if row else None
                if parent_key is None:
                    not_kept["sub-task links to issues not in the backup"] += 1
                record["parent"] = parent_key
        for kind, child_text in db.execute("SELECT kind, data FROM child WHERE issue = ? ORDER BY rowid", (issue_id,)):
            if kind == "label":
                record["labels"].append(child_text)
                continue
            child = json.loads(child_text)
            if kind == "comment":
                record["comments"].append(
                    {
                        "external_id": child.get("id"),
                        "author": _user(child.get("author"), lookups),
                        "body": child.get("body", ""),
                        "created": child.get("created") or None,
                        "updated": child.get("updated") or None,
                    }
                )
            else:
                record["worklogs"].append(
                    {
                        "external_id": child.get("id"),
                        "author": _user(child.get("author"), lookups),
                        "comment": child.get("body", ""),
                        "started": child.get("startdate") or None,
                        "time_spent": int(child["timeworked"]) if child.get("timeworked", "").isdigit() else None,
                        "created": child.get("created") or None,
                        "updated": child.get("updated") or None,
                    }
                )
        record["history"] = [
            {
                "author": _user(author, lookups),
                "created": created or None,
                "field": field,
                "from_value": old,
                "to_value": new,
            }
            for author, created, field, old, new in db.execute(history_sql, (issue_id,))
        ]
        for type_id, outward, other in db.execute(links_sql, [issue_id, *subtask_types, issue_id, *subtask_types]):
            link_type = lookups["IssueLinkType"].get(type_id) or {}
            record.setdefault("links", []).append(
                {
                    "type": link_type.get("linkname") or f"Link type {type_id}",
                    "other": key_of(json.loads(other)),
                    "outward": bool(outward),
                    "outward_text": link_type.get("outward", ""),
                    "inward_text": link_type.get("inward", ""),
                }
            )
        if len(issue_keys) < 100_000:  # parents usually come just before their sub-tasks
            issue_keys[issue_id] = key
        yield None, record
    definitions = workflow_definitions(lookups, not_kept)
    summary["workflows"] = {
        project: {
            "statuses": sorted(names),
            **({"workflow": definitions[project]["name"]} if project in definitions else {}),
        }
        for project, names in sorted(workflows.items())
    }
    summary["workflow_definitions"] = definitions


def _descriptor(text: str) -> Any:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.fromstring(text.encode(), parser)
    except etree.XMLSyntaxError:
        return None


def _workflow(name: str, text: str, lookups: dict[str, Any]) -> dict[str, Any] | None:
    """Return a Jira workflow descriptor's statuses (name, category) in step order and its transitions."""
    root = _descriptor(text)
    if root is None:
        return None
    step_status: dict[str, str] = {}
    steps: list[list[str]] = []
    for step in root.iterfind("steps/step"):
        status_id = step.findtext("meta[@name='jira.status.id']") or ""
        status = lookups["Status"].get(status_id.strip()) or {}
        if status.get("name"):
            step_status[step.get("id", "")] = status["name"]
            steps.append([status["name"], STATUS_CATEGORIES.get(status.get("statuscategory") or "", "todo")])
    common = {a.get("id", ""): a for a in root.iterfind("common-actions/action")}

    def targets(action: Any) -> list[str]:
        return [
            step_status[r.get("step", "")]
            for r in action.iterfind("results/unconditional-result")
            if r.get("step", "") in step_status
        ]

    transitions: dict[tuple[str | None, str], str] = {}
    for step in root.iterfind("steps/step"):
        source = step_status.get(step.get("id", ""))
        if source is None:
            continue
        actions = list(step.iterfind("actions/action"))
        actions += [common[c.get("id", "")] for c in step.iterfind("actions/common-action") if c.get("id") in common]
        for action in actions:
            for target in targets(action):
                if target != source:
                    transitions.setdefault((source, target), action.get("name", ""))
    for action in root.iterfind("global-actions/action"):
        for target in targets(action):
            transitions.setdefault((None, target), action.get("name", ""))
    if not steps:
        return None
    return {
        "name": name,
        "steps": list({s[0]: s for s in steps}.values()),
        "transitions": [[a, b, label] for (a, b), label in transitions.items()],
    }


def workflow_definitions(lookups: dict[str, Any], not_kept: Counter[str]) -> dict[str, dict[str, Any]]:
    """Return each project's workflow from the backup (project key -> name, steps, transitions).

    Jira picks a workflow per project and issue type (project -> workflow scheme -> workflow per type); Taskra
    has one per project: the scheme's default workflow (issue type 0), else its first, gets the union of the
    steps of the scheme's other workflows appended. A project on Jira's built-in scheme gets none (Taskra's
    default workflow stays).
    """
    by_scheme: dict[str, list[tuple[str, str]]] = {}
    for entry in lookups["WorkflowSchemeEntity"].values():
        by_scheme.setdefault(entry.get("scheme", ""), []).append(
            (entry.get("issuetype", ""), entry.get("workflow", ""))
        )
    parsed: dict[str, dict[str, Any] | None] = {}
    used: set[str] = set()
    out: dict[str, dict[str, Any]] = {}
    for project_id, scheme in lookups["ProjectWorkflowScheme"].items():
        project = lookups["Project"].get(project_id)
        entries = sorted(by_scheme.get(scheme, []), key=lambda e: e[0] != "0")  # the default (type 0) first
        if project is None or not entries:
            continue
        merged: dict[str, Any] | None = None
        for _type, name in entries:
            if name not in parsed:
                parsed[name] = _workflow(name, lookups["JiraWorkflows"].get(name, ""), lookups)
            flow = parsed[name]
            if flow is None:
                continue
            used.add(name)
            if merged is None:
                merged = {"name": flow["name"], "steps": list(flow["steps"]), "transitions": list(flow["transitions"])}
            else:
                have = {s[0] for s in merged["steps"]}
                merged["steps"] += [s for s in flow["steps"] if s[0] not in have]
                seen = {(t[0], t[1]) for t in merged["transitions"]}
                merged["transitions"] += [t for t in flow["transitions"] if (t[0], t[1]) not in seen]
        if merged is not None:
            out[project.get("key", "")] = merged
    unused = len(set(lookups["JiraWorkflows"]) - used)
    if unused:
        not_kept["workflows no project of the backup uses"] += unused
    return out
