"""The default Sigma evaluator: Arrow kernels over each column's distinct values, numpy for the logic.

Why not one SQL query per segment in DuckDB (:mod:`.evaluate` does that and the tests use it as the
reference)? DuckDB binds and optimises every predicate of a query before running it: measured here at
150–280 µs per predicate (``benchmarks/hunt_sigma.py``), and the SigmaHQ Windows rules put ~60,000
distinct predicates over the 171 event shapes of the EVTX-ATTACK-SAMPLES, so compiling alone would
cost seconds before a row is read. Logs repeat themselves (an image path, an event id, a parent
process recur thousands of times), so this evaluator:

1. groups the segments of all files by their constants (``Channel``, ``EventID`` …) into one table;
2. dictionary-encodes each column a rule reads, once per group, and lowers the dictionary once;
3. evaluates each distinct predicate once on the dictionary with an Arrow kernel
   (``match_substring``, ``starts_with``, ``match_like``, ``match_substring_regex`` …) and spreads the
   result to the rows with one gather;
4. combines predicates per rule with numpy boolean operations (null-safe by construction: a missing
   value is simply false, and ``not`` inverts a false).

The cost of step 3 grows with the number of distinct values, not of events, and no query is compiled.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aptcatch.hunt.readers.base import ROW, ReadResult
from aptcatch.hunt.sigma import ir
from aptcatch.hunt.sigma.evaluate import Hit, SigmaRun
from aptcatch.hunt.sigma.plan import Planner
from aptcatch.hunt.sigma.rules import CompiledRule
from aptcatch.hunt.sigma.sql import _sql_like_pattern

FILE = "@file"


@dataclass
class _Column:
    """One column of a group: distinct values (as given and lowered) and each row's index into them."""

    values: pa.Array
    lowered: pa.Array | None
    index: np.ndarray[Any, np.dtype[np.int64]]  # len(values) where the row has no value

    def spread(self, on_values: np.ndarray[Any, np.dtype[np.bool_]]) -> np.ndarray[Any, np.dtype[np.bool_]]:
        out: np.ndarray[Any, np.dtype[np.bool_]] = np.append(on_values, False)[self.index]
        return out


def _bool(arr: Any) -> np.ndarray[Any, np.dtype[np.bool_]]:
    if arr.null_count:
        arr = pc.fill_null(arr, False)
    out: np.ndarray[Any, np.dtype[np.bool_]] = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)
    return out


@dataclass
class _Group:
    table: pa.Table
    rows: int
    columns: dict[str, _Column] = field(default_factory=dict)
    leaves: dict[Any, np.ndarray[Any, np.dtype[np.bool_]]] = field(default_factory=dict)
    joined: dict[bool, pa.Array] = field(default_factory=dict)

    def column(self, name: str, lowered: bool) -> _Column:
        col = self.columns.get(name)
        if col is None:
            enc = pc.dictionary_encode(self.table.column(name).combine_chunks())
            values = enc.dictionary
            if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
                values = pc.cast(values, pa.string())
            idx = enc.indices.to_numpy(zero_copy_only=False)
            index = (
                np.where(np.isnan(idx), len(values), idx).astype(np.int64) if idx.dtype.kind == "f" else idx
            )
            col = self.columns[name] = _Column(values, None, np.asarray(index, dtype=np.int64))
        if lowered and col.lowered is None:
            col.lowered = pc.utf8_lower(col.values)
        return col

    def all_text(self, cased: bool) -> pa.Array:
        """Every text field of each row joined with \\x1f (keywords)."""
        if cased not in self.joined:
            parts = [
                pc.cast(self.table.column(c), pa.string())
                for c in self.table.column_names
                if c not in (ROW, FILE)
            ]
            if not parts:
                joined = pa.array([""] * self.rows)
            else:
                joined = pc.binary_join_element_wise(*parts, "\x1f", null_handling="skip")
            self.joined[cased] = joined if cased else pc.utf8_lower(joined)
        return self.joined[cased]


