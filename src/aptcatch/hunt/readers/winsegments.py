"""Windows events grouped by shape into Sigma segments and the normalised table, with little per-row work.

Why this is written by hand: the per-event cost of the obvious path (parse, flatten, one dict per row,
one wide sparse table) is about ten times the Rust EVTX parse itself, and no library turns EVTX JSON
into per-shape Arrow tables. So the work is split into:

* an ingest loop (:meth:`Batch.ingest`) that parses each event once (orjson) and files it under its
  shape key — (Channel, EventID, Provider name, data field names, System layout) — as a list of the
  flattened System values and a tuple of the data values (the parsed dicts are freed at once: keeping
  them costs more than copying the values out); the garbage collector is paused meanwhile;
* a build step (:meth:`Batch.finish`) that turns each group into columns with ``zip(*rows)``, with a
  plan per group key computed once per batch (which columns, which normalised sources), and makes
  ONE Arrow string array per field name for the whole batch of files (a ``pa.array`` call costs
  microseconds, more than the few rows of a typical segment); numbers are cast in C++;
* a slicing step (:meth:`Payload.results`) that cuts those arrays into per-shape tables, per-file
  segments and normalised tables (zero-copy slices), each when first used (:mod:`.winpayload`).
  ``finish`` and ``results`` are apart so a worker process can send the parent a few big buffers
  (pyarrow pickles a slice with its whole buffer, so slices must not cross a process boundary).

Raw field names follow the Sigma/Zircolite convention for Windows: EventData/UserData element names
as they are, System fields by name, XML attributes as ``<Element>_<Attr>`` and an element's own text
under its name. ``Channel``, ``EventID`` and ``Provider_Name`` are segment constants, not columns.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptcatch.hunt.readers.base import NORMALISED, ROW
from aptcatch.hunt.readers.winpayload import (  # the payload classes live there; re-exported
    ArrowStrings as ArrowStrings,
)
from aptcatch.hunt.readers.winpayload import Payload as Payload
from aptcatch.hunt.readers.winpayload import _Entry as _Entry
from aptcatch.hunt.readers.winpayload import _Members as _Members

CONSTANTS = ("Channel", "EventID", "Provider_Name")
NORM_COLUMNS: tuple[str, ...] = tuple(c for c in NORMALISED if c != "event.original")
EMPTY = frozenset(("", "-", "(empty)"))
_EMPTY_ARRAY = pa.array(sorted(EMPTY), type=pa.string())
_MAX_ERRORS = 20
HASHES = "Hashes"  # the Sysmon hash list, kept beside the normalised columns until they are built

Cells = Sequence[Any]
RawFields = Callable[[dict[str, Any]], dict[str, Any] | None]
Mapping = tuple[tuple[str, tuple[str, ...]], ...]


def cell(value: Any) -> str | None:
    """One raw value as text: numbers as written, booleans lower-case, lists joined with ','."""
    if value is None or value.__class__ is str:
        return value
    if value.__class__ is bool:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, list):
        parts = [c for c in map(cell, value) if c is not None]
        return ",".join(parts) if parts else None
    if isinstance(value, dict):
        if "#text" in value:
            return cell(value["#text"])
        return orjson.dumps(value).decode()
    return str(value)


def text_value(value: Any) -> str | None:
    """What :func:`string_array` makes of one value, whatever else its column holds."""
    return str(value) if value.__class__ is int else cell(value)


def string_array(values: Sequence[Any]) -> pa.Array:
    """A column of raw JSON values as an Arrow string array: pyarrow infers the type of the whole
    column and casts integers and booleans in C++; mixed, nested and floating-point columns go
    through :func:`cell` (Arrow writes 1e15 as ``1e+15`` where :func:`cell` writes the integer), so a
    value's text never depends on the other values of its column."""
    try:
        return pa.array(values, type=pa.string())  # most columns: text only
    except (pa.ArrowException, TypeError):
        pass
    try:
        arr = pa.array(values)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        arr = None
    if arr is not None:
        t = arr.type
        if pa.types.is_string(t):
            return arr
        if pa.types.is_null(t):
            return pa.nulls(len(arr), pa.string())
        if pa.types.is_integer(t) or pa.types.is_boolean(t):
            return arr.cast(pa.string())
    return pa.array([v if v.__class__ is str else text_value(v) for v in values], type=pa.string())


