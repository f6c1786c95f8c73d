"""The default Sigma evaluator: Arrow kernels over each column's distinct values, numpy for the logic.

Why not one SQL query per segment in DuckDB (:mod:`.evaluate` does that and the tests use it as the
reference)? DuckDB binds and optimises every predicate of a query before running it: measured at
150–280 µs per predicate, and the SigmaHQ Windows rules put ~60,000 distinct predicates over the 171
event shapes of the EVTX-ATTACK-SAMPLES, so compiling alone would cost seconds before a row is read.
Logs repeat themselves (an image path, an event id, a parent process recur thousands of times), so
this evaluator:

1. groups the segments of all files by their constants (``Channel``, ``EventID`` …) into one table;
2. dictionary-encodes each column a rule reads, once per group, and lowers the dictionary once;
3. evaluates each distinct predicate on the dictionary with one Arrow kernel (RE2 for substrings,
   alternatives and wildcards, which is faster than ``match_substring``; ``is_in`` for lists of
   equalities) and remembers the answer per distinct value;
4. walks each rule's expression over *row numbers*: a conjunction evaluates its cheapest item on the
   group's rows and every further item only on the rows still alive, a disjunction each item only on
   the rows not yet matched; a predicate reached by few rows is evaluated on just the distinct values
   those rows hold. Null-safety is by construction: a missing value is simply false, ``not`` inverts.

Most rules die on their first, cheap item (an image name, a registry key prefix), so the expensive
substring alternatives run on a handful of values, and the work grows with the distinct values and
the rows that survive, not with events × predicates. Keywords (field-less values) are evaluated on
each text column's dictionary and or-ed per row, never on a concatenation of the whole event.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aptcatch.gc_pause import gc_paused
from aptcatch.hunt.readers.base import ROW, ReadResult, SegmentShape
from aptcatch.hunt.sigma import ir
from aptcatch.hunt.sigma.evaluate import Hit, SigmaRun
from aptcatch.hunt.sigma.plan import Planner, SegmentPlan, quiet_plans, sigma_columns
from aptcatch.hunt.sigma.rules import CompiledRule

FILE = "@file"

Bools = np.ndarray[Any, np.dtype[np.bool_]]
Ints = np.ndarray[Any, np.dtype[np.int64]]

# Below this share of a column's distinct values, a predicate is evaluated on just the values needed.
_PARTIAL = 0.25


@dataclass(frozen=True)
class _AnyOf:
    """Several text matches on one field, evaluated as one kernel over the dictionary."""

    field: str
    cased: bool
    equal: frozenset[str]  # eq alternatives (``is_in``)
    regex: str | None  # every other alternative as one RE2 pattern
    plain: tuple[tuple[str, str], ...] | None  # the same as (op, value) when none is a wildcard pattern


@dataclass(frozen=True)
class _Keywords:
    """Or-ed field-less values: one RE2 pattern over every distinct value of every column of a row."""

    cased: bool
    regex: str


@dataclass
class _Column:
    """One column of a group: distinct values (as given and lowered) and each row's index into them.

    ``known``/``answer`` remember, per predicate, which distinct values were evaluated and the result;
    both have one extra slot at the end for rows without a value (always known, answer ``False``).
    """

    values: pa.Array
    index: Ints  # len(values) where the row has no value
    lowered: pa.Array | None = None
    memo: dict[Any, tuple[Bools, Bools]] = field(default_factory=dict)

    def text(self, cased: bool) -> pa.Array:
        if cased:
            return self.values
        if self.lowered is None:
            self.lowered = pc.utf8_lower(self.values)
        return self.lowered


def _bool(arr: Any) -> Bools:
    if arr.null_count:
        arr = pc.fill_null(arr, False)
    out: Bools = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)
    return out


@functools.lru_cache(maxsize=65536)
def _like_regex(pattern: str) -> str:
    """A Sigma wildcard pattern as an RE2 expression (unanchored where it starts or ends with ``*``)."""
    body = ir.wildcard_regex(pattern)
    head = "" if body.startswith(".*") else "^"
    tail = "" if body.endswith(".*") and not body.endswith("\\.*") else "$"
    body = body.removeprefix(".*") if head == "" else body
    body = body.removesuffix(".*") if tail == "" else body
    return head + body + tail


def _alternative(m: ir.Match) -> str:
    v = m.value if m.cased else m.value.lower()
    if m.op == "like":
        return _like_regex(v)
    e = re.escape(v)
    return {"eq": f"^{e}$", "startswith": f"^{e}", "endswith": f"{e}$"}.get(m.op, e)


def _regex(alternatives: Sequence[str]) -> str:
    return "(?s)" + ("|".join(f"(?:{a})" for a in alternatives) if len(alternatives) > 1 else alternatives[0])


def _any_of(name: str, cased: bool, matches: Sequence[ir.Match]) -> _AnyOf:
    equal = frozenset(m.value if m.cased else m.value.lower() for m in matches if m.op == "eq")
    others = sorted({(m.op, m.value if m.cased else m.value.lower()) for m in matches if m.op != "eq"})
    rest = sorted({_alternative(m) for m in matches if m.op != "eq"})
    plain = None if any(op == "like" for op, _ in others) else tuple(others)
    return _AnyOf(name, cased, equal, _regex(rest) if rest else None, plain)


# RE2 compiles the pattern on every call (a few ms for hundreds of alternatives); for few values
# Python's ``in`` / ``startswith`` / ``endswith`` over the alternatives is cheaper up to about this size.
_PYTHON_WORK = 4096


def _plain_on(plain: tuple[tuple[str, str], ...], values: pa.Array) -> Bools:
    contains = [v for op, v in plain if op == "contains"]
    starts = tuple(v for op, v in plain if op == "startswith")
    ends = tuple(v for op, v in plain if op == "endswith")
    return np.array(
        [
            x is not None and (x.startswith(starts) or x.endswith(ends) or any(c in x for c in contains))
            for x in values.to_pylist()
        ],
        dtype=bool,
    )


def _on_values(leaf: Any, values: pa.Array) -> Bools:
    """A predicate on distinct values (already lowered when it is case-insensitive)."""
    if isinstance(leaf, _AnyOf):
        out = np.zeros(len(values), dtype=bool)
        if leaf.equal:
            out |= _bool(pc.is_in(values, value_set=pa.array(sorted(leaf.equal), pa.string())))
        if leaf.plain is not None and len(leaf.plain) * len(values) <= _PYTHON_WORK:
            out |= _plain_on(leaf.plain, values)
        elif leaf.regex is not None:
            out |= _regex_on(leaf.regex, values)
        return out
    if isinstance(leaf, ir.Match):
        v = leaf.value if leaf.cased else leaf.value.lower()
        if leaf.op == "eq":
            return _bool(pc.equal(values, v))
        if leaf.op == "startswith":
            return _bool(pc.starts_with(values, v))
        if leaf.op == "endswith":
            return _bool(pc.ends_with(values, v))
        return _regex_on(_regex([_alternative(leaf)]), values)
    if isinstance(leaf, _Keywords):
        return _regex_on(leaf.regex, values)
    if isinstance(leaf, ir.Regex):
        return _regex_on(leaf.pattern, values)
    if isinstance(leaf, ir.NumCmp):
        numbers: list[bool] = []
        for v in values.to_pylist():
            try:
                numbers.append(ir.evaluate_leaf(leaf, v))
            except (TypeError, ValueError):
                numbers.append(False)
        return np.array(numbers, dtype=bool)
    if isinstance(leaf, ir.IsNull):
        return _bool(pc.equal(values, ""))
    if isinstance(leaf, ir.Exists):
        return np.ones(len(values), dtype=bool)
    raise TypeError(f"not a value predicate: {leaf!r}")


def _regex_on(pattern: str, values: pa.Array) -> Bools:
    try:
        return _bool(pc.match_substring_regex(values, pattern))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # look-around, or over RE2's size budget
        rx = re.compile(pattern)
        return np.array([v is not None and rx.search(v) is not None for v in values.to_pylist()], bool)


def _cased(leaf: Any) -> bool:
    """Whether the predicate reads the values as given (else their lowered copies)."""
    return not isinstance(leaf, _AnyOf | ir.Match | _Keywords) or bool(leaf.cased)


class _Group:
    """All rows of one shape; rule expressions are evaluated over arrays of its row numbers."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self._setup(int(table.num_rows), table.column_names)

    def _setup(self, rows: int, names: Sequence[str]) -> None:
        self.rows = rows
        self.columns: dict[str, _Column] = {}
        self._contiguous: dict[str, pa.Array] = {}
        self._all: _Column | None = None  # every column's distinct values, for keywords
        self._all_at: np.ndarray[Any, np.dtype[np.int64]] = np.zeros((0, 0), np.int64)
        self.text_columns = [c for c in names if c not in (ROW, FILE)]

    def ids(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Each row's file id and row number in its file."""
        return self.table.column(FILE).to_numpy(), self.table.column(ROW).to_numpy()

    def _load(self, name: str) -> pa.Array:
        return self.table.column(name).combine_chunks()

    def contiguous(self, name: str) -> pa.Array:
        """One column of the group in one piece (then every kernel over it is one call, not one per file)."""
        arr = self._contiguous.get(name)
        if arr is None:
            arr = self._contiguous[name] = self._load(name)
        return arr

    def column(self, name: str) -> _Column:
        col = self.columns.get(name)
        if col is None:
            enc = pc.dictionary_encode(self.contiguous(name))
            values = enc.dictionary
            if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
                values = pc.cast(values, pa.string())
            idx = np.asarray(enc.indices.fill_null(len(values)).to_numpy(zero_copy_only=False), np.int64)
            col = self.columns[name] = _Column(values, idx)
        return col

    def leaf(self, leaf: Any, name: str, rows: Ints | None) -> Bools:
        """The predicate on ``name`` for these rows (None: all), evaluated on the values they hold."""
        col = self.column(name)
        n = len(col.values)
        memo = col.memo.get(leaf)
        if memo is None:
            known, answer = np.zeros(n + 1, dtype=bool), np.zeros(n + 1, dtype=bool)
            known[n] = True
            answer[n] = isinstance(leaf, ir.IsNull)
            col.memo[leaf] = memo = (known, answer)
        known, answer = memo
        at = col.index if rows is None else col.index[rows]
        if not known.all():
            if len(at) < _PARTIAL * n:
                need = np.unique(at)
                need = need[~known[need]]
            else:
                need = np.flatnonzero(~known)
            if len(need):
                values = col.text(_cased(leaf))
                sub = values if len(need) == n else values.take(pa.array(need))
                answer[need] = _on_values(leaf, sub)
                known[need] = True
        if not answer.any():  # no value matches (the usual answer): no gather over the rows
            return np.zeros(len(at), dtype=bool)
        out: Bools = answer[at]
        return out

    def field_eq(self, expr: ir.FieldEq, rows: Ints | None) -> Bools:
        rows = np.arange(self.rows) if rows is None else rows
        a, b = self.column(expr.field), self.column(expr.other)
        ia, ib = a.index[rows], b.index[rows]
        out = np.zeros(len(rows), dtype=bool)
        both = np.flatnonzero((ia < len(a.values)) & (ib < len(b.values)))  # a missing value is false
        if len(both):
            left = a.text(False).take(pa.array(ia[both]))
            right = b.text(False).take(pa.array(ib[both]))
            out[both] = _bool(pc.equal(left, right))
        return out

    def keywords(self, expr: _Keywords, rows: Ints | None) -> Bools:
        """Whether any column of each row matches: the columns' dictionaries are searched as one."""
        if self._all is None:
            names = self.text_columns
            if names:  # every column's cells end to end, dictionary-encoded at once
                cells = pa.concat_arrays([pc.cast(self.contiguous(c), pa.string()) for c in names])
                enc = pc.dictionary_encode(cells)
                values = enc.dictionary
                idx = enc.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)
                at = np.asarray(idx, np.int64).reshape(len(names), self.rows).T
            else:
                values, at = pa.array([], pa.string()), np.zeros((self.rows, 0), np.int64)
            self._all = _Column(values, np.zeros(0, np.int64))
            self._all_at = at
        col, n = self._all, len(self._all.values)
        at = self._all_at if rows is None else self._all_at[rows]
        memo = col.memo.get(expr)
        if memo is None:
            known, answer = np.zeros(n + 1, dtype=bool), np.zeros(n + 1, dtype=bool)
            known[n] = True
            col.memo[expr] = memo = (known, answer)
        known, answer = memo
        if not known.all():
            need = np.unique(at) if at.size < _PARTIAL * n else np.arange(n + 1)
            need = need[~known[need]]
            if len(need):
                values = col.text(expr.cased)
                sub = values if len(need) == n else values.take(pa.array(need))
                answer[need] = _on_values(expr, sub)
                known[need] = True
        if not answer.any():
            return np.zeros(len(at), dtype=bool)
        out: Bools = np.asarray(answer[at].any(axis=1), dtype=bool)
        return out


