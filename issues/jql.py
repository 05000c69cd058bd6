"""JQL: Jira's query language, parsed with lark and compiled to one Django ORM query.

Public API (shared by the navigator, exports, bulk updates and any API):

- ``JQLError(Exception)`` with ``.message`` (str), ``.position`` (1-based column in the query text, or None)
  and ``.hint`` (str, a suggested fix, may be "").  ``str(err)`` is the message followed by the hint.
- ``compile_jql(text, *, user, now=None) -> CompiledJQL``: parse and compile without touching the database;
  ``CompiledJQL.q`` is a ``Q`` over ``Issue`` and ``CompiledJQL.order_by`` a list of ``order_by()`` strings
  that always ends with an ``id`` tie-breaker (default ``["-created", "-id"]``).
- ``jql_queryset(text, *, user, base=None) -> QuerySet[Issue]``: the issues the user may see (project
  membership) that match, ordered (empty values sort last).  ``base`` narrows further (it is intersected with
  the visibility filter, never widens it).

Language:

- fields: project, key (issue, issuekey, id), summary, description, text, comment, status, statusCategory,
  assignee, reporter, priority, type (issuetype), labels (label), parent, created, updated, duedate (due),
  resolved (resolutiondate), resolution, worklogAuthor, worklogDate;
- operators: = != > >= < <= IN, NOT IN, ~ !~, IS [NOT] EMPTY (or NULL); AND, OR, NOT, parentheses;
  ORDER BY field [ASC|DESC], ...; keywords are case-insensitive;
- values: bare words, "double" or 'single' quoted strings, EMPTY/NULL, functions currentUser(), now(),
  startOfDay/Week/Month/Year([offset]) and endOf...([offset]) (offset like -1, +2w, -3d; weeks start on
  Monday, days in the user's profile time zone); dates "2026-11-27", "2026/11/27 10:00" and relative
  "-7d", "-2w", "4h", "-1w 2d" (units y M w d h m).

Semantics follow Jira: ``!=``, ``NOT IN`` and ``!~``-free comparisons never match empty fields; ``=`` on a text
field is an error suggesting ``~``; ``~`` matches when every word of the term occurs (case-insensitive
substring, a trailing ``*`` is ignored), and a term wrapped in inner quotes matches as a phrase.  ``created =
"2026-11-27"`` (a date without time) matches that whole day in the user's time zone; ``>``/``<`` compare with
midnight, as Jira does.  Users are matched by username, email or profile display name (case-insensitive);
``EMPTY`` for assignee means unassigned; ``resolution = Unresolved`` means no resolution.  Related rows
(labels, comments, worklogs) are matched with EXISTS subqueries so no row is duplicated.
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from accounts.models import user_zone

__all__ = [
    "CompiledJQL",
    "JQLError",
    "ValueRef",
    "check_values",
    "compile_jql",
    "jql_queryset",
    "FIELD_NAMES",
    "SORT_FIELDS",
]

MAX_QUERY_LENGTH = 10_000
MAX_LIST_ITEMS = 1_000
MAX_DEPTH = 64


class JQLError(Exception):
    """A query that cannot be run: says what is wrong, where (1-based column) and how to fix it."""

    def __init__(self, message: str, position: int | None = None, hint: str = "") -> None:
        self.message = message
        self.position = position
        self.hint = hint
        super().__init__(f"{message} {hint}".strip())


@dataclass(frozen=True)
class ValueRef:
    """A named value the query refers to (a status, priority, user, ...), checked by check_values()."""

    field: str
    model: str  # "Status", "Priority", "IssueType", "Resolution", "Project" or "User"
    text: str
    position: int


@dataclass(frozen=True)
class CompiledJQL:
    q: Q
    order_by: list[str]
    # (field name as typed, direction) of the ORDER BY clause, for display.
    sort: list[tuple[str, str]] = field(default_factory=list)
    # Named values to check against the database (check_values), in query order.
    values: tuple[ValueRef, ...] = ()


# --------------------------------------------------------------------------- grammar

GRAMMAR = r"""
start: [expr] [order_by]

?expr: or_expr
?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr -> not_
         | "(" expr ")"
         | clause

clause: fieldname OP value                 -> cmp
      | fieldname IS [NOT] empty           -> is_empty
      | fieldname [NOT] IN "(" [value ("," value)*] ")" -> in_list

fieldname: NAME | STRING

?value: STRING            -> string
      | WORD              -> word
      | WORD "(" [arg ("," arg)*] ")" -> func
      | empty

?arg: STRING -> string
    | WORD   -> word

empty: EMPTY

order_by: ORDER BY sort_item ("," sort_item)*
sort_item: fieldname [DIRECTION]

