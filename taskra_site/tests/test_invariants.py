"""Property test: random sequences of writes through every entry point keep Taskra's invariants (issue #12).

A hypothesis state machine drives the site the way its users do: the browser forms (create and edit an issue,
inline edits, comments, worklog add/edit/delete), the timesheet, the JSON API, the Django admin's change form,
an upload of a small Jira JSON export (the job runs eagerly when the page's transaction commits), a bulk
change, an issue delete and membership changes in the admin. After every step it checks, against the database:

- no 500 anywhere;
- hierarchy: no parent cycle or self-parent, a parent is in its sub-task's project and is not a sub-task itself,
  an issue has a parent exactly when its type is a sub-task type;
- each issue's time spent is the sum of its worklogs;
- every change has history: a History row per changed field, and one for every worklog change;
- nothing changes silently: an edit form saved with only some fields changed changes only those (text
  normalised to LF: no CR is ever stored);
- no page served stale: the issue page (page cache on, local memory) shows what the database holds, and a
  membership revoked or restored in the admin takes effect on the next request (404 / 200, never a stale page);
- a user never changes (nor sees the summaries of) a project they are not a member of; a non-staff import
  never attributes rows to another existing account, rewrites a profile's account id or creates active accounts.

Personas (created per example, the brief of #12; not the root conftest's):
- alice: admin of DEMO (project A), Berlin time;
- bob: member of DEMO, viewer of OPS (project B);
- carol: member of OPS only, New York time; DEMO is invisible to her (404s);
- root: superuser, member of nothing: drives the Django admin.

Known holes: a check that fails on main because of a hole named in issue #12 is recorded instead of failing
when its name is in KNOWN_HOLES; the test then ends as xfail naming the holes it saw. Remove an entry when
its fix lands: the check becomes strict again. Anything else fails at once (hypothesis shrinks it to a
minimal sequence of steps).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import uuid
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Sum
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from issues import pagecache
from issues.durations import format_duration
from issues.issuepage import cached as issuepage
from issues.models import Comment, History, Issue, IssueType, Membership, Priority, Project, Role, Status
from issues.services import issue_create
from issues.tests.test_admin import issue_form
from taskra_site.celery import app as celery_app
from worklogs.models import Worklog
from worklogs.services import worklog_add

pytestmark = pytest.mark.django_db

# Checks that fail on main because of a hole named in issue #12 (`issues show 12`), by the branch fixing it.
# The merger removes an entry when its fix lands; the check then fails the test again if the hole comes back.
KNOWN_HOLES: dict[str, str] = {}

# A pinned clock: every step happens one minute after the previous one (no wall clock anywhere).
START = dt.datetime(2026, 3, 4, 9, 0, tzinfo=dt.UTC)  # a Wednesday
WEEK_DAYS = [dt.date(2026, 3, 2) + dt.timedelta(days=i) for i in range(7)]  # Mon 2 .. Sun 8 March 2026

PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("TASKRA_PROPERTY_EXAMPLES", "30")),
    stateful_step_count=15,
    deadline=None,
    derandomize=True,  # the same sequences on every run and machine: CI is reproducible
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Every issue field an edit can change, as History.field names it.
FIELDS = (
    "summary", "description", "type_id", "status_id", "priority_id", "resolution_id", "assignee_id",
    "reporter_id", "parent_id", "due_date", "original_estimate", "remaining_estimate",
)  # fmt: skip
WORKLOG_STEPS = {"worklog_add", "worklog_edit", "worklog_delete", "timesheet_cell"}
# The Jira users of the import files: one unknown to Taskra, one whose e-mail is alice's (impersonation).
JIRA_USERS = [
    {"accountId": "jira-ann", "emailAddress": "ann@jira.example", "displayName": "Ann Example"},
    {"accountId": "jira-alice", "emailAddress": "alice@example.com", "displayName": "Alice (Jira)"},
]
TEXTS = st.sampled_from(["", "one line", "two\nlines", "  padded  ", "tab\there", "*bold* `code`", "ünïcödé ✓"])
DURATIONS = st.sampled_from(["15m", "30m", "1h", "1h 30m", "2h", "4h", "1d"])


class FormFields(HTMLParser):
    """The fields of the page's first POST form (the top bar's log-out form aside), as a browser submits them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, str] = {}
        self._in_form = self._done = False
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if self._done:
            return
        logout = a.get("action") == "/accounts/logout/" or "logout" in a.get("class", "")
        if tag == "form" and a.get("method", "").lower() == "post" and not logout:
            self._in_form = True  # the page's own form, not the top bar's log-out button
        if not self._in_form:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "checkbox", "radio", "file"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select, self._select_first = a.get("name"), None
            if self._select:
                self.fields[self._select] = ""
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
                self.fields[self._select] = value  # a browser submits the first option when none is selected
            if "selected" in a:
                self.fields[self._select] = value
        elif tag == "textarea":
            self._textarea = a.get("name")
            if self._textarea:
                self.fields[self._textarea] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True

    def handle_data(self, data: str) -> None:
        if self._textarea:
            # The HTML parser drops the newline right after <textarea>; browsers submit line breaks as CRLF.
            text = self.fields[self._textarea] + data
            self.fields[self._textarea] = text.removeprefix("\n")


