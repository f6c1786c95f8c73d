"""A finished batch of Windows events (:class:`Payload`) and the per-file results cut from it on demand.

:class:`~aptcatch.hunt.readers.winsegments.Batch` builds a payload: a few big Arrow arrays for a whole
batch of files. A worker process sends it to the parent pickled (protocol 5, the arrays out of band, see
:mod:`aptcatch.hunt.engines.parcel`); the file paths travel as text and the parent re-uses its own Path
objects (unpickling 17,000 Paths cost it 0.4 s). :meth:`Payload.results` then gives one
:class:`PayloadResult` per file whose table, originals and segments are zero-copy slices made when first
used: most results of a large hunt are only counted, their rules having run in a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, overload

import pyarrow as pa

from aptcatch.gc_pause import gc_paused
from aptcatch.hunt.readers.base import ROW, ReadResult, Segment, SegmentShape

_Members = list[tuple[int, dict[str, str], int, int]]  # file, constants, first row in shape, rows
_Entry = tuple[tuple[str, ...], list[int], pa.Array, _Members]


class ArrowStrings(Sequence[str]):
    """A read-only sequence of str over a slice of an Arrow string array (originals sent by a worker)."""

    def __init__(self, array: pa.Array) -> None:
        self._array = array

    def __len__(self) -> int:
        return len(self._array)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [str(v) for v in self._array[index].to_pylist()]
        return str(self._array[index].as_py())

    def __iter__(self) -> Iterator[str]:
        return iter(str(v) for v in self._array.to_pylist())


FileEntry = tuple[Path, str, int, int, list[str]]  # path, format, events, damaged records, errors
_Sent = tuple[Path | str, str, int, int, list[str]]  # the same; the path as text once it was pickled


class _Files(Sequence[FileEntry]):
    """The files of a payload that came pickled: its paths made on access, not when it was unpickled."""

    def __init__(self, sent: list[_Sent]) -> None:
        self._sent = sent

    def __len__(self) -> int:
        return len(self._sent)

    @overload
    def __getitem__(self, index: int) -> FileEntry: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[FileEntry]: ...
    def __getitem__(self, index: int | slice) -> FileEntry | Sequence[FileEntry]:
        if isinstance(index, slice):
            return [_entry(e) for e in self._sent[index]]
        return _entry(self._sent[index])


def _entry(sent: _Sent) -> FileEntry:
    path, fmt, n, bad, errors = sent
    return (path if isinstance(path, Path) else Path(path), fmt, n, bad, errors)


class Payload:
    """A finished batch: a few big Arrow tables and small per-file descriptions (cheap to pickle: the
    paths travel as text, and the receiver re-uses its own Path objects, see :meth:`results`).

    ``files``: per file, path, format, events, damaged records, errors; ``originals``: the raw texts,
    per file or (:meth:`compact`) as one array in batch row order; ``arrays``: per field name, the values
    of every shape that has it; ``shapes``: per shape, its names, the offset of each column in its
    name's array, the ``@row`` array and its segments (file, constants, first row in shape, rows);
    ``normal``: the normalised columns in batch row order.
    """

    def __init__(
        self,
        files: list[FileEntry],
        originals: list[list[str]] | pa.Array,
        arrays: dict[str, pa.Array],
        shapes: list[_Entry],
        normal: pa.Table,
    ) -> None:
        self._sent: list[_Sent] = list(files)
        self._files: Sequence[FileEntry] = files
        self.originals = originals
        self.arrays = arrays
        self.shapes = shapes
        self.normal = normal
        self._by_file: list[list[tuple[int, dict[str, str], int, int]]] | None = None
        self._tables: dict[int, pa.Table] = {}

    @property
    def files(self) -> Sequence[FileEntry]:
        return self._files

    @property
    def file_count(self) -> int:
        """How many files (``len(files)`` without making their paths)."""
        return len(self._sent)

    def __getstate__(self) -> dict[str, Any]:
        sent = [(str(path), fmt, n, bad, errors) for path, fmt, n, bad, errors in self._sent]
        state = {"originals": self.originals, "arrays": self.arrays, "shapes": self.shapes}
        return {**state, "files": sent, "normal": self.normal}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._sent = state["files"]
        self._files = _Files(self._sent)
        self.originals, self.arrays = state["originals"], state["arrays"]
        self.shapes, self.normal = state["shapes"], state["normal"]
        self._by_file, self._tables = None, {}

    def compact(self) -> Payload:
        """The originals as one Arrow array instead of many Python strings (before sending it away)."""
        if isinstance(self.originals, list):
            flat = [s for per_file in self.originals for s in per_file]
            self.originals = pa.array(flat, type=pa.large_string())
        return self

    def results(self, lazy: bool = False, paths: Sequence[Path] | None = None) -> list[ReadResult]:
        """One ReadResult per file, its table, originals and segments zero-copy slices of the batch's
        arrays, cut when first used (:class:`PayloadResult`).

        ``lazy``: each file's segments too are made when Sigma first asks for them (the shape tables
        once per payload): a result whose rules a worker already ran never needs them (2.4 s for the
        100 k segments of 500 k events). ``paths``: the receiver's own Path objects for the files, in
        order; one is used where it spells the file's path (a payload that came pickled then makes
        none), the others are made from the text when first asked for."""
        out: list[ReadResult] = []
        start = 0
        given = paths if paths is not None else ()
        with gc_paused():  # thousands of small results: a collection would walk everything alive
            for file_id, (path, fmt, n, bad, errors) in enumerate(self._sent):
                if file_id < len(given) and path.__class__ is str and str(given[file_id]) == path:
                    path = given[file_id]
                out.append(PayloadResult(self, file_id, start, n, path, fmt, bad, errors, lazy))
                start += n
        return out

    def segments_of(self, file_id: int) -> list[Segment]:
        """A file's segments: slices of the shape tables (each made once per payload)."""
        out = []
        for shape_id, constants, first, size in self._members()[file_id]:
            table = self._tables.get(shape_id)
            if table is None:
                table = self._tables[shape_id] = self._shape_table(shape_id)
            out.append(Segment(table.slice(first, size), constants))
        return out

    def shapes_of(self, file_id: int) -> list[SegmentShape]:
        """What :meth:`segments_of` would give, as shapes (no table made)."""
        return [
            SegmentShape(constants, tuple(self.shapes[shape_id][0]), size)
            for shape_id, constants, _first, size in self._members()[file_id]
        ]

    def _members(self) -> list[list[tuple[int, dict[str, str], int, int]]]:
        """Per file, its segments as (shape, constants, first row in shape, rows), in shape order."""
        if self._by_file is None:
            by_file: list[list[tuple[int, dict[str, str], int, int]]] = [[] for _ in self._sent]
            for shape_id, (_names, _offsets, _rows, members) in enumerate(self.shapes):
                for file_id, constants, first, size in members:
                    by_file[file_id].append((shape_id, constants, first, size))
            self._by_file = by_file
        return self._by_file

    def _shape_table(self, shape_id: int) -> pa.Table:
        names, offsets, rows, _members = self.shapes[shape_id]
        count = len(rows)
        columns = [self.arrays[n].slice(o, count) for n, o in zip(names, offsets, strict=True)]
        return pa.Table.from_arrays([*columns, rows], names=[*names, ROW])

    def originals_of(self, file_id: int, start: int, rows: int) -> Sequence[str]:
        if isinstance(self.originals, list):
            return self.originals[file_id]
        return ArrowStrings(self.originals.slice(start, rows))


