"""EVTX events read by DuckDB's JSON functions: the per-event work in native code, checked to be exact.

:class:`NativeBatch` keeps each event's JSON text as the parser gives it and, per batch, asks DuckDB for
three things per event in one query (no Python object per value, and the query runs without the GIL):

* a hash of the event's *structure*: the key lists of ``Event``, ``System``, ``EventData`` and of the
  System elements that carry attributes, plus the JSON types of the values that become the segment
  constants (``Channel``, ``EventID``, the provider name);
* the values of a fixed list of System fields (:data:`SYSTEM_LEAVES`) and every ``EventData`` value,
  as text.

One event per structure (its *representative*) is parsed in Python and filed by
:func:`~aptcatch.hunt.readers.winsegments.parse_record` twice: as it is, and with every value replaced by
a marker naming where DuckDB put it. That maps each column of the older batch's layout to a DuckDB value;
the representative's own values and key lists are compared with DuckDB's, and a structure that differs or
that the mapping cannot express is left to Python. Every other event of a structure is checked for the
value kinds the hash does not see: a value that reads as an object, a list, a float, or an integer of 19
or more digits (orjson reads those beyond 64 bits as floats) sends that event to Python.

Left to the Python path (:func:`~aptcatch.hunt.readers.evtx_batch.parse_into`, today's per-event logic):
events with ``UserData`` or other sections beside ``EventData`` (``RenderingInfo``), a null or missing
``EventData``, ``EventData`` values that are lists or objects (unnamed ``Data`` lists), System elements
or attributes outside :data:`SYSTEM_LEAVES`, duplicate keys, and the events the check above flags. Whole
files go to Python when one of their records is no ``{"Event": {"System": …}}`` object or has a constant
that is neither text nor an integer (``True == 1`` in a Python key), and a whole batch when DuckDB cannot
read it. A batch's event count (which decides where batches end) counts every record, as no record the
``evtx`` parser writes is rejected.

Measured (``benchmarks/hunt_read_evtx.py``, the EVTX-ATTACK-SAMPLES hard-linked to 503,555 events, one
machine with two cores): the DuckDB query alone, with the texts made Arrow, takes 3.8 times the bare
parse, more than orjson with :func:`~aptcatch.hunt.readers.winsegments.parse_record` (3.2 times), and
the whole native read 7.0 times against 6.4 for the reference batch; so it is not the default. Each JSON
function parses the text again (1-4 µs per event), every value costs about 0.15 µs, and the texts must
first be encoded to UTF-8 for Arrow.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aptcatch.hunt.readers.evtx_batch import FileRows, Group, Ints, Layouts, build, parse_into
from aptcatch.hunt.readers.winsegments import (
    Mapping,
    Parsed,
    Payload,
    RawFields,
    cell,
    parse_record,
    text_value,
)

# System elements that may carry attributes (their key lists are part of the structure hash)
ATTRIBUTED = ("Provider", "EventID", "TimeCreated", "Correlation", "Execution", "Security")
SYSTEM_ATTRIBUTES = {
    "Provider": ("Name", "Guid", "EventSourceName"),
    "EventID": ("Qualifiers",),
    "TimeCreated": ("SystemTime",),
    "Correlation": ("ActivityID", "RelatedActivityID"),
    "Execution": ("ProcessID", "ThreadID", "ProcessorID", "SessionID", "KernelTime", "UserTime"),
    "Security": ("UserID",),
}
SYSTEM_ELEMENTS = (
    "Provider", "EventID", "Version", "Level", "Task", "Opcode", "Keywords", "TimeCreated",
    "EventRecordID", "Correlation", "Execution", "Channel", "Computer", "Security",
)  # fmt: skip
SYSTEM_LEAVES: tuple[str, ...] = (
    *(f"/Event/System/{m}" for m in SYSTEM_ELEMENTS),
    *(f"/Event/System/{m}/#attributes/{a}" for m, attrs in SYSTEM_ATTRIBUTES.items() for a in attrs),
    *(f"/Event/System/{m}/#text" for m in ATTRIBUTED),
)
_LEAF = {path: i for i, path in enumerate(SYSTEM_LEAVES)}
KEY_PATHS: tuple[tuple[str, ...], ...] = (
    ("Event",),
    ("Event", "System"),
    ("Event", "EventData"),
    *(p for m in ATTRIBUTED for p in (("Event", "System", m), ("Event", "System", m, "#attributes"))),
)
TYPE_PATHS = (
    "/Event/System/Channel",
    "/Event/System/EventID",
    "/Event/System/EventID/#text",
    "/Event/System/Provider",
    "/Event/System/Provider/#attributes/Name",
)
# values DuckDB writes differently from orjson + cell(): objects, lists, floats; and long integers, of
# which those beyond 64 bits (orjson reads them as floats)
_SUSPECT = r"^(?:\{[\"}]|\[|-?(?:[0-9]+\.[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)$)"
_LONG = r"^-?[0-9]{19,}$"
_MARK = "\x00"
_CHUNK = 8192  # rows per Arrow record batch: DuckDB reads the batches in parallel
Source = tuple[int, int]  # (0: a System leaf, 1: an EventData value; its index)
Kind = str | None | bool  # a constant's type: "str", "int", None (absent or null), False (neither)


def _sql_list(items: Sequence[str]) -> str:
    return "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in items) + "]"


_KEYS_SQL = (
    "json_keys(data, " + _sql_list(["$." + ".".join(f'"{p}"' for p in path) for path in KEY_PATHS]) + ")"
)
_QUERY = (
    f"SELECT hash({_KEYS_SQL}, json_type(data, {_sql_list(TYPE_PATHS)})) AS h,"
    f" json_extract_string(data, {_sql_list(SYSTEM_LEAVES)}) AS s,"
    " json_extract_string(data, '$.Event.EventData.*') AS e FROM events"
)
_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's DuckDB connection (one per thread: a connection is not shared between threads)."""
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
    return con