_COST = {"eq": 0, "startswith": 1, "endswith": 1, "contains": 3, "like": 3}


def _cost(expr: Any) -> int:
    """A rough price of evaluating ``expr`` on all rows (to try the cheap items of a conjunction first)."""
    if isinstance(expr, ir.Exists | ir.IsNull | ir.Const):
        return 0
    if isinstance(expr, ir.Match):
        return _COST[expr.op]
    if isinstance(expr, _AnyOf):
        return 1 if expr.regex is None else 4
    if isinstance(expr, ir.Regex | ir.NumCmp | ir.FieldEq):
        return 5
    if isinstance(expr, _Keywords):
        return 8
    if isinstance(expr, ir.Not):
        return _cost(expr.item)
    if isinstance(expr, ir.And):
        return min(_cost(i) for i in expr.items) + 1
    return sum(_cost(i) for i in expr.items)


def prepare(expr: ir.Expr) -> Any:
    """``expr`` with or-ed text matches on one field merged (:class:`_AnyOf`), conjunctions cheap-first."""
    if isinstance(expr, ir.And):
        return ir.And(tuple(sorted((prepare(i) for i in expr.items), key=_cost)))
    if isinstance(expr, ir.Or):
        by_field: dict[tuple[str, bool], list[ir.Match]] = defaultdict(list)
        keywords: dict[bool, list[str]] = defaultdict(list)
        rest: list[Any] = []
        for item in expr.items:
            if isinstance(item, ir.Match):
                by_field[(item.field, item.cased)].append(item)
            elif isinstance(item, ir.Keyword):
                keywords[item.cased].append(_like_regex(item.value if item.cased else item.value.lower()))
            else:
                rest.append(prepare(item))
        for (name, cased), matches in by_field.items():
            rest.append(matches[0] if len(matches) == 1 else _any_of(name, cased, matches))
        for cased, alternatives in keywords.items():
            rest.append(_Keywords(cased, _regex(sorted(set(alternatives)))))
        return ir.Or(tuple(sorted(rest, key=_cost))) if len(rest) > 1 else rest[0]
    if isinstance(expr, ir.Not):
        return ir.Not(prepare(expr.item))
    if isinstance(expr, ir.Keyword):
        return _Keywords(expr.cased, _regex([_like_regex(expr.value if expr.cased else expr.value.lower())]))
    return expr


