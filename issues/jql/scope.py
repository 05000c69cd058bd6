"""Which projects a query can match, read from its parse tree without compiling it (page cache keys)."""

from __future__ import annotations

import functools
import re

from django.db.models import Q
from lark import Token, Tree
from lark.exceptions import LarkError

from issues.jql.compiler import _project_q
from issues.jql.grammar import _PARSER, MAX_DEPTH, MAX_QUERY_LENGTH, _unquote
from issues.jql.language import ALIASES


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
        bounded = [p for p in parts if p is not None]
        if node.data == "or_expr":
            # One unbounded branch makes the whole OR unbounded.
            if len(bounded) != len(parts):
                return None
            result = bounded[0]
            for part in bounded[1:]:
                result |= part
            return result
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
    assert isinstance(tok, Token), "the field rule holds one CNAME or STRING token"
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