def _table(texts: Sequence[str]) -> pa.Table:
    table = pa.table({"data": pa.array(texts, type=pa.large_string())})
    return pa.Table.from_batches(table.to_batches(max_chunksize=_CHUNK), schema=table.schema)


def _run(sql: str, texts: Sequence[str]) -> pa.Table:
    con = _connection()
    con.register("events", _table(texts))
    try:
        out = con.sql(sql).to_arrow_table()
    finally:
        con.unregister("events")
    if out.num_rows != len(texts):
        raise duckdb.InvalidInputException(f"{out.num_rows} rows for {len(texts)} events")
    return out


class NativeBatch:
    """Events of one or more files, kept as text until :meth:`finish`; the interface of the other batches."""

    def __init__(self, mapping: Mapping, raw_fields: RawFields) -> None:
        self.mapping = mapping
        self.raw_fields = raw_fields
        self.files: list[FileRows] = []
        self.events = 0
        self.native_events = 0  # after finish: the events whose fields DuckDB read

    def open(self, path: Path, fmt: str) -> FileRows:
        self.files.append(FileRows(path, fmt))
        return self.files[-1]

    def ingest(self, f: FileRows, texts: Iterable[str], unit: str = "record") -> None:
        """Keep the texts (an exception from ``texts`` keeps those read before it, as the others do)."""
        start = len(f.originals)
        f.runs.append(start)
        try:
            f.originals.extend(texts)
        finally:
            self.events += len(f.originals) - start

    def finish(self) -> Payload:
        texts = [t for f in self.files for t in f.originals]
        if texts:
            try:
                return _Native(self, texts, _run(_QUERY, texts)).payload()
            except duckdb.Error:  # a text DuckDB cannot read: the batch through Python
                pass
        layouts = Layouts()
        for file_id, f in enumerate(self.files):
            _reparse(layouts, file_id, f, self.raw_fields)
        return build(self.files, layouts.layouts, layouts.groups, self.mapping)


def _reparse(layouts: Layouts, file_id: int, f: FileRows, raw_fields: RawFields) -> None:
    """A whole file through the Python path, record numbers counted per ingest call as there."""
    texts, f.originals = f.originals, []
    keys: dict[tuple[Any, ...], Group] = {}
    for start, end in zip(f.runs, [*f.runs[1:], len(texts)][: len(f.runs)], strict=True):
        parse_into(layouts, keys, file_id, f, texts[start:end], raw_fields)