OR.3: /or\b/i | "||"
AND.3: /and\b/i | "&&"
NOT.3: /not\b/i
IS.3: /is\b/i
IN.3: /in\b/i
EMPTY.3: /(empty|null)\b/i
ORDER.3: /order\b/i
BY.3: /by\b/i
DIRECTION.3: /(asc|desc)\b/i
OP: "!=" | ">=" | "<=" | "!~" | "=" | ">" | "<" | "~"
NAME.1: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"(?:[^"\\]|\\.)*"/s | /'(?:[^'\\]|\\.)*'/s
WORD: /[^\s"'(),=!<>~&|]+/

%import common.WS
%ignore WS
"""

_PARSER = Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=True)

_TERMINAL_NAMES = {
    "OP": "an operator (=, !=, ~, >, <, ...)",
    "IN": "IN",
    "IS": "IS",
    "NOT": "NOT",
    "AND": "AND",
    "OR": "OR",
    "ORDER": "ORDER BY",
    "BY": "BY",
    "NAME": "a field name",
    "STRING": "a quoted value",
    "WORD": "a value",
    "EMPTY": "EMPTY",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "DIRECTION": "ASC or DESC",
    "$END": "the end of the query",
}


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Val:
    """One value of a clause: a string, a function call or EMPTY."""

    kind: str  # "str" | "func" | "empty"
    text: str
    pos: int
    args: tuple[Val, ...] = ()

    def describe(self) -> str:
        if self.kind == "func":
            return f"{self.text}()"
        if self.kind == "empty":
            return "EMPTY"
        return repr(self.text)


def _pos(token: Token | Tree) -> int | None:
    start = getattr(token, "start_pos", None)
    if start is None and isinstance(token, Tree):
        start = getattr(token.meta, "start_pos", None) if not token.meta.empty else None
    return start + 1 if start is not None else None


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", r"\1", body, flags=re.S)


# --------------------------------------------------------------------------- dates


_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?$")
_REL_RE = re.compile(r"^([+-]?)\s*((?:\d{1,6}\s*[yMwdhm]\s*)+)$")
_REL_PART_RE = re.compile(r"(\d{1,6})\s*([yMwdhm])")
_OFFSET_RE = re.compile(r"^([+-]?)(\d{1,6})([yMwdhm]?)$")
DATE_HINT = 'Use a date like "2026-11-27" or "2026/11/27 10:00", a relative date like -7d, or a function like now().'


def _add_months(value: dt.datetime, months: int) -> dt.datetime:
    month_index = value.year * 12 + (value.month - 1) + months
    year, month = divmod(month_index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def _shift(value: dt.datetime, amount: int, unit: str) -> dt.datetime:
    if unit == "y":
        return _add_months(value, 12 * amount)
    if unit == "M":
        return _add_months(value, amount)
    delta = {
        "w": dt.timedelta(weeks=amount),
        "d": dt.timedelta(days=amount),
        "h": dt.timedelta(hours=amount),
        "m": dt.timedelta(minutes=amount),
    }[unit]
    return value + delta


@dataclass(frozen=True)
class DateValue:
    """An instant, and the end of its period when the value named a whole day ("2026-11-27")."""

    start: dt.datetime
    day_end: dt.datetime | None = None


# --------------------------------------------------------------------------- compiler


def _did_you_mean(word: str, options: list[str]) -> str:
    lowered = {o.lower(): o for o in options}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"Did you mean '{lowered[match[0]]}'?" if match else ""


Handler = Callable[["Compiler", str, str, list[Val], int | None], Q]

EVERYTHING = Q()


def _none_q() -> Q:
    return Q(pk__in=[])


def _any_of(parts: list[Any]) -> Any:
    """OR the conditions together; no conditions match nothing."""
    if not parts:
        return _none_q()
    result = parts[0]
    for part in parts[1:]:
        result = result | part
    return result


@dataclass
class FieldSpec:
    name: str
    kind: str  # text | choice | user | date | datetime | key | parent | labels | category | wl_author | wl_date
    ops: frozenset[str]
    path: str = ""  # model attribute, e.g. "status" or "due_date"
    model: str = ""  # related model for choice fields
    nullable: bool = False


EQ_OPS = frozenset({"=", "!=", "in", "not in", "is", "is not"})
RANGE_OPS = frozenset({">", ">=", "<", "<="})
TEXT_OPS = frozenset({"~", "!~", "is", "is not"})

FIELDS: dict[str, FieldSpec] = {
    "project": FieldSpec("project", "choice", EQ_OPS, "project", "Project"),
    "key": FieldSpec("key", "key", EQ_OPS | RANGE_OPS, "key"),
    "summary": FieldSpec("summary", "text", TEXT_OPS, "summary"),
    "description": FieldSpec("description", "text", TEXT_OPS, "description"),
    "text": FieldSpec("text", "alltext", frozenset({"~", "!~"})),
    "comment": FieldSpec("comment", "comment", TEXT_OPS),
    "status": FieldSpec("status", "choice", EQ_OPS, "status", "Status"),
    "statuscategory": FieldSpec("statusCategory", "category", EQ_OPS),
    "assignee": FieldSpec("assignee", "user", EQ_OPS, "assignee", nullable=True),
    "reporter": FieldSpec("reporter", "user", EQ_OPS, "reporter", nullable=True),
    "priority": FieldSpec("priority", "choice", EQ_OPS | RANGE_OPS, "priority", "Priority"),
    "type": FieldSpec("type", "choice", EQ_OPS, "type", "IssueType"),
    "labels": FieldSpec("labels", "labels", EQ_OPS),
    "parent": FieldSpec("parent", "parent", EQ_OPS, "parent", nullable=True),
    "created": FieldSpec("created", "datetime", EQ_OPS | RANGE_OPS, "created"),
    "updated": FieldSpec("updated", "datetime", EQ_OPS | RANGE_OPS, "updated"),
    "resolved": FieldSpec("resolved", "datetime", EQ_OPS | RANGE_OPS, "resolved", nullable=True),
    "duedate": FieldSpec("duedate", "date", EQ_OPS | RANGE_OPS, "due_date", nullable=True),
    "resolution": FieldSpec("resolution", "choice", EQ_OPS, "resolution", "Resolution", nullable=True),
    "worklogauthor": FieldSpec("worklogAuthor", "wl_author", EQ_OPS),
    "worklogdate": FieldSpec("worklogDate", "wl_date", EQ_OPS | RANGE_OPS),
}
ALIASES = {
    "issue": "key",
    "issuekey": "key",
    "id": "key",
    "issuetype": "type",
    "label": "labels",
    "due": "duedate",
    "resolutiondate": "resolved",
    "category": "statuscategory",
}
FIELD_NAMES: list[str] = [spec.name for spec in FIELDS.values()] + ["issue", "issuetype", "due"]

# ORDER BY field -> ([(orm path, invert direction)], nullable)
SORT_FIELDS: dict[str, tuple[list[tuple[str, bool]], bool]] = {
    "key": ([("project__key", False), ("number", False)], False),
    "project": ([("project__key", False)], False),
    "summary": ([("summary", False)], False),
    "status": ([("status__position", False)], False),
    "statuscategory": ([("status__category", False)], False),
    "assignee": ([("assignee__profile__display_name", False)], True),
    "reporter": ([("reporter__profile__display_name", False)], True),
    # Jira: ORDER BY priority DESC puts Highest first, and Highest has the lowest rank.
    "priority": ([("priority__rank", True)], False),
    "type": ([("type__position", False)], False),
    "created": ([("created", False)], False),
    "updated": ([("updated", False)], False),
    "resolved": ([("resolved", False)], True),
    "duedate": ([("due_date", False)], True),
    "resolution": ([("resolution__position", False)], True),
    "parent": ([("parent_id", False)], True),
}
# Order-by paths whose values may be NULL (sorted last in both directions).
NULLABLE_SORT_PATHS = frozenset(
    {
        "assignee__profile__display_name",
        "reporter__profile__display_name",
        "resolved",
        "due_date",
        "resolution__position",
        "parent_id",
    }
)
DEFAULT_ORDER = ["-created", "-id"]

CATEGORY_WORDS = {
    "to do": "todo",
    "todo": "todo",
    "new": "todo",
    "open": "todo",
    "in progress": "in_progress",
    "in_progress": "in_progress",
    "inprogress": "in_progress",
    "indeterminate": "in_progress",
    "done": "done",
    "complete": "done",
}

DATE_FUNCTIONS = {
    "now",
    "startofday",
    "startofweek",
    "startofmonth",
    "startofyear",
    "endofday",
    "endofweek",
    "endofmonth",
    "endofyear",
}
USER_FUNCTIONS = {"currentuser"}
FUNCTION_NAMES = [
    "currentUser",
    "now",
    "startOfDay",
    "startOfWeek",
    "startOfMonth",
    "startOfYear",
    "endOfDay",
    "endOfWeek",
    "endOfMonth",
    "endOfYear",
]


def _id_or_none(text: str) -> int | None:
    """Return the text as a database id when it is a plain number that fits a bigint."""
    if re.fullmatch(r"[0-9]{1,18}", text):
        return int(text)
    return None


class Compiler:
    """Turn a lark parse tree into a Q; every problem becomes a JQLError with a position."""

    def __init__(self, *, user: Any, now: dt.datetime) -> None:
        self.user = user
        self.now = now
        self.tz = user_zone(user)
        self.refs: list[ValueRef] = []

    # ----- tree walking

    def expr(self, node: Tree | Token, depth: int = 0) -> Q:
        if depth > MAX_DEPTH:
            raise JQLError("The query is nested too deeply.", _pos(node), "Remove some parentheses or NOTs.")
        data = node.data
        if data == "or_expr":
            parts = [self.expr(c, depth + 1) for c in node.children if isinstance(c, Tree)]
            result = parts[0]
            for part in parts[1:]:
                result = result | part
            return result
        if data == "and_expr":
            parts = [self.expr(c, depth + 1) for c in node.children if isinstance(c, Tree)]
            result = parts[0]
            for part in parts[1:]:
                result = result & part
            return result
        if data == "not_":
            return ~self.expr(node.children[1], depth + 1)
        if data == "cmp":
            fname, op_token, value = node.children
            return self.clause(fname, str(op_token), [self.value(value)], _pos(op_token))
        if data == "is_empty":
            fname, _is, not_token, _empty = node.children
            return self.clause(fname, "is not" if not_token else "is", [], _pos(_is))
        if data == "in_list":
            fname, not_token, in_token, *values = node.children
            vals = [self.value(v) for v in values if v is not None]
            if not vals:
                raise JQLError(
                    "An IN list needs at least one value.", _pos(in_token), 'Write e.g. status IN ("To Do", Done).'
                )
            if len(vals) > MAX_LIST_ITEMS:
                raise JQLError(f"An IN list may hold at most {MAX_LIST_ITEMS} values.", _pos(in_token))
            return self.clause(fname, "not in" if not_token else "in", vals, _pos(not_token or in_token))
        raise JQLError("Could not understand the query.", _pos(node))  # pragma: no cover - grammar is closed

    def value(self, node: Tree) -> Val:
        if node.data == "string":
            tok = node.children[0]
            return Val("str", _unquote(str(tok)), _pos(tok) or 0)
        if node.data == "word":
            tok = node.children[0]
            return Val("str", str(tok), _pos(tok) or 0)
        if node.data == "empty":
            return Val("empty", "EMPTY", _pos(node.children[0]) or 0)
        if node.data == "func":
            name_tok, *args = node.children
            arg_vals = tuple(self.value(a) for a in args if a is not None)
            return Val("func", str(name_tok), _pos(name_tok) or 0, arg_vals)
        raise JQLError("Could not understand a value.", _pos(node))  # pragma: no cover

    def field_spec(self, fname: Tree) -> tuple[FieldSpec, int | None]:
        tok = fname.children[0]
        raw = _unquote(str(tok)) if tok.type == "STRING" else str(tok)
        name = raw.lower()
        name = ALIASES.get(name, name)
        spec = FIELDS.get(name)
        if spec is None:
            position = _pos(tok)
            hint = _did_you_mean(raw, FIELD_NAMES) or f"Known fields: {', '.join(sorted(FIELD_NAMES))}."
            raise JQLError(f"Unknown field '{raw}' at column {position}.", position, hint)
        return spec, _pos(tok)

    # ----- clauses

    def clause(self, fname: Tree, op: str, values: list[Val], op_pos: int | None) -> Q:
        spec, fpos = self.field_spec(fname)
        if op not in spec.ops:
            raise self._bad_operator(spec, op, op_pos)
        # "= EMPTY" and "!= EMPTY" read as IS [NOT] EMPTY, as in Jira.
        if op in ("=", "!=") and values and values[0].kind == "empty":
            op, values = ("is" if op == "=" else "is not"), []
        if op in ("is", "is not"):
            empty_q = self.empty_q(spec)
            return empty_q if op == "is" else ~empty_q
        for v in values:
            if v.kind == "empty" and op not in ("in", "not in"):
                raise JQLError(
                    f"EMPTY cannot be used with '{op}' at column {v.pos}.", v.pos, f"Write {spec.name} IS EMPTY."
                )
        if op in ("=", "in"):
            return self.match_any(spec, values)
        if op in ("!=", "not in"):
            # Jira: != and NOT IN never match empty fields (unless EMPTY is listed, which then excludes them).
            listed_empty = any(v.kind == "empty" for v in values)
            positive = [v for v in values if v.kind != "empty"]
            result = ~self.match_any(spec, positive) if positive else EVERYTHING
            if listed_empty or positive:
                result = result & ~self.empty_q(spec)
            return result
        if op in RANGE_OPS:
            return self.range_q(spec, op, values[0])
        if op in ("~", "!~"):
            contains = self.contains_q(spec, values[0])
            return contains if op == "~" else ~contains
        raise self._bad_operator(spec, op, op_pos)  # pragma: no cover

    def _bad_operator(self, spec: FieldSpec, op: str, pos: int | None) -> JQLError:
        shown = op.upper()
        if spec.kind in ("text", "alltext", "comment") and op in ("=", "!=", "in", "not in"):
            suggestion = "~" if op in ("=", "in") else "!~"
            return JQLError(
                f"The operator '{shown}' is not supported by the text field '{spec.name}' at column {pos}.",
                pos,
                f"Use '{suggestion}' (contains) instead, e.g. {spec.name} {suggestion} \"login\".",
            )
        allowed = ", ".join(o.upper() for o in sorted(spec.ops, key=len))
        return JQLError(
            f"The operator '{shown}' is not supported by the field '{spec.name}' at column {pos}.",
            pos,
            f"Use one of: {allowed}.",
        )

    def match_any(self, spec: FieldSpec, values: list[Val]) -> Q:
        """Return a Q matching issues whose field equals any of the values (EMPTY included)."""
        plain = [v for v in values if v.kind != "empty"]
        parts = [self.empty_q(spec)] if len(plain) != len(values) else []
        if plain:
            parts.append(self.eq_q(spec, plain))
        return _any_of(parts)

    # ----- per kind

    def empty_q(self, spec: FieldSpec) -> Q:
        from issues.models import Comment, Issue
        from worklogs.models import Worklog

        kind = spec.kind
        if kind in ("user", "parent") or (kind in ("choice", "date", "datetime") and spec.nullable):
            return Q(**{f"{spec.path}__isnull": True})
        if kind == "text":
            return Q(**{spec.path: ""})
        if kind == "labels":
            return ~Exists(Issue.labels.through.objects.filter(issue_id=OuterRef("pk")))
        if kind == "comment":
            return ~Exists(Comment.objects.filter(issue_id=OuterRef("pk")))
        if kind in ("wl_author", "wl_date"):
            return ~Exists(Worklog.objects.filter(issue_id=OuterRef("pk")))
        # Required fields (project, key, status, created, ...) are never empty.
        return _none_q()

    def eq_q(self, spec: FieldSpec, values: list[Val]) -> Q:
        from issues.models import Issue
        from worklogs.models import Worklog

        kind = spec.kind
        if kind == "choice":
            q = Q(**{f"{spec.path}_id__in": self.choice_ids(spec, values)})
            if self.match_unresolved(spec, values):
                q |= Q(resolution__isnull=True)
            return q
        if kind == "category":
            cats = {self.category(v) for v in values}
            from issues.models import Status

            return Q(status_id__in=Status.objects.filter(category__in=sorted(cats)).values("pk"))
        if kind == "user":
            return self.user_q(spec.path, values)
        if kind == "key":
            keys, ids = self.keys_and_ids(values)
            parts = [Q(key__in=keys)] if keys else []
            if ids:
                parts.append(Q(pk__in=ids))
            return _any_of(parts)
        if kind == "parent":
            keys, ids = self.keys_and_ids(values)
            return Q(parent_id__in=Issue.objects.filter(Q(key__in=keys) | Q(pk__in=ids)).values("pk"))
        if kind == "labels":
            names = [self.plain(v, spec).lower() for v in values]
            label_q = Q()
            for name in names:
                label_q |= Q(label__name__iexact=name)
            return Exists(Issue.labels.through.objects.filter(label_q, issue_id=OuterRef("pk")))
        if kind in ("date", "datetime"):
            return _any_of([self.date_eq(spec, v) for v in values])
        if kind == "wl_author":
            users = self.user_q("author", values)
            return Exists(Worklog.objects.filter(users, issue_id=OuterRef("pk")))
        if kind == "wl_date":
            started = FieldSpec("worklogDate", "datetime", EQ_OPS, "started")
            q = _any_of([self.date_eq(started, v) for v in values])
            return Exists(Worklog.objects.filter(q, issue_id=OuterRef("pk")))
        raise JQLError(f"The field '{spec.name}' cannot be compared with '='.")  # pragma: no cover

    def range_q(self, spec: FieldSpec, op: str, value: Val) -> Q:
        from issues.models import Priority, Project
        from worklogs.models import Worklog

        lookup = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op]
        if spec.kind in ("date", "datetime"):
            return self.date_range(spec, lookup, value)
        if spec.kind == "wl_date":
            inner = self.date_range(FieldSpec("worklogDate", "datetime", EQ_OPS, "started"), lookup, value)
            return Exists(Worklog.objects.filter(inner, issue_id=OuterRef("pk")))
        if spec.kind == "priority" or spec.path == "priority":
            text = self.plain(value, spec)
            self.refs.append(ValueRef(spec.name, "Priority", text.strip(), value.pos))
            rank = Priority.objects.filter(self._name_or_id_q(text)).values("rank")[:1]
            # Higher priority = lower rank: "priority > Medium" finds High and Highest.
            flipped = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}[lookup]
            return Q(priority_id__in=Priority.objects.filter(**{f"rank__{flipped}": Subquery(rank)}).values("pk"))
        if spec.kind == "key":
            text = self.plain(value, spec)
            match = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)-([0-9]{1,9})", text.strip())
            if not match:
                raise JQLError(
                    f"'{text}' at column {value.pos} is not an issue key.", value.pos, "Write a key like DEMO-42."
                )
            project_ids = Project.objects.filter(key=match.group(1).upper()).values("pk")
            return Q(project_id__in=project_ids, **{f"number__{lookup}": int(match.group(2))})
        raise JQLError(f"The field '{spec.name}' does not support '{op}'.", value.pos)  # pragma: no cover

    def contains_q(self, spec: FieldSpec, value: Val) -> Q:
        from issues.models import Comment

        term = self.plain(value, spec)
        words = self.search_words(term, value)
        if spec.kind == "text":
            return self._all_words(spec.path, words)
        if spec.kind == "comment":
            return Exists(Comment.objects.filter(self._all_words("body", words), issue_id=OuterRef("pk")))
        # text: summary, description or any comment. As one IN over a UNION ALL so that PostgreSQL can answer
        # each part from its trigram index (migration 0003); an OR of the three scans every issue.
        from issues.models import Issue

        matching = (
            Issue.objects.filter(self._all_words("summary", words))
            .values("pk")
            .union(
                Issue.objects.filter(self._all_words("description", words)).values("pk"),
                Comment.objects.filter(self._all_words("body", words)).values("issue_id"),
                all=True,
            )
        )
        return Q(pk__in=matching)

    @staticmethod
    def _all_words(path: str, words: list[str]) -> Q:
        q = Q()
        for word in words:
            q &= Q(**{f"{path}__icontains": word})
        return q

    @staticmethod
    def search_words(term: str, value: Val) -> list[str]:
        stripped = term.strip()
        if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
            phrase = stripped[1:-1].strip()
            words = [phrase] if phrase else []
        else:
            words = [w.strip("*?") for w in stripped.split()]
            words = [w for w in words if w]
        if not words:
            raise JQLError(
                f"The search term at column {value.pos} is empty.",
                value.pos,
                'Write a word to look for, e.g. ~ "login".',
            )
        return words

    # ----- value helpers

    def plain(self, value: Val, spec: FieldSpec) -> str:
        if value.kind == "func":
            raise JQLError(
                f"The function {value.text}() at column {value.pos} cannot be used with the field '{spec.name}'.",
                value.pos,
                self._function_hint(spec),
            )
        if value.kind == "empty":
            raise JQLError(
                f"EMPTY at column {value.pos} is not allowed here.", value.pos, f"Write {spec.name} IS EMPTY."
            )
        return value.text

    def _function_hint(self, spec: FieldSpec) -> str:
        if spec.kind in ("user", "wl_author"):
            return "Use currentUser() or a username."
        if spec.kind in ("date", "datetime", "wl_date"):
            return "Use now(), startOfDay(), endOfWeek(-1), ... or a date."
        return "Use a plain value."

    @staticmethod
    def _name_or_id_q(text: str, name_field: str = "name") -> Q:
        q = Q(**{f"{name_field}__iexact": text.strip()})
        pk = _id_or_none(text.strip())
        if pk is not None:
            q |= Q(pk=pk)
        return q

    def choice_ids(self, spec: FieldSpec, values: list[Val]) -> QuerySet:
        from issues import models

        model = getattr(models, spec.model)
        q = Q(pk__in=[])
        for value in values:
            text = self.plain(value, spec)
            if not (spec.model == "Resolution" and text.strip().lower() == "unresolved"):
                self.refs.append(ValueRef(spec.name, spec.model, text.strip(), value.pos))
            if spec.model == "Project":
                q |= _project_q(text)
            elif spec.model == "Resolution" and text.strip().lower() == "unresolved":
                continue  # handled below
            else:
                q |= self._name_or_id_q(text)
        return model.objects.filter(q).values("pk")

    def match_unresolved(self, spec: FieldSpec, values: list[Val]) -> bool:
        return spec.model == "Resolution" and any(
            v.kind == "str" and v.text.strip().lower() == "unresolved" for v in values
        )

    def category(self, value: Val) -> str:
        text = self.plain(value, FIELDS["statuscategory"])
        found = CATEGORY_WORDS.get(text.strip().lower())
        if found is None:
            raise JQLError(
                f"Unknown status category '{text}' at column {value.pos}.",
                value.pos,
                "Use 'To Do', 'In Progress' or 'Done'.",
            )
        return found

    def user_q(self, path: str, values: list[Val]) -> Q:
        User = get_user_model()
        parts: list[Q] = []
        names: list[str] = []
        for value in values:
            if value.kind == "func":
                if value.text.lower() not in USER_FUNCTIONS:
                    raise self._unknown_function(value, "currentUser()")
                if value.args:
                    raise JQLError(
                        f"currentUser() at column {value.pos} takes no arguments.", value.pos, "Write currentUser()."
                    )
                if self.user is not None and getattr(self.user, "is_authenticated", False):
                    parts.append(Q(**{f"{path}_id": self.user.pk}))
                else:
                    parts.append(_none_q())  # an anonymous caller is nobody
                continue
            names.append(self.plain(value, FIELDS["assignee"]).strip())
            self.refs.append(ValueRef(self.user_field_name(path), "User", names[-1], value.pos))
        if names:
            match = Q()
            for name in names:
                match |= Q(username__iexact=name) | Q(email__iexact=name) | Q(profile__display_name__iexact=name)
            parts.append(Q(**{f"{path}_id__in": User.objects.filter(match).values("pk")}))
        return _any_of(parts)

    @staticmethod
    def user_field_name(path: str) -> str:
        return {"author": "worklogAuthor"}.get(path, path)

    def keys_and_ids(self, values: list[Val]) -> tuple[list[str], list[int]]:
        keys: list[str] = []
        ids: list[int] = []
        for value in values:
            text = self.plain(value, FIELDS["key"]).strip()
            pk = _id_or_none(text)
            if pk is not None:
                ids.append(pk)
            else:
                keys.append(text.upper())
        return keys, ids

    def _unknown_function(self, value: Val, expected: str) -> JQLError:
        known = value.text.lower() in DATE_FUNCTIONS | USER_FUNCTIONS
        hint = "" if known else _did_you_mean(value.text, FUNCTION_NAMES)
        message = (
            f"The function {value.text}() at column {value.pos} cannot be used here."
            if known
            else f"Unknown function '{value.text}' at column {value.pos}."
        )
        return JQLError(message, value.pos, hint or f"Use {expected}.")

    # ----- dates

    def date_value(self, value: Val) -> DateValue:
        try:
            return self._date_value(value)
        except (OverflowError, ValueError) as exc:
            raise JQLError(
                f"The date {value.describe()} at column {value.pos} is out of range.", value.pos, DATE_HINT
            ) from exc

    def _date_value(self, value: Val) -> DateValue:
        if value.kind == "func":
            return DateValue(self.date_function(value))
        if value.kind == "empty":
            raise JQLError(f"EMPTY at column {value.pos} is not a date.", value.pos, "Write IS EMPTY.")
        text = value.text.strip()
        match = _DATE_RE.match(text)
        if match:
            year, month, day, hour, minute = match.groups()
            try:
                base = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0))
            except ValueError as exc:
                raise JQLError(f"'{text}' at column {value.pos} is not a valid date.", value.pos, DATE_HINT) from exc
            start = base.replace(tzinfo=self.tz)
            day_end = None
            if hour is None:
                day_end = (base + dt.timedelta(days=1)).replace(tzinfo=self.tz)
            # Normalise to UTC now so an out-of-range instant fails here, not in the database.
            return DateValue(start.astimezone(dt.UTC), day_end.astimezone(dt.UTC) if day_end else None)
        match = _REL_RE.match(text)
        if match:
            sign = -1 if match.group(1) == "-" else 1
            result = self.now
            for amount, unit in _REL_PART_RE.findall(match.group(2)):
                result = _shift(result, sign * int(amount), unit)
            return DateValue(result.astimezone(dt.UTC))
        raise JQLError(f"'{text}' at column {value.pos} is not a date.", value.pos, DATE_HINT)

    def date_function(self, value: Val) -> dt.datetime:
        name = value.text.lower()
        if name not in DATE_FUNCTIONS:
            raise self._unknown_function(value, "now() or startOfDay()")
        if name == "now":
            if value.args:
                raise JQLError(f"now() at column {value.pos} takes no arguments.", value.pos, "Write now().")
            return self.now
        if len(value.args) > 1:
            raise JQLError(
                f"{value.text}() at column {value.pos} takes at most one argument.",
                value.pos,
                f"Write {value.text}(-1).",
            )
        period = name[len("startof") :] if name.startswith("startof") else name[len("endof") :]
        default_unit = {"day": "d", "week": "w", "month": "M", "year": "y"}[period]
        amount, unit = 0, default_unit
        if value.args:
            arg = value.args[0]
            match = _OFFSET_RE.match(arg.text.strip()) if arg.kind == "str" else None
            if not match:
                raise JQLError(
                    f"'{arg.text}' at column {arg.pos} is not an offset.",
                    arg.pos,
                    f"Write e.g. {value.text}(-1) or (+2d).",
                )
            amount = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
            unit = match.group(3) or default_unit
        local = self.now.astimezone(self.tz)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if period == "week":
            start -= dt.timedelta(days=start.weekday())
        elif period == "month":
            start = start.replace(day=1)
        elif period == "year":
            start = start.replace(month=1, day=1)
        if name.startswith("endof"):
            step = {"day": ("d", 1), "week": ("w", 1), "month": ("M", 1), "year": ("y", 1)}[period]
            start = _shift(start, step[1], step[0]) - dt.timedelta(microseconds=1)
        shifted = _shift(start.replace(tzinfo=None), amount, unit)
        return shifted.replace(tzinfo=self.tz).astimezone(dt.UTC)

    def date_eq(self, spec: FieldSpec, value: Val) -> Q:
        dv = self.date_value(value)
        if spec.kind == "date":
            return Q(**{spec.path: self.local_date(dv.start)})
        if dv.day_end is not None:
            return Q(**{f"{spec.path}__gte": dv.start, f"{spec.path}__lt": dv.day_end})
        return Q(**{spec.path: dv.start})

    def date_range(self, spec: FieldSpec, lookup: str, value: Val) -> Q:
        dv = self.date_value(value)
        if spec.kind == "date":
            return Q(**{f"{spec.path}__{lookup}": self.local_date(dv.start)})
        return Q(**{f"{spec.path}__{lookup}": dv.start})

    def local_date(self, instant: dt.datetime) -> dt.date:
        try:
            return instant.astimezone(self.tz).date()
        except (OverflowError, ValueError) as exc:
            raise JQLError("The date is out of range.", None, DATE_HINT) from exc

    # ----- ORDER BY

    def order_by(self, node: Tree | None) -> tuple[list[str], list[tuple[str, str]]]:
        if node is None:
            return list(DEFAULT_ORDER), []
        items = [c for c in node.children if isinstance(c, Tree) and c.data == "sort_item"]
        order: list[str] = []
        shown: list[tuple[str, str]] = []
        seen: set[str] = set()
        for item in items:
            fname, direction = item.children
            tok = fname.children[0]
            raw = _unquote(str(tok)) if tok.type == "STRING" else str(tok)
            key = ALIASES.get(raw.lower(), raw.lower())
            desc = bool(direction) and str(direction).lower() == "desc"
            if key not in SORT_FIELDS:
                position = _pos(tok)
                if key in FIELDS:
                    raise JQLError(
                        f"Cannot sort by '{raw}' at column {position}.",
                        position,
                        f"Sortable fields: {', '.join(sorted(SORT_FIELDS))}.",
                    )
                hint = _did_you_mean(raw, list(SORT_FIELDS)) or f"Sortable fields: {', '.join(sorted(SORT_FIELDS))}."
                raise JQLError(f"Unknown field '{raw}' at column {position}.", position, hint)
            paths, _nullable = SORT_FIELDS[key]
            shown.append((raw, "DESC" if desc else "ASC"))
            for path, invert in paths:
                if path in seen:
                    continue
                seen.add(path)
                order.append(f"-{path}" if desc != invert else path)
        first_desc = order[0].startswith("-") if order else True
        order.append("-id" if first_desc else "id")
        return order, shown


# --------------------------------------------------------------------------- errors from lark


def _describe_expected(expected: set[str] | frozenset[str]) -> str:
    names = []
    for name in sorted(expected):
        shown = _TERMINAL_NAMES.get(name, name.lower().replace("_", " "))
        if shown not in names:
            names.append(shown)
    return ", ".join(names[:6])


def _translate_parse_error(exc: UnexpectedInput, text: str) -> JQLError:
    pos = getattr(exc, "pos_in_stream", None)
    position = pos + 1 if isinstance(pos, int) and pos >= 0 else None
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else ""
        if char in "\"'":
            return JQLError(f"Unclosed quote at column {position}.", position, f"Add a closing {char} after the value.")
        return JQLError(
            f"Unexpected character {char!r} at column {position}.",
            position,
            f"Expected {_describe_expected(exc.allowed or set())}." if exc.allowed else "Remove it or quote the value.",
        )
    if isinstance(exc, UnexpectedEOF):
        position = len(text) + 1
        return JQLError(
            f"The query ended unexpectedly at column {position}.",
            position,
            f"Expected {_describe_expected(exc.expected)}." if exc.expected else "",
        )
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        expected = set(exc.expected or ())
        if token.type == "$END":
            position = len(text) + 1
            return JQLError(
                f"The query ended unexpectedly at column {position}.",
                position,
                f"Expected {_describe_expected(expected)}.",
            )
        position = token.start_pos + 1 if token.start_pos is not None else position
        hint = f"Expected {_describe_expected(expected)}."
        if "OP" in expected:
            hint = "Expected an operator: =, !=, >, >=, <, <=, ~, !~, IN, NOT IN or IS [NOT] EMPTY."
        word = str(token)
        if "OP" in expected and word.lower() in ("was", "changed"):
            hint = "History searches (WAS, CHANGED) are not supported; use =, !=, IN, ~ or IS."
        elif expected & {"AND", "OR"} and token.type in ("NAME", "WORD", "STRING"):
            hint = f'Join conditions with AND or OR, or quote a value that contains spaces (e.g. "{word} ...").'
        return JQLError(f"Unexpected '{word}' at column {position}.", position, hint)
    return JQLError("Could not parse the query.", position)


# --------------------------------------------------------------------------- public API


def compile_jql(text: str, *, user: Any, now: dt.datetime | None = None) -> CompiledJQL:
    """Parse JQL text and return its Q and order_by; raise JQLError (and nothing else) for bad input."""
    if not isinstance(text, str):
        raise JQLError("The query must be text.")
    if len(text) > MAX_QUERY_LENGTH:
        raise JQLError(f"The query is longer than {MAX_QUERY_LENGTH} characters.", MAX_QUERY_LENGTH + 1, "Shorten it.")
    bad = next((i for i, ch in enumerate(text) if ch == "\x00" or 0xD800 <= ord(ch) <= 0xDFFF), None)
    if bad is not None:
        raise JQLError(f"Invalid character at column {bad + 1}.", bad + 1, "Remove it.")
    now = now or timezone.now()
    if timezone.is_naive(now):
        now = timezone.make_aware(now, dt.UTC)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _translate_parse_error(exc, text) from None
    except (LarkError, RecursionError) as exc:
        raise JQLError("Could not parse the query.", None, "Check the parentheses and quotes.") from exc
    compiler = Compiler(user=user, now=now)
    expr_node, order_node = tree.children
    try:
        q = compiler.expr(expr_node) if expr_node is not None else Q()
        order, shown = compiler.order_by(order_node)
    except JQLError:
        raise
    except RecursionError as exc:
        raise JQLError("The query is nested too deeply.", None, "Remove some parentheses or NOTs.") from exc
    except (OverflowError, ValueError) as exc:
        raise JQLError("A value in the query is out of range.", None, DATE_HINT) from exc
    return CompiledJQL(q=q, order_by=order, sort=shown, values=tuple(compiler.refs))


def _project_q(text: str) -> Q:
    """Return the Q over Project that `project = text` matches: key, name (any case) or id."""
    return Compiler._name_or_id_q(text) | Q(key__iexact=text.strip())


@functools.lru_cache(maxsize=1024)  # parsed on every navigator request, cache hits included
def project_scope(text: str) -> Q | None:
    """Return a Q over Project that every issue the query can match belongs to, or None when unbounded.

    Lets a cached result page depend only on the generations of the projects it can show. It
    is conservative: a top-level AND is bounded by any bounded conjunct, an OR only when every
    branch is bounded, and NOT, functions, EMPTY or a query that does not parse bound nothing.
    """
    try:
        tree = _PARSER.parse(text) if isinstance(text, str) and len(text) <= MAX_QUERY_LENGTH else None
    except (LarkError, RecursionError):
        return None
    if tree is None or tree.children[0] is None:
        return None
    try:
        return _scope(tree.children[0], 0)
    except RecursionError:
        return None


def _scope(node: Tree | Token, depth: int) -> Q | None:
    if not isinstance(node, Tree) or depth > MAX_DEPTH:
        return None
    if node.data in ("or_expr", "and_expr"):
        parts = [_scope(c, depth + 1) for c in node.children if isinstance(c, Tree)]
        if node.data == "or_expr":
            if any(p is None for p in parts):
                return None
            result = parts[0]
            for part in parts[1:]:
                result |= part
            return result
        bounded = [p for p in parts if p is not None]
        if not bounded:
            return None
        result = bounded[0]
        for part in bounded[1:]:
            result &= part
        return result
    if node.data not in ("cmp", "in_list"):
        return None  # NOT, IS EMPTY
    fname = node.children[0]
    tok = fname.children[0]
    name = (_unquote(str(tok)) if tok.type == "STRING" else str(tok)).lower()
    if ALIASES.get(name, name) != "project":
        return None
    if node.data == "cmp":
        if str(node.children[1]) != "=":
            return None
        values = [node.children[2]]
    else:
        if node.children[1] is not None:  # NOT IN
            return None
        values = [v for v in node.children[3:] if v is not None]
    texts = []
    for value in values:
        if not isinstance(value, Tree) or value.data not in ("string", "word"):
            return None  # EMPTY or a function: not a fixed set of projects
        raw = str(value.children[0])
        texts.append(_unquote(raw) if value.data == "string" else raw)
    if not texts:
        return None
    result = _project_q(texts[0])
    for t in texts[1:]:
        result |= _project_q(t)
    return result


def check_values(compiled: CompiledJQL, *, user: Any) -> None:
    """Raise JQLError for the first named value that does not exist, as Jira does ("Did you mean ...?").

    One small query per kind of value used (statuses, priorities, types, resolutions, the user's projects,
    users). Projects the user cannot see do not exist for them: the message is the same as for a typo.
    """
    from issues import models
    from issues.permissions import visible_project_ids

    known: dict[str, tuple[set[str], list[str]]] = {}
    for ref in compiled.values:
        if ref.model not in known:
            if ref.model == "User":
                known[ref.model] = _known_users([r.text for r in compiled.values if r.model == "User"])
            else:
                qs = getattr(models, ref.model).objects.all()
                columns = ["pk", "name"]
                if ref.model == "Project":
                    qs = qs.filter(pk__in=visible_project_ids(user)) if user is not None else qs.none()
                    columns.append("key")
                rows = list(qs.values_list(*columns))
                names = [str(n) for row in rows for n in row[1:]]
                known[ref.model] = ({n.lower() for n in names} | {str(row[0]) for row in rows}, names)
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


def _known_users(names: list[str]) -> tuple[set[str], list[str]]:
    """Return the lower-cased names (username, email, display name) among `names` that match a user."""
    User = get_user_model()
    match = Q(pk__in=[])
    for name in names:
        match |= Q(username__iexact=name) | Q(email__iexact=name) | Q(profile__display_name__iexact=name)
    found: set[str] = set()
    for row in User.objects.filter(match).values_list("username", "email", "profile__display_name"):
        found |= {str(v).lower() for v in row if v}
    return found, []


def order_expressions(order_by: list[str]) -> list[Any]:
    """Return order_by() arguments with empty (NULL) values last in both directions, on every database."""
    result: list[Any] = []
    for item in order_by:
        desc = item.startswith("-")
        path = item.lstrip("-")
        if path in NULLABLE_SORT_PATHS:
            expr = F(path).desc(nulls_last=True) if desc else F(path).asc(nulls_last=True)
            result.append(expr)
        else:
            result.append(item)
    return result


def jql_queryset(text: str, *, user: Any, base: QuerySet | None = None, now: dt.datetime | None = None) -> QuerySet:
    """Return the issues the user may see that match the JQL, ordered; raise JQLError for bad input."""
    from issues.models import Issue
    from issues.permissions import visible_project_ids

    compiled = compile_jql(text, user=user, now=now)
    check_values(compiled, user=user)
    qs = base if base is not None else Issue.objects.all()
    return (
        qs.filter(project_id__in=visible_project_ids(user))
        .filter(compiled.q)
        .order_by(*order_expressions(compiled.order_by))
    )


# Read by the navigator's page cache, which must know what a query depends on besides the rows:
# the clock (never cached: its results change without any write) and the viewer (part of the key).
_TIME_RELATIVE = re.compile(r"(now|startof\w*|endof\w*)\s*\(|(?<![\w.])[-+]?\d+\s*[wdhm]\b", re.IGNORECASE)
_USER_RELATIVE = re.compile(r"currentuser\s*\(", re.IGNORECASE)


def is_time_relative(text: str) -> bool:
    """Return whether the query may depend on the clock (now(), startOfDay(), -7d, ...): conservative."""
    return bool(_TIME_RELATIVE.search(text))


def is_user_relative(text: str) -> bool:
    """Return whether the query depends on who runs it (currentUser())."""
    return bool(_USER_RELATIVE.search(text))
