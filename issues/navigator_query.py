"""Reading the issue navigator's query string: basic filters to JQL, quick search, sort, group, cursor, size.

Both the filter form and the JQL box end up as JQL text (filters_to_jql), which is what runs and what the
JQL box shows, so the two can never disagree. Nothing here renders: issues/views/navigator.py takes a
NavigatorQuery, runs it through the selectors and renders the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from issues.jql import JQLError, compile_jql
from issues.models import SavedFilter
from issues.selectors import NAVIGATOR_PAGE_SIZE, NavigatorError

# Basic filter fields: query parameter -> JQL field. Several values of one parameter mean IN (...).
FILTER_FIELDS = {
    "project": "project",
    "status": "status",
    "category": "statusCategory",
    "assignee": "assignee",
    "reporter": "reporter",
    "type": "type",
    "priority": "priority",
    "label": "labels",
}
# Issue key typed into the JQL box: the navigator opens that issue instead of searching.
ISSUE_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,9}-[1-9][0-9]{0,9}$")
# Text without any of these characters may be plain words rather than JQL.
_JQL_SYNTAX_RE = re.compile(r"[=!<>~()\"',]")
MAX_PAGE_SIZE_DIGITS = 4
# JQL string literals, removed before looking for ORDER BY so that text ~ "order by" does not count.
_JQL_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_ORDER_BY_RE = re.compile(r"\border\s+by\b", re.IGNORECASE)


def quote_jql(value: str) -> str:
    """Return a JQL string literal for any text."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _user_value(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in ("me", "currentuser()"):
        return "currentUser()"
    if lowered in ("unassigned", "empty", "none"):
        return "EMPTY"
    return quote_jql(value.strip())


def filters_to_jql(params: Any) -> str:
    """Return the JQL equivalent of the basic filter form's parameters (a QueryDict: a field may repeat)."""
    clauses = []
    for param, field in FILTER_FIELDS.items():
        values = [v.strip() for v in params.getlist(param) if v and v.strip()]
        if not values:
            continue
        literals = [_user_value(v) if field in ("assignee", "reporter") else quote_jql(v) for v in values]
        literals = list(dict.fromkeys(literals))
        if len(literals) == 1:
            literal = literals[0]
            clauses.append(f"{field} IS EMPTY" if literal == "EMPTY" else f"{field} = {literal}")
        else:
            clauses.append(f"{field} IN ({', '.join(literals)})")
    text = (params.get("text") or "").strip()
    if text:
        clauses.append(f"text ~ {quote_jql(text)}")
    return " AND ".join(clauses)


def has_basic_filters(params: Any) -> bool:
    """Return whether the basic filter form was used (its fields then replace any JQL)."""
    return params.get("mode") == "basic" or any(params.get(p) for p in [*FILTER_FIELDS, "text"])


def filter_state(params: Any) -> dict[str, Any]:
    """Return the basic filter form's values as submitted, to show them again."""
    state: dict[str, Any] = {p: params.getlist(p) for p in FILTER_FIELDS}
    state["text"] = params.get("text", "")
    return state


def has_order_by(jql: str) -> bool:
    """Return whether the JQL text has its own ORDER BY clause (a remembered column sort must not replace it)."""
    return bool(_ORDER_BY_RE.search(_JQL_STRING_RE.sub("", jql)))


def page_size(raw: str | None) -> int:
    """Return the page size asked for (the default when absent); the selector caps it."""
    if not raw:
        return NAVIGATOR_PAGE_SIZE
    if not raw.isdigit():
        raise NavigatorError("The page size must be a number from 1 to 200.")
    return int(raw[:MAX_PAGE_SIZE_DIGITS])


def _is_jql_error(jql: str, user: Any) -> bool:
    try:
        compile_jql(jql, user=user)
    except JQLError:
        return True
    return False


@dataclass
class NavigatorQuery:
    """What a navigator request asks for, read from its query string (and the saved filter it names)."""

    jql: str
    # As asked: a list from ?columns=, or a saved filter's "key,summary" text; navigator_columns reads both.
    columns: str | list[str] | None
    sort: str | None
    direction: str | None
    group_by: str | None
    cursor: str | None
    size: str
    # Set when the request names a saved filter the user may not open.
    error: NavigatorError | None = None
    # Set when the JQL box holds only an issue key: the view opens that issue instead.
    issue_key: str | None = None
    # Set when plain words were searched as text instead of failing as JQL.
    notice: str | None = None
    # "columns" from the Columns form, "sort" from a column header: that choice is remembered for the user.
    remember: str = ""


def apply_preference(query: NavigatorQuery, *, columns: str, sort: str, direction: str) -> None:
    """Fill in the user's remembered columns and column sort where the request (or its saved filter) has none.

    The remembered sort applies only when the JQL has no ORDER BY of its own.
    """
    if query.remember:
        return
    if query.columns is None and columns:
        query.columns = columns
    if not query.sort and sort and not has_order_by(query.jql):
        query.sort, query.direction = sort, direction or None


def parse_navigator_query(params: Any, *, user: Any, saved: SavedFilter | None) -> NavigatorQuery:
    """Return the navigator query of a request's GET parameters.

    saved is the saved filter named by ?filter= as the user may see it (None when absent or not visible).
    Its JQL and columns apply unless the request brings its own; basic filters replace the JQL; an issue
    key goes to the issue (unless paging); words that are not JQL are searched as text.
    """
    jql = params.get("jql", "")
    columns: str | list[str] | None = params.getlist("columns") or None
    error = None
    if params.get("filter"):
        if saved is None:
            error = NavigatorError("That saved filter does not exist or is not shared with you.")
        elif "jql" not in params:
            jql = saved.jql
            columns = columns or saved.columns or None
    if has_basic_filters(params):
        jql = filters_to_jql(params)
    query = NavigatorQuery(
        jql=jql,
        columns=columns,
        sort=params.get("sort") or None,
        direction=params.get("dir") or None,
        group_by=params.get("group") or None,
        cursor=params.get("cursor") or None,
        size=params.get("size", ""),
        error=error,
        remember=params.get("remember") if params.get("remember") in ("columns", "sort") else "",
    )
    typed = jql.strip()
    if ISSUE_KEY_RE.match(typed) and not query.cursor:
        query.issue_key = typed.upper()
    elif typed and not _JQL_SYNTAX_RE.search(jql) and _is_jql_error(jql, user):
        query.notice = f"'{typed}' is not JQL, so issues containing those words are shown."
        query.jql = f"text ~ {quote_jql(typed)}"
    return query
