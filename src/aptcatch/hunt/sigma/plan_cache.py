"""Segment plans kept between runs, next to the compiled rules.

Planning a segment shape (which of ~2,400 rules can apply to ``Channel=…, EventID=…`` with these
columns, and each rule's expression with the shape's constants folded in) costs more than evaluating
the rules on a typical hunt's events, and a site's logs come in the same few hundred shapes every day.
So the plans of a rule set are written to ``<cache>/sigma/plans-<key>.json`` and read back by the next
run; the key covers the rule set's own cache key (rule files, aptcatch, pySigma, compiler code) and
the planner's code, so a change to either starts a fresh file.

The file is JSON (never pickle: the cache directory is data, not code). A planned expression is
almost always the rule's own conjunction with the conjuncts on constants dropped, so each conjunct is
stored as its position in the rule's conjunction, and only a conjunct the planner rewrote is written
out in full. Reading back then builds ``And`` nodes over the rule's own objects: 144 shapes of the
SigmaHQ Windows rules load in a fraction of the time planning them takes. A damaged or unreadable file
is ignored and rebuilt; a read-only cache only costs time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aptcatch.hunt.sigma import cache_files, ir
from aptcatch.hunt.sigma.rules import CompiledRule, expr_from_json, expr_to_json

_VERSION = 1
MAX_SHAPES = 20_000  # beyond this many shapes new plans are still used, only no longer written

Shape = tuple[tuple[tuple[str, str], ...], frozenset[str]]


def plans_path(ruleset_key: str) -> Path:
    here = Path(__file__).parent
    h = hashlib.sha256(f"{_VERSION}|{ruleset_key}".encode())
    for module in ("plan.py", "plan_cache.py", "ir.py"):
        h.update(hashlib.sha256((here / module).read_bytes()).digest())
    return cache_files.cache_dir() / f"plans-{h.hexdigest()}.json"


def _conjuncts(e: ir.Expr) -> tuple[ir.Expr, ...]:
    return e.items if isinstance(e, ir.And) else (e,)


def _encode(planned: ir.Expr, rule: ir.Expr) -> list[Any]:
    """``planned`` as its conjuncts: a position in ``rule``'s conjunction, or the conjunct as JSON."""
    own = {c: j for j, c in enumerate(_conjuncts(rule))}
    return [own[c] if c in own else expr_to_json(c) for c in _conjuncts(planned)]


def _decode(parts: list[Any], rule: ir.Expr) -> ir.Expr:
    own = _conjuncts(rule)
    items = tuple(own[p] if isinstance(p, int) else expr_from_json(p) for p in parts)
    return items[0] if len(items) == 1 else ir.And(items)


def load(path: Path, rules: Sequence[CompiledRule]) -> dict[Shape, Any]:
    """Plans by shape, as stored (an empty dict when there is no usable file)."""
    from aptcatch.hunt.sigma.plan import SegmentPlan

    try:
        doc = json.loads(path.read_bytes())
        if doc.get("version") != _VERSION or doc.get("rules") != len(rules):
            return {}
        out: dict[Shape, Any] = {}
        for p in doc["plans"]:
            shape = (tuple((str(k), str(v)) for k, v in p["constants"]), frozenset(p["present"]))
            out[shape] = SegmentPlan(
                tuple((int(i), _decode(parts, rules[i].expr)) for i, parts in p["run"]),
                tuple(int(i) for i in p["every"]),
                {int(i): frozenset(f) for i, f in p["missing"]},
            )
        cache_files.used(path)
        return out
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return {}


def save(path: Path, plans: Mapping[Shape, Any], rules: Sequence[CompiledRule]) -> None:
    """Write ``plans`` (a ``SegmentPlan`` per shape) atomically; errors only cost the next run time."""

    def ref(i: int, e: ir.Expr) -> list[Any]:
        parts = _encode(e, rules[i].expr)
        return parts if _decode(parts, rules[i].expr) == e else [expr_to_json(e)]

    doc = {
        "version": _VERSION,
        "rules": len(rules),
        "plans": [
            {
                "constants": [list(kv) for kv in constants],
                "present": sorted(present),
                "run": [[i, ref(i, e)] for i, e in plan.run],
                "every": list(plan.every_row),
                "missing": [[i, sorted(f)] for i, f in sorted(plan.missing.items())],
            }
            for (constants, present), plan in list(plans.items())[:MAX_SHAPES]
        ],
    }
    cache_files.write(path, json.dumps(doc, separators=(",", ":")))
