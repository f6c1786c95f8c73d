"""The engine-neutral expression a Sigma rule compiles to, and its specialisation to one segment.

pySigma parses the rule, applies the modifiers and the processing pipelines; :mod:`.compile` turns its
condition tree into these small frozen nodes. Every engine (DuckDB, Spark) renders the same nodes, so
the semantics live here once:

* a field that is missing from an event (or from a whole segment) is *null*; every comparison on a
  null is false, and ``not`` of a comparison on a null is true (Sigma's meaning, not SQL's three-valued
  logic, which would drop the event);
* string matching is case-insensitive unless the value was marked ``|cased``; values are compared as text.
  "Case-insensitive" is Unicode's *simple* per-code-point lowercase mapping on both sides, what DuckDB's
  ``lower`` and Arrow's ``utf8_lower`` apply to the data; :func:`lower` applies the same to rule values
  (Python's ``str.lower`` does not: it writes a word-final ``Σ`` as ``ς`` and ``İ`` as ``i`` + U+0307, so
  such a rule value would never match itself). It is not case folding: ``ẞ`` matches ``ß`` but ``SS``
  does not, ``Σ`` matches ``σ`` but not a written ``ς``, and there is no Turkish locale (``ı`` stays
  ``ı``). Arrow follows a newer Unicode than DuckDB and Python 3.11: the ~75 capitals added in
  Unicode 16 (Garay, some Latin Extended-D) are lowered by VectorSigma only;
* numeric comparisons (``|gt`` …) read the text as a double the way SQL's ``TRY_CAST`` does (ASCII
  digits, exponents, ``inf``); text that is not a number, and ``NaN``, compares false.

:func:`specialise` folds in the constants of a segment (``Channel``, ``EventID`` …) and the fields it
lacks, so a rule whose log-source conditions contradict a segment disappears before any engine runs it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

StrOp = Literal["eq", "contains", "startswith", "endswith", "like"]
NumOp = Literal["lt", "lte", "gt", "gte"]


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Match:
    """``field`` compared with a text value. ``like`` values use ``*``/``?`` wildcards, ``\\`` escapes."""

    field: str
    op: StrOp
    value: str
    cased: bool = False


@dataclass(frozen=True)
class Regex:
    field: str
    pattern: str  # flags already inlined as (?i) / (?s) / (?m)


@dataclass(frozen=True)
class NumCmp:
    field: str
    op: NumOp
    number: float


@dataclass(frozen=True)
class Exists:
    field: str


@dataclass(frozen=True)
class IsNull:
    """Sigma's ``field: null``: the field is missing or empty."""

    field: str


@dataclass(frozen=True)
class FieldEq:
    """``|fieldref``: two fields of the event are equal (case-insensitive)."""

    field: str
    other: str


@dataclass(frozen=True)
class Keyword:
    """A field-less value: matches when any field of the event contains it (wildcards allowed)."""

    value: str
    cased: bool = False


@dataclass(frozen=True)
class Not:
    item: Expr


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


Leaf = Match | Regex | NumCmp | Exists | IsNull | FieldEq | Keyword
Expr = Const | Leaf | Not | And | Or

TRUE = Const(True)
FALSE = Const(False)

# The two places where Python's full lowercase mapping differs from the simple one the engines use.
_SIMPLE_LOWER = str.maketrans({"\u0130": "i", "\u03a3": "\u03c3"})


@functools.lru_cache(maxsize=65536)
def lower(text: str) -> str:
    """``text`` lowered as DuckDB ``lower`` and Arrow ``utf8_lower`` lower the data (simple mapping).

    Memoised: planning lowers the same rule values and segment constants over and over."""
    return text.translate(_SIMPLE_LOWER).lower()


def and_(items: list[Expr]) -> Expr:
    """A conjunction with constants folded and nested conjunctions flattened."""
    out: list[Expr] = []
    for item in items:
        if isinstance(item, Const):
            if not item.value:
                return FALSE
            continue
        out.extend(item.items if isinstance(item, And) else (item,))
    return TRUE if not out else out[0] if len(out) == 1 else And(tuple(out))


def or_(items: list[Expr]) -> Expr:
    out: list[Expr] = []
    for item in items:
        if isinstance(item, Const):
            if item.value:
                return TRUE
            continue
        out.extend(item.items if isinstance(item, Or) else (item,))
    return FALSE if not out else out[0] if len(out) == 1 else Or(tuple(out))