def flatten(value: Any, name: str, out: dict[str, Any]) -> None:
    """An XML-ish JSON node as fields: ``#text`` under ``name``, attributes and children as ``name_x``."""
    if value.__class__ is not dict:
        out[name] = value
        return
    for k, v in value.items():
        if k == "#attributes":
            if v.__class__ is dict:
                for a, av in v.items():
                    if not a.startswith("xmlns"):
                        out[f"{name}_{a}"] = av
        elif k == "#text":
            out[name] = v
        else:
            flatten(v, f"{name}_{k}", out)


def event_sections(event: dict[str, Any]) -> dict[str, Any]:
    """The data fields of an ``Event`` beside ``System`` (EventData, UserData's inner element, others)."""
    out: dict[str, Any] = {}
    for section, body in event.items():
        if section in ("System", "#attributes") or body is None:
            continue
        if section == "UserData" and body.__class__ is dict:
            inner = [v for k, v in body.items() if k != "#attributes"]
            body = inner[0] if len(inner) == 1 else body
        if body.__class__ is dict:
            for k, v in body.items():
                if k != "#attributes":
                    flatten(v, k, out)
        else:
            out[section] = body
    return out


Parsed = tuple[tuple[Any, ...], list[Any], tuple[Any, ...]]


def parse_record(obj: Any, raw_fields: RawFields) -> Parsed | str:
    """One parsed event as (group key, flattened System values, data values), or why it is no event.

    The key is (Channel, EventID, Provider name, data field names, System layout): the raw values of
    the first three (their text becomes the segment constants) and the names and layout, from which
    :func:`plan_columns` derives the column names. Events of any shape go through here (the
    ``orjson`` floor of ``benchmarks/hunt_read_evtx.py`` times it alone).
    """
    if obj.__class__ is not dict:
        return "not a JSON object"
    event: Any = obj.get("Event")
    system: Any = event.get("System") if event.__class__ is dict else None
    if system.__class__ is dict:
        data = event.get("EventData")
        if data.__class__ is not dict or len(event) > 3:
            data = event_sections(event)
        eid = system.get("EventID")
        if eid.__class__ is dict:
            eid = eid.get("#text")
        provider = system.get("Provider")
        if provider.__class__ is dict:
            provider = provider.get("#attributes")
            provider = provider.get("Name") if provider.__class__ is dict else None
        sig: list[Any] = []
        sysvals: list[Any] = []
        for k, v in system.items():
            if v.__class__ is dict:
                attrs = v.get("#attributes")
                if len(v) == 1 and attrs.__class__ is dict:
                    sig.append(tuple(attrs))
                    sysvals.extend(attrs.values())
                else:
                    flat: dict[str, Any] = {}
                    flatten(v, k, flat)
                    sig.append(("#flat", *flat))
                    sysvals.extend(flat.values())
            else:
                sig.append(None)
                sysvals.append(v)
        shape: Any = (tuple(system), tuple(sig))
    else:
        data = raw_fields(obj)
        if data is None:
            return "no Windows event"
        sysvals, shape = [], None
        eid, provider = data.get("EventID"), data.get("Provider_Name")
        system = data
    return (system.get("Channel"), eid, provider, tuple(data), shape), sysvals, tuple(data.values())


@dataclass
class _File:
    path: Path
    format: str
    groups: dict[tuple[Any, ...], list[tuple[int, Any, tuple[Any, ...]]]] = field(default_factory=dict)
    originals: list[str] = field(default_factory=list)
    bad: int = 0
    errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.bad += 1
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(message[:300])


@dataclass
class _Shape:
    """Segments (of any files of a batch) with the same columns, laid out one after the other."""

    names: tuple[str, ...]
    columns: list[list[Any]]
    rows: list[int] = field(default_factory=list)
    segments: list[tuple[int, dict[str, str], int, int]] = field(default_factory=list)


