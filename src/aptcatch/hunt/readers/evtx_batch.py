"""Per-shape segments from events whose values are already in layouts: the assembly of the native batch.

The same output as :class:`aptcatch.hunt.readers.winsegments.Batch` (segments, constants, column names,
text values, row numbers, normalised table), built differently: every event's values are text in one
flat Arrow array, the event's *layout* (its data field names and System layout, shared by every file of
the batch) says which value is which field, and its group (one per file and key: what becomes a segment)
only keeps row numbers and where the events' values start. :func:`assemble` then makes every field's
array, every shape's rows and the normalised columns with index arithmetic (numpy) and ``take``, where
the older batch moves every value through Python lists once per group and once per field name.

:mod:`aptcatch.hunt.readers.evtx_native` fills layouts column by column from DuckDB's JSON functions and
files the events it leaves to Python with :class:`Layouts` and :func:`parse_into` (orjson and
:func:`~aptcatch.hunt.readers.winsegments.parse_record`, the older batch's per-event logic).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptcatch.hunt.readers.winsegments import (
    EMPTY,
    HASHES,
    NORM_COLUMNS,
    Mapping,
    Parsed,
    Payload,
    Plan,
    RawFields,
    cell,
    normal_table,
    parse_record,
    plan_columns,
    string_array,
)

_MAX_ERRORS = 20
_EMPTY_ARRAY = pa.array(sorted(EMPTY), type=pa.string())
_NORM = tuple(c for c in NORM_COLUMNS if not c.startswith("file.hash."))
CHUNK_ROWS = 1024  # events of a layout made text at once (column by column)
Ints = np.ndarray[Any, np.dtype[np.int64]]


@dataclass
class Layout:
    """Events of one field layout (data names and System layout), from any file of the batch.

    Its columns are ``pieces`` (text arrays) followed by ``rows`` (Python values per event, not yet
    text); an event's rank is its row in those columns. Every :data:`CHUNK_ROWS` events the rows become
    a piece, while their values are still in the CPU cache (a fifth cheaper than at the end of the
    batch, and the Python objects are freed early)."""

    n_sys: int
    size: int = 0
    pieces: list[list[pa.Array]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)  # per event: System values, then data values

    def add(self, values: list[Any]) -> int:
        """One event's values (System, then data); its rank."""
        self.rows.append(values)
        self.size += 1
        if len(self.rows) >= CHUNK_ROWS:
            self.flush()
        return self.size - 1

    def flush(self) -> None:
        if self.rows:
            self.pieces.append([_texts(column) for column in zip(*self.rows, strict=True)])
            self.rows = []

    def columns(self) -> list[pa.Array]:
        """The text columns, in rank order (the layout is empty afterwards)."""
        self.flush()
        if not self.pieces:
            return []
        columns = [p[0] if len(p) == 1 else pa.concat_arrays(p) for p in zip(*self.pieces, strict=True)]
        self.pieces = []
        return columns


@dataclass
class Group:
    """The events of one file with one key, which become one segment."""

    file_id: int
    key: tuple[Any, ...]  # the first event's key, as the older batch keeps it
    layout: int
    rows: Any = field(default_factory=list)  # row numbers in the file (list or int64 array)
    starts: Any = field(default_factory=list)  # per event: where its values start (see assemble)


@dataclass
class FileRows:
    """One file of a batch: its events' original text, damage and error messages."""

    path: Path
    format: str
    originals: list[str] = field(default_factory=list)
    bad: int = 0
    errors: list[str] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)  # where each ingest call started (record numbers)

    def error(self, message: str) -> None:
        self.bad += 1
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(message[:300])