def _leaf_on_values(leaf: ir.Expr, values: pa.Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """A predicate on an array of distinct (already lowered when case-insensitive) values."""
    if isinstance(leaf, ir.Match):
        v = leaf.value if leaf.cased else leaf.value.lower()
        if leaf.op == "eq":
            return _bool(pc.equal(values, v))
        if leaf.op == "contains":
            return _bool(pc.match_substring(values, v))
        if leaf.op == "startswith":
            return _bool(pc.starts_with(values, v))
        if leaf.op == "endswith":
            return _bool(pc.ends_with(values, v))
        return _bool(pc.match_like(values, _sql_like_pattern(v)))
    if isinstance(leaf, ir.Regex):
        try:
            return _bool(pc.match_substring_regex(values, leaf.pattern))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # RE2 lacks look-around: use Python's re
            rx = re.compile(leaf.pattern)
            return np.array([v is not None and rx.search(v) is not None for v in values.to_pylist()], bool)
    if isinstance(leaf, ir.NumCmp):
        out = []
        for v in values.to_pylist():
            try:
                out.append(ir.evaluate_leaf(leaf, v))
            except (TypeError, ValueError):
                out.append(False)
        return np.array(out, dtype=bool)
    if isinstance(leaf, ir.IsNull):
        return _bool(pc.equal(values, ""))
    raise TypeError(f"not a value predicate: {leaf!r}")


def _eval(expr: ir.Expr, g: _Group) -> np.ndarray[Any, np.dtype[np.bool_]]:
    if isinstance(expr, ir.And):
        out = _eval(expr.items[0], g).copy()
        for item in expr.items[1:]:
            if not out.any():
                break
            out &= _eval(item, g)
        return out
    if isinstance(expr, ir.Or):
        out = np.zeros(g.rows, dtype=bool)
        for item in _merge_alternatives(expr.items):
            out |= _eval(item, g)
        return out
    if isinstance(expr, ir.Not):
        return ~_eval(expr.item, g)
    if isinstance(expr, ir.Const):
        return np.full(g.rows, expr.value)
    return _cached_leaf(expr, g)


def _cached_leaf(expr: Any, g: _Group) -> np.ndarray[Any, np.dtype[np.bool_]]:
    if (hit := g.leaves.get(expr)) is not None:
        return hit
    g.leaves[expr] = result = _leaf(expr, g)
    return result


def _like_regex(pattern: str) -> str:
    """A Sigma wildcard pattern as an anchored regular expression."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*?\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return "^" + "".join(out) + "$"


def _alternative(m: ir.Match) -> str:
    v = m.value if m.cased else m.value.lower()
    if m.op == "like":
        return _like_regex(v)
    e = re.escape(v)
    return {"eq": f"^{e}$", "startswith": f"^{e}", "endswith": f"{e}$"}.get(m.op, e)


@dataclass(frozen=True)
class _AnyOf:
    """Several text matches on one field, evaluated as one regular expression over the dictionary."""

    field: str
    cased: bool
    regex: str


def _merge_alternatives(items: tuple[ir.Expr, ...]) -> list[Any]:
    """Or-ed text matches on the same field become one :class:`_AnyOf` (one kernel call, not N)."""
    by_field: dict[tuple[str, bool], list[ir.Match]] = defaultdict(list)
    rest: list[Any] = []
    for item in items:
        if isinstance(item, ir.Match):
            by_field[(item.field, item.cased)].append(item)
        else:
            rest.append(item)
    for (name, cased), matches in by_field.items():
        if len(matches) == 1:
            rest.append(matches[0])
        else:
            alts = "|".join(f"(?:{_alternative(m)})" for m in sorted(matches, key=repr))
            rest.append(_AnyOf(name, cased, "(?s)" + alts))
    return rest


def _leaf(expr: Any, g: _Group) -> np.ndarray[Any, np.dtype[np.bool_]]:
    if isinstance(expr, _AnyOf):
        col = g.column(expr.field, not expr.cased)
        values = col.values if expr.cased or col.lowered is None else col.lowered
        try:
            return col.spread(_bool(pc.match_substring_regex(values, expr.regex)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # pattern too large for RE2's budget
            rx = re.compile(expr.regex)
            return col.spread(np.array([rx.search(v) is not None for v in values.to_pylist()], bool))
    if isinstance(expr, ir.Keyword):
        text = g.all_text(expr.cased)
        value = expr.value if expr.cased else expr.value.lower()
        return _bool(pc.match_like(text, _sql_like_pattern(value)))
    if isinstance(expr, ir.FieldEq):
        a, b = g.column(expr.field, True), g.column(expr.other, True)
        assert a.lowered is not None
        assert b.lowered is not None
        left = pc.take(pa.concat_arrays([a.lowered, pa.nulls(1, pa.string())]), pa.array(a.index))
        right = pc.take(pa.concat_arrays([b.lowered, pa.nulls(1, pa.string())]), pa.array(b.index))
        return _bool(pc.equal(left, right))
    if isinstance(expr, ir.Exists):
        col = g.column(expr.field, False)
        present: np.ndarray[Any, np.dtype[np.bool_]] = col.index < len(col.values)
        return present
    if isinstance(expr, ir.IsNull):
        col = g.column(expr.field, False)
        empty: np.ndarray[Any, np.dtype[np.bool_]] = col.index == len(col.values)
        return col.spread(_leaf_on_values(expr, col.values)) | empty
    assert isinstance(expr, ir.Match | ir.Regex | ir.NumCmp)
    lowered = isinstance(expr, ir.Match) and not expr.cased
    col = g.column(expr.field, lowered)
    values = col.lowered if lowered and col.lowered is not None else col.values
    return col.spread(_leaf_on_values(expr, values))


def _group_segments(results: Sequence[ReadResult]) -> dict[tuple[tuple[str, str], ...], pa.Table]:
    """All segments with the same constants, from every file, as one table (with ``@file``)."""
    parts: dict[tuple[tuple[str, str], ...], list[pa.Table]] = defaultdict(list)
    for file_id, result in enumerate(results):
        for seg in result.sigma_segments():
            if seg.rows:
                t = seg.table.append_column(FILE, pa.array(np.full(seg.rows, file_id, dtype=np.int32)))
                parts[tuple(sorted(seg.constants.items()))].append(t)
    return {k: pa.concat_tables(v, promote_options="permissive") for k, v in parts.items()}


class VectorSigma:
    """Rules compiled once; each group of segments evaluated column by column."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = list(rules)
        self.planner = Planner(self.rules)

    def run(self, results: Sequence[ReadResult]) -> SigmaRun:
        out = SigmaRun()
        seen_missing: dict[int, frozenset[str]] = {}
        for key, table in _group_segments(results).items():
            out.segments += 1
            constants = dict(key)
            present = frozenset(c for c in table.column_names if c not in (ROW, FILE))
            plan = self.planner.plan(constants, present)
            for i in {i for i, _ in plan.run} | set(plan.every_row) | set(plan.missing):
                miss = plan.missing.get(i, frozenset())
                seen_missing[i] = seen_missing[i] & miss if i in seen_missing else miss
                out.applied.add(i)
            if not plan.run and not plan.every_row:
                continue
            g = _Group(table, table.num_rows)
            files = table.column(FILE).to_numpy()
            rows = table.column(ROW).to_numpy()
            for idx in plan.every_row:
                out.hits.extend(Hit(int(f), int(r), idx) for f, r in zip(files, rows, strict=True))
            for idx, expr in plan.run:
                matched = np.flatnonzero(_eval(expr, g))
                out.hits.extend(Hit(int(files[m]), int(rows[m]), idx) for m in matched)
            out.queries += 1
        out.blind = {i: m for i, m in seen_missing.items() if m}
        return out
