"""Render :mod:`.ir` expressions as SQL for one engine's dialect (DuckDB, Spark SQL).

Written here rather than with a pySigma text backend because the semantics are the engine's, not the
backend's: negation is null-safe (``NOT coalesce(x, false)``), case-insensitive matching reads a column
lowered once per segment (``"<field>#lc"``) instead of lowering it again in every rule, and field-less
keywords read one concatenation of every field of the event (``#all``, fields joined with \x1f) with a
regular expression whose wildcards stay inside one field. The evaluator provides those
derived columns; :func:`derived_columns` says which ones an expression needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from aptcatch.hunt.sigma import ir

ALL = "#all"  # every text field of an event joined with \x1f (keywords search it)
LC = "#lc"  # suffix of a lowered copy of a column


@dataclass(frozen=True)
class Dialect:
    """The few spellings that differ between engines."""

    name: str
    quote: Callable[[str], str]
    literal: Callable[[str], str]
    contains: str  # function names taking (text, needle)
    startswith: str
    endswith: str
    regex: Callable[[str, str], str]  # (column sql, pattern literal sql) -> predicate
    like_escape: str  # the ESCAPE clause's literal

    def like(self, col: str, pattern: str) -> str:
        return f"{col} LIKE {self.literal(pattern)} ESCAPE {self.like_escape}"


def _dq(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _bq(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _duck_lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _spark_lit(value: str) -> str:  # Spark SQL string literals process backslash escapes
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


DUCKDB = Dialect(
    name="duckdb",
    quote=_dq,
    literal=_duck_lit,
    contains="contains",
    startswith="starts_with",
    endswith="ends_with",
    regex=lambda col, pat: f"regexp_matches({col}, {pat})",
    like_escape="'\\'",
)
SPARK = Dialect(
    name="spark",
    quote=_bq,
    literal=_spark_lit,
    contains="contains",
    startswith="startswith",
    endswith="endswith",
    regex=lambda col, pat: f"{col} RLIKE {pat}",
    like_escape="'\\\\'",
)
DIALECTS = {d.name: d for d in (DUCKDB, SPARK)}


def _sql_like_pattern(sigma: str) -> str:
    """Sigma wildcards (``*``, ``?``, ``\\`` escapes) → a SQL LIKE pattern escaped with ``\\``."""
    out, i = [], 0
    while i < len(sigma):
        ch = sigma[i]
        if ch == "\\" and i + 1 < len(sigma) and sigma[i + 1] in "*?\\":
            nxt = sigma[i + 1]
            out.append("\\\\" if nxt == "\\" else nxt)
            i += 2
            continue
        out.append("%" if ch == "*" else "_" if ch == "?" else "\\" + ch if ch in "%_\\" else ch)
        i += 1
    return "".join(out)


def _keyword_regex(sigma: str) -> str:
    """A keyword's wildcard pattern as a regular expression over ``#all`` that matches within one
    field: the fields are joined with \\x1f, and a wildcard must not run across it (LIKE's ``%``
    would, so ``b*a`` matched a ``b`` ending one field and an ``a`` in the next)."""
    out, i = ["(?s)(?:^|\\x1f)"], 0
    while i < len(sigma):
        ch = sigma[i]
        if ch == "\\" and i + 1 < len(sigma) and sigma[i + 1] in "*?\\":
            out.append(re.escape(sigma[i + 1]))
            i += 2
            continue
        out.append("[^\\x1f]*" if ch == "*" else "[^\\x1f]" if ch == "?" else re.escape(ch))
        i += 1
    out.append("(?:\\x1f|$)")
    return "".join(out)


def _match(d: Dialect, m: ir.Match) -> str:
    col = d.quote(m.field if m.cased else m.field + LC)
    value = m.value if m.cased else ir.lower(m.value)
    if m.op == "like":
        return d.like(col, _sql_like_pattern(value))
    if m.op == "eq":
        return f"{col} = {d.literal(value)}"
    fn = {"contains": d.contains, "startswith": d.startswith, "endswith": d.endswith}[m.op]
    return f"{fn}({col}, {d.literal(value)})"


_FLAT = 64  # operands joined flat; longer lists are nested as a balanced tree


def _balanced(parts: list[str], op: str) -> str:
    """``(a op b op …)`` nested in groups of at most :data:`_FLAT`: SigmaHQ rules hold or-lists of
    thousands of values, and Spark's SQL parser recurses once per operand of a flat chain (a stack
    overflow at a few thousand)."""
    while len(parts) > _FLAT:
        parts = ["(" + op.join(parts[i : i + _FLAT]) + ")" for i in range(0, len(parts), _FLAT)]
    return "(" + op.join(parts) + ")"


def render(expr: ir.Expr, d: Dialect) -> str:
    """The expression as a SQL predicate (true, false or null; null never means a match)."""
    if isinstance(expr, ir.Const):
        return "TRUE" if expr.value else "FALSE"
    if isinstance(expr, ir.And | ir.Or):
        return _balanced([render(i, d) for i in expr.items], " AND " if isinstance(expr, ir.And) else " OR ")
    if isinstance(expr, ir.Not):
        return f"(NOT coalesce({render(expr.item, d)}, FALSE))"
    if isinstance(expr, ir.Match):
        return _match(d, expr)
    if isinstance(expr, ir.Regex):
        return d.regex(d.quote(expr.field), d.literal(expr.pattern))
    if isinstance(expr, ir.NumCmp):
        op = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[expr.op]
        num = f"TRY_CAST({d.quote(expr.field)} AS DOUBLE)"
        return f"({num} {op} {expr.number!r} AND NOT isnan({num}))"  # SQL orders NaN above all
    if isinstance(expr, ir.Exists):
        return f"({d.quote(expr.field)} IS NOT NULL)"
    if isinstance(expr, ir.IsNull):
        return f"({d.quote(expr.field)} IS NULL OR {d.quote(expr.field)} = '')"
    if isinstance(expr, ir.FieldEq):
        return f"({d.quote(expr.field + LC)} = {d.quote(expr.other + LC)})"
    if isinstance(expr, ir.Keyword):
        col = d.quote(ALL if expr.cased else ALL + LC)
        value = expr.value if expr.cased else ir.lower(expr.value)
        return d.regex(col, d.literal(_keyword_regex(value)))
    raise TypeError(f"cannot render {expr!r}")


def derived_columns(expr: ir.Expr) -> tuple[set[str], bool, bool]:
    """(fields needing a lowered copy, needs ``#all``, needs ``#all#lc``)."""
    lowered: set[str] = set()
    all_cased = all_lc = False
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, ir.And | ir.Or):
            stack.extend(e.items)
        elif isinstance(e, ir.Not):
            stack.append(e.item)
        elif isinstance(e, ir.Match) and not e.cased:
            lowered.add(e.field)
        elif isinstance(e, ir.FieldEq):
            lowered.update((e.field, e.other))
        elif isinstance(e, ir.Keyword):
            all_cased |= e.cased
            all_lc |= not e.cased
    return lowered, all_cased, all_lc
