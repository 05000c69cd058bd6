"""JQL grammar and parse errors: the lark grammar, the parser, JQLError and the shapes a compile returns."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

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
    model: str  # "Status", "Priority", "IssueType", "Resolution", "Project", "User" or "Text" (a `text ~` term)
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
    # A common `text ~` term is tested issue by issue: the search should walk the sort order's index.
    walk: bool = False


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
      | fieldname [NOT] IN WORD "(" [arg ("," arg)*] ")" -> in_func

fieldname: NAME | STRING | CUSTOM

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
CUSTOM.2: /cf\[\d+\]/i
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
    "CUSTOM": "a field name",
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


# --------------------------------------------------------------------------- errors from lark


def _describe_expected(expected: Iterable[str]) -> str:
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
        at = exc.pos_in_stream
        char = text[at] if at is not None and 0 <= at < len(text) else ""
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