def not_(item: Expr) -> Expr:
    if isinstance(item, Const):
        return Const(not item.value)
    if isinstance(item, Not):
        return item.item
    return Not(item)


def fields(expr: Expr) -> frozenset[str]:
    """Every field name the expression reads (keywords read none by name); iterative, as planning
    asks it of every rule and conjunct."""
    out: set[str] = set()
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, And | Or):
            stack.extend(e.items)
        elif isinstance(e, Not):
            stack.append(e.item)
        elif isinstance(e, FieldEq):
            out.add(e.field)
            out.add(e.other)
        elif isinstance(e, Match | Regex | NumCmp | Exists | IsNull):
            out.add(e.field)
    return frozenset(out)


def has_keywords(expr: Expr) -> bool:
    if isinstance(expr, Keyword):
        return True
    if isinstance(expr, And | Or):
        return any(has_keywords(i) for i in expr.items)
    return isinstance(expr, Not) and has_keywords(expr.item)


@functools.lru_cache(maxsize=65536)
def wildcard_regex(pattern: str) -> str:
    """A Sigma wildcard pattern (``*``, ``?``, ``\\`` escapes) as an unanchored regular expression body
    that Python's ``re`` and RE2 read alike."""
    import re

    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*?\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=65536)
def _wild_match(pattern: str, text: str) -> bool:
    """Sigma wildcard match in Python (used only to fold constants, never per event; the same pattern
    meets the same constant in many segments, hence the cache)."""
    import re

    return re.fullmatch(wildcard_regex(pattern), text, re.DOTALL) is not None


def evaluate_leaf(leaf: Leaf, value: str | None) -> bool:
    """A leaf against one known value (constants folding; ``None`` is a missing field)."""
    import re

    if isinstance(leaf, Exists):
        return value is not None
    if isinstance(leaf, IsNull):
        return value is None or value == ""
    if value is None:
        return False
    if isinstance(leaf, Match):
        v, x = (leaf.value, value) if leaf.cased else (lower(leaf.value), lower(value))
        if leaf.op == "eq":
            return x == v
        if leaf.op == "contains":
            return v in x
        if leaf.op == "startswith":
            return x.startswith(v)
        if leaf.op == "endswith":
            return x.endswith(v)
        return _wild_match(v, x)
    if isinstance(leaf, Regex):
        return re.search(leaf.pattern, value) is not None
    if isinstance(leaf, NumCmp):
        # As SQL's TRY_CAST(... AS DOUBLE) reads text: ASCII digits only (Python's float also takes
        # other scripts' digits), and NaN compares false here (SQL engines order it above everything)
        try:
            n = float(value) if value.isascii() else math.nan
        except ValueError:
            return False
        if math.isnan(n):
            return False
        return {"lt": n < leaf.number, "lte": n <= leaf.number, "gt": n > leaf.number}.get(
            leaf.op, n >= leaf.number
        )
    raise TypeError(f"cannot fold {leaf!r}")


def specialise(expr: Expr, constants: Mapping[str, str], present: frozenset[str] | set[str]) -> Expr:
    """Fold a segment's constants and missing fields into the expression.

    ``present`` are the fields the segment has as columns; a field neither there nor in ``constants``
    is null for every event of the segment.
    """
    if isinstance(expr, Const):
        return expr
    if isinstance(expr, Keyword):  # a keyword found in a constant field matches every event there
        found = any(_wild_match(expr.value, v if expr.cased else lower(v)) for v in constants.values())
        return TRUE if found else expr
    if isinstance(expr, And | Or):
        items = [specialise(i, constants, present) for i in expr.items]
        if all(a is b for a, b in zip(items, expr.items, strict=True)):
            return expr  # nothing folded: the same object (planning shares it between segments)
        return and_(items) if isinstance(expr, And) else or_(items)
    if isinstance(expr, Not):
        return not_(specialise(expr.item, constants, present))
    if isinstance(expr, FieldEq):
        known = [f for f in (expr.field, expr.other) if f in constants]
        missing = [f for f in (expr.field, expr.other) if f not in constants and f not in present]
        if missing:
            return FALSE
        if len(known) == 2:
            return Const(lower(constants[expr.field]) == lower(constants[expr.other]))
        return expr
    if expr.field in constants:
        return Const(evaluate_leaf(expr, constants[expr.field]))
    if expr.field not in present:
        return Const(evaluate_leaf(expr, None))
    return expr