def _kind(value: Any) -> Kind:
    if value is None:
        return None
    if value.__class__ is str:
        return "str"
    return "int" if value.__class__ is int else False


def _parse(text: str, raw_fields: RawFields) -> Parsed | None:
    try:
        parsed = parse_record(orjson.loads(text), raw_fields)
    except orjson.JSONDecodeError:
        return None
    return None if isinstance(parsed, str) else parsed


def _keys_at(obj: Any, path: tuple[str, ...]) -> list[str] | None:
    """DuckDB's json_keys for a path: an object's keys, [] for any other value, None when missing."""
    for part in path:
        if obj.__class__ is not dict or part not in obj:
            return None
        obj = obj[part]
    return list(obj) if obj.__class__ is dict else []


def _tag(event: dict[str, Any]) -> dict[str, Any] | None:
    """The event with each value the native path reads replaced by a marker naming its DuckDB source
    (None: a structure it does not read: sections beside EventData, nested or float values …)."""
    data = event.get("EventData")
    if data.__class__ is not dict or len(event) > 3 or not _plain(data.values()):
        return None
    system: dict[str, Any] = {}
    for m, v in event["System"].items():
        if v.__class__ is not dict:
            leaf = _LEAF.get(f"/Event/System/{m}")
            if leaf is None or not _plain((v,)):
                return None
            system[m] = f"{_MARK}0 {leaf}"
            continue
        if m not in ATTRIBUTED or not v or not set(v) <= {"#attributes", "#text"}:
            return None
        node: dict[str, Any] = {}
        for k, sub in v.items():
            if k == "#text":
                leaf = _LEAF.get(f"/Event/System/{m}/#text")
                if leaf is None or not _plain((sub,)):
                    return None
                node[k] = f"{_MARK}0 {leaf}"
            elif sub.__class__ is dict and sub and _plain(sub.values()):
                leaves = [_LEAF.get(f"/Event/System/{m}/#attributes/{a}") for a in sub]
                if None in leaves:
                    return None
                node[k] = {a: f"{_MARK}0 {leaf}" for a, leaf in zip(sub, leaves, strict=True)}
            else:
                return None
        system[m] = node
    out = {k: v for k, v in event.items() if k not in ("System", "EventData")}
    out["System"] = system
    out["EventData"] = {k: f"{_MARK}1 {j}" for j, k in enumerate(data)}
    return {k: out[k] for k in event}


def _plain(values: Iterable[Any]) -> bool:
    """Values DuckDB and orjson + cell() write the same: text, integers, booleans, null."""
    return all(v is None or v.__class__ in (str, int, bool) for v in values)


def _source(mark: Any) -> Source | None:
    if not (mark.__class__ is str and mark.startswith(_MARK)):
        return None
    which, index = mark[1:].split(" ")
    return int(which), int(index)


@dataclass
class _Structure:
    """What the representative of one structure hash says about all its events."""

    accepted: bool  # an Event with a System object: every event of the structure is read (row numbers)
    struct: tuple[Any, ...] = ()  # data names and System layout (the layout key); () when not native
    n_sys: int = 0
    sources: tuple[Source, ...] = ()  # per layout column
    constants: tuple[Source | None, ...] = ()  # Channel, EventID, provider: source or absent
    kinds: tuple[Kind, ...] = ()


