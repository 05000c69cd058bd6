"""Tiny Jira export files of every format the importer reads, built here so tests need no fixture files.

Each builder writes what Jira itself writes (element names, column headers, attribute names as in real exports),
kept to the few records a test needs.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from imports.tests.conftest import jira_issue


def single_issue_json(path: Path, n: int = 7, *, project: str = "DEMO") -> Path:
    """Write what GET /rest/api/2/issue/KEY returns: one issue object, no "issues" array."""
    issue = {"expand": "renderedFields,names,schema", "self": "https://jira.example/rest/api/2/issue/1"}
    issue.update(jira_issue(n, project=project))
    path.write_text(json.dumps(issue))
    return path


def cloud_csv(path: Path, rows: list[dict[str, Any]], *, sprints: int = 2) -> Path:
    """Write a Jira Cloud CSV export: `Parent` holds the parent's issue id; Sprint and versions repeat."""
    header = ["Summary", "Issue key", "Issue id", "Issue Type", "Status", "Status Category", "Created"]
    header += ["Parent", "Parent summary", *["Sprint"] * sprints, "Component/s", "Fix Version/s", "Fix Version/s"]
    header += ["Custom field (Story Points)"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        cells = [
            row.get("summary", f"Issue {row['key']}"),
            row["key"],
            row["id"],
            row.get("type", "Task"),
            row.get("status", "To Do"),
            row.get("category", "To Do"),
            row.get("created", "15/Jan/24 10:30 AM"),
            row.get("parent", ""),
            row.get("parent_summary", ""),
            *row.get("sprints", [""] * sprints),
            row.get("component", ""),
            *row.get("versions", ["", ""]),
            row.get("points", ""),
        ]
        writer.writerow(cells)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def rss_xml(path: Path, items: list[dict[str, Any]]) -> Path:
    """Write Jira's XML export of search results (<rss><channel><item>...)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<rss version="0.92"><channel><title>Jira</title>']
    for item in items:
        parent = f'<parent id="{item["parent_id"]}">{item["parent"]}</parent>' if item.get("parent") else ""
        parts.append(
            f"<item><title>[{item['key']}] {item['summary']}</title>"
            f'<project id="1" key="{item["key"].split("-")[0]}">Demo</project>'
            f"<description>&lt;p&gt;Line one&lt;/p&gt;&lt;p&gt;Line &amp;amp; two&lt;/p&gt;</description>"
            f'<key id="{item["id"]}">{item["key"]}</key><summary>{item["summary"]}</summary>'
            f'<type id="3">{item.get("type", "Task")}</type>'
            f'<status id="3">{item.get("status", "In Progress")}</status>'
            '<statusCategory id="4" key="indeterminate" colorName="yellow"/>'
            '<priority id="2">High</priority><resolution id="-1">Unresolved</resolution>'
            '<assignee accountid="acc-9">Ann Jira</assignee><reporter accountid="acc-9">Ann Jira</reporter>'
            f"<labels><label>xml</label></labels>{parent}"
            "<created>Mon, 15 Jan 2024 10:30:00 +0000</created><updated>Tue, 16 Jan 2024 09:00:00 +0000</updated>"
            '<timeoriginalestimate seconds="7200">2 hours</timeoriginalestimate>'
            "<component>Backend</component><fixVersion>1.0</fixVersion>"
            f'<comments><comment id="{item["id"]}1" author="acc-9" created="Mon, 15 Jan 2024 13:00:00 +0000">'
            "&lt;p&gt;A comment&lt;/p&gt;</comment></comments>"
            '<customfields><customfield id="customfield_10016" key="story-points"><customfieldname>Story Points'
            "</customfieldname><customfieldvalues><customfieldvalue>3</customfieldvalue></customfieldvalues>"
            "</customfield></customfields></item>"
        )
    parts.append("</channel></rss>\n")
    path.write_text("".join(parts), encoding="utf-8")
    return path


# A Jira workflow descriptor (OSWorkflow XML, as Jira stores it): Open -> In Review -> Closed, and back to Open.
REVIEW_WORKFLOW = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE workflow PUBLIC "-//OpenSymphony Group//DTD OSWorkflow 2.8//EN"
  "http://www.opensymphony.com/osworkflow/workflow_2_8.dtd">
<workflow>
  <initial-actions>
    <action id="1" name="Create"><results><unconditional-result step="1" status="open"/></results></action>
  </initial-actions>
  <common-actions>
    <action id="3" name="Reopen"><results><unconditional-result step="1" status="open"/></results></action>
  </common-actions>
  <steps>
    <step id="1" name="Open"><meta name="jira.status.id">1</meta>
      <actions>
        <action id="4" name="Ask for review"><results><unconditional-result step="2"/></results></action>
      </actions>
    </step>
    <step id="2" name="In Review"><meta name="jira.status.id">10100</meta>
      <actions><action id="5" name="Approve"><results><unconditional-result step="3"/></results></action>
        <common-action id="3"/></actions>
    </step>
    <step id="3" name="Closed"><meta name="jira.status.id">6</meta><actions><common-action id="3"/></actions></step>
  </steps>
</workflow>"""


def entities_xml(*, projects: tuple[str, ...] = ("DEMO", "OPS")) -> bytes:
    """Return an entities.xml of a Jira Server site: 2 projects, 2 issues each (one a sub-task), history, links.

    Rows come in an order Jira does not promise either: a comment and a link before the issues they name.
    """
    rows = [
        '<Action id="900" issue="20001" author="JIRAUSER1" type="comment" created="2024-01-15 13:00:00.0">'
        "<body>Comment before its issue</body></Action>",
        '<IssueLink id="700" linktype="10001" source="20001" destination="20002" sequence="0"/>',
        '<IssueLink id="701" linktype="10000" source="20001" destination="20003"/>',
        '<IssueLink id="702" linktype="10001" source="20003" destination="20004" sequence="0"/>',
        '<IssueLinkType id="10000" linkname="Blocks" inward="is blocked by" outward="blocks"/>',
        '<IssueLinkType id="10001" linkname="jira_subtask_link" inward="" outward="" style="jira_subtask"/>',
        '<ApplicationUser id="1" userKey="JIRAUSER1" lowerUserName="ann"/>',
        '<User id="5" directoryId="1" userName="ann" lowerUserName="ann" displayName="Ann Server" '
        'emailAddress="ann@server.example"/>',
        '<Status id="1" name="Open" statuscategory="2"/>',
        '<Status id="10100" name="In Review" statuscategory="4"/>',
        '<Status id="6" name="Closed" statuscategory="3"/>',
        '<Priority id="3" name="Medium"/>',
        '<Resolution id="1" name="Fixed"/>',
        '<IssueType id="1" name="Bug"/>',
        '<IssueType id="5" name="Sub-task" style="jira_subtask"/>',
        f'<JiraWorkflows id="10000" workflowname="Review workflow"><descriptor>{escape(REVIEW_WORKFLOW)}</descriptor>'
        "</JiraWorkflows>",
        '<JiraWorkflows id="10001" workflowname="Unused workflow"><descriptor>&lt;workflow/&gt;</descriptor>'
        "</JiraWorkflows>",
        '<WorkflowScheme id="10000" name="Review scheme"/>',
        '<WorkflowSchemeEntity id="10000" scheme="10000" workflow="Review workflow" issuetype="0"/>',
        # DEMO (project 100) uses the review scheme; OPS is on Jira's built-in scheme.
        '<NodeAssociation sourceNodeId="100" sourceNodeEntity="Project" sinkNodeId="10000" '
        'sinkNodeEntity="WorkflowScheme" associationType="ProjectScheme"/>',
        # Custom fields: a number, a select (its value is an option's id), a multi-select, a date; values of
        # DEMO-1 (issue 20001), one of them before its field's definition.
        '<CustomFieldValue id="30001" issue="20001" customfield="10010" numbervalue="5.0"/>',
        '<CustomField id="10010" customfieldtypekey="com.atlassian.jira.plugin.system.customfieldtypes:float" '
        'name="Story Points"/>',
        '<CustomField id="10011" customfieldtypekey="com.atlassian.jira.plugin.system.customfieldtypes:select" '
        'name="Team"/>',
        '<CustomField id="10012" customfieldtypekey="com.atlassian.jira.plugin.system.customfieldtypes:multiselect" '
        'name="Platforms"/>',
        '<CustomField id="10013" customfieldtypekey="com.atlassian.jira.plugin.system.customfieldtypes:datepicker" '
        'name="Go live"/>',
        '<CustomFieldOption id="10100" customfield="10011" customvalue="Core"/>',
        '<CustomFieldOption id="10101" customfield="10012" customvalue="Linux"/>',
        '<CustomFieldOption id="10102" customfield="10012" customvalue="Mac"/>',
        '<CustomFieldValue id="30002" issue="20001" customfield="10011" stringvalue="10100"/>',
        '<CustomFieldValue id="30003" issue="20001" customfield="10012" stringvalue="10101"/>',
        '<CustomFieldValue id="30004" issue="20001" customfield="10012" stringvalue="10102"/>',
        '<CustomFieldValue id="30005" issue="20001" customfield="10013" datevalue="2024-03-01 00:00:00.0"/>',
    ]
    issue_id = 20001
    for p, key in enumerate(projects):
        rows.append(f'<Project id="{100 + p}" name="Project {key}" key="{key}" lead="JIRAUSER1" counter="2"/>')
    for p, _key in enumerate(projects):
        for number in (1, 2):
            sub = number == 2
            status, resolution = ("6", ' resolution="1"') if sub else ("10100", "")
            rows.append(
                f'<Issue id="{issue_id}" project="{100 + p}" number="{number}" reporter="JIRAUSER1" '
                f'assignee="JIRAUSER1" type="{"5" if sub else "1"}" priority="3" status="{status}"{resolution} '
                f'created="2024-01-1{number} 10:00:00.0" updated="2024-01-1{number} 11:00:00.0" '
                f'timeoriginalestimate="3600"><summary>Backup issue {issue_id}</summary>'
                f"<description>Described {issue_id}</description></Issue>"
            )
            rows.append(
                f'<Worklog id="{issue_id}5" issue="{issue_id}" author="JIRAUSER1" timeworked="1800" '
                f'startdate="2024-01-15 12:00:00.0" created="2024-01-15 12:00:00.0"><body>worked</body></Worklog>'
            )
            rows.append(f'<Label id="{issue_id}6" issue="{issue_id}" label="backup"/>')
            rows.append(f'<ChangeGroup id="{issue_id}7" issue="{issue_id}" author="JIRAUSER1" created="2024-01-15"/>')
            rows.append(
                f'<ChangeItem id="{issue_id}8" group="{issue_id}7" fieldtype="jira" field="status" oldstring="Open" '
                'newstring="In Review"/>'
            )
            rows.append(
                f'<FileAttachment id="{issue_id}9" issue="{issue_id}" filename="a.png" filesize="10" '
                'mimetype="image/png"/>'
            )
            issue_id += 1
    body = "\n".join(f"    {row}" for row in rows)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<entity-engine-xml>\n{body}\n</entity-engine-xml>\n'.encode()


def backup_zip(path: Path, entities: bytes | None = None) -> Path:
    """Write a Jira site backup: a zip holding entities.xml (and the activeobjects.xml Jira puts beside it)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("entities.xml", entities if entities is not None else entities_xml())
        archive.writestr("activeobjects.xml", "<backup/>")
    return path
