"""Sigma rules evaluated on whole Windows batches (:class:`~aptcatch.hunt.readers.winsegments.Payload`),
without making a result or a segment per file: what a worker process of
:mod:`aptcatch.hunt.engines.winpool` runs on what it read.

:meth:`VectorSigma.run <aptcatch.hunt.sigma.vector.VectorSigma.run>` takes one
:class:`~aptcatch.hunt.readers.base.ReadResult` per file, slices each file's segments out of its batch,
takes their shapes one by one, then concatenates the segments of each group (same constants) again: for
the ~17,000 small files of a large hunt that per-file work cost as much as the evaluation itself. A
payload already holds, per shape (same column names), one table of every event of the batch with that
shape, and the list of its members (file, constants, first row, rows). So here:

* each group is made of *pieces*, one per (payload, shape) with members of those constants: the whole
  shape table, a slice of it when those members lie end to end, else one ``take`` of their rows; a
  column is only built (pieces end to end) when a rule reads it;
* the quiet groups (:func:`~aptcatch.hunt.sigma.plan.quiet_plans`) are decided from the distinct
  (constants, column names) pairs, not from one shape per segment;
* the plans, the evaluation and the bookkeeping are :func:`~aptcatch.hunt.sigma.vector.run_groups`, the
  same as :class:`VectorSigma`'s, so the run is the same: the same hits (file id = the file's position
  across the payloads, in order, as the payloads' results list them; row = its ``@row``), applied
  rules, blind fields, segment and query counts.

Why by hand: no library evaluates Sigma over Arrow tables; this only regroups the reader's own buffers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from aptcatch.gc_pause import gc_paused
from aptcatch.hunt.readers.base import ROW, SegmentShape
from aptcatch.hunt.readers.winsegments import Payload
from aptcatch.hunt.sigma.evaluate import SigmaRun
from aptcatch.hunt.sigma.plan import Key, SegmentPlan, _sigma_names, quiet_plans
from aptcatch.hunt.sigma.vector import FILE, VectorSigma, _Group, run_groups

Ints = np.ndarray[Any, np.dtype[np.int64]]


@dataclass
class _Piece:
    """The rows of one group in one shape table of one payload (in member order)."""

    payload: Payload
    shape: int
    runs: list[tuple[int, int, int]]  # (first row in the shape table, rows, file id across payloads)
    size: int = 0
    at: slice | pa.Array = field(default_factory=lambda: slice(0, 0))  # the rows: a slice or take indices

    def finish(self) -> None:
        """Where its rows lie: one slice when the members lie end to end, else take indices."""
        firsts = np.fromiter((r[0] for r in self.runs), np.int64, len(self.runs))
        sizes = np.fromiter((r[1] for r in self.runs), np.int64, len(self.runs))
        self.size = int(sizes.sum())
        start = int(firsts[0])
        if np.array_equal(firsts[1:], firsts[:-1] + sizes[:-1]):
            self.at = slice(start, start + self.size)
        else:  # each run's first row, then +1 for every further row of the run
            steps = np.ones(self.size, np.int64)
            ends = np.cumsum(sizes)
            steps[0] = start
            steps[ends[:-1]] = firsts[1:] - (firsts[:-1] + sizes[:-1] - 1)
            self.at = pa.array(np.cumsum(steps))

    def column(self, name: str | None, kind: pa.DataType) -> pa.Array:
        """The raw column ``name`` (None: the shape lacks it, all null) on this piece's rows."""
        if name is None:
            return pa.nulls(self.size, kind)
        names, offsets, rows, _members = self.payload.shapes[self.shape]
        whole = self.payload.arrays[name].slice(offsets[names.index(name)], len(rows))
        return _pick(whole, self.at)

    def ids(self) -> tuple[np.ndarray[Any, Any], Ints]:
        files = np.repeat(
            np.fromiter((r[2] for r in self.runs), np.int32, len(self.runs)),
            np.fromiter((r[1] for r in self.runs), np.int64, len(self.runs)),
        )
        return files, np.asarray(_pick(self.payload.shapes[self.shape][2], self.at).to_numpy(), np.int64)