class Batch:
    """Events of one or more files, filed by shape; :meth:`finish` builds all their Arrow data at once."""

    def __init__(self, mapping: Mapping, raw_fields: RawFields) -> None:
        self.mapping = mapping
        self.raw_fields = raw_fields
        self.files: list[_File] = []
        self.events = 0
        self._plans: dict[tuple[Any, ...], Plan] = {}

    def open(self, path: Path, fmt: str) -> _File:
        f = _File(path, fmt)
        self.files.append(f)
        return f

    def ingest(self, f: _File, texts: Iterable[str], unit: str = "record") -> None:
        """Parse and file each event text (an evtx_dump ``{"Event": …}`` object, Winlogbeat or flat).

        Everything that touches an event's objects happens here, while they are fresh in the CPU
        cache: the System values are flattened and every value is made text. The build step then only
        moves references around (column-wise passes over half a million parsed dicts are slow).
        """
        loads, groups, originals, raw_fields = orjson.loads, f.groups, f.originals, self.raw_fields
        row = start = len(originals)
        enabled = gc.isenabled()
        gc.disable()
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
                key, sysvals, values = parsed
                try:
                    group = groups.get(key)
                except TypeError:  # an unhashable id or name (a list): file it under its text
                    key = (*(cell(k) for k in key[:3]), *key[3:])
                    group = groups.get(key)
                if group is None:
                    group = groups[key] = []
                group.append((row, sysvals, values))
                originals.append(text)
                row += 1
        finally:
            if enabled:
                gc.enable()
        self.events += row - start  # this call's events (a file is ingested again after a damaged record)

    def finish(self) -> Payload:
        """Every group as columns of one flat cell list, the normalised columns, then the Arrow arrays."""
        enabled = gc.isenabled()
        gc.disable()  # many young containers, all alive until the end: collections would only rescan them
        try:
            return self._finish()
        finally:
            if enabled:
                gc.enable()

    def _finish(self) -> Payload:
        shapes: dict[tuple[str, ...], _Shape] = {}
        norm: dict[str, list[Any]] = {c: [] for c in (*NORM_COLUMNS, HASHES)}
        order: list[int] = []  # batch row number of each normalised row, in group order
        base = 0
        for file_id, f in enumerate(self.files):
            for key, members in f.groups.items():
                self._group(file_id, key, members, shapes, norm, order, base)
            base += len(f.originals)
        # One Arrow array per field name for the whole batch (a pa.array call costs more than the
        # few dozen values of a small segment); a shape's column is a slice of its name's array.
        by_name: dict[str, list[Any]] = {}
        entries: list[_Entry] = []
        for shape in shapes.values():
            offsets = []
            for name, col in zip(shape.names, shape.columns, strict=True):
                target = by_name.setdefault(name, [])
                offsets.append(len(target))
                target.extend(col)
            entries.append((shape.names, offsets, pa.array(shape.rows, type=pa.int64()), shape.segments))
        arrays = {name: string_array(values) for name, values in by_name.items()}
        del by_name
        return Payload(
            [(f.path, f.format, len(f.originals), f.bad, f.errors) for f in self.files],
            [f.originals for f in self.files],
            arrays,
            entries,
            _normal_table(norm, order, base),
        )

    def _group(
        self,
        file_id: int,
        key: tuple[Any, ...],
        members: list[tuple[int, Any, tuple[Any, ...]]],
        shapes: dict[tuple[str, ...], _Shape],
        norm: dict[str, list[Any]],
        order: list[int],
        base: int,
    ) -> None:
        """Move one group's values into its shape's columns and the normalised columns (no per-cell
        work but the null check of System columns and the first-non-empty choice between sources)."""
        n = len(members)
        rows, sysvals, values = zip(*members, strict=True)
        cols: list[Cells] = [*zip(*sysvals, strict=True), *zip(*values, strict=True)]
        n_sys = len(cols) - len(key[3])
        dropped = tuple(i for i in range(n_sys) if cols[i][0] is None and all(v is None for v in cols[i]))
        plan = self._plans.get((key, dropped))
        if plan is None:
            plan = self._plans[(key, dropped)] = plan_columns(key, dropped, self.mapping)
        shape = shapes.get(plan.table_names)
        if shape is None:
            shape = shapes[plan.table_names] = _Shape(plan.table_names, [[] for _ in plan.table])
        shape.segments.append((file_id, plan.constants, len(shape.rows), n))
        shape.rows.extend(rows)
        for target, i in zip(shape.columns, plan.table, strict=True):
            target.extend(cols[i])
        order.extend([base + r for r in rows])
        nones = [None] * n
        for column, sources in plan.norm:
            picked = [cols[s] if isinstance(s, int) else [s] * n for s in sources]
            norm[column].extend(_first(picked, n) if picked else nones)
        norm[HASHES].extend(nones if plan.hashes is None else cols[plan.hashes])


@dataclass
class Plan:
    """What to do with the columns of one group key (computed once per key and batch)."""

    constants: dict[str, str]
    table: list[int]  # positions (System columns, then data columns) that go into the segment
    table_names: tuple[str, ...]
    norm: list[tuple[str, list[int | str]]]  # every normalised column: source positions or constants
    hashes: int | None


