"""Run compiled Sigma rules over the read segments with DuckDB: many rules per pass over each segment.

Per segment, one query computes the lowered copies of the fields the rules read case-insensitively,
then a list of the matching rule indexes per event (rules in chunks, so a query stays a manageable
size). Segments of the same shape share one plan (:mod:`.plan`), so the cost of deciding which rules
apply does not grow with the data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aptcatch.hunt.readers.base import ROW, ReadResult, Segment
from aptcatch.hunt.sigma import sql
from aptcatch.hunt.sigma.plan import Planner, SegmentPlan, sigma_columns
from aptcatch.hunt.sigma.rules import CompiledRule

CHUNK = 200  # rules per query


@dataclass(frozen=True)
class Hit:
    file_id: int
    row: int
    rule: int  # index into the rule list


@dataclass
class SigmaRun:
    hits: list[Hit] = field(default_factory=list)
    applied: set[int] = field(default_factory=set)  # rules that applied to at least one segment
    # rule index -> fields missing from every segment the rule applied to
    blind: dict[int, frozenset[str]] = field(default_factory=dict)
    segments: int = 0
    queries: int = 0


def combine(parts: Sequence[tuple[SigmaRun, Sequence[int]]]) -> SigmaRun:
    """Runs over disjoint parts of one input as one run: each part's ``file_id`` ``i`` is ``ids[i]`` of
    the whole; a rule is blind to a field when every part it applied to lacks that field."""
    out = SigmaRun()
    missing: dict[int, frozenset[str]] = {}
    for run, ids in parts:
        out.hits.extend(Hit(ids[h.file_id], h.row, h.rule) for h in run.hits)
        for i in run.applied:
            miss = run.blind.get(i, frozenset())
            missing[i] = missing[i] & miss if i in missing else miss
        out.applied |= run.applied
        out.segments += run.segments
        out.queries += run.queries
    out.blind = {i: m for i, m in missing.items() if m}
    return out


def select_sql(
    plan_run: Sequence[tuple[int, Any]], columns: Sequence[str], d: sql.Dialect, table: str
) -> str:
    """One query over ``table`` returning (row, list of matching rule indexes) for events that match."""
    lowered: set[str] = set()
    need_all = need_all_lc = False
    cases = []
    for idx, expr in plan_run:
        low, a, alc = sql.derived_columns(expr)
        lowered |= low
        need_all |= a
        need_all_lc |= alc
        cases.append(f"CASE WHEN {sql.render(expr, d)} THEN {idx} END")
    q = d.quote
    derived = [f"lower({q(c)}) AS {q(c + sql.LC)}" for c in sorted(lowered)]
    text_cols = [q(c) for c in columns if c != ROW]
    if need_all or need_all_lc:
        joined = "concat_ws(chr(31), " + ", ".join(text_cols or ["''"]) + ")"
        if need_all:
            derived.append(f"{joined} AS {q(sql.ALL)}")
        if need_all_lc:
            derived.append(f"lower({joined}) AS {q(sql.ALL + sql.LC)}")
    inner = f"SELECT *{''.join(', ' + x for x in derived)} FROM {table}"
    hits = f"list_distinct([{', '.join(cases)}])"  # list_distinct drops the NULLs
    if d.name == "spark":
        hits = f"filter(array({', '.join(cases)}), x -> x IS NOT NULL)"
    return (
        f"SELECT r, h FROM (SELECT {q(ROW)} AS r, {hits} AS h FROM ({inner}) AS s) AS m WHERE size(h) > 0"
        if d.name == "spark"
        else f"SELECT r, h FROM (SELECT {q(ROW)} AS r, {hits} AS h FROM ({inner}) AS s) AS m WHERE len(h) > 0"
    )


class DuckDBSigma:
    """The DuckDB engine for Sigma: rules compiled once, evaluated per segment."""

    def __init__(
        self, rules: Sequence[CompiledRule], con: Any = None, *, cache_key: str | None = None
    ) -> None:
        import duckdb

        self.rules = list(rules)
        self.planner = Planner(self.rules, cache_key)
        self.con = con if con is not None else duckdb.connect()

    def _segment(self, seg: Segment, plan: SegmentPlan, file_id: int, out: SigmaRun) -> None:
        rows = seg.table.column(ROW).to_pylist() if plan.every_row else []
        for idx in plan.every_row:
            out.hits.extend(Hit(file_id, r, idx) for r in rows)
        if not plan.run or seg.rows == 0:
            return
        self.con.register("seg", seg.table)
        try:
            for start in range(0, len(plan.run), CHUNK):
                query = select_sql(plan.run[start : start + CHUNK], seg.table.column_names, sql.DUCKDB, "seg")
                out.queries += 1
                for r, idxs in self.con.execute(query).fetchall():
                    out.hits.extend(Hit(file_id, int(r), int(i)) for i in idxs)
        finally:
            self.con.unregister("seg")

    def run(self, results: Sequence[ReadResult]) -> SigmaRun:
        out = SigmaRun()
        seen_missing: dict[int, frozenset[str]] = {}
        for file_id, result in enumerate(results):
            for raw in result.sigma_segments():
                seg = Segment(sigma_columns(raw.table), raw.constants)
                out.segments += 1
                present = frozenset(c for c in seg.table.column_names if c != ROW)
                plan = self.planner.plan(seg.constants, present)
                applied = {i for i, _ in plan.run} | set(plan.every_row) | set(plan.missing)
                for i in applied:
                    miss = plan.missing.get(i, frozenset())
                    seen_missing[i] = seen_missing[i] & miss if i in seen_missing else miss
                out.applied |= applied
                self._segment(seg, plan, file_id, out)
        out.blind = {i: m for i, m in seen_missing.items() if m}
        self.planner.flush()
        return out


def hits_by_rule(run: SigmaRun) -> dict[int, list[Hit]]:
    grouped: dict[int, list[Hit]] = defaultdict(list)
    for h in run.hits:
        grouped[h.rule].append(h)
    return grouped