class PayloadResult(ReadResult):
    """One file of a :class:`Payload`: ``table`` (a slice of the batch's normalised table),
    ``originals``, the segments and the path are made on first use, ``rows`` is known without them.

    Most results of a large hunt are only counted (their rules ran in a worker; the IOC sweep reads the
    files' tables one by one): cutting 17,000 files' slices up front cost the parent 0.3 s.
    """

    def __init__(
        self, payload: Payload, file_id: int, start: int, rows: int, path: Path | str, fmt: str, bad: int,
        errors: list[str], lazy: bool,
    ) -> None:  # fmt: skip
        self._payload, self._file_id, self._start, self._rows = payload, file_id, start, rows
        self._path = path
        self._table: pa.Table | None = None
        self._replaced = False
        self._originals: Sequence[str] | None = None
        self._cut_originals = True
        self.format, self.bad_lines, self.errors = fmt, bad, errors
        self.url_host: str | None = None
        self.segments: list[Segment] | None = None
        self.segment_source: Callable[[], list[Segment]] | None = None
        self._source = self.segment_source
        if lazy:  # the segments made by ReadResult.sigma_segments on first use
            self._source = self.segment_source = partial(payload.segments_of, file_id)
        else:
            self.segments = payload.segments_of(file_id)

    # ``path``, ``table`` and ``originals`` are dataclass fields of ReadResult; here properties.
    @property
    def path(self) -> Path:
        if not isinstance(self._path, Path):
            self._path = Path(self._path)
        return self._path

    @path.setter
    def path(self, value: Path) -> None:
        self._path = value

    @property
    def table(self) -> pa.Table:
        if self._table is None:
            self._table = self._payload.normal.slice(self._start, self._rows)
        return self._table

    @table.setter
    def table(self, value: pa.Table) -> None:
        self._table = value
        self._replaced = True

    def shared_table(self) -> tuple[pa.Table, int] | None:
        """The batch's normalised table and this file's first row in it (unless a table was set)."""
        return None if self._replaced else (self._payload.normal, self._start)

    def shared_originals(self) -> tuple[pa.Array, int] | None:
        """The batch's originals when they are one Arrow array (a payload from a worker), and this
        file's first row in it (unless originals were set)."""
        texts = self._payload.originals
        if not self._cut_originals or not isinstance(texts, (pa.Array, pa.ChunkedArray)):
            return None
        return texts, self._start

    @property
    def originals(self) -> Sequence[str] | None:
        if self._cut_originals:
            self._originals = self._payload.originals_of(self._file_id, self._start, self._rows)
            self._cut_originals = False
        return self._originals

    @originals.setter
    def originals(self, value: Sequence[str] | None) -> None:
        self._originals, self._cut_originals = value, False

    @property
    def rows(self) -> int:
        return self._rows if self._table is None else int(self._table.num_rows)

    def sigma_shapes(self) -> list[SegmentShape]:
        """The shapes of the segments, from the payload while they are not made (none is made here)."""
        if self.segments is None and self.segment_source is not None and self.segment_source is self._source:
            return self._payload.shapes_of(self._file_id)
        return super().sigma_shapes()