def _pick(arr: pa.Array, at: slice | pa.Array) -> pa.Array:
    if isinstance(at, slice):
        return arr.slice(at.start, at.stop - at.start)
    return arr.take(at)


class _PieceGroup(_Group):
    """A group whose columns are built from its pieces when first read (one array end to end)."""

    def __init__(self, pieces: list[tuple[_Piece, dict[str, str]]], names: list[str]) -> None:
        self.pieces = pieces  # each with its Sigma column name -> raw column name
        self._setup(sum(p.size for p, _ in pieces), names)

    def _load(self, name: str) -> pa.Array:
        kinds = {
            p.payload.arrays[raw].type
            for p, by_sigma in self.pieces
            if (raw := by_sigma.get(name)) is not None
        }
        kind = kinds.pop() if len(kinds) == 1 else pa.large_string() if kinds else pa.null()
        chunks = [p.column(by_sigma.get(name), kind) for p, by_sigma in self.pieces]
        chunks = [c if c.type == kind else c.cast(kind) for c in chunks]  # a string/large_string mix
        return chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)

    def ids(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        parts = [p.ids() for p, _ in self.pieces]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([f for f, _ in parts]), np.concatenate([r for _, r in parts])


def run_payloads(sigma: VectorSigma, payloads: Sequence[Payload]) -> SigmaRun:
    """The rules of ``sigma`` over every event of ``payloads``: the run :meth:`VectorSigma.run` gives on
    ``[r for p in payloads for r in p.results()]``."""
    with gc_paused():  # as VectorSigma.run
        return _run(sigma, payloads)


def _run(sigma: VectorSigma, payloads: Sequence[Payload]) -> SigmaRun:
    groups = _pieces(payloads)
    shapes = [
        SegmentShape(dict(key), names, sum(p.size for p in pieces))
        for key, by_names in groups.items()
        for names, pieces in by_names.items()
    ]
    quiet = quiet_plans(sigma.planner, shapes)
    return run_groups(sigma.planner, _groups(sigma, groups, quiet))


def _groups(
    sigma: VectorSigma, groups: dict[Key, dict[tuple[str, ...], list[_Piece]]], quiet: dict[Key, SegmentPlan]
) -> Iterator[tuple[SegmentPlan, _Group | None]]:
    """The quiet groups' plans, then each other group's plan with its rows (as
    :class:`VectorSigma`, whose group tables hold the columns of all their shapes, Sigma-named)."""
    for plan in quiet.values():
        yield plan, None
    for key, by_names in groups.items():
        if key in quiet:
            continue
        names: dict[str, None] = {}
        pieces: list[tuple[_Piece, dict[str, str]]] = []
        for raw, members in by_names.items():
            by_sigma = dict(zip(_sigma_names(raw), raw, strict=True))
            names.update(dict.fromkeys(by_sigma))
            pieces += [(p, by_sigma) for p in members]
        present = frozenset(n for n in names if n not in (ROW, FILE))
        plan = sigma.planner.plan(dict(key), present)
        yield plan, (_PieceGroup(pieces, list(names)) if plan.run or plan.every_row else None)


def _pieces(payloads: Sequence[Payload]) -> dict[Key, dict[tuple[str, ...], list[_Piece]]]:
    """Every payload's shapes cut by constants: group key -> raw column names -> pieces."""
    out: dict[Key, dict[tuple[str, ...], list[_Piece]]] = {}
    base = 0
    for payload in payloads:
        keys: dict[int, tuple[dict[str, str], Key]] = {}  # per constants object (shared by its plan)
        for shape_id, (names, _offsets, _rows, members) in enumerate(payload.shapes):
            by_key: dict[Key, _Piece] = {}
            for file_id, constants, first, size in members:
                if not size:
                    continue
                known = keys.get(id(constants))
                if known is None or known[0] is not constants:
                    known = keys[id(constants)] = (constants, tuple(sorted(constants.items())))
                piece = by_key.get(known[1])
                if piece is None:
                    piece = by_key[known[1]] = _Piece(payload, shape_id, [])
                piece.runs.append((first, size, base + file_id))
            for key, piece in by_key.items():
                piece.finish()
                out.setdefault(key, {}).setdefault(tuple(names), []).append(piece)
        base += len(payload.files)
    return out