class Layouts:
    """The layouts and groups of a batch, filled one parsed event at a time."""

    def __init__(self) -> None:
        self.index: dict[tuple[Any, ...], int] = {}
        self.structs: list[tuple[Any, ...]] = []  # per layout: (data names, System layout)
        self.layouts: list[Layout] = []
        self.groups: list[Group] = []

    def layout(self, struct: tuple[Any, ...], n_sys: int) -> int:
        lid = self.index.get(struct)
        if lid is None:
            lid = self.index[struct] = len(self.layouts)
            self.layouts.append(Layout(n_sys))
            self.structs.append(struct)
        return lid

    def place(self, parsed: Parsed) -> tuple[int, int]:
        """File one event's values (parsed by :func:`parse_record`) under its layout: (layout, rank)."""
        key, values, data = parsed
        struct = key[3:]
        lid = self.index.get(struct)
        if lid is None:
            lid = self.layout(struct, len(values))
        values.extend(data)
        return lid, self.layouts[lid].add(values)

    def add(self, keys: dict[tuple[Any, ...], Group], file_id: int, row: int, parsed: Parsed) -> None:
        """File one event under its layout and its file's group (``keys``: the file's groups)."""
        lid, rank = self.place(parsed)
        key = parsed[0]
        gkey = (key[0], key[1], key[2], lid)
        try:
            group = keys.get(gkey)
        except TypeError:  # an unhashable id or name (a list): file it under its text
            key = (cell(key[0]), cell(key[1]), cell(key[2]), *key[3:])
            gkey = (key[0], key[1], key[2], lid)
            group = keys.get(gkey)
        if group is None:
            group = keys[gkey] = Group(file_id, key, lid)
            self.groups.append(group)
        group.rows.append(row)
        group.starts.append(rank)


def parse_into(
    layouts: Layouts,
    keys: dict[tuple[Any, ...], Group],
    file_id: int,
    f: FileRows,
    texts: Iterable[str],
    raw_fields: RawFields,
    unit: str = "record",
) -> None:
    """Parse event texts (orjson) and file each under its layout; a bad text is counted and skipped."""
    loads, originals, add = orjson.loads, f.originals, layouts.add
    row = len(originals)
    enabled = gc.isenabled()
    gc.disable()  # many young containers, all alive until the batch is built
    try:
        for n, text in enumerate(texts, 1):
            try:
                obj = loads(text)
            except orjson.JSONDecodeError as exc:
                if text.strip():
                    f.error(f"{unit} {n}: {exc}")
                continue
            parsed = parse_record(obj, raw_fields)
            if isinstance(parsed, str):
                f.error(f"{unit} {n}: {parsed}")
                continue
            add(keys, file_id, row, parsed)
            originals.append(text)
            row += 1
    finally:
        if enabled:
            gc.enable()


def _texts(values: Sequence[Any]) -> pa.Array:
    """One layout column as text, as :func:`string_array` makes it (text, integer or other)."""
    first = next((v for v in values if v is not None), None)
    if first.__class__ is str:
        try:
            return pa.array(values, type=pa.string())
        except (pa.ArrowException, TypeError):
            pass
    elif first.__class__ is int or first.__class__ is bool:
        try:
            arr = pa.array(values)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            arr = None
        if arr is not None and (pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type)):
            return arr.cast(pa.string())
    elif first is None:
        return pa.nulls(len(values), pa.string())
    return string_array(values)


def build(
    files: Sequence[FileRows], layouts: Sequence[Layout], groups: Sequence[Group], mapping: Mapping
) -> Payload:
    """:func:`assemble` for layouts filled column by column (a group's starts are the events' ranks)."""
    chunks: list[pa.Array] = []
    offsets: list[Ints] = []
    done = 0
    for layout in layouts:
        columns = layout.columns()
        base = np.empty(len(columns), dtype=np.int64)
        for j, column in enumerate(columns):
            base[j] = done
            chunks.append(column)
            done += len(column)
        offsets.append(base)
    flat = pa.concat_arrays(chunks) if chunks else pa.array([], type=pa.string())
    return assemble(files, flat, offsets, [layout.n_sys for layout in layouts], groups, mapping)


