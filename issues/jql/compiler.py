"""The JQL compiler: a lark parse tree in, one Q over Issue (with EXISTS subqueries for related rows) out."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from lark import Token, Tree

from accounts.models import user_zone
from issues import models
from issues.fields import SORT_FIELDS
from issues.jql.functions import DateFunctions
from issues.jql.grammar import MAX_DEPTH, MAX_LIST_ITEMS, JQLError, Val, ValueRef, _pos, _unquote
from issues.jql.language import (
    ALIASES,
    CATEGORY_WORDS,
    DEFAULT_ORDER,
    EQ_OPS,
    EVERYTHING,
    FIELD_NAMES,
    FIELDS,
    ISSUE_FUNCTIONS,
    RANGE_OPS,
    TEXT_OPS,
    USER_FUNCTIONS,
    FieldSpec,
    _any_of,
    _did_you_mean,
    _id_or_none,
    _none_q,
)
from issues.jql.values import ResolvedValues, text_match_q
from issues.models import Comment, Issue, IssueLink, IssueLinkType, Priority, Project, Status
from issues.permissions import known_users_q, visible_project_ids

CUSTOM_RANGE_TYPES = ("number", "date", "datetime")
CUSTOM_MULTI_TYPES = ("multiselect", "labels", "user")


def _worklogs() -> QuerySet:
    """Return all worklogs, reached through the reverse relation: the worklogs app sits above issues and points at them.

    JQL's worklogAuthor, worklogDate and timespent read worklogs, as Jira's do; importing worklogs.models here
    would make the issue app depend on the app built on it.
    """
    return Issue._meta.get_field("worklogs").related_model._default_manager.all()


class Compiler(DateFunctions):
    """Turn a lark parse tree into a Q; every problem becomes a JQLError with a position."""

    def __init__(self, *, user: Any, now: dt.datetime, resolved: ResolvedValues | None = None) -> None:
        self.user = user
        self.now = now
        # The ids check_values found for the named values (compile_checked): compiled as plain id lists.
        self.resolved = resolved
        self.walk = False
        self.tz = user_zone(user)
        self.refs: list[ValueRef] = []
        self._link_type_rows: list[tuple[int, str, str, str]] | None = None

    # ----- tree walking

    def expr(self, node: Tree | Token, depth: int = 0) -> Q:
        if depth > MAX_DEPTH:
            raise JQLError("The query is nested too deeply.", _pos(node), "Remove some parentheses or NOTs.")
        if not isinstance(node, Tree):  # pragma: no cover - the grammar puts a rule, never a bare token, here
            raise JQLError("Could not understand the query.", _pos(node))
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
        if data == "in_func":  # issue in linkedIssues(DEMO-1): a function standing for a list of values
            fname, not_token, in_token, name_tok, *args = node.children
            call = Val("func", str(name_tok), _pos(name_tok) or 0, tuple(self.value(a) for a in args if a is not None))
            return self.clause(fname, "not in" if not_token else "in", [call], _pos(not_token or in_token))
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
        assert isinstance(tok, Token), "the field rule holds one CNAME, STRING or CUSTOM token"
        raw = _unquote(str(tok)) if tok.type == "STRING" else str(tok)
        name = raw.lower()
        name = ALIASES.get(name, name)
        spec = FIELDS.get(name) if tok.type != "CUSTOM" else None
        if spec is None:
            spec = self.custom_spec(raw, custom_id=tok.type == "CUSTOM")
        if spec is None:
            position = _pos(tok)
            hint = _did_you_mean(raw, FIELD_NAMES) or f"Known fields: {', '.join(sorted(FIELD_NAMES))}."
            raise JQLError(f"Unknown field '{raw}' at column {position}.", position, hint)
        return spec, _pos(tok)

    @staticmethod
    def custom_spec(raw: str, *, custom_id: bool) -> FieldSpec | None:
        """Return the spec of a custom field named `cf[10010]` (Jira's id) or by its name, None if none is."""
        if custom_id:
            number = raw[3:-1]
            # A field without a Jira id answers to its id here (the API's customfield_<id>); an id past the
            # column's range names no field (and must not reach the database as an out-of-range integer).
            by_pk = Q(jira_id="", pk=int(number)) if int(number) < 2**63 else Q(pk__in=[])
            found = models.CustomField.objects.filter(Q(jira_id=f"customfield_{number}") | by_pk).first()
        else:
            found = models.CustomField.objects.filter(name__iexact=raw).order_by("id").first()
        if found is None:
            return None
        typed = found.type in CUSTOM_RANGE_TYPES
        ops = EQ_OPS | TEXT_OPS | (RANGE_OPS if typed else frozenset())
        return FieldSpec(raw, "custom", ops, str(found.pk), found.type, nullable=True)

    def custom_q(self, spec: FieldSpec, op: str, values: list[Val]) -> Q:
        """Return the clause on a custom field: = / IN on its text (any of several values), ~ on words, ranges."""
        rows = models.CustomFieldValue.objects.filter(field_id=int(spec.path), issue_id=OuterRef("pk"))
        has = Q(Exists(rows))
        if op in ("is", "is not") or (op in ("=", "!=") and values and values[0].kind == "empty"):
            return ~has if op in ("is", "=") else has
        texts = [self.plain(v, spec).strip() for v in values if v.kind != "empty"]
        if op in ("~", "!~"):
            q = Q(Exists(rows.filter(text__icontains=texts[0])))
            return q if op == "~" else has & ~q
        if op in RANGE_OPS:
            lookup = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op]
            column, value = self.custom_typed(spec, values[0])
            return Q(Exists(rows.filter(**{f"{column}__{lookup}": value})))
        match = Q()
        for text in texts:
            if spec.model in CUSTOM_MULTI_TYPES:  # one of the values: the text joins them with ", "
                match |= Q(text__iregex=rf"(^|, ){re.escape(text)}(, |$)")
            elif spec.model in CUSTOM_RANGE_TYPES:
                column, value = self.custom_typed(spec, Val("str", text, values[0].pos))
                match |= Q(**{column: value})
            else:
                match |= Q(text__iexact=text)
        q = Q(Exists(rows.filter(match))) if texts else _none_q()
        if any(v.kind == "empty" for v in values):
            q |= ~has
        return q if op in ("=", "in") else has & ~q

    def custom_typed(self, spec: FieldSpec, value: Val) -> tuple[str, Any]:
        """Return the column and the value a number, date or date-and-time field compares."""
        text = self.plain(value, spec).strip()
        try:
            if spec.model == "number":
                return "number", float(text)
            if spec.model == "date":
                return "date", dt.date.fromisoformat(text)
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise JQLError(
                f"'{text}' at column {value.pos} is not a {spec.model} for the field '{spec.name}'.",
                value.pos,
                "Write a number (3.5)" if spec.model == "number" else "Write a date such as 2024-01-15",
            ) from None
        return "moment", moment if moment.tzinfo else moment.replace(tzinfo=self.tz)

    # ----- clauses

    def clause(self, fname: Tree, op: str, values: list[Val], op_pos: int | None) -> Q:
        spec, fpos = self.field_spec(fname)
        if op not in spec.ops:
            raise self._bad_operator(spec, op, op_pos)
        if spec.kind == "custom":
            return self.custom_q(spec, op, values)
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

        kind = spec.kind
        if kind in ("user", "parent") or (kind in ("choice", "date", "datetime") and spec.nullable):
            return Q(**{f"{spec.path}__isnull": True})
        if kind == "text":
            return Q(**{spec.path: ""})
        if kind == "labels":
            return ~Q(Exists(Issue.labels.through.objects.filter(issue_id=OuterRef("pk"))))
        if kind == "comment":
            return ~Q(Exists(Comment.objects.filter(issue_id=OuterRef("pk"))))
        if kind in ("wl_author", "wl_date"):
            return ~Q(Exists(_worklogs().filter(issue_id=OuterRef("pk"))))
        if kind == "linktype":
            return ~Q(Exists(IssueLink.objects.filter(outward_issue_id=OuterRef("pk")))) & ~Q(
                Exists(IssueLink.objects.filter(inward_issue_id=OuterRef("pk")))
            )
        # Required fields (project, key, status, created, ...) are never empty.
        return _none_q()

    def eq_q(self, spec: FieldSpec, values: list[Val]) -> Q:

        kind = spec.kind
        if kind == "choice":
            q = Q(**{f"{spec.path}_id__in": self.choice_ids(spec, values)})
            if self.match_unresolved(spec, values):
                q |= Q(resolution__isnull=True)
            return q
        if kind == "category":
            cats = {self.category(v) for v in values}

            return Q(status_id__in=Status.objects.filter(category__in=sorted(cats)).values("pk"))
        if kind == "user":
            return self.user_q(spec.path, values)
        if kind == "key":
            linked = [self.linked_issues_q(v) for v in values if v.kind == "func"]
            keys, ids = self.keys_and_ids([v for v in values if v.kind != "func"])
            parts = [Q(key__in=keys)] if keys else []
            parts += linked
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
            return Q(Exists(Issue.labels.through.objects.filter(label_q, issue_id=OuterRef("pk"))))
        if kind in ("date", "datetime"):
            return _any_of([self.date_eq(spec, v) for v in values])
        if kind == "linktype":
            return _any_of([self.link_type_q(v, spec) for v in values])
        if kind == "wl_author":
            users = self.user_q("author", values)
            return Q(Exists(_worklogs().filter(users, issue_id=OuterRef("pk"))))
        if kind == "wl_date":
            started = FieldSpec("worklogDate", "datetime", EQ_OPS, "started")
            q = _any_of([self.date_eq(started, v) for v in values])
            return Q(Exists(_worklogs().filter(q, issue_id=OuterRef("pk"))))
        raise JQLError(f"The field '{spec.name}' cannot be compared with '='.")  # pragma: no cover

    def range_q(self, spec: FieldSpec, op: str, value: Val) -> Q:

        lookup = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op]
        if spec.kind in ("date", "datetime"):
            return self.date_range(spec, lookup, value)
        if spec.kind == "wl_date":
            # worklogDate is a day field in Jira: "<= 2026-12-01" takes in that whole day, "> 2026-12-01" starts
            # after it (a day in the user's time zone); with a time, the instant itself.
            dv = self.date_value(value)
            if dv.day_end is not None and lookup in ("lte", "gt"):
                inner = Q(**{"started__lt" if lookup == "lte" else "started__gte": dv.day_end})
            else:
                inner = self.date_range(FieldSpec("worklogDate", "datetime", EQ_OPS, "started"), lookup, value)
            return Q(Exists(_worklogs().filter(inner, issue_id=OuterRef("pk"))))
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

        term = self.plain(value, spec)
        words = self.search_words(term, value)
        if spec.kind == "text":
            return self._all_words(spec.path, words)
        if spec.kind == "comment":
            return Q(Exists(Comment.objects.filter(self._all_words("body", words), issue_id=OuterRef("pk"))))
        # text: summary, description or any comment. A common term (resolve_values samples recent issues) is tested
        # issue by issue along the sort order: a page is found after a few dozen issues. Otherwise one IN over a
        # UNION ALL, so that PostgreSQL answers each part from its trigram index (migration 0003): an OR of the
        # three would scan every issue for a rare word.
        self.refs.append(ValueRef(spec.name, "Text", "\x1f".join(words), value.pos))
        if self.resolved is not None and tuple(words) in self.resolved.common_terms:
            self.walk = True
            return text_match_q(words)

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

    # ----- issue links

    def _link_types(self) -> list[tuple[int, str, str, str]]:
        if self._link_type_rows is None:  # one query per compile, only for queries about links
            self._link_type_rows = list(IssueLinkType.objects.values_list("pk", "name", "outward", "inward"))
        return self._link_type_rows

    def link_directions(self, text: str, pos: int) -> tuple[list[int], list[int]]:
        """Return the ids of link types read outward and read inward by a phrase ("blocks", "is blocked by").

        A phrase wins over a type's name ("blocks" is the outward phrase of Blocks, not both ways).
        """
        wanted = text.strip().lower()
        outward = [pk for pk, _name, out, _in in self._link_types() if wanted == out.lower()]
        inward = [pk for pk, _name, _out, in_ in self._link_types() if wanted == in_.lower()]
        if not outward and not inward:  # not a phrase: a type's name ("Duplicate") stands for both ways
            outward = inward = [pk for pk, name, _out, _in in self._link_types() if wanted == name.lower()]
        if not outward and not inward:
            phrases = sorted({p for _pk, _name, out, in_ in self._link_types() for p in (out, in_)})
            hint = _did_you_mean(text, phrases) or f"Link types: {', '.join(phrases)}."
            raise JQLError(f"Unknown issue link type '{text}' at column {pos}.", pos, hint)
        return outward, inward

    def link_type_q(self, value: Val, spec: FieldSpec) -> Q:
        """issueLinkType = "blocks": issues with a link that reads so from them (a type's name: either way)."""
        outward, inward = self.link_directions(self.plain(value, spec), value.pos)
        parts = []
        if outward:
            parts.append(Q(Exists(IssueLink.objects.filter(type_id__in=outward, outward_issue_id=OuterRef("pk")))))
        if inward:
            parts.append(Q(Exists(IssueLink.objects.filter(type_id__in=inward, inward_issue_id=OuterRef("pk")))))
        return _any_of(parts)

    def linked_issues_q(self, value: Val) -> Q:
        """issue in linkedIssues(KEY[, "blocks"]): the issues linked to KEY, optionally by a phrase read from KEY.

        KEY must be an issue the caller may see: any other is "does not exist", as a missing one (nothing leaks
        about links of issues they cannot see).
        """
        if value.text.lower() not in ISSUE_FUNCTIONS:
            raise self._unknown_function(value, 'linkedIssues(KEY) or linkedIssues(KEY, "blocks")')
        if not 1 <= len(value.args) <= 2 or any(a.kind != "str" for a in value.args):
            raise JQLError(
                f"linkedIssues() at column {value.pos} takes an issue key and optionally a link type.",
                value.pos,
                'Write e.g. issue in linkedIssues(DEMO-1) or linkedIssues(DEMO-1, "blocks").',
            )
        key_arg = value.args[0]
        issues = Issue.objects.filter(key=key_arg.text.strip().upper())
        if self.user is not None:
            issues = issues.filter(project_id__in=visible_project_ids(self.user))
        issue_id = issues.values_list("pk", flat=True).first()
        if issue_id is None:
            raise JQLError(
                f"The issue '{key_arg.text}' at column {key_arg.pos} does not exist.",
                key_arg.pos,
                "Write a key like DEMO-42.",
            )
        links = IssueLink.objects.all()
        if len(value.args) == 2:
            outward, inward = self.link_directions(value.args[1].text, value.args[1].pos)
        else:
            outward = inward = [pk for pk, *_rest in self._link_types()]
        # Read from KEY: "KEY blocks X" is a link with KEY outward; "KEY is blocked by X" one with KEY inward.
        targets = (
            links.filter(outward_issue_id=issue_id, type_id__in=outward)
            .values("inward_issue_id")
            .union(links.filter(inward_issue_id=issue_id, type_id__in=inward).values("outward_issue_id"), all=True)
        )
        return Q(pk__in=targets)

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

    def choice_ids(self, spec: FieldSpec, values: list[Val]) -> QuerySet | list[int]:

        model = getattr(models, spec.model)
        q = Q(pk__in=[])
        ids: set[int] = set()
        for value in values:
            text = self.plain(value, spec)
            if not (spec.model == "Resolution" and text.strip().lower() == "unresolved"):
                self.refs.append(ValueRef(spec.name, spec.model, text.strip(), value.pos))
                if self.resolved is not None:
                    ids |= self.resolved.lookup(spec.model, text)
            if spec.model == "Project":
                q |= _project_q(text)
            elif spec.model == "Resolution" and text.strip().lower() == "unresolved":
                continue  # handled below
            else:
                q |= self._name_or_id_q(text)
        if self.resolved is not None:
            return sorted(ids)
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
        if names and self.resolved is not None:
            ids = sorted({pk for name in names for pk in self.resolved.lookup("User", name)})
            parts.append(Q(**{f"{path}_id__in": ids}))
        elif names:
            match = Q()
            for name in names:
                match |= Q(username__iexact=name) | Q(email__iexact=name) | Q(profile__display_name__iexact=name)
            # Only people who share a project with the caller: nobody else can be found by name or e-mail.
            users = User.objects.filter(match, known_users_q(self.user))
            parts.append(Q(**{f"{path}_id__in": users.values("pk")}))
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
            assert isinstance(tok, Token), "the field rule holds one CNAME or STRING token"
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


def _project_q(text: str) -> Q:
    """Return the Q over Project that `project = text` matches: key, name (any case) or id."""
    return Compiler._name_or_id_q(text) | Q(key__iexact=text.strip())