def browser_form(page: str) -> dict[str, str]:
    """Return what submitting the page's first POST form unchanged sends (textareas with CRLF line breaks)."""
    parser = FormFields()
    parser.feed(page)
    fields = parser.fields
    fields.pop("csrfmiddlewaretoken", None)
    return fields


def crlf(text: str) -> str:
    """Return text with line breaks as a browser submits a textarea."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def tick(self) -> None:
        self.now += dt.timedelta(minutes=1)


def _status_on_page(page: str) -> str | None:
    at = page.find('id="lbl-status"')
    if at < 0:
        return None
    rest = page[at:]
    editor = re.search(r'<select name="status".*?<option value="(\d+)" selected>', rest, re.S)
    viewer = re.search(r'<span class="lozenge lozenge-\w+">(.*?)</span>', rest, re.S)
    if editor and (not viewer or editor.start() < viewer.start()):
        return Status.objects.get(pk=int(editor.group(1))).name
    return html.unescape(viewer.group(1)) if viewer else None


def page_facts(page: str) -> dict[str, Any]:
    """Return what the issue page shows of the facts the invariants compare with the database."""

    def one(pattern: str) -> str | None:
        found = re.search(pattern, page, re.S)
        return html.unescape(found.group(1)) if found else None

    return {
        # Editors see the click-to-edit heading (the summary in its own span), viewers the plain one.
        "summary": one(r'<h1 id="issue-summary"[^>]*>.*?</span> (?:<span data-summary-text>)?(.*?)(?:</span>)?</h1>'),
        "status": _status_on_page(page),
        "spent": one(r'<span data-time="spent">(.*?)</span>'),
        "worklogs": one(r'id="h-worklogs">Work log <span class="count">(\d+)</span>'),
        "comments": one(r'id="h-comments">Comments <span class="count">(\d+)</span>'),
        "history": one(r'id="h-history">History <span class="count">(\d+)</span>'),
        "parent": one(r'<h2 id="h-parent">Parent</h2>\s*<p><a href="[^"]*">([^<]*)</a>'),
        "subtasks": one(r'id="h-subtasks">Sub-tasks <span class="count">(\d+)</span>') or "0",
    }


def db_facts() -> dict[int, tuple[str, str, dict[str, Any]]]:
    """Return (key, project id, facts) of every issue as its page should show them, in a few grouped queries."""

    def counts(model: Any, column: str = "issue_id") -> dict[int, int]:
        rows = model.objects.order_by().values(column).annotate(n=Count("pk")).values_list(column, "n")
        return dict(rows)

    worklogs, comments, history = counts(Worklog), counts(Comment), counts(History)
    subtasks = counts(Issue, "parent_id")
    out = {}
    for issue in Issue.objects.select_related("status", "parent").order_by("pk"):
        spent = issue.time_spent
        out[issue.pk] = (
            issue.key,
            issue.project_id,
            {
                "summary": issue.summary,
                "status": issue.status.name,
                "spent": format_duration(spent) if spent else "None",
                "worklogs": str(worklogs.get(issue.pk, 0)),
                "comments": str(comments.get(issue.pk, 0)),
                "history": str(history.get(issue.pk, 0)),
                "parent": issue.parent.key if issue.parent_id else None,
                "subtasks": str(subtasks.get(issue.pk, 0)),
            },
        )
    return out


def snapshot() -> dict[str, Any]:
    """Return the rows the invariants compare before and after a step."""
    issues = {}
    labels: dict[int, list[str]] = {}
    for issue_id, name in Issue.labels.through.objects.values_list("issue_id", "label__name"):
        labels.setdefault(issue_id, []).append(name)
    for issue in Issue.objects.order_by("pk"):
        row = {f: getattr(issue, f) for f in FIELDS}
        row["labels"] = tuple(sorted(labels.get(issue.pk, ())))
        row["project_id"], row["key"], row["time_spent"] = issue.project_id, issue.key, issue.time_spent
        issues[issue.pk] = row
    User = get_user_model()
    return {
        "issues": issues,
        "worklogs": {
            w["pk"]: w
            for w in Worklog.objects.values("pk", "issue_id", "author_id", "time_spent", "started", "comment")
        },
        "comments": {c["pk"]: c for c in Comment.objects.values("pk", "issue_id", "author_id", "body")},
        "history_max": max(History.objects.values_list("pk", flat=True), default=0),
        "users": {u["pk"]: u for u in User.objects.values("pk", "is_active", "profile__account_id")},
    }


def build_machine(capture: Callable[..., Any], clock: Clock) -> type[RuleBasedStateMachine]:
    """Return the state machine class, bound to the test's on-commit capture and pinned clock."""

    class Invariants(RuleBasedStateMachine):
        holes_seen: dict[str, str] = {}  # hole name -> first reproduction seen (over all examples)

        def __init__(self) -> None:
            super().__init__()
            self.atomic = transaction.atomic()
            self.atomic.__enter__()  # rolled back in teardown: every example starts from the same world
            cache.clear()
            pagecache.reset_state()
            issuepage.reset_state()
            clock.now = START
            self.n = 0
            self.log: list[str] = []
            self.moved_from: set[int] = set()  # issues an import moved rows away from, this step
            self.pages_seen: dict[int, tuple[str, dict[str, Any]]] = {}  # the facts each page was last seen with
            User = get_user_model()
            self.users = {}
            for name, tz in (("alice", "Europe/Berlin"), ("bob", "UTC"), ("carol", "America/New_York")):
                user = User.objects.create_user(name, f"{name}@example.com", f"{name}-pass-123")
                user.profile.display_name = f"{name.title()} Persona"
                user.profile.time_zone = tz
                user.profile.save()
                self.users[name] = user
            self.users["root"] = User.objects.create_superuser("root", "root@example.com", "root-pass-123")
            alice, bob, carol = self.users["alice"], self.users["bob"], self.users["carol"]
            self.demo = Project.objects.create(key="DEMO", name="Demo", lead=alice)
            self.ops = Project.objects.create(key="OPS", name="Operations", lead=carol)
            Membership.objects.create(project=self.demo, user=alice, role=Role.ADMIN)
            Membership.objects.create(project=self.demo, user=bob, role=Role.MEMBER)
            Membership.objects.create(project=self.ops, user=bob, role=Role.VIEWER)
            Membership.objects.create(project=self.ops, user=carol, role=Role.MEMBER)
            self.subtask_type = IssueType.objects.filter(is_subtask=True).first()
            parent = issue_create(project=self.demo, reporter=alice, summary=self.summary(), original_estimate=36000)
            issue_create(project=self.demo, reporter=bob, summary=self.summary(), parent=parent, type=self.subtask_type)
            ops = issue_create(project=self.ops, reporter=carol, summary=self.summary(), description="line\nbreak")
            worklog_add(issue=parent, author=alice, time_spent=3600, started=START, check_permission=False)
            # DEMO-1 is assigned to carol, who has left DEMO since: editing it must keep her (no silent unassign).
            Issue.objects.filter(pk=parent.pk).update(assignee=carol)
            ops_log = worklog_add(issue=ops, author=carol, time_spent=1800, started=START, check_permission=False)
            # OPS already holds rows imported from Jira: an import naming their ids again must not take them over.
            Worklog.objects.filter(pk=ops_log.pk).update(source="jira", external_id="901")
            Comment.objects.create(
                issue=ops,
                author=carol,
                body="from Jira",
                created=START,
                updated=START,
                source="jira",
                external_id="801",
            )
            self.clients = {}
            for name, user in self.users.items():
                client = Client()
                client.force_login(user)
                self.clients[name] = client
            self.check_pages()  # warm every page: a later stale one would be served from the cache

        def teardown(self) -> None:
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

        # ------------------------------------------------------------------------------------- helpers

        def summary(self) -> str:
            self.n += 1
            return f"Summary zq{self.n}x"  # a token no other text contains: leaks are searched for by it

        def token(self) -> str:
            self.n += 1
            return uuid.UUID(int=self.n).hex

        def issue(self, pick: int) -> Issue | None:
            ids = list(Issue.objects.order_by("pk").values_list("pk", flat=True))
            return Issue.objects.select_related("project").get(pk=ids[pick % len(ids)]) if ids else None

        def hole(self, name: str, ok: bool, detail: str) -> None:
            """Fail unless ok; a failure of a known hole is recorded instead (the test ends as xfail)."""
            if ok:
                return
            where = f"{detail}\n  after steps: " + " | ".join(self.log[-6:])
            if name in KNOWN_HOLES:
                type(self).holes_seen.setdefault(name, where)
                return
            raise AssertionError(f"[{name}] {where}")

        def step(self, kind: str, actor: str, describe: str, write: Callable[[Client], list[Any]]) -> None:
            """Run one write as `actor` (its transaction commits: on-commit work runs), then check everything."""
            clock.tick()
            self.log.append(f"{actor}: {describe}")
            before = snapshot()
            client = self.clients[actor]
            with capture(execute=True):
                responses = write(client)
            for response in responses:
                assert response.status_code < 500, f"{response.status_code} for {describe}: {response.content[:500]}"
            after = snapshot()
            self.check_step(kind, actor, before, after, responses)
            self.check_pages()

        def edit_rights(self, actor: str) -> set[int]:
            user = self.users[actor]
            if user.is_superuser:
                return set(Project.objects.values_list("pk", flat=True))
            return set(
                Membership.objects.filter(user=user, role__in=(Role.MEMBER, Role.ADMIN)).values_list(
                    "project_id", flat=True
                )
            )

        def visible(self, actor: str) -> set[int]:
            return set(Membership.objects.filter(user=self.users[actor]).values_list("project_id", flat=True))

        # ------------------------------------------------------------------------------ step invariants

        def check_step(
            self, kind: str, actor: str, before: dict[str, Any], after: dict[str, Any], responses: list[Any]
        ) -> None:
            new_history = list(History.objects.filter(pk__gt=before["history_max"]).values("issue_id", "field"))
            fields_logged = {(h["issue_id"], h["field"]) for h in new_history}
            issues_logged = {h["issue_id"] for h in new_history}
            project_of = {pk: row["project_id"] for pk, row in {**before["issues"], **after["issues"]}.items()}
            touched_projects: set[int] = set()

            # Every changed field of an issue that existed before has a History row of this step.
            for pk, old in before["issues"].items():
                new = after["issues"].get(pk)
                if new is None:
                    touched_projects.add(old["project_id"])
                    continue
                for field in (*FIELDS, "labels", "time_spent"):
                    if old[field] == new[field]:
                        continue
                    touched_projects |= {old["project_id"], new["project_id"]}
                    name = field.removesuffix("_id")
                    if field == "time_spent":  # any worklog row ("worklog", "timespent", ...) of this issue
                        ok = any(f not in FIELDS and f != "labels" for i, f in fields_logged if i == pk)
                    elif field == "remaining_estimate":  # Jira calls it "timeestimate"
                        ok = any("estimate" in f for i, f in fields_logged if i == pk)
                    else:
                        ok = (pk, name) in fields_logged
                    by_worklog = kind in WORKLOG_STEPS or (kind == "import" and field in ("time_spent",))
                    by_import_parent = kind == "import" and field == "parent_id"
                    self.hole(
                        "worklog_history" if by_worklog else "import_parent_history" if by_import_parent else "history",
                        ok,
                        f"{old['key']}: {name} changed {old[field]!r} -> {new[field]!r} with no history row",
                    )
            for pk, new in after["issues"].items():
                if pk not in before["issues"]:
                    touched_projects.add(new["project_id"])

            # Every worklog change of an issue that existed before has a History row on that issue.
            for table in ("worklogs", "comments"):
                old_rows, new_rows = before[table], after[table]
                for wid in old_rows.keys() | new_rows.keys():
                    old, new = old_rows.get(wid), new_rows.get(wid)
                    if old == new:
                        continue
                    for row in (old, new):
                        if row is not None:
                            touched_projects.add(project_of[row["issue_id"]])
                    if table == "worklogs":
                        for row in (old, new):
                            if row is None or row["issue_id"] not in after["issues"]:
                                continue
                            if row["issue_id"] not in before["issues"]:
                                continue  # created with the issue in this step
                            self.hole(
                                "worklog_history",
                                row["issue_id"] in issues_logged,
                                f"worklog {wid} of issue {row['issue_id']} changed ({old} -> {new}) with no history",
                            )
                    # A row moved between projects by someone who may not edit the old one.
                    if kind == "import" and old and new and old["issue_id"] != new["issue_id"]:
                        # Moved by an import: the previous issue's page must follow (checked by check_pages).
                        self.moved_from.add(old["issue_id"])
                    moved = old and new and project_of[old["issue_id"]] != project_of[new["issue_id"]]
                    if moved:
                        self.hole(
                            "import_permissions" if kind == "import" else "permissions",
                            False,
                            f"{table[:-1]} {wid} moved from project {project_of[old['issue_id']]} to "
                            f"{project_of[new['issue_id']]} by {actor}",
                        )

            # Nobody changes a project they may not edit (the superuser may edit everything).
            rights = self.edit_rights(actor)
            for project_id in touched_projects - rights:
                self.hole(
                    "import_permissions" if kind == "import" else "permissions",
                    False,
                    f"{actor} changed rows of project {project_id} where they may not edit",
                )

            # Imports by non-staff: no existing account is used for another person, rewritten or activated.
            if kind == "import" and not self.users[actor].is_staff:
                for uid, old in before["users"].items():
                    new = after["users"].get(uid)
                    self.hole(
                        "import_impersonation",
                        new is None or new["profile__account_id"] == old["profile__account_id"],
                        f"import by {actor} rewrote user {uid}'s account id to {new and new['profile__account_id']}",
                    )
                for uid, new in after["users"].items():
                    if uid not in before["users"]:
                        self.hole(
                            "import_impersonation",
                            not new["is_active"],
                            f"import by non-staff {actor} created active user {uid}",
                        )
                persona_ids = {u.pk for n, u in self.users.items() if n != actor}
                for table in ("worklogs", "comments"):
                    for wid, new in after[table].items():
                        if before[table].get(wid) != new and new["author_id"] in persona_ids:
                            self.hole(
                                "import_impersonation",
                                False,
                                f"import by {actor} stored {table[:-1]} {wid} as written by user {new['author_id']}",
                            )

            # No response shows the summary of an issue in a project the actor cannot see.
            if not self.users[actor].is_superuser:
                visible = self.visible(actor)
                hidden = [
                    row["summary"]
                    for row in {**before["issues"], **after["issues"]}.values()
                    if row["project_id"] not in visible
                ]
                for response in responses:
                    body = b"" if response.streaming else response.content
                    text = body.decode("utf-8", "replace")
                    for summary in hidden:
                        token = summary.split()[-1] if summary else ""
                        assert not (token.startswith("zq") and token in text), f"{actor} was shown {summary!r}"

        # ----------------------------------------------------------------------------- global invariants

        def check_pages(self) -> None:
            """GET, as a member, every issue page whose facts changed, and compare what it shows with the database.

            A page whose facts did not change was checked (and cached) before; every page is read once after
            each change, so the next write always finds it in the page cache.
            """
            moved_from, self.moved_from = self.moved_from, set()
            for pk, (key, project_id, stored) in db_facts().items():
                if self.pages_seen.get(pk) == (key, stored) and pk not in moved_from:
                    continue
                reader = "alice" if project_id == self.demo.pk else "carol"
                response = self.clients[reader].get(f"/browse/{key}")
                assert response.status_code == 200, f"{reader} GET /browse/{key}: {response.status_code}"
                shown = page_facts(response.content.decode())
                differ = {k: (shown[k], stored[k]) for k in stored if shown[k] != stored[k]}
                self.hole(
                    "import_move_stale" if pk in moved_from else "stale_page",
                    not differ,
                    f"/browse/{key} as {reader} is stale (page, database): {differ}",
                )
                self.pages_seen[pk] = (key, stored)

        @invariant()
        def hierarchy_and_time_hold(self) -> None:
            rows = {
                i["pk"]: i
                for i in Issue.objects.values("pk", "key", "project_id", "parent_id", "type__is_subtask", "time_spent")
            }
            sums = dict(
                Worklog.objects.order_by().values("issue_id").annotate(s=Sum("time_spent")).values_list("issue_id", "s")
            )
            for pk, row in rows.items():
                assert row["time_spent"] == sums.get(pk, 0), (
                    f"{row['key']}: time spent {row['time_spent']} != sum of worklogs {sums.get(pk, 0)}; "
                    + " | ".join(self.log[-6:])
                )
                seen, at = {pk}, row["parent_id"]
                while at is not None and at in rows:
                    if at in seen:
                        self.hole("hierarchy_cycles", False, f"{row['key']} is in a parent cycle")
                        break
                    seen.add(at)
                    at = rows[at]["parent_id"]
                parent = rows.get(row["parent_id"]) if row["parent_id"] else None
                if parent is not None:
                    self.hole(
                        "hierarchy_cycles",
                        parent["project_id"] == row["project_id"] and parent["parent_id"] is None,
                        f"{row['key']} has parent {parent['key']} in another project or a sub-task parent",
                    )
                self.hole(
                    "hierarchy_types",
                    row["type__is_subtask"] == (parent is not None),
                    f"{row['key']}: sub-task type {row['type__is_subtask']} but parent {parent and parent['key']}",
                )
            for field, model in (("description", Issue), ("summary", Issue), ("body", Comment), ("comment", Worklog)):
                bad = model.objects.filter(**{f"{field}__contains": "\r"}).values_list("pk", flat=True)[:1]
                self.hole("crlf_text", not bad, f"{model.__name__} {list(bad)} stores a CR in {field}")

        # ------------------------------------------------------------------------------- entry points

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), project=st.sampled_from(["DEMO", "OPS"]),
              kind=st.sampled_from(["Task", "Bug", "Sub-task"]), parent=st.integers(0, 50) | st.none(),
              description=TEXTS, estimate=st.sampled_from(["", "2h", "1d"]))  # fmt: skip
        def form_create(self, actor, project, kind, parent, description, estimate) -> None:
            parent_issue = self.issue(parent) if parent is not None else None

            def write(client: Client) -> list[Any]:
                page = client.get("/issues/new")
                if page.status_code != 200:
                    return [page]
                data = browser_form(page.content.decode())
                data.update(
                    project=str(Project.objects.get(key=project).pk),
                    type=str(IssueType.objects.get(name=kind).pk),
                    summary=self.summary(),
                    description=crlf(description),
                    parent=parent_issue.key if parent_issue else "",
                    original_estimate=estimate,
                )
                return [page, client.post("/issues/new", data)]

            self.step("form_create", actor, f"create {kind} in {project} parent {parent_issue}", write)

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), pick=st.integers(0, 50),
              summary=st.booleans(), status=st.sampled_from(["", "To Do", "In Progress", "Done"]),
              parent=st.integers(0, 50) | st.none() | st.just(-1),
              kind=st.sampled_from(["", "Task", "Bug", "Sub-task"]), description=TEXTS | st.none())  # fmt: skip
        def form_edit(self, actor, pick, summary, status, parent, kind, description) -> None:
            issue = self.issue(pick)
            parent_issue = self.issue(parent) if parent is not None and parent >= 0 else None
            intended: set[str] = set()

            def write(client: Client) -> list[Any]:
                page = client.get(f"/browse/{issue.key}/edit")
                if page.status_code != 200:
                    return [page, client.post(f"/browse/{issue.key}/edit", {"summary": "x"})]
                data = browser_form(page.content.decode())
                if summary:
                    data["summary"] = self.summary()
                    intended.add("summary")
                if status:
                    data["status"] = str(Status.objects.get(name=status).pk)
                    intended.update({"status_id", "resolution_id"})
                if kind:
                    data["type"] = str(IssueType.objects.get(name=kind).pk)
                    intended.add("type_id")
                if parent is not None:
                    data["parent"] = parent_issue.key if parent_issue else ""
                    intended.add("parent_id")
                if description is not None:
                    data["description"] = crlf(description)
                    intended.add("description")
                before = snapshot()["issues"][issue.pk]
                response = client.post(f"/browse/{issue.key}/edit", data)
                after = snapshot()["issues"].get(issue.pk)
                if response.status_code == 302 and after is not None:
                    # Nothing the user left alone changes (descriptions compared as the user sees them).
                    for field in (*FIELDS, "labels"):
                        if field in intended or before[field] == after[field]:
                            continue
                        if field == "description" and before[field].replace("\r\n", "\n") == after[field].replace(
                            "\r\n", "\n"
                        ):
                            name = "crlf_text"
                        else:
                            name = "unassign_on_edit" if field == "assignee_id" else "silent_change"
                        self.hole(name, False, f"saving {issue.key}'s form changed {field} {before[field]!r} -> "
                                  f"{after[field]!r} though the user left it alone")  # fmt: skip
                return [page, response]

            new_parent = "-" if parent is None else (parent_issue.key if parent_issue else "none")
            describe = f"edit {issue.key} s={summary} st={status!r} t={kind!r} parent={new_parent} d={description!r}"
            self.step("form_edit", actor, describe, write)

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), pick=st.integers(0, 50),
              field=st.sampled_from(["status", "priority", "labels", "assignee"]),
              value=st.integers(0, 10))  # fmt: skip
        def inline_edit(self, actor, pick, field, value) -> None:
            issue = self.issue(pick)
            if field == "status":
                choices = list(Status.objects.order_by("pk").values_list("pk", flat=True))
            elif field == "priority":
                choices = list(Priority.objects.order_by("pk").values_list("pk", flat=True))
            elif field == "assignee":
                choices = ["", *sorted(u.pk for u in self.users.values())]
            else:
                choices = ["", "backend", "ui urgent", "backend,ui"]
            chosen = choices[value % len(choices)]

            def write(client: Client) -> list[Any]:
                return [client.post(f"/browse/{issue.key}/set/{field}", {field: chosen})]

            self.step("inline_edit", actor, f"set {field} of {issue.key} to {chosen!r}", write)

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), pick=st.integers(0, 50), body=TEXTS)
        def comment(self, actor, pick, body) -> None:
            issue = self.issue(pick)

            def write(client: Client) -> list[Any]:
                data = {"form_token": self.token(), "body": crlf(body)}
                return [client.post(f"/browse/{issue.key}/comments", data)]

            self.step("comment", actor, f"comment on {issue.key}: {body!r}", write)

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), pick=st.integers(0, 50), spent=DURATIONS,
              day=st.sampled_from(WEEK_DAYS), adjust=st.sampled_from(["auto", "leave", "new"]),
              comment=TEXTS)  # fmt: skip
        def worklog_add(self, actor, pick, spent, day, adjust, comment) -> None:
            issue = self.issue(pick)

            def write(client: Client) -> list[Any]:
                data = {
                    "form_token": self.token(), "time_spent": spent, "started_date": day.isoformat(),
                    "started_time": "10:00", "comment": crlf(comment), "adjust_estimate": adjust,
                    "new_estimate": "3h" if adjust == "new" else "",
                }  # fmt: skip
                return [client.post(f"/browse/{issue.key}/worklogs", data)]

            self.step("worklog_add", actor, f"log {spent} on {issue.key} {day} {adjust}", write)

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), pick=st.integers(0, 50), spent=DURATIONS,
              delete=st.booleans())  # fmt: skip
        def worklog_change(self, actor, pick, spent, delete) -> None:
            ids = list(Worklog.objects.order_by("pk").values_list("pk", flat=True))
            if not ids:
                return
            worklog = Worklog.objects.select_related("issue").get(pk=ids[pick % len(ids)])
            key, base = worklog.issue.key, f"/browse/{worklog.issue.key}/worklogs/{worklog.pk}"

            def write(client: Client) -> list[Any]:
                if delete:
                    return [client.get(f"{base}/delete"), client.post(f"{base}/delete")]
                page = client.get(f"{base}/edit")
                if page.status_code != 200:
                    return [page, client.post(f"{base}/edit", {"time_spent": spent})]
                data = browser_form(page.content.decode())
                data.update(time_spent=spent, adjust_estimate="auto")
                return [page, client.post(f"{base}/edit", data)]

            kind = "worklog_delete" if delete else "worklog_edit"
            self.step(kind, actor, f"{kind} {worklog.pk} on {key} ({spent})", write)

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), pick=st.integers(0, 50),
              day=st.sampled_from(WEEK_DAYS), cell=st.sampled_from(["", "0", "30m", "1h", "2h 30m", "8h"]),
              adjust=st.sampled_from(["auto", "leave"]))  # fmt: skip
        def timesheet_cell(self, actor, pick, day, cell, adjust) -> None:
            issue = self.issue(pick)

            def write(client: Client) -> list[Any]:
                name = f"{issue.key}_{day.isoformat()}"
                data = {f"t_{name}": cell, f"o_{name}": "shown-before", "adjust_estimate": adjust}
                return [client.post("/timesheet/save/", data)]

            self.step("timesheet_cell", actor, f"timesheet {issue.key} {day} = {cell!r} ({adjust})", write)

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), pick=st.integers(0, 50),
              change=st.sampled_from(["summary", "status", "priority", "labels", "parent", "description",
                                      "remaining_estimate", "assignee"]), value=st.integers(0, 50))  # fmt: skip
        def api_update(self, actor, pick, change, value) -> None:
            issue = self.issue(pick)
            body: dict[str, Any]
            # The Jira REST API's edit (PUT issue/KEY with Jira's `fields`), as a browser session sends it.
            if change == "summary":
                body = {"summary": self.summary()}
            elif change == "status":
                body = {"status": {"name": ["To Do", "In Progress", "Done"][value % 3]}}
            elif change == "priority":
                body = {"priority": {"name": ["High", "Low", "Medium"][value % 3]}}
            elif change == "labels":
                body = {"labels": [["api"], [], ["api", "backend"]][value % 3]}
            elif change == "parent":
                other = self.issue(value)
                body = {"parent": {"key": other.key} if other and value % 4 else None}
            elif change == "assignee":
                name = [None, "alice", "bob", "carol"][value % 4]
                body = {"assignee": {"name": name} if name else None}
            elif change == "remaining_estimate":
                body = {"timetracking": {"remainingEstimate": ["1h", "0", "2h"][value % 3]}}
            else:
                body = {"description": ["api\nline", "", "plain"][value % 3]}

            def write(client: Client) -> list[Any]:
                url = f"/rest/api/2/issue/{issue.key}"
                body_json = json.dumps({"fields": body})
                return [client.put(url, body_json, content_type="application/json"), client.get(url)]

            self.step("api", actor, f"API {issue.key} {body}", write)

        @rule(pick=st.integers(0, 50), change=st.sampled_from(["summary", "status", "parent", "estimate"]),
              value=st.integers(0, 50))  # fmt: skip
        def admin_change(self, pick, change, value) -> None:
            issue = self.issue(pick)
            changes: dict[str, Any] = {}
            if change == "summary":
                changes["summary"] = self.summary()
            elif change == "status":
                changes["status"] = Status.objects.order_by("pk").values_list("pk", flat=True)[value % 3]
            elif change == "parent":
                other = self.issue(value)
                changes["parent"] = other.pk if other and value % 3 else ""
            else:
                changes["remaining_estimate"] = 7200 * (value % 3)

            def write(client: Client) -> list[Any]:
                url = reverse("admin:issues_issue_change", args=[issue.pk])
                page = client.get(url)
                return [page, client.post(url, issue_form(issue, **changes))]

            self.step("admin", "root", f"admin change {issue.key} {changes}", write)

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), number=st.integers(1, 12),
              project=st.sampled_from(["DEMO", "OPS"]), parent=st.integers(0, 50) | st.none(),
              worklog_id=st.sampled_from(["901", "902"]), comment_id=st.sampled_from(["801", "802"]),
              user=st.integers(0, 1), status=st.sampled_from(["To Do", "Done"]))  # fmt: skip
        def import_jira_json(self, actor, number, project, parent, worklog_id, comment_id, user, status) -> None:
            parent_issue = self.issue(parent) if parent is not None else None
            person = JIRA_USERS[user]
            summary = self.summary()
            fields: dict[str, Any] = {
                "summary": summary,
                "description": "Imported\nline",
                "issuetype": {"name": "Sub-task" if parent_issue else "Task"},
                "status": {"name": status, "statusCategory": {"key": "done" if status == "Done" else "new"}},
                "priority": {"name": "High"},
                "assignee": person,
                "reporter": person,
                "created": "2026-03-02T10:30:00.000+0000",
                "updated": "2026-03-02T10:30:00.000+0000",
                "project": {"key": project, "name": project.title()},
                "worklog": {"worklogs": [{
                    "id": worklog_id, "author": person, "started": "2026-03-03T12:00:00.000+0000",
                    "timeSpentSeconds": 1800 * (1 + number % 3), "comment": f"imported work {summary}",
                }]},
                "comment": {"comments": [{
                    "id": comment_id, "author": person, "body": f"imported comment {summary}",
                    "created": "2026-03-03T13:00:00.000+0000",
                }]},
            }  # fmt: skip
            if parent_issue:
                fields["parent"] = {"key": parent_issue.key}
            key = f"{project}-{number}"
            document = {"issues": [{"id": str(70000 + number + (100 if project == "OPS" else 0)), "key": key,
                                    "fields": fields}]}  # fmt: skip

            def write(client: Client) -> list[Any]:
                name = f"import-{self.n}.json"
                upload = _upload_file(name, json.dumps(document).encode())
                response = client.post("/imports/", {"files": upload, "format": "", "project": "", "timezone": "UTC"})
                out = [response]
                if response.status_code == 302:
                    out += [client.get(response["Location"]), client.get(response["Location"] + "progress.json")]
                return out

            self.step("import", actor, f"import {key} parent {parent_issue} wl {worklog_id} c {comment_id} "
                      f"as {person['emailAddress']} {status}", write)  # fmt: skip

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), picks=st.lists(st.integers(0, 50), min_size=1,
              max_size=3), status=st.sampled_from(["", "In Progress", "Done"]),
              label=st.sampled_from(["", "bulk"]), assignee=st.sampled_from(["", "none", "bob"]))  # fmt: skip
        def bulk_change(self, actor, picks, status, label, assignee) -> None:
            ids = sorted({self.issue(p).pk for p in picks})

            def write(client: Client) -> list[Any]:
                data = {"issue": [str(i) for i in ids], "status": status, "add_labels": label,
                        "assignee": assignee, "action": "run"}  # fmt: skip
                response = client.post("/imports/bulk/", data)
                out = [response]
                if response.status_code == 200 and b'name="confirm"' in response.content:
                    # A preview first (the count and the first issues), as Jira asks: the browser then confirms.
                    response = client.post("/imports/bulk/", {**data, "confirm": "1"})
                    out.append(response)
                if response.status_code == 302:
                    out += [client.get(response["Location"]), client.get(response["Location"] + "progress.json")]
                return out

            self.step("bulk", actor, f"bulk {ids} status={status!r} label={label!r} assignee={assignee!r}", write)

        @rule(actor=st.sampled_from(["alice", "bob", "carol"]), pick=st.integers(0, 50))
        def delete_issue(self, actor, pick) -> None:
            issue = self.issue(pick)
            if Issue.objects.count() <= 2:
                return

            def write(client: Client) -> list[Any]:
                return [client.post(f"/browse/{issue.key}/delete")]

            self.step("delete", actor, f"delete {issue.key}", write)

        @rule(grant=st.booleans())
        def membership_change(self, grant) -> None:
            # root revokes or restores bob's viewer membership of OPS in the Django admin; bob's OPS pages were
            # read (and cached) before: afterwards he sees them exactly while he is a member, never a stale 200.
            bob = self.users["bob"]
            member = Membership.objects.filter(user=bob, project=self.ops).first()
            for issue in Issue.objects.filter(project=self.ops):
                self.clients["bob"].get(f"/browse/{issue.key}")

            def write(client: Client) -> list[Any]:
                if member is not None and not grant:
                    url = reverse("admin:issues_membership_delete", args=[member.pk])
                    return [client.get(url), client.post(url, {"post": "yes"})]
                if member is None and grant:
                    url = reverse("admin:issues_membership_add")
                    return [client.post(url, {"project": self.ops.pk, "user": bob.pk, "role": Role.VIEWER})]
                return []

            self.step("membership", "root", f"{'grant' if grant else 'revoke'} bob's OPS membership", write)
            is_member = Membership.objects.filter(user=bob, project=self.ops).exists()
            for issue in Issue.objects.filter(project=self.ops).order_by("pk"):
                for url in (f"/browse/{issue.key}", f"/rest/api/2/issue/{issue.key}"):
                    status = self.clients["bob"].get(url).status_code
                    self.hole(
                        "revoked_member", status == (200 if is_member else 404),
                        f"bob (OPS member: {is_member}) GET {url} answered {status}",
                    )  # fmt: skip

        @rule(actor=st.sampled_from(["bob", "carol"]), pick=st.integers(0, 50))
        def reads(self, actor, pick) -> None:
            # Reads of every kind as a user who may not see some project: no leak, no 500.
            issue = self.issue(pick)

            def write(client: Client) -> list[Any]:
                return [
                    client.get(f"/browse/{issue.key}"),
                    client.get(f"/rest/api/2/issue/{issue.key}"),
                    client.get("/issues/", {"jql": f"key = {issue.key} OR project = DEMO"}),
                    client.get("/rest/api/2/search", {"jql": "project in (DEMO, OPS) order by key"}),
                    client.get("/worklogs/", {"start": "2026-03-02", "end": "2026-03-08"}),
                    client.get("/timesheet/", {"week": "2026-W10"}),
                    client.get("/reports/", {"start": "2026-03-02", "end": "2026-03-08", "group": "issue"}),
                ]

            self.step("reads", actor, f"reads around {issue.key}", write)

    return Invariants


def _upload_file(name: str, content: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/json")


@pytest.fixture
def property_world(settings, tmp_path, monkeypatch):
    """Page cache on (private local memory), jobs run eagerly at commit, uploads under tmp_path, time pinned."""
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}}
    settings.MEDIA_ROOT = str(tmp_path)
    settings.IMPORTS_READER_PROCESS = False
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with override_settings(CACHES=caches, TASKRA_PAGE_CACHE=True):
            yield clock
    finally:
        celery_app.conf.task_always_eager = eager


def test_random_writes_through_every_entry_point_keep_the_invariants(
    property_world, django_capture_on_commit_callbacks
):
    machine = build_machine(django_capture_on_commit_callbacks, property_world)
    machine.holes_seen = {}
    run_state_machine_as_test(machine, settings=PROPERTY_SETTINGS)
    if machine.holes_seen:
        pytest.xfail(
            "known holes of issue #12 seen: "
            + "; ".join(f"{name} ({KNOWN_HOLES[name]}): {where}" for name, where in machine.holes_seen.items())
        )