def assemble(
    files: Sequence[FileRows],
    flat: pa.Array,
    offsets: Sequence[Ints],
    n_sys: Sequence[int],
    groups: Sequence[Group],
    mapping: Mapping,
) -> Payload:
    """The batch's Arrow data. The value of event ``i`` of a group for column ``j`` of its layout is
    ``flat[group.starts[i] + offsets[group.layout][j]]`` (columns: System values, then data values;
    ``n_sys``: how many System values). Groups come in the older batch's order: files in order, a
    file's groups in the order of their first event."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Builder(files, flat, offsets, n_sys, groups, mapping).build()
    finally:
        if enabled:
            gc.enable()


class _Builder:
    """One :func:`assemble`: the index arithmetic over the batch's layouts and groups."""

    def __init__(
        self,
        files: Sequence[FileRows],
        flat: pa.Array,
        offsets: Sequence[Ints],
        n_sys: Sequence[int],
        groups: Sequence[Group],
        mapping: Mapping,
    ) -> None:
        self.files = files
        self.flat = flat
        self.offsets = offsets
        self.n_sys = n_sys
        self.groups = groups
        self.mapping = mapping
        self.rows = [np.asarray(g.rows, dtype=np.int64) for g in groups]
        self.starts = [np.asarray(g.starts, dtype=np.int64) for g in groups]

    def build(self) -> Payload:
        plans = self._plans(self.flat)
        arrays, entries = self._shapes(self.flat, plans)
        normal = self._normal(self.flat, plans)
        return Payload(
            [(f.path, f.format, len(f.originals), f.bad, f.errors) for f in self.files],
            [f.originals for f in self.files],
            arrays,
            entries,
            normal,
        )

    def _plans(self, flat: pa.Array) -> list[Plan]:
        """Each group's plan: its key and the System columns that are null in every one of its events."""
        valid = np.asarray(flat.is_valid()) if flat.null_count else None
        by_layout: dict[int, list[int]] = {}
        for g, group in enumerate(self.groups):
            by_layout.setdefault(group.layout, []).append(g)
        dropped: list[tuple[int, ...]] = [()] * len(self.groups)
        for lid, members in by_layout.items():
            n_sys = self.n_sys[lid]
            if valid is None or not n_sys:
                continue
            sizes = np.array([len(self.starts[g]) for g in members], dtype=np.int64)
            owner = np.repeat(np.arange(len(members)), sizes)
            every = np.concatenate([self.starts[g] for g in members])
            seen = np.empty((len(members), n_sys), dtype=bool)
            for j in range(n_sys):
                hits = np.bincount(owner, weights=valid[self.offsets[lid][j] + every], minlength=len(members))
                seen[:, j] = hits > 0
            for i in np.flatnonzero(~seen.all(axis=1)):
                dropped[members[i]] = tuple(int(j) for j in np.flatnonzero(~seen[i]))
        cache: dict[tuple[Any, ...], Plan] = {}
        out: list[Plan] = []
        for group, drop in zip(self.groups, dropped, strict=True):
            plan = cache.get((group.key, drop))
            if plan is None:
                plan = cache[(group.key, drop)] = plan_columns(group.key, drop, self.mapping)
            out.append(plan)
        return out

    def _shapes(
        self, flat: pa.Array, plans: list[Plan]
    ) -> tuple[dict[str, pa.Array], list[tuple[tuple[str, ...], list[int], pa.Array, list[Any]]]]:
        """Shapes in the order the older batch makes them, each field's values gathered with one take."""
        shapes: dict[tuple[str, ...], list[int]] = {}
        for g, plan in enumerate(plans):
            shapes.setdefault(plan.table_names, []).append(g)
        by_name: dict[str, list[Ints]] = {}
        lengths: dict[str, int] = {}
        entries: list[tuple[tuple[str, ...], list[int], pa.Array, list[Any]]] = []
        columns_of: dict[tuple[int, int], Ints] = {}
        for names, members in shapes.items():
            segments: list[Any] = []
            columns: list[Ints] = []  # per group: the offsets of the shape's columns in its layout
            count = 0
            for g in members:
                group, plan = self.groups[g], plans[g]
                n = len(self.rows[g])
                segments.append((group.file_id, plan.constants, count, n))
                count += n
                cols = columns_of.get((group.layout, id(plan)))
                if cols is None:
                    cols = columns_of[(group.layout, id(plan))] = self.offsets[group.layout][plan.table]
                columns.append(cols)
            sizes = [len(self.rows[g]) for g in members]
            starts = np.concatenate([self.starts[g] for g in members])
            index = np.repeat(np.stack(columns), sizes, axis=0) + starts[:, None]
            offsets = []
            for t, name in enumerate(names):
                offsets.append(lengths.get(name, 0))
                lengths[name] = offsets[-1] + count
                by_name.setdefault(name, []).append(index[:, t])
            rows = pa.array(np.concatenate([self.rows[g] for g in members]), type=pa.int64())
            entries.append((names, offsets, rows, segments))
        arrays = {name: flat.take(pa.array(np.concatenate(parts))) for name, parts in by_name.items()}
        return arrays, entries

    def _normal(self, flat: pa.Array, plans: list[Plan]) -> pa.Table:
        """The normalised columns in batch row order: per column, the first non-empty of its sources."""
        file_base = np.cumsum([0, *(len(f.originals) for f in self.files)])
        total = int(file_base[-1])
        owner = np.empty(total, dtype=np.int64)  # the source pattern (layout and plan) of each row
        first = np.empty(total, dtype=np.int64)  # where the row's values start
        patterns: dict[tuple[int, int], int] = {}
        picks: list[tuple[int, Plan]] = []
        for g, (group, plan) in enumerate(zip(self.groups, plans, strict=True)):
            p = patterns.get((group.layout, id(plan)))
            if p is None:
                p = patterns[(group.layout, id(plan))] = len(picks)
                picks.append((group.layout, plan))
            at = file_base[group.file_id] + self.rows[g]
            owner[at] = p
            first[at] = self.starts[g]
        constants: dict[str, int] = {}
        depth = max((len(s) for _, plan in picks for _, s in plan.norm), default=1) or 1
        # per pattern and (column, source rank): where the source starts in flat (or a constant), or -1
        starts = np.full((len(picks), len(_NORM) + 1, depth), -1, dtype=np.int64)
        in_flat = np.zeros(starts.shape, dtype=bool)
        for p, (lid, plan) in enumerate(picks):
            base = self.offsets[lid]
            for c, (_, sources) in enumerate(plan.norm):
                for k, s in enumerate(sources):
                    if isinstance(s, int):
                        starts[p, c, k], in_flat[p, c, k] = base[s], True
                    else:
                        starts[p, c, k] = len(flat) + constants.setdefault(s, len(constants))
            if plan.hashes is not None:
                starts[p, len(_NORM), 0], in_flat[p, len(_NORM), 0] = base[plan.hashes], True
        source = pa.concat_arrays([flat, pa.array(list(constants), type=pa.string())])
        texts: dict[str, pa.Array] = {}
        for c, name in enumerate((*_NORM, HASHES)):
            value: pa.Array | None = None
            for k in range(depth):
                at = starts[owner, c, k]
                if (at < 0).all():
                    break
                at = np.where(in_flat[owner, c, k], at + first, at)
                picked = source.take(pa.array(at, mask=at < 0))
                if value is None:
                    value = picked
                else:
                    empty = pc.or_kleene(pc.is_null(value), pc.is_in(value, value_set=_EMPTY_ARRAY))
                    value = pc.if_else(empty, picked, value)
            texts[name] = value if value is not None else pa.nulls(total, pa.string())
        return normal_table(texts)