class _Native:
    """One :meth:`NativeBatch.finish` over DuckDB's answer."""

    def __init__(self, batch: NativeBatch, texts: list[str], out: pa.Table) -> None:
        self.batch = batch
        self.texts = texts
        s, e = out.column("s").combine_chunks(), out.column("e").combine_chunks()
        self.s_values, self.e_values = s.flatten(), e.flatten()
        s_off = np.asarray(s.offsets, dtype=np.int64)
        e_off = np.asarray(e.offsets, dtype=np.int64)
        self.s_start = s_off[:-1] - s_off[0]
        self.e_start, self.e_end = e_off[:-1] - e_off[0], e_off[1:] - e_off[0]
        h = out.column("h").to_numpy()
        _, first, gid = np.unique(h, return_index=True, return_inverse=True)
        self.gid: Ints = gid.reshape(-1)
        reps = [texts[r] for r in first]
        keys = _run(f"SELECT {_KEYS_SQL} AS k FROM events", reps).column("k").to_pylist()
        self.structures = [self._structure(int(r), k) for r, k in zip(first, keys, strict=True)]
        sizes = [len(f.originals) for f in batch.files]
        self.file_of: Ints = np.repeat(np.arange(len(sizes)), sizes)
        self.row_of: Ints = np.arange(len(texts)) - np.repeat(np.cumsum([0, *sizes[:-1]]), sizes)

    def _structure(self, row: int, keys: list[list[str] | None]) -> _Structure:
        """Parse the representative as it is and tagged; compare its values with DuckDB's."""
        try:
            obj = orjson.loads(self.texts[row])
        except orjson.JSONDecodeError:
            return _Structure(False)
        event = obj.get("Event") if obj.__class__ is dict else None
        system = event.get("System") if event.__class__ is dict else None
        if not (system.__class__ is dict and system):
            return _Structure(False)
        assert isinstance(event, dict)
        tagged = _tag(event)
        if tagged is None or keys != [_keys_at(obj, p) for p in KEY_PATHS]:  # duplicate keys differ
            return _Structure(True)
        parsed = parse_record(obj, self.batch.raw_fields)
        marked = parse_record({"Event": tagged}, self.batch.raw_fields)
        if isinstance(parsed, str) or isinstance(marked, str) or marked[0][3:] != parsed[0][3:]:
            return _Structure(True)
        key, sysvals, data = parsed
        sources = [_source(m) for m in (*marked[1], *marked[2])]
        constants = [None if t is None else _source(t) for t in marked[0][:3]]
        kinds = tuple(_kind(k) for k in key[:3])
        if (
            None in sources
            or False in kinds
            or any((t is None) != (c is None) for t, c in zip(marked[0][:3], constants, strict=True))
        ):
            return _Structure(True)
        st = _Structure(True, key[3:], len(sysvals), tuple(sources), tuple(constants), kinds)  # type: ignore[arg-type]
        got = [self._value(row, src) for src in st.sources]
        consts = [None if c is None else self._value(row, c) for c in st.constants]
        if got != [text_value(v) for v in (*sysvals, *data)] or consts != [cell(k) for k in key[:3]]:
            return _Structure(True)
        return st

    def _value(self, row: int, source: Source) -> str | None:
        which, index = source
        values, start = (self.s_values, self.s_start) if which == 0 else (self.e_values, self.e_start)
        out: str | None = values[int(start[row]) + index].as_py()
        return out

    def _column(self, rows: Ints, source: Source) -> pa.Array:
        which, index = source
        values, start = (self.s_values, self.s_start) if which == 0 else (self.e_values, self.e_start)
        return values.take(pa.array(start[rows] + index))

    def payload(self) -> Payload:
        files, raw_fields = self.batch.files, self.batch.raw_fields
        native = (
            np.array([bool(st.struct) for st in self.structures], dtype=bool)[self.gid] & ~self._suspects()
        )
        accepted = np.array([st.accepted for st in self.structures], dtype=bool)[self.gid]
        whole = np.zeros(len(files), dtype=bool)  # files read by Python from end to end
        whole[np.unique(self.file_of[~accepted])] = True
        parsed_rows: list[tuple[int, Parsed]] = []  # the other files' events left to Python
        for r in np.flatnonzero(~native & ~whole[self.file_of]):
            parsed = _parse(self.texts[r], raw_fields)
            if parsed is None or False in (_kind(k) for k in parsed[0][:3]):
                whole[self.file_of[r]] = True
            else:
                parsed_rows.append((int(r), parsed))
        native &= ~whole[self.file_of]
        self.batch.native_events = int(native.sum())
        layouts = Layouts()
        groups = self._groups(layouts, native, [(r, p) for r, p in parsed_rows if not whole[self.file_of[r]]])
        for file_id in np.flatnonzero(whole):
            _reparse(layouts, int(file_id), files[file_id], raw_fields)
        groups += layouts.groups  # the whole files' groups, made by the Python path
        groups.sort(key=lambda g: (g.file_id, int(g.rows[0])))
        return build(files, layouts.layouts, groups, self.batch.mapping)

    def _suspects(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Events with a value (one their layout reads) that DuckDB may write differently from orjson."""
        n = len(self.texts)
        flags = _suspect(self.e_values)
        counts = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
        out: np.ndarray[Any, np.dtype[np.bool_]] = counts[self.e_end] > counts[self.e_start]
        flags = _suspect(self.s_values)
        used = np.zeros((len(self.structures), len(SYSTEM_LEAVES)), dtype=bool)
        for g, st in enumerate(self.structures):
            used[g, [i for which, i in st.sources if which == 0]] = True
        return out | (flags.reshape(n, len(SYSTEM_LEAVES)) & used[self.gid]).any(axis=1)

    def _groups(
        self, layouts: Layouts, native: np.ndarray[Any, Any], parsed_rows: list[tuple[int, Parsed]]
    ) -> list[Group]:
        """The native events' columns as layout pieces, then the parsed events' values; every event's
        group: one per file, layout and constants (raw values, as a Python key compares them)."""
        n = len(self.texts)
        lid = np.full(n, -1, dtype=np.int64)
        rank = np.zeros(n, dtype=np.int64)
        const = np.zeros((n, 3), dtype=np.int64)
        ids: list[dict[tuple[Any, Any], int]] = [{}, {}, {}]
        for g in np.flatnonzero(np.bincount(self.gid[native], minlength=len(self.structures))):
            st = self.structures[g]
            rows = np.flatnonzero(native & (self.gid == g))
            layout_id = layouts.layout(st.struct, st.n_sys)
            layout = layouts.layouts[layout_id]
            layout.flush()
            layout.pieces.append([self._column(rows, src) for src in st.sources])
            lid[rows], rank[rows] = layout_id, layout.size + np.arange(len(rows))
            layout.size += len(rows)
            for c, (source, kind) in enumerate(zip(st.constants, st.kinds, strict=True)):
                const[rows, c] = self._constant_ids(rows, source, kind, ids[c])
        for r, parsed in parsed_rows:
            lid[r], rank[r] = layouts.place(parsed)
            for c, value in enumerate(parsed[0][:3]):
                normal = (None, None) if value is None else (_kind(value), str(value))
                const[r, c] = ids[c].setdefault(normal, len(ids[c]))
        rows = np.flatnonzero(lid >= 0)
        if not len(rows):
            return []
        codes = np.column_stack([self.file_of[rows], lid[rows], const[rows]])
        _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        values = [{v: k for k, v in d.items()} for d in ids]
        groups = []
        for members in np.split(rows[order], np.flatnonzero(np.diff(inverse[order])) + 1):
            r0 = int(members[0])
            raw = tuple(_raw(values[c][int(const[r0, c])]) for c in range(3))
            key = (*raw, *layouts.structs[int(lid[r0])])
            groups.append(
                Group(int(self.file_of[r0]), key, int(lid[r0]), self.row_of[members], rank[members])
            )
        del first
        return groups

    def _constant_ids(
        self, rows: Ints, source: Source | None, kind: Kind, ids: dict[tuple[Any, Any], int]
    ) -> Ints:
        """Each event's id for one constant: (kind, text) pairs, numbered in the order they are met."""
        if source is None or kind is None:
            return np.full(len(rows), ids.setdefault((None, None), len(ids)), dtype=np.int64)
        encoded = pc.dictionary_encode(self._column(rows, source))
        mapped = np.array(
            [ids.setdefault((kind, v), len(ids)) for v in encoded.dictionary.to_pylist()] or [0]
        )
        return mapped[np.asarray(encoded.indices.fill_null(0), dtype=np.int64)]


def _suspect(values: pa.Array) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Per value: may DuckDB's text of it differ from orjson + :func:`cell`'s?"""
    flags: np.ndarray[Any, np.dtype[np.bool_]] = np.asarray(
        pc.fill_null(pc.match_substring_regex(values, _SUSPECT), False), dtype=bool
    )
    long = pc.fill_null(pc.match_substring_regex(values, _LONG), False)
    if pc.any(long).as_py():
        at = np.flatnonzero(np.asarray(long, dtype=bool))
        texts = values.take(pa.array(at)).to_pylist()
        flags[at] |= [not -(2**63) <= int(t) < 2**64 for t in texts]
    return flags


def _raw(normal: tuple[Any, Any]) -> Any:
    kind, text = normal
    return int(text) if kind == "int" else text
