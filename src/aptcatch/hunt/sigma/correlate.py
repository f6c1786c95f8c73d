"""Sigma correlation rules (``event_count``, ``value_count``, ``temporal``) over the base rules' hits.

Correlations read only the events their base rules matched — a small set — so they are evaluated here
once, for every engine, from the hits, the events' timestamps and the group-by fields. Windows: for
each event of a group (in time order) the window ``[t, t + timespan]`` is tested; when the condition
holds, one correlation hit is emitted for that window and the scan continues after it, so a burst of
events yields one alert, not one per event.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from aptcatch.hunt.readers.base import ROW, ReadResult
from aptcatch.hunt.sigma.evaluate import Hit
from aptcatch.hunt.sigma.rules import CompiledRule, Correlation

_OPS: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}


@dataclass(frozen=True)
class CorrelationHit:
    correlation: int  # index into the correlation list
    group: tuple[tuple[str, str | None], ...]
    start: str
    end: str
    count: int
    events: tuple[tuple[int, int], ...]  # (file id, row)


@dataclass(frozen=True)
class _Event:
    time: datetime
    stamp: str
    rule: str
    file_id: int
    row: int
    fields: dict[str, str | None]


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _field_values(
    results: Sequence[ReadResult], wanted: dict[int, set[int]], names: set[str]
) -> dict[tuple[int, int], dict[str, str | None]]:
    """The named raw fields of the given (file, row) events, read from their segments."""
    out: dict[tuple[int, int], dict[str, str | None]] = {}
    for file_id, rows in wanted.items():
        for seg in results[file_id].sigma_segments():
            seg_rows = seg.table.column(ROW).to_numpy()
            picked = np.flatnonzero(np.isin(seg_rows, list(rows)))
            if not len(picked):
                continue
            cols: dict[str, list[Any]] = {}
            for n in names:
                if n in seg.table.column_names:
                    cols[n] = seg.table.column(n).take(picked).to_pylist()
            for k, p in enumerate(picked):
                values: dict[str, str | None] = {n: seg.constants.get(n) for n in names}
                for n, col in cols.items():
                    values[n] = None if col[k] is None else str(col[k])
                out[(file_id, int(seg_rows[p]))] = values
    return out


def correlate(
    correlations: Sequence[Correlation],
    rules: Sequence[CompiledRule],
    hits: Sequence[Hit],
    results: Sequence[ReadResult],
) -> list[CorrelationHit]:
    if not correlations:
        return []
    ids = {i: r.id for i, r in enumerate(rules)}
    wanted_rules = {rid for c in correlations for rid in c.rules}
    relevant = [h for h in hits if ids[h.rule] in wanted_rules]
    names = {f for c in correlations for f in (*c.group_by, *((c.field,) if c.field else ()))}
    wanted: dict[int, set[int]] = defaultdict(set)
    for h in relevant:
        wanted[h.file_id].add(h.row)
    values = _field_values(results, wanted, names)
    stamps: dict[tuple[int, int], str | None] = {}
    for file_id, rows in wanted.items():
        order = sorted(rows)
        # take: the hit rows only (a reader that builds its table lazily does not build it for this)
        stamped = results[file_id].take(order, ["@timestamp"])
        column = stamped.column(0).to_pylist() if stamped.num_columns else [None] * len(order)
        stamps.update({(file_id, r): s for r, s in zip(order, column, strict=True)})
    events: list[_Event] = []
    for h in relevant:
        stamp = stamps.get((h.file_id, h.row))
        when = _parse_time(stamp)
        if when is None or stamp is None:
            continue  # an event without a time cannot be placed in a window
        events.append(_Event(when, stamp, ids[h.rule], h.file_id, h.row, values.get((h.file_id, h.row), {})))
    out: list[CorrelationHit] = []
    for ci, corr in enumerate(correlations):
        out += _one(ci, corr, [e for e in events if e.rule in corr.rules])
    return out


def _one(ci: int, corr: Correlation, events: list[_Event]) -> list[CorrelationHit]:
    groups: dict[tuple[tuple[str, str | None], ...], list[_Event]] = defaultdict(list)
    for e in events:
        key = tuple((g, e.fields.get(g)) for g in corr.group_by)
        groups[key].append(e)
    test = _OPS[corr.op]
    out: list[CorrelationHit] = []
    for key, evs in groups.items():
        evs.sort(key=lambda e: (e.time, e.file_id, e.row))
        i = 0
        while i < len(evs):
            j = i
            while j + 1 < len(evs) and (evs[j + 1].time - evs[i].time).total_seconds() <= corr.timespan:
                j += 1
            window = evs[i : j + 1]
            if corr.type == "event_count":
                measure = len({(e.file_id, e.row) for e in window})
            elif corr.type == "value_count":
                measure = len({e.fields.get(corr.field or "") for e in window} - {None})
            else:  # temporal: every referenced rule seen in the window
                measure = len({e.rule for e in window})
                if measure < len(set(corr.rules)):
                    i += 1
                    continue
                measure = len(window)
            if corr.type == "temporal" or test(measure, corr.count):
                out.append(
                    CorrelationHit(
                        ci,
                        key,
                        window[0].stamp,
                        window[-1].stamp,
                        measure,
                        tuple(sorted({(e.file_id, e.row) for e in window})),
                    )
                )
                i = j + 1
            else:
                i += 1
    return out
