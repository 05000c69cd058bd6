"""Jira site backup (the zip with `entities.xml`, or `entities.xml` itself): streamed, never loaded whole.

`entities.xml` holds every row of a Jira Server / Data Center site, one element per row directly under
`<entity-engine-xml>`, in an order Jira does not promise (comments may come before their issue). It is read
once with lxml's `iterparse`, each element cleared as soon as it is read, and its rows go where they fit:

- small look-ups (projects, users, statuses, priorities, resolutions, issue types, link types) in memory;
- issues, comments, worklogs, labels and issue links in a temporary SQLite file (the "spill"), so memory
  stays flat however large the site; once the file is read, issues are read back in file order with their
  children and become the same records as every other format (`imports.schemas.IssueRecord`).

Sub-task links (link types of style `jira_subtask`) become parents; custom fields (CustomField, their options
and CustomFieldValue rows) become the issue's custom-field values. Everything else the backup carries that
Taskra keeps nowhere (attachments' metadata, components, versions, unused workflows, ...) is counted by kind
in the job summary (`not_kept`), and the statuses each project's issues use are listed (`workflows`), so
nothing is dropped silently.
"""

from __future__ import annotations

import sqlite3
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from lxml import etree

from imports.formats.common import SourceError, TailReader, field_type, xml_error_message

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
    "CustomField",
    "CustomFieldValue",
    "CustomFieldOption",
}
# What a person calls the entities the summary counts (the rest keep Jira's entity name).
KIND_NAMES = {
    "FileAttachment": "attachments (metadata)",
    "WorkflowScheme": "workflow schemes",
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
    """Issues and their children in a temporary SQLite file, read back in file order.

    Rows are buffered and written with one `executemany` per table and batch: a statement per row cost more
    than parsing the row.
    """

    BATCH = 5000

    def __init__(self, directory: str) -> None:
        self.db = sqlite3.connect(str(Path(directory) / "spill.sqlite3"))
        self.db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE; PRAGMA cache_size=-16000;
            CREATE TABLE issue (id TEXT PRIMARY KEY, project TEXT, number TEXT, key TEXT, data BLOB);
            CREATE TABLE child (issue TEXT, kind TEXT, data BLOB);
            CREATE TABLE link (linktype TEXT, source TEXT, destination TEXT);
            CREATE TABLE changegroup (id TEXT, issue TEXT, author TEXT, created TEXT);
            CREATE TABLE changeitem (grp TEXT, field TEXT, old TEXT, new TEXT);
            """
        )
        self.pending: dict[str, list[tuple[Any, ...]]] = {
            "issue": [],
            "child": [],
            "link": [],
            "changegroup": [],
            "changeitem": [],
        }
        self.sql = {
            table: f"INSERT INTO {table} VALUES ({','.join('?' * width)})"  # noqa: S608 - table names are ours
            for table, width in (("issue", 5), ("child", 3), ("link", 3), ("changegroup", 4), ("changeitem", 4))
        }

    def add(self, table: str, values: tuple[Any, ...]) -> None:
        rows = self.pending[table]
        rows.append(values)
        if len(rows) >= self.BATCH:
            self.db.executemany(self.sql[table], rows)
            rows.clear()

    def flush(self) -> None:
        for table, rows in self.pending.items():
            if rows:
                self.db.executemany(self.sql[table], rows)
                rows.clear()

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


def _lookups() -> dict[str, dict[str, Any]]:
    return {
        "Project": {},
        "ApplicationUser": {},
        "User": {},
        "Status": {},
        "Priority": {},
        "Resolution": {},
        "IssueType": {},
        "IssueLinkType": {},
        "CustomField": {},
        "CustomFieldOption": {},
        "JiraWorkflows": {},
        "WorkflowSchemeEntity": {},
        "ProjectWorkflowScheme": {},
        "_people": {},  # user key -> the record's user dict (_user)
    }


def _read_entities(stream: Any, raw: Any, name: str, spill: _Spill, summary: dict[str, Any]) -> dict[str, Any]:
    not_kept: Counter[str] = summary.setdefault("not_kept", Counter())
    lookups = _lookups()
    rows = 0
    root: Any = None
    add = spill.add
    dumps = orjson.dumps
    reader = TailReader(stream, b"</entity-engine-xml>")
    try:
        # End events only: a row is an element whose parent is the root (its children, e.g. <summary>, end
        # before it and are read with it); start events would double the callbacks for nothing.
        events = etree.iterparse(
            reader,
            events=("end",),
            resolve_entities=False,
            no_network=True,
            huge_tree=True,
            remove_comments=True,
        )
        for _event, element in events:
            parent = element.getparent()
            if parent is None:
                if root is None and element.tag != "entity-engine-xml":  # the root alone, without rows
                    raise SourceError(
                        f"{name} is not a Jira backup: its root is <{element.tag}>, not <entity-engine-xml>."
                    )
                continue
            if root is None:
                root = parent
                while root.getparent() is not None:
                    root = root.getparent()
                if root.tag != "entity-engine-xml":
                    raise SourceError(
                        f"{name} is not a Jira backup: its root is <{root.tag}>, not <entity-engine-xml>."
                    )
            if parent is not root:
                continue  # a row's child element: read with its row
            rows += 1
            tag = element.tag
            data = _row(element)
            # Free the element and those before it: the tree never grows beyond one row.
            element.clear()
            while element.getprevious() is not None:
                del root[0]
            if rows % 1000 == 0 and hasattr(raw, "f"):
                raw.count = raw.f.tell()  # progress: bytes of the upload (compressed) read so far
            get = data.get
            if tag == "Issue":
                add("issue", (get("id", ""), get("project", ""), get("number", ""), get("key", ""), dumps(data)))
            elif tag == "Worklog":
                add("child", (get("issue", ""), "worklog", dumps(data)))
            elif tag == "Action":
                if get("type", "comment") == "comment":
                    add("child", (get("issue", ""), "comment", dumps(data)))
                else:
                    not_kept[kind_name(tag)] += 1
            elif tag == "Label":
                if get("fieldid"):  # a labels custom field: its values, not Taskra's labels
                    add("child", (get("issue", ""), "cf", dumps([get("fieldid"), get("label", ""), "", "", ""])))
                else:
                    add("child", (get("issue", ""), "label", get("label", "")))
            elif tag == "CustomFieldValue":
                value = [get("customfield", ""), get("stringvalue", ""), get("numbervalue", "")]
                value += [get("textvalue", ""), get("datevalue", "")]
                add("child", (get("issue", ""), "cf", dumps(value)))
            elif tag == "ChangeGroup":
                add("changegroup", (get("id", ""), get("issue", ""), get("author", ""), get("created", "")))
            elif tag == "ChangeItem":
                old = get("oldstring") or get("oldvalue") or ""
                new = get("newstring") or get("newvalue") or ""
                add("changeitem", (get("group", ""), get("field", ""), old, new))
            elif tag == "IssueLink":
                add("link", (get("linktype", ""), get("source", ""), get("destination", "")))
            elif tag == "JiraWorkflows":
                lookups[tag][get("workflowname", "")] = get("descriptor", "")
            elif (
                tag == "NodeAssociation"
                and (
                    get("sourceNodeEntity"),
                    get("sinkNodeEntity"),
                    get("associationType"),
                )
                == PROJECT_SCHEME
            ):
                lookups["ProjectWorkflowScheme"][get("sourceNodeId", "")] = get("sinkNodeId", "")
            elif tag in lookups:
                lookups[tag][get("id", "")] = data
                if tag == "ApplicationUser":
                    lookups[tag][get("userKey", "")] = data
                elif tag == "User":
                    lookups[tag][(get("lowerUserName") or get("userName", "")).lower()] = data
            else:
                not_kept[kind_name(tag)] += 1
        spill.flush()
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
    known = lookups["_people"].get(key)
    if known is not None:  # the same few people on every row: built once each (records never modify them)
        return known
    app = lookups["ApplicationUser"].get(key) or {}
    lower = (app.get("lowerUserName") or key).lower()
    person = lookups["User"].get(lower) or {}
    user = {"account_id": key, "username": person.get("userName") or lower}
    if person.get("emailAddress"):
        user["email"] = person["emailAddress"]
    if person.get("displayName"):
        user["display_name"] = person["displayName"]
    if len(lookups["_people"]) < 100_000:
        lookups["_people"][key] = user
    return user


def _named(lookups: dict[str, Any], table: str, pk: str | None) -> str | None:
    row = lookups[table].get(pk or "")
    return row.get("name") if row else None


def _number_text(value: str) -> str:
    """Return Jira's stored number ("3.0") as a person writes it ("3")."""
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else value


def _custom_fields(rows: list[Any], lookups: dict[str, Any]) -> list[dict[str, Any]]:
    """Return an issue's custom-field values (CustomFieldValue rows, grouped by field in file order)."""
    fields: dict[str, dict[str, Any]] = {}
    for field_id, string, number, text, date in rows:
        definition = lookups["CustomField"].get(field_id) or {}
        kind = field_type(definition.get("customfieldtypekey"))
        entry = fields.get(field_id)
        if entry is None:
            entry = fields[field_id] = {
                "field": f"customfield_{field_id}",
                "name": definition.get("name") or None,
                "type": kind,
                "values": [],
            }
        if kind in ("select", "multiselect"):
            option = lookups["CustomFieldOption"].get(string) or {}
            value = option.get("customvalue") or option.get("value") or string
        elif kind == "user":
            person = _user(string, lookups)
            value = person["username"] if person else ""
        elif kind == "number":
            value = _number_text(number or string)
        elif kind in ("date", "datetime"):
            value = date or string
            value = value[:10] if kind == "date" else value
        else:
            value = text or string or number or date
        if value:
            entry["values"].append(value)
    return [entry for entry in fields.values() if entry["values"]]


class _Stream:
    """Rows of one query ordered by the issue's position in the spill, taken issue by issue."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self.rows = rows
        self.head = next(rows, None)

    def take(self, rowid: int) -> list[Any]:
        out = []
        while self.head is not None and self.head[0] == rowid:
            out.append(self.head[1:])
            self.head = next(self.rows, None)
        return out


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
    marks = ",".join("?" * len(subtask_types))
    outside = db.execute(
        f"SELECT count(*) FROM link WHERE linktype NOT IN ({marks}) AND (source NOT IN (SELECT id FROM issue) "  # noqa: S608
        "OR destination NOT IN (SELECT id FROM issue))",
        subtask_types,
    ).fetchone()[0]
    if outside:
        not_kept["issue links to issues not in the backup"] += outside
    orphans = db.execute("SELECT count(*) FROM child WHERE issue NOT IN (SELECT id FROM issue)").fetchone()[0]
    orphans += db.execute(
        "SELECT count(*) FROM changeitem WHERE grp NOT IN "
        "(SELECT id FROM changegroup WHERE issue IN (SELECT id FROM issue))"
    ).fetchone()[0]
    if orphans:
        not_kept["comments, worklogs, labels and history of issues not in the backup"] += orphans
    lost_parents = db.execute(
        f"SELECT count(*) FROM link WHERE linktype IN ({marks}) AND destination IN (SELECT id FROM issue) "  # noqa: S608
        "AND source NOT IN (SELECT id FROM issue)",
        subtask_types,
    ).fetchone()[0]
    if lost_parents:
        not_kept["sub-task links to issues not in the backup"] += lost_parents

    def key_of(project: str, number: str, key: str) -> str:
        if key:  # Jira before 6.1 kept the key on the issue row
            return key
        return f"{projects.get(project, '')}-{number}"

    # One ordered pass per kind of row, merged issue by issue (no query per issue): each query walks the
    # issues in spill order and finds their rows through the indexes.
    children = _Stream(
        db.execute(
            "SELECT i.rowid, c.kind, c.data FROM issue i JOIN child c ON c.issue = i.id ORDER BY i.rowid, c.rowid"
        )
    )
    history = _Stream(
        db.execute(
            "SELECT i.rowid, g.author, g.created, ci.field, ci.old, ci.new FROM issue i "
            "JOIN changegroup g ON g.issue = i.id JOIN changeitem ci ON ci.grp = g.id "
            "ORDER BY i.rowid, g.created, ci.rowid"
        )
    )
    parents = _Stream(
        db.execute(
            "SELECT i.rowid, p.project, p.number, p.key FROM issue i JOIN link l ON l.destination = i.id "  # noqa: S608
            f"JOIN issue p ON p.id = l.source WHERE l.linktype IN ({marks}) ORDER BY i.rowid",
            subtask_types,
        )
    )
    outward = _Stream(
        db.execute(
            "SELECT i.rowid, l.linktype, o.project, o.number, o.key FROM issue i JOIN link l ON l.source = i.id "  # noqa: S608
            f"JOIN issue o ON o.id = l.destination WHERE l.linktype NOT IN ({marks}) ORDER BY i.rowid, l.rowid",
            subtask_types,
        )
    )
    inward = _Stream(
        db.execute(
            "SELECT i.rowid, l.linktype, o.project, o.number, o.key FROM issue i "  # noqa: S608
            "JOIN link l ON l.destination = i.id JOIN issue o ON o.id = l.source "
            f"WHERE l.linktype NOT IN ({marks}) ORDER BY i.rowid, l.rowid",
            subtask_types,
        )
    )
    workflows: dict[str, set[str]] = {}
    statuses = lookups["Status"]
    for rowid, issue_id, text in db.execute("SELECT rowid, id, data FROM issue ORDER BY rowid"):
        data = orjson.loads(text)
        key = key_of(data.get("project", ""), data.get("number", ""), data.get("key", ""))
        status = statuses.get(data.get("status", "")) or {}
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
        parent = parents.take(rowid)
        if parent:
            record["parent"] = key_of(*parent[0])
        custom: list[Any] = []
        for kind, child_data in children.take(rowid):
            if kind == "label":
                record["labels"].append(child_data)
                continue
            child = orjson.loads(child_data)
            if kind == "cf":
                custom.append(child)
            elif kind == "comment":
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
        if custom:
            record["custom_fields"] = _custom_fields(custom, lookups)
        record["history"] = [
            {
                "author": _user(author, lookups),
                "created": created or None,
                "field": field,
                "from_value": old,
                "to_value": new,
            }
            for author, created, field, old, new in history.take(rowid)
        ]
        for is_outward, stream in ((True, outward), (False, inward)):
            for type_id, project, number, other_key in stream.take(rowid):
                link_type = lookups["IssueLinkType"].get(type_id) or {}
                record.setdefault("links", []).append(
                    {
                        "type": link_type.get("linkname") or f"Link type {type_id}",
                        "other": key_of(project, number, other_key),
                        "outward": is_outward,
                        "outward_text": link_type.get("outward", ""),
                        "inward_text": link_type.get("inward", ""),
                    }
                )
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
