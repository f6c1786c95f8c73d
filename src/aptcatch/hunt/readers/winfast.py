"""The Windows event batch with its per-event work in C: :class:`FastBatch`, a drop-in for
:class:`~aptcatch.hunt.readers.winsegments.Batch` giving exactly the same :class:`Payload`.

Why by hand, in C: the pure-Python batch makes a Python object per JSON value of every event (orjson),
files them in lists and hands those to pyarrow, ~24 µs per event above the Rust EVTX parse (six times
the parse itself). No library turns evtx_dump JSON into per-shape Arrow columns, and no Rust crates
can be had on this machine to build one on the evtx crate, so the extension
:mod:`aptcatch.hunt.readers._winfast` (``_winfast.c``, ``_winfast.h`` and the ``_winfast_*.c`` files;
CPython API only) parses each event's JSON straight from the text's UTF-8, files it by the same shape
key, and keeps each value as a span of text; at the end it writes the Arrow buffers of the whole
batch, which pyarrow wraps without a copy.

What stays in Python, so both batches share it: the reference parse (:func:`parse_record` after
``orjson.loads``) for every text the C parser does not handle exactly (floats, escapes it leaves
alone, duplicate keys, UserData and other sections, Winlogbeat and flat events, bad JSON and blank
lines: one text at a time, errors counted as the reference counts them), the plans of each group key
(:func:`plan_columns`, once per key and batch), and the normalised table's Arrow steps
(:func:`normal_table`).

:func:`make_batch` gives a FastBatch when the extension was built and ``APTCATCH_NO_C`` is not set,
else the pure-Python batch.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from aptcatch.hunt.readers.winsegments import (
    HASHES,
    NORM_COLUMNS,
    Batch,
    Mapping,
    Parsed,
    Payload,
    Plan,
    RawFields,
    _Entry,
    _File,
    _Members,
    cell,
    normal_table,
    parse_record,
    plan_columns,
)

try:
    from aptcatch.hunt.readers import _winfast
except ImportError:  # not built (no compiler at install time): the pure-Python batch
    _winfast = None  # type: ignore[assignment]

_NORM_NAMES = [c for c in NORM_COLUMNS if not c.startswith("file.hash.")]
_HASH_NAMES = [c for c in NORM_COLUMNS if c.startswith("file.hash.")]
_ALGOS = [c.rsplit(".", 1)[1] for c in _HASH_NAMES]  # taken from the hash lists in C when all are ASCII
_STRING = pa.string()
_LARGE = pa.large_string()
_INT64 = pa.int64()


def available() -> bool:
    """Whether FastBatch can be used here (the extension imports and ``APTCATCH_NO_C`` is not set)."""
    return _winfast is not None and not os.environ.get("APTCATCH_NO_C")


def make_batch(mapping: Mapping, raw_fields: RawFields) -> Batch:
    """A FastBatch where :func:`available`, else the pure-Python reference batch."""
    return FastBatch(mapping, raw_fields) if available() else Batch(mapping, raw_fields)


class FastBatch(Batch):
    """:class:`Batch` with ingest and the Arrow build in C (same interface, same payload)."""

    def __init__(self, mapping: Mapping, raw_fields: RawFields) -> None:
        if _winfast is None:
            raise RuntimeError("the _winfast extension is not built")
        super().__init__(mapping, raw_fields)
        self._c = _winfast.Batch(cell)
        self._ids: dict[int, int] = {}

    def open(self, path: Path, fmt: str) -> _File:
        f = _File(path, fmt)
        self._ids[id(f)] = self._c.open_file()
        self.files.append(f)
        return f

    def ingest(self, f: _File, texts: Iterable[str], unit: str = "record") -> None:
        """Each text on the C path, or through :func:`parse_record` when the C parser hands it back."""
        loads, raw_fields, error = orjson.loads, self.raw_fields, f.error

        def fallback(n: int, text: Any) -> Parsed | None:
            try:
                obj = loads(text)
            except orjson.JSONDecodeError as exc:
                if text.strip():
                    error(f"{unit} {n}: {exc}")
                return None
            parsed = parse_record(obj, raw_fields)
            if isinstance(parsed, str):
                error(f"{unit} {n}: {parsed}")
                return None
            key, sysvals, values = parsed
            try:
                hash(key)
            except TypeError:  # an unhashable id or name (a list): filed under its text, as Batch does
                key = (*(cell(k) for k in key[:3]), *key[3:])
            return key, sysvals, values

        enabled = gc.isenabled()
        gc.disable()
        try:
            self.events += self._c.ingest(self._ids[id(f)], texts, fallback)
        finally:
            if enabled:
                gc.enable()

    def stats(self) -> tuple[int, int]:
        """(events read on the C path, texts handed to the Python path) so far."""
        return self._c.stats()

    def _finish(self) -> Payload:
        plan_ids: dict[tuple[Any, ...], int] = {}
        plan_shape: list[int] = []
        plan_specs: list[tuple[list[int], list[list[int | str]]]] = []
        plan_list: list[Plan] = []
        shapes: dict[tuple[str, ...], int] = {}
        shape_members: list[_Members] = []
        shape_rows: list[int] = []
        group_plan: list[int] = []
        group_shape: list[int] = []
        for file_id, key, n, dropped in self._c.groups():
            pk = (key, dropped)
            pid = plan_ids.get(pk)
            if pid is None:
                plan = self._plans.get(pk)
                if plan is None:
                    plan = self._plans[pk] = plan_columns(key, dropped, self.mapping)
                pid = plan_ids[pk] = len(plan_list)
                plan_list.append(plan)
                sid = shapes.get(plan.table_names)
                if sid is None:
                    sid = shapes[plan.table_names] = len(shapes)
                    shape_members.append([])
                    shape_rows.append(0)
                plan_shape.append(sid)
                norm = [sources for _, sources in plan.norm]
                norm.append([] if plan.hashes is None else [plan.hashes])
                plan_specs.append((plan.table, norm))
            sid = plan_shape[pid]
            shape_members[sid].append((file_id, plan_list[pid].constants, shape_rows[sid], n))
            shape_rows[sid] += n
            group_plan.append(pid)
            group_shape.append(sid)
        name_ids: dict[str, int] = {}
        shape_names = [[name_ids.setdefault(name, len(name_ids)) for name in names] for names in shapes]
        arrays, offsets, rows, norm_arrays, originals, found = self._c.build(
            plan_specs, group_plan, group_shape, shape_names, len(name_ids), len(_NORM_NAMES), _ALGOS
        )
        entries: list[_Entry] = []
        for (names, sid), offs, rows_bytes in zip(shapes.items(), offsets, rows, strict=True):
            row_array = pa.Array.from_buffers(_INT64, shape_rows[sid], [None, pa.py_buffer(rows_bytes)])
            entries.append((names, offs, row_array, shape_members[sid]))
        if norm_arrays:  # per normalised column but the hashes, then the hash list
            texts = {name: _strings(t) for name, t in zip([*_NORM_NAMES, HASHES], norm_arrays, strict=True)}
        else:  # no event
            texts = {name: pa.array([], _STRING) for name in (*_NORM_NAMES, HASHES)}
        count, offs_bytes, data = originals
        rows_per_file = self._c.file_rows()
        return Payload(
            [(f.path, f.format, n, f.bad, f.errors) for f, n in zip(self.files, rows_per_file, strict=True)],
            pa.Array.from_buffers(_LARGE, count, [None, pa.py_buffer(offs_bytes), pa.py_buffer(data)]),
            {name: _strings(arrays[i]) for name, i in name_ids.items()},
            entries,
            normal_table(
                texts, None if found is None else dict(zip(_HASH_NAMES, map(_strings, found), strict=True))
            ),
        )


def _strings(spec: tuple[int, int, bytes | None, bytes, bytes]) -> pa.Array:
    """A string array over the buffers the extension wrote (no copy)."""
    n, nulls, validity, offsets, data = spec
    buffers = [
        None if validity is None else pa.py_buffer(validity),
        pa.py_buffer(offsets),
        pa.py_buffer(data),
    ]
    return pa.Array.from_buffers(_STRING, n, buffers, null_count=nulls)