def _eval(expr: Any, g: _Group, rows: Ints | None) -> Bools:
    """Whether each of ``rows`` (None: every row of the group) matches ``expr``."""
    if isinstance(expr, ir.And):
        alive = np.flatnonzero(_eval(expr.items[0], g, rows))
        for item in expr.items[1:]:
            if not len(alive):
                break
            alive = alive[_eval(item, g, alive if rows is None else rows[alive])]
        out = np.zeros(g.rows if rows is None else len(rows), dtype=bool)
        out[alive] = True
        return out
    if isinstance(expr, ir.Or):
        out = _eval(expr.items[0], g, rows).copy()
        for item in expr.items[1:]:
            rest = np.flatnonzero(~out)
            if not len(rest):
                break
            out[rest] = _eval(item, g, rest if rows is None else rows[rest])
        return out
    if isinstance(expr, ir.Not):
        neg: Bools = ~_eval(expr.item, g, rows)
        return neg
    if isinstance(expr, ir.Const):
        return np.full(g.rows if rows is None else len(rows), expr.value)
    if isinstance(expr, _Keywords):
        return g.keywords(expr, rows)
    if isinstance(expr, ir.FieldEq):
        return g.field_eq(expr, rows)
    return g.leaf(expr, expr.field, rows)


def _group_segments(
    results: Sequence[ReadResult],
    skip: Collection[tuple[tuple[str, str], ...]] = (),
    shapes: Sequence[Sequence[SegmentShape]] = (),
) -> dict[tuple[tuple[str, str], ...], pa.Table]:
    """All segments with the same constants, from every file, as one table (with ``@file``); the groups
    in ``skip`` are left out, and a file whose segments all fall there (by its ``shapes``) is not asked
    for them.

    Segments are first gathered by their exact columns, so the many segments of one shape (one per file)
    are concatenated without schema promotion and renamed to Sigma names once; the per-shape tables of
    one key are then unified. Chunks are kept: a column is made contiguous only when a rule reads it
    (:meth:`_Group.column`), not every column of every event.
    """
    parts: dict[tuple[tuple[str, str], ...], dict[tuple[str, ...], list[tuple[int, pa.Table]]]] = {}
    for file_id, result in enumerate(results):
        if skip and all(tuple(sorted(s.constants.items())) in skip for s in shapes[file_id] if s.rows):
            continue
        for seg in result.sigma_segments():
            if seg.rows and (key := tuple(sorted(seg.constants.items()))) not in skip:
                by_names = parts.setdefault(key, {})
                by_names.setdefault(tuple(seg.table.column_names), []).append((file_id, seg.table))
    out: dict[tuple[tuple[str, str], ...], pa.Table] = {}
    for key, by_names in parts.items():
        tables = []
        for items in by_names.values():
            table = sigma_columns(pa.concat_tables([t for _, t in items]))
            ids = np.repeat(np.array([f for f, _ in items], dtype=np.int32), [t.num_rows for _, t in items])
            tables.append(table.append_column(FILE, pa.array(ids)))
        out[key] = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    return out


