"""Squid native access logs cut in C: the lazy read's table (:data:`~aptcatch.hunt.readers.duck.STATE`,
``source.ip``, ``destination.ip``, ``url.full``, ``url.domain``) without DuckDB's per-line SQL.

Why: the SQL form of the native layout costs 3.6x DuckDB's bare CSV scan of the same file, most of it
the line's shape (one regular expression over every line) and the split into fields; the reasons and
figures are in ``_winfast_squid.c`` and BENCHMARKS.md. The C function ``_winfast.squid_native`` cuts one
byte range of the file, without the GIL, so the ranges run on every core in threads.

What stays exact: the C side handles only lines of printable ASCII and tabs and computes the SQL's
rules on them. Every other line (non-ASCII text, control bytes) comes back as *slow* and the reader's
own SQL runs on it here, so its state and columns are the SQL's by construction. Lines end at
``\\n``, or at ``\\r\\n`` when the first line ends so (DuckDB then wants every line to). A file that
DuckDB cuts into lines otherwise (a byte-order mark, any other carriage return, the delimiter's
``\\x01``, a line of DuckDB's limit or longer, a line that is not UTF-8, which DuckDB rejects) is
refused as a whole (:func:`observed` returns None) and read by SQL as before: the line
positions the lazy result keeps must be the ones DuckDB's later scans of the file give.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from aptcatch.cores import available_cores
from aptcatch.hunt.readers import duck
from aptcatch.hunt.readers.duck import STATE, connect

try:
    from aptcatch.hunt.readers import _winfast
except ImportError:  # not built: the SQL reads every file
    _winfast = None  # type: ignore[assignment]

COLUMNS = ("source.ip", "destination.ip", "url.full", "url.domain")  # after STATE, as the SQL gives them
CHUNK = 32 * 2**20  # bytes per range: ranges are what threads share out, and bound each range's memory
MAX_RANGE = 2**30  # the C side refuses a range this long (one line of ~1 GiB; DuckDB rejects it anyway)
BOM = b"\xef\xbb\xbf"  # DuckDB drops it from the first line
MAX_SLOW = 0.25  # above this share of a range's lines going to the SQL one by one, the SQL reads it all


def available() -> bool:
    """Whether the C cut can run here: the extension imports, ``APTCATCH_NO_C`` is not set, and the OS
    has ``pread``/``preadv`` (not Windows, where the extension may still be built for the EVTX reader)."""
    positioned = hasattr(os, "pread") and hasattr(os, "preadv")
    return _winfast is not None and positioned and not os.environ.get("APTCATCH_NO_C")


def _newline(fd: int, at: int, size: int, limit: int) -> int | None:
    """The offset of the first ``\\n`` at or after ``at`` in the open file ``fd`` (``size`` bytes): -1
    when the file ends first, None when none comes before offset ``limit``."""
    while at < size:
        if at >= limit:
            return None
        block = os.pread(fd, 1 << 16, at)
        if not block:
            break
        nl = block.find(b"\n")
        if nl >= 0:
            return at + nl
        at += len(block)
    return -1


def ranges(fd: int, size: int, chunk: int = CHUNK) -> list[tuple[int, int]] | None:
    """Byte ranges of the open file ``fd`` of about ``chunk`` bytes that end after a newline (the last
    one at the end of the file); None when one would reach :data:`MAX_RANGE`."""
    out, start = [], 0
    while start < size:
        stop = min(start + chunk, size)
        if stop < size:  # the range ends with the line that holds its last byte
            nl = _newline(fd, stop - 1, size, start + MAX_RANGE)
            if nl is None:
                return None
            stop = size if nl < 0 else nl + 1
        if stop - start >= MAX_RANGE:
            return None
        out.append((start, stop))
        start = stop
    return out


def _array(spec: tuple[int, int, Any, Any, Any]) -> pa.Array:
    length, nulls, validity, offsets, data = spec
    bufs = [None if validity is None else pa.py_buffer(validity), pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), length, bufs, null_count=nulls)


_LOCAL = threading.local()  # each worker thread's read buffer, reused from range to range


def _buffer(size: int) -> bytearray:
    buf: bytearray | None = getattr(_LOCAL, "buf", None)
    if buf is None or len(buf) < size:
        buf = _LOCAL.buf = bytearray(size)
    return buf


def _crlf(fd: int, size: int) -> bool | None:
    """Whether the first line ends with ``\\r\\n`` (DuckDB then cuts every line there); None when it is
    at least DuckDB's line limit long (the SQL reads the file)."""
    nl = _newline(fd, 0, size, duck.MAX_LINE + 1)
    if nl is None:
        return None
    return nl > 0 and os.pread(fd, 1, nl - 1) == b"\r"