def plan_columns(key: tuple[Any, ...], dropped: tuple[int, ...], mapping: Mapping) -> Plan:
    channel, eid, provider, data_names, shape = key
    texts = (cell(channel), cell(eid), cell(provider))
    constants = {k: v for k, v in zip(CONSTANTS, texts, strict=True) if v is not None}
    names = [*(_system_names(*shape) if shape is not None else ()), *data_names]
    position: dict[str, int] = {}
    for i, name in enumerate(names):  # a data field wins over a System field of the same name
        if i not in dropped and name not in CONSTANTS and name not in ("#attributes", ROW):
            position.pop(name, None)
            position[name] = i
    table = [i for name, i in position.items() if not name.startswith("@")]
    norm: list[tuple[str, list[int | str]]] = []
    mapped = dict(mapping)
    for column in NORM_COLUMNS:
        sources: list[int | str] = []
        for c in mapped.get(column, ()):
            if c in constants:
                sources.append(constants[c])
            elif c in position:
                sources.append(position[c])
        if not column.startswith("file.hash."):
            norm.append((column, sources))
    hashes = position.get("Hashes", position.get("Hash"))
    return Plan(constants, table, tuple(names[i] for i in table), norm, hashes)


def _system_names(keys: tuple[str, ...], sig: tuple[Any, ...]) -> list[str]:
    """The flat System field names of one System layout (see :meth:`Batch.ingest`)."""
    out: list[str] = []
    for k, entry in zip(keys, sig, strict=True):
        if entry is None:
            out.append(k)
        elif entry[:1] == ("#flat",):
            out.extend(entry[1:])
        else:
            out.extend(f"{k}_{a}" for a in entry)
    return out


def _first(columns: list[Cells], n: int) -> Cells:
    """Per row, the first value that is not empty ('', '-', '(empty)' count as empty; a value that is no
    text, an object or a list too, is not: it would not even hash)."""
    if not columns:
        return [None] * n
    if len(columns) == 1:
        return columns[0]
    out: list[str | None] = []
    for values in zip(*columns, strict=True):
        out.append(
            next((v for v in values if v is not None and (v.__class__ is not str or v not in EMPTY)), None)
        )
    return out


def _normal_table(norm: dict[str, list[Any]], order: list[int], total: int) -> pa.Table:
    """The normalised columns in batch row order (built in group order, then one ``take``)."""
    table = normal_table({name: string_array(values) for name, values in norm.items()})
    if total != len(order):
        raise AssertionError("every event has one normalised row")
    return table.take(pc.sort_indices(pa.array(order, type=pa.int64())))


def normal_table(texts: dict[str, pa.Array], taken: dict[str, pa.Array] | None = None) -> pa.Table:
    """The normalised table from the text of its sources: for every normalised column but the hashes,
    the first non-empty source value of each event, and under ``Hashes`` the Sysmon hash list
    (``taken``: the ``file.hash.*`` columns already taken from it, as the C batch does)."""
    arrays: list[pa.Array] = []
    hashes = texts[HASHES]
    for name in NORM_COLUMNS:
        if taken is not None and name in taken:
            arrays.append(taken[name])
            continue
        if name.startswith("file.hash."):  # Sysmon Hashes: SHA1=…,MD5=…,SHA256=…,IMPHASH=…
            algo = name.rsplit(".", 1)[1]
            found = pc.extract_regex(hashes, rf"(?i)(?:^|,)\s*{algo}\s*=\s*(?P<d>[^,]*[^,\s])")
            arrays.append(pc.utf8_lower(pc.struct_field(found, [0])))
            continue
        arr = texts[name]
        arr = pc.if_else(pc.is_in(arr, value_set=_EMPTY_ARRAY), pa.scalar(None, pa.string()), arr)
        if name == "@timestamp":
            arr = _iso_timestamps(arr)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=list(NORM_COLUMNS))


def _iso_timestamps(ts: pa.Array) -> pa.Array:
    """Sysmon ``UtcTime``-style ``2019-05-16 14:17:15.753`` as ``2019-05-16T14:17:15.753Z``."""
    spaced = pc.and_(pc.match_substring(ts, " "), pc.invert(pc.match_substring(ts, "T")))
    if not pc.any(spaced).as_py():
        return ts
    fixed = pc.replace_substring(ts, " ", "T", max_replacements=1)
    fixed = pc.if_else(pc.ends_with(fixed, "Z"), fixed, pc.binary_join_element_wise(fixed, "Z", ""))
    return pc.if_else(spaced, fixed, ts)