class VectorSigma:
    """Rules compiled once; each group of segments evaluated column by column."""

    def __init__(self, rules: Sequence[CompiledRule], *, cache_key: str | None = None) -> None:
        self.rules = list(rules)
        self.planner = Planner(self.rules, cache_key)

    def run(self, results: Sequence[ReadResult]) -> SigmaRun:
        with gc_paused():  # see aptcatch.gc_pause: 1 s of 4 at 500 k events went to collections
            return self._run(results)

    def _run(self, results: Sequence[ReadResult]) -> SigmaRun:
        # groups no event of which can match are planned from their shapes, their tables never built
        shapes = [r.sigma_shapes() for r in results]
        quiet = quiet_plans(self.planner, [s for per_file in shapes for s in per_file])
        groups: list[tuple[SegmentPlan, _Group | None]] = [(plan, None) for plan in quiet.values()]
        for key, table in _group_segments(results, quiet, shapes).items():
            present = frozenset(c for c in table.column_names if c not in (ROW, FILE))
            groups.append((self.planner.plan(dict(key), present), _Group(table)))
        return run_groups(self.planner, groups)


def run_groups(planner: Planner, groups: Iterable[tuple[SegmentPlan, _Group | None]]) -> SigmaRun:
    """Each group's plan run over its rows (None: a quiet group, only its applied rules and missing
    fields counted); the planner's new plans stored."""
    out = SigmaRun()
    seen_missing: dict[int, frozenset[str]] = {}
    for plan, g in groups:
        out.segments += 1
        for i in {i for i, _ in plan.run} | set(plan.every_row) | set(plan.missing):
            miss = plan.missing.get(i, frozenset())
            seen_missing[i] = seen_missing[i] & miss if i in seen_missing else miss
            out.applied.add(i)
        if g is None or (not plan.run and not plan.every_row):
            continue
        files, rows = g.ids()
        for idx in plan.every_row:
            out.hits.extend(Hit(int(f), int(r), idx) for f, r in zip(files, rows, strict=True))
        for idx, expr in plan.run:
            matched = np.flatnonzero(_eval(prepare(expr), g, None))
            out.hits.extend(Hit(int(files[m]), int(rows[m]), idx) for m in matched)
        out.queries += 1
    out.blind = {i: m for i, m in seen_missing.items() if m}
    planner.flush()
    return out
