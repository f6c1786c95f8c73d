"""Which rules run on a segment, as what expression, and which fields they miss there (engine-neutral).

A segment is described by its constants and its columns; segments of the same shape (the same channel
and event id in many files) share one plan. Rules whose top-level conditions on the constant fields
(``Channel``, ``EventID`` … added by the pipelines) contradict a segment are dropped by a dictionary
check before any expression is specialised.

A segment whose reader has not built it yet is planned from its shape
(:class:`~aptcatch.hunt.readers.base.SegmentShape`: constants, column names) when that decides the plan:
:func:`quiet_plans` names the groups of segments no event of which any rule can match, so an evaluator
only does the bookkeeping (applied rules, missing fields) for them and never builds their tables.

Column names are made Sigma field names here too (:func:`sigma_columns`): Windows writes some event
data names with spaces (Defender's ``Source Name``, ``Threat Name``), Sigma rules without
(``SourceName``, ``ThreatName``), as every Sigma tool for Windows logs reads them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from aptcatch.hunt.readers.base import SegmentShape
from aptcatch.hunt.sigma import ir, plan_cache
from aptcatch.hunt.sigma.rules import CompiledRule


def sigma_columns(table: pa.Table) -> pa.Table:
    """``table`` with spaces dropped from its column names (``Source Name`` -> ``SourceName``).

    A name is kept as it is when the space-less one is already taken, so no column is lost.
    """
    names = tuple(table.column_names)
    new = _sigma_names(names)
    return table if new is names else table.rename_columns(list(new))


@functools.lru_cache(maxsize=4096)
def _sigma_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """The renaming for one column list (memoised: every file of a shape has the same columns)."""
    if not any(" " in n for n in names):
        return names
    taken = set(names)
    out = []
    for n in names:
        new = n.replace(" ", "")
        if new != n and new not in taken:
            taken.add(new)
            n = new
        out.append(n)
    return tuple(out)


KEYWORD = "#keyword"  # pseudo-field of conjuncts holding keywords: they read every field
GATE = "event.dataset"  # the log-source gate field: absent means "not this product's logs"


@dataclass(frozen=True)
class SegmentPlan:
    run: tuple[tuple[int, ir.Expr], ...]  # (rule index, specialised expression) to evaluate per event
    every_row: tuple[int, ...]  # rules true for every event of the segment
    missing: Mapping[int, frozenset[str]]  # rule index -> fields it reads that the segment lacks


def _requirements(expr: ir.Expr) -> dict[str, frozenset[str]]:
    """Top-level conjunct equality conditions: field -> allowed lower-cased values."""
    items = expr.items if isinstance(expr, ir.And) else (expr,)
    req: dict[str, frozenset[str]] = {}
    for item in items:
        if isinstance(item, ir.Match) and item.op == "eq" and not item.cased:
            req[item.field] = frozenset((ir.lower(item.value),))
        elif isinstance(item, ir.Or) and all(
            isinstance(i, ir.Match) and i.op == "eq" and not i.cased for i in item.items
        ):
            names = {i.field for i in item.items if isinstance(i, ir.Match)}
            if len(names) == 1:
                req[names.pop()] = frozenset(ir.lower(i.value) for i in item.items if isinstance(i, ir.Match))
    return req


def _conjuncts(expr: ir.Expr) -> list[tuple[ir.Expr, frozenset[str]]]:
    """Top-level conjuncts with the fields each reads (only those touching a constant are re-folded)."""
    items = expr.items if isinstance(expr, ir.And) else (expr,)
    return [(e, ir.fields(e) | ({KEYWORD} if ir.has_keywords(e) else set())) for e in items]


@dataclass
class Planner:
    """Plans for a rule list, memoised per segment shape.

    With ``cache_key`` (the rule set's :attr:`~aptcatch.hunt.sigma.rules.RuleSet.key`) the plans of
    earlier runs are read from the cache (:mod:`.plan_cache`) and :meth:`flush` writes the new ones;
    the per-rule indexes are only built when a shape has no stored plan.
    """

    rules: Sequence[CompiledRule]
    cache_key: str | None = None
    _reqs: list[dict[str, frozenset[str]]] = field(default_factory=list)
    _fields: list[frozenset[str]] = field(default_factory=list)
    _items: list[list[tuple[ir.Expr, frozenset[str]]]] = field(default_factory=list)
    _memo: dict[tuple[tuple[tuple[str, str], ...], frozenset[str]], SegmentPlan] = field(default_factory=dict)

    _index: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    _folded: dict[tuple[int, tuple[tuple[str, str], ...], frozenset[str]], ir.Expr] = field(
        default_factory=dict
    )
    _free: list[int] = field(default_factory=list)
    _indexed: bool = False
    _stored: Path | None = None
    _new: int = 0
    _reads: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.cache_key:
            self._stored = plan_cache.plans_path(self.cache_key)
            self._memo.update(plan_cache.load(self._stored, self.rules))

    def flush(self) -> None:
        """Store the plans made in this run for the next (no-op without a cache key or new plans)."""
        if self._stored is not None and self._new:
            plan_cache.save(self._stored, self._memo, self.rules)
            self._new = 0

    def _build_index(self) -> None:
        self._indexed = True
        self._reqs = [_requirements(r.expr) for r in self.rules]
        self._items = [_conjuncts(r.expr) for r in self.rules]
        self._fields = [frozenset().union(*(f - {KEYWORD} for _, f in items)) for items in self._items]
        # Each rule indexed under one of its required fields (the one with the fewest allowed values),
        # so a segment only looks at the rules its constants can satisfy.
        for i, req in enumerate(self._reqs):
            if not req:
                self._free.append(i)
                continue
            name = min(req, key=lambda f: (len(req[f]), f != "EventID"))
            by_value = self._index.setdefault(name, {})
            for value in req[name]:
                by_value.setdefault(value, []).append(i)

    def reads(self) -> frozenset[str]:
        """Every field some rule reads by name. A plan depends on a segment's columns only through
        those among them, since a rule folds a field it reads and no other (keywords fold on constants)."""
        if self._reads is None:
            if not self._indexed:
                self._build_index()
            self._reads = frozenset().union(*self._fields)
        return self._reads

    def _candidates(self, lowered: Mapping[str, str]) -> list[int]:
        out = list(self._free)
        for name, by_value in self._index.items():
            if name in lowered:
                out += by_value.get(lowered[name], ())
            else:  # the segment has no constant for it: every rule indexed there may apply
                for rules in by_value.values():
                    out += rules
        return sorted(set(out))

    def _fold(
        self, item: ir.Expr, names: frozenset[str], constants: Mapping[str, str], present: frozenset[str]
    ) -> ir.Expr:
        """``specialise`` of one conjunct, memoised on what it depends on: the constants and columns
        among its own fields (shapes that differ elsewhere share the result)."""
        relevant = constants if KEYWORD in names else {n: constants[n] for n in names if n in constants}
        key = (id(item), tuple(sorted(relevant.items())), names & present)
        hit = self._folded.get(key)
        if hit is None:
            hit = self._folded[key] = ir.specialise(item, constants, present)
        return hit

    def plan(self, constants: Mapping[str, str], present: frozenset[str]) -> SegmentPlan:
        key = (tuple(sorted(constants.items())), present)
        if (hit := self._memo.get(key)) is not None:
            return hit
        if not self._indexed:
            self._build_index()
        lowered = {k: ir.lower(v) for k, v in constants.items()}
        run: list[tuple[int, ir.Expr]] = []
        every: list[int] = []
        missing: dict[int, frozenset[str]] = {}
        for i in self._candidates(lowered):
            rule, req = self.rules[i], self._reqs[i]
            if any(f in lowered and lowered[f] not in allowed for f, allowed in req.items()):
                continue
            absent = self._fields[i] - present - constants.keys()
            if GATE in absent:
                continue  # a rule for another product's logs (see convert._dataset_gate)
            # A rule whose top-level conditions are all on this segment's constants applies when they
            # hold (checked above); otherwise ask whether the rule could match with every field present.
            trusted = bool(req) and req.keys() <= constants.keys()
            if absent and not trusted and ir.specialise(rule.expr, constants, present | absent) == ir.FALSE:
                continue  # the rule does not apply to this kind of event at all
            if absent:
                missing[i] = frozenset(absent)
            touched = constants.keys() | absent | ({KEYWORD} if constants else set())
            expr = ir.and_(
                [self._fold(e, f, constants, present) if f & touched else e for e, f in self._items[i]]
            )
            if expr == ir.TRUE:
                every.append(i)
            elif expr != ir.FALSE:
                run.append((i, expr))
        plan = SegmentPlan(tuple(run), tuple(every), missing)
        self._memo[key] = plan
        self._new += 1
        return plan


Key = tuple[tuple[str, str], ...]  # a group of segments: their constants, sorted


def quiet_plans(planner: Planner, shapes: Iterable[SegmentShape]) -> dict[Key, SegmentPlan]:
    """The plans of the groups of segments (one per constants, segments without events left out) that
    their shapes decide and under which no event can match: no rule true for every event, and each
    rule to run false on the values the group's columns hold on every event.

    A group's plan is decided by its shapes when no rule reads a column that may turn out empty (the
    plan is the same for every set of columns that agree on the fields the rules read, see
    :meth:`Planner.reads`); the plans returned are then those of the built segments, so the applied rules
    and missing fields are the same, and no hit is lost. Shapes whose column names have a space (renamed
    for Sigma by :func:`sigma_columns`, which depends on the columns there) are decided from the table.
    """
    groups: dict[Key, list[SegmentShape]] = {}
    for shape in shapes:
        if shape.rows:
            groups.setdefault(tuple(sorted(shape.constants.items())), []).append(shape)
    out: dict[Key, SegmentPlan] = {}
    for key, members in groups.items():
        certain: set[str] = set()
        uncertain: set[str] = set()
        held: list[dict[str, str]] = []  # per member, the columns with one value on every event
        for m in members:
            if m.uncertain and any(" " in c for c in m.columns):
                break
            name = dict(zip(m.columns, _sigma_names(m.columns), strict=True))
            certain |= {n for c, n in name.items() if c not in m.uncertain}
            uncertain |= {n for c, n in name.items() if c in m.uncertain}
            held.append({name[c]: v for c, v in m.values.items() if c in name})
        else:
            uncertain -= certain
            if uncertain and uncertain & planner.reads():
                continue
            present = frozenset(certain | uncertain)
            plan = planner.plan(dict(key), present)
            if plan.every_row:
                continue
            values = {k: v for k, v in held[0].items() if all(h.get(k) == v for h in held[1:])}
            if all(ir.specialise(expr, values, present) == ir.FALSE for _, expr in plan.run):
                out[key] = plan
    return out