def _cut(fd: int, start: int, stop: int, crlf: bool = False) -> tuple[tuple[Any, ...], list[str]] | None:
    """One range read and cut (in a worker thread: the read and the cut run without the GIL), with the
    texts of its slow lines; None when the SQL must read the file."""
    size = stop - start
    view = memoryview(_buffer(size))[:size]
    if os.preadv(fd, [view], start) != size:  # the file changed under the read
        return None
    cut = _winfast.squid_native(view, 0, size, duck.MAX_LINE, crlf)  # the limit DuckDB's scans use
    if cut[0] != 0:
        return None
    texts = []
    if cut[4] is not None:
        slow = np.frombuffer(cut[4], dtype=np.int64).reshape(-1, 3)
        if len(slow) > MAX_SLOW * cut[1]:  # mostly lines for the SQL: the SQL reads the file at once
            return None
        for _line, a, b in slow.tolist():
            try:
                texts.append(bytes(view[a:b]).decode("utf-8"))
            except UnicodeDecodeError:  # DuckDB rejects the line, and numbers the others without it
                return None
    return cut, texts


def observed(path: Path, select: str) -> tuple[pa.Table, list[tuple[int, str]], bool] | None:
    """The lazy read of a native Squid log as ``query_lines`` would give it (the table of ``select``
    over every line, no rejected line, DuckDB-cut), or None when the SQL must read the file.

    Each range is read with ``preadv`` into its thread's buffer (not mapped: memory stays bounded by
    the ranges in flight whatever the file's size, and a file truncated under the read, as a rotated
    log can be, gives a short read, not a fault)."""
    if not available():
        return None
    with path.open("rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, len(BOM), 0) == BOM:
            return None
        crlf = _crlf(fd, size)
        if crlf is None:
            return None
        parts = ranges(fd, size)
        if parts is None:
            return None
        with ThreadPoolExecutor(min(available_cores(), len(parts))) as pool:
            cuts = list(pool.map(lambda r: _cut(fd, r[0], r[1], crlf), parts))
    if any(c is None for c in cuts):
        return None
    done = [c for c in cuts if c is not None]
    return _assemble([c[0] for c in done], [c[1] for c in done], select), [], True


def _slow_table(texts: Sequence[str], select: str) -> pa.Table:
    """The reader's SQL over these lines."""
    con = connect()
    try:
        con.register("__slow", pa.table({"line": pa.array(texts, type=pa.string())}))
        table = con.sql(f"WITH l AS (SELECT line FROM __slow) {select}").to_arrow_table()
    finally:
        con.close()
    if tuple(table.column_names) != (STATE, *COLUMNS):
        raise RuntimeError(f"the Squid SQL gives {table.column_names}, the C cut {[STATE, *COLUMNS]}")
    return table


def _assemble(cuts: list[Any], slow_texts: list[list[str]], select: str) -> pa.Table:
    """One table from the ranges' cuts, each slow line's state and columns taken from the SQL."""
    every = [t for texts in slow_texts for t in texts]
    sql = _slow_table(every, select)  # also run on no line: it checks the columns match
    states: list[np.ndarray[Any, Any]] = []
    columns: dict[str, list[pa.Array]] = {name: [] for name in COLUMNS}
    taken = 0
    for cut, texts in zip(cuts, slow_texts, strict=True):
        lines = cut[1]
        state = np.frombuffer(cut[2], dtype=np.uint8, count=lines).astype(np.int32)
        arrays = [_array(spec) for spec in cut[3]]
        if texts:
            at = np.frombuffer(cut[4], dtype=np.int64).reshape(-1, 3)[:, 0]
            part = sql.slice(taken, len(texts))
            taken += len(texts)
            state[at] = part.column(STATE).to_numpy()
            index = np.arange(lines, dtype=np.int64)
            index[at] = lines + np.arange(len(texts), dtype=np.int64)
            arrays = [
                pa.concat_arrays([arr, part.column(name).combine_chunks().cast(pa.string())]).take(index)
                for arr, name in zip(arrays, COLUMNS, strict=True)
            ]
        states.append(state)
        for name, arr in zip(COLUMNS, arrays, strict=True):
            columns[name].append(arr)
    table = {STATE: pa.array(np.concatenate(states) if states else np.zeros(0, np.int32))}
    table.update({name: pa.chunked_array(columns[name], type=pa.string()) for name in COLUMNS})
    return pa.table(table)
