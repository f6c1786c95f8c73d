"""DuckDB-native reading of line-based logs: DuckDB scans the file, SQL cuts and normalises the fields.

Every line-based reader (Squid, Zeek JSON/TSV) starts from :func:`lines_sql`: the file read by DuckDB's
CSV scanner as one VARCHAR column (a four-byte delimiter no log contains, no quoting). Lines DuckDB
cannot return (not UTF-8, longer than :data:`MAX_LINE`) are recorded in its rejects table with their line
number and counted as bad lines. The reader's SQL returns one row per returned line, blank ones
included, with a :data:`STATE` (an event, a line that is no event such as a blank or comment line, or a
bad line) and the normalised columns.

No line is numbered in SQL: a window such as ``row_number() OVER ()`` runs on one thread and holds the
pipeline in order. The query is a plain scan and projection instead, which DuckDB runs on every core and
returns in file order (``preserve_insertion_order``, set on the reader connection), so a row's position
in the result is its line's ordinal among the returned lines. The table keeps the events; ``ordinals``
remembers their positions only when some lines were dropped.

The raw text of an event (``event.original``) and the raw source fields Sigma needs are not copied into
memory: :class:`LineResult` reads them back from the file on demand (``original(rows)`` for the few
alerted rows, ``sigma_segments()`` when Sigma runs), by position, streaming the lines once.

DuckDB's strict CSV parser stops at a carriage return that does not end a line the way the first lines
do (a stray ``\\r`` in an LF file, an LF line in a CRLF file), and its non-strict mode cuts such files
erratically (a line can vanish). Such a file is cut here instead, on ``\\n`` alone with one ``\\r``
before it dropped (what ``grep`` and ``wc -l`` count as lines), undecodable lines counted as DuckDB
counts them; the reader's SQL then runs over those lines. It is the rare path and reads the file in
Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
import pyarrow as pa

from aptcatch.hunt.readers.base import NORMALISED, ReadResult, Segment, SegmentShape

DELIM = "\x01\x02\x03\x04"  # never in a log line; a line that has it is rejected (counted), not split
MAX_LINE = 16 * 2**20
# DuckDB scans a CSV file one buffer per thread; its default buffer (16 lines of MAX_LINE, 256 MiB)
# would scan any file below that size on one thread
BUFFER = 2 * MAX_LINE
MAX_ERRORS = 20
STATE = "__state"  # result column: EVENT, SKIP (blank or comment line) or BAD
EVENT, SKIP, BAD = 0, 1, 2
STREAM_BATCH = 1 << 20  # lines per Arrow batch when lines are read back

# SQL helpers shared by the readers (DuckDB macros, created on every reader connection).
MACROS = r"""
CREATE OR REPLACE MACRO txt(v) AS CASE WHEN v IN ('', '-', '(empty)') THEN NULL ELSE v END;
CREATE OR REPLACE MACRO iso_epoch(v) AS CASE
  WHEN TRY_CAST(v AS DOUBLE) BETWEEN -62135596800 AND 253402300799
  THEN strftime(make_timestamp(CAST(round(TRY_CAST(v AS DOUBLE) * 1e6) AS BIGINT)), '%Y-%m-%dT%H:%M:%S.%gZ')
  ELSE txt(v) END;
CREATE OR REPLACE MACRO host_of(h) AS CASE
  WHEN starts_with(h, '[') THEN CASE WHEN contains(h, ']') THEN lower(substr(h, 2, strpos(h, ']') - 2)) END
  WHEN contains(h, ':') THEN nullif(lower(left(h, strpos(h, ':') - 1)), '')
  ELSE nullif(lower(h), '') END;
CREATE OR REPLACE MACRO blank(l) AS CASE
  WHEN l IS NULL THEN true
  WHEN l = '' OR starts_with(l, ' ') OR starts_with(l, chr(9)) OR suffix(l, chr(13))
  THEN trim(l, ' ' || chr(9) || chr(13) || chr(11) || chr(12)) = ''
  ELSE false END;
CREATE OR REPLACE MACRO first_of(v) AS CASE
  WHEN starts_with(v, '[') THEN txt(json_extract_string(v, '$[0]')) ELSE txt(split_part(v, ',', 1)) END;
"""


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def jpath(key: str) -> str:
    """A JSON path naming one top-level key (dots in Zeek names such as ``id.orig_h`` kept literal)."""
    return "$." + '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


_DATABASE: Any = None


def connect() -> Any:
    """A private connection (its rejects tables are this read's) to one in-memory database with the
    reader macros. A new DuckDB database costs ~30 ms and the macros ~10 ms; a cursor on the shared
    one costs microseconds, which matters for folders of many small logs."""
    import duckdb

    global _DATABASE
    if _DATABASE is None:
        db = duckdb.connect()
        db.execute(MACROS)
        # the readers take a row's position in a result as its line: results must come in file order
        db.execute("SET preserve_insertion_order = true")
        _DATABASE = db
    return _DATABASE.cursor()


def with_hostport(source: str, url: str) -> str:
    """``source`` with a column ``hp``: the host and port of the URL in column ``url`` (the text after the
    first ``://`` up to ``/``, ``?`` or ``#``, then after the last ``@``), each cut in its own projection
    with ``strpos``/``left``: ``split_part`` builds a list on every call, which cost more than the rest
    of a Squid line's parsing."""
    sql = f"(SELECT *, substr({url}, strpos({url}, '://') + 3) AS __h0 FROM {source})"
    for i, ch in enumerate("/?#"):
        h, cut = f"__h{i}", f"left(__h{i}, strpos(__h{i}, '{ch}') - 1)"
        expr = f"CASE WHEN contains({h}, '{ch}') THEN {cut} ELSE {h} END"
        sql = f"(SELECT * EXCLUDE ({h}), {expr} AS __h{i + 1} FROM {sql})"
    user = "split_part(__h3, '@', -1)"
    return (
        f"(SELECT * EXCLUDE (__h3), CASE WHEN contains(__h3, '@') THEN {user} ELSE __h3 END AS hp FROM {sql})"
    )


def lines_sql(path: Path) -> str:
    """The file as rows ``(line)``: every line DuckDB can return, blank ones included, in file order."""
    return (
        f"read_csv({sql_str(str(path))}, columns={{'line': 'VARCHAR'}}, delim={sql_str(DELIM)}, quote='',"
        f" escape='', header=false, auto_detect=false, max_line_size={MAX_LINE}, buffer_size={BUFFER},"
        " store_rejects=true)"
    )


def cut_lines(path: Path) -> tuple[pa.Table, list[tuple[int, str]]]:
    """The file cut on ``\\n`` (one ``\\r`` before it dropped) as a table ``(line)``, and the lines that are
    not UTF-8 or longer than :data:`MAX_LINE` (number, reason), which are left out as DuckDB leaves them."""
    lines: list[str] = []
    rejected: list[tuple[int, str]] = []
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            raw = raw[:-1] if raw.endswith(b"\n") else raw
            raw = raw[:-1] if raw.endswith(b"\r") else raw
            if len(raw) >= MAX_LINE:  # DuckDB rejects a line of max_line_size bytes too
                rejected.append((n, "LINE SIZE OVER MAXIMUM"))
                continue
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                rejected.append((n, "INVALID ENCODING"))
    return pa.table({"line": pa.array(lines, type=pa.string())}), rejected


def query_lines(
    path: Path, run: Callable[[Any, str], Any], strict: bool = True
) -> tuple[Any, list[tuple[int, str]], bool]:
    """``run(con, lines)`` on a fresh connection, ``lines`` a relation of the file's lines in file order:
    DuckDB's CSV scan (:func:`lines_sql`), or, when its strict parser cannot cut the file or ``strict`` is
    false, :func:`cut_lines`. Returns what ``run`` returned, the rejected lines and whether DuckDB cut
    the file."""
    import duckdb

    if strict:
        con = connect()
        try:
            return run(con, lines_sql(path)), rejected_lines(con), True
        except duckdb.InvalidInputException as exc:
            if "state machine" not in str(exc):
                raise
        finally:
            con.close()
    table, rejected = cut_lines(path)
    con = connect()
    try:
        con.register("__lines", table)
        return run(con, "__lines"), rejected, False
    finally:
        con.close()


def rejected_lines(con: Any) -> list[tuple[int, str]]:
    """File line numbers and reasons of the lines DuckDB could not return in this connection's reads."""
    try:
        rows = con.execute("SELECT DISTINCT line, error_type FROM reject_errors ORDER BY line").fetchall()
    except Exception:  # no rejects table: nothing rejected
        return []
    return [(int(n), str(kind)) for n, kind in rows]


def file_lines(ordinals: np.ndarray[Any, Any], rejected: Sequence[int]) -> np.ndarray[Any, Any]:
    """Ordinals (1-based, among the rows DuckDB returned) as file line numbers, the rejected lines skipped."""
    if not rejected:
        return ordinals
    r = np.asarray(sorted(rejected), dtype=np.int64)
    survivors_before = r - np.arange(1, len(r) + 1)  # rows returned before each rejected line
    return ordinals + np.searchsorted(survivors_before, ordinals, side="left")


@dataclass
class LineResult(ReadResult):
    """A :class:`ReadResult` of a line-based file whose originals and raw fields stay in the file.

    ``ordinals`` gives each table row its line (1-based ordinal among the lines DuckDB returns, stable
    across reads of the same file); None when every returned line is a row (row ``i`` is line ``i + 1``).
    ``strict`` is whether DuckDB's CSV scan cut the file (else :func:`cut_lines`, see the module notes).
    ``raw_reader`` builds the Sigma segments on first use.

    Lazy (``full_select`` set): the reader kept only the :data:`~aptcatch.hunt.readers.base.OBSERVED`
    columns it fills, which is all the IOC sweep reads (:meth:`observed`); ``table`` runs
    ``full_select`` over the file when first asked for, and :meth:`take` runs it over the wanted lines
    only (the alert columns of a few hit rows cost a scan of the lines, not the full table).
    ``computed`` are the columns the lazy read filled (the others of ``_observed`` are all NULL), and
    ``filled`` the columns of the full table that hold a value on every event (with that one value, or
    None when it varies): with them :meth:`sigma_shapes` answers without the full table.
    """

    ordinals: np.ndarray[Any, Any] | None = None
    strict: bool = True
    raw_reader: Callable[[LineResult], list[Segment]] | None = None
    full_select: str | None = None
    share: dict[str, str] | None = None
    computed: frozenset[str] = frozenset()
    filled: Mapping[str, str | None] | None = None
    _observed: pa.Table = field(init=False, repr=False)
    _full: pa.Table | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.originals is None:
            self.originals = _LazyOriginals(self)

    # ``table`` is a dataclass field of ReadResult; here a property, so that a lazy result builds it once.
    @property  # type: ignore[misc]
    def table(self) -> pa.Table:
        if self._full is None:
            self._full = self._build_full()
        return self._full

    @table.setter
    def table(self, value: pa.Table) -> None:
        self._observed, self._full = value, None

    @property
    def rows(self) -> int:
        return int(self._observed.num_rows)

    def observed(self) -> pa.Table:
        return self._observed if self._full is None else self._full

    def _build_full(self) -> pa.Table:
        if self.full_select is None:
            return self._observed
        table = self.scan_lines(self.full_select, self.positions(), kept=True)
        if table.num_rows != self.rows:
            raise RuntimeError(
                f"{self.path} changed since it was read ({table.num_rows} events, were {self.rows})"
            )
        return normalised_table(table, self.share)

    def take(self, rows: Sequence[int], columns: Sequence[str]) -> pa.Table:
        if self._full is not None or self.full_select is None or not len(rows):
            return super().take(rows, columns)
        wanted = self.positions(rows)
        unique = np.unique(wanted)
        lines = self.scan_lines("SELECT line FROM l", unique)
        con = connect()
        try:
            con.register("__picked", lines)
            table = con.sql(f"WITH l AS (SELECT line FROM __picked) {self.full_select}").to_arrow_table()
        finally:
            con.close()
        if not (table.column(STATE).to_numpy() == EVENT).all():
            raise RuntimeError(f"{self.path} changed since it was read")
        table = normalised_table(table.drop_columns([STATE]), self.share)
        names = [c for c in columns if c in table.column_names]
        return table.select(names).take(pa.array(np.searchsorted(unique, wanted)))

    def positions(self, rows: Sequence[int] | np.ndarray[Any, Any] | None = None) -> np.ndarray[Any, Any]:
        """0-based positions among the returned lines of these table rows (all rows when None)."""
        picked = np.arange(self.rows, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        return picked if self.ordinals is None else self.ordinals[picked] - 1

    def scan_lines(self, select: str, positions: np.ndarray[Any, Any], kept: bool = False) -> pa.Table:
        """``select`` (over relation ``l(line)``, a plain projection) at the given sorted positions.
        ``kept``: ``select`` returns :data:`STATE` first; its events are kept, without that column."""

        def run(con: Any, lines: str) -> pa.Table:
            reader = con.sql(f"WITH l AS (SELECT line FROM {lines}) {select}").to_arrow_reader(STREAM_BATCH)
            if kept and self.ordinals is None:  # every line an event (else the positions say which)
                return pa.Table.from_batches(list(reader), reader.schema).drop_columns([STATE])
            table = pick(reader, positions)
            return table.drop_columns([STATE]) if kept else table

        return query_lines(self.path, run, self.strict)[0]

    def original(self, rows: Sequence[int]) -> list[str | None]:
        if not rows or self.rows == 0:
            return [None] * len(rows)
        wanted = self.positions(rows)
        unique = np.unique(wanted)
        lines = self.scan_lines("SELECT line FROM l", unique).column(0).to_pylist()
        at = np.searchsorted(unique, wanted)
        return [lines[i] for i in at.tolist()]

    def sigma_segments(self) -> list[Segment]:
        if self.segments is None and self.raw_reader is not None:
            self.segments = self.raw_reader(self)
        return super().sigma_segments()

    def sigma_shapes(self) -> list[SegmentShape]:
        """The table's segment (the normalised columns that hold a value): a column the lazy read
        filled is in it when it holds a value, one of ``filled`` when there are events, any other the
        full select makes is uncertain. Without the full table, which stays unbuilt."""
        if self.raw_reader is not None or self.segments is not None or self.segment_source is not None:
            return [SegmentShape.of(s) for s in self.sigma_segments()]
        if self._full is not None or self.full_select is None or self.filled is None:
            return self._table_shapes()
        con = connect()
        try:  # the full select's columns, bound over no lines (nothing is read)
            made = con.sql(f"WITH l AS (SELECT NULL::VARCHAR AS line WHERE false) {self.full_select}").columns
        finally:
            con.close()
        share = self.share or {}
        made = [c for c in made if c != STATE]
        produced = set(made) | {n for n, src in share.items() if src in made}
        names = [n for n in NORMALISED if n in produced] + [n for n in made if n not in NORMALISED]
        columns, uncertain, rows = [], set(), self.rows
        for name in names:
            if name == "event.original":
                continue
            if name in self.computed:
                if self._observed.column(name).null_count < rows:
                    columns.append(name)
            elif name in self.filled:
                if rows:
                    columns.append(name)
            else:
                columns.append(name)
                uncertain.add(name)
        values = {k: v for k, v in self.filled.items() if v is not None and k in columns}
        return [SegmentShape({}, tuple(columns), rows, frozenset(uncertain), values)]


def pick(reader: pa.RecordBatchReader, positions: np.ndarray[Any, Any]) -> pa.Table:
    """The rows at ``positions`` (sorted, 0-based) of a stream of record batches, in that order."""
    parts, start = [], 0
    for batch in reader:
        lo, hi = np.searchsorted(positions, [start, start + batch.num_rows])
        if hi > lo:
            parts.append(batch.take(pa.array(positions[lo:hi] - start)))
        start += batch.num_rows
    if not parts:
        return reader.schema.empty_table()
    return pa.Table.from_batches(parts)


class _LazyOriginals(Sequence[str]):
    """``originals`` of a :class:`LineResult`: per-row access reads the line back (batch: ``original``)."""

    def __init__(self, result: LineResult) -> None:
        self._result = result

    def __len__(self) -> int:
        return self._result.rows

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [v or "" for v in self._result.original(list(range(len(self)))[index])]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._result.original([index])[0] or ""

    def __iter__(self) -> Iterator[str]:
        return iter(v or "" for v in self._result.original(list(range(len(self)))))


def run_lines(
    path: Path,
    fmt: str,
    select: str,
    describe: str,
    raw_reader: Callable[[LineResult], list[Segment]] | None = None,
    share: dict[str, str] | None = None,
    url_host: str | None = None,
    observed: str | None = None,
    filled: Mapping[str, str | None] | None = None,
    cut: Callable[[Path, str], tuple[pa.Table, list[tuple[int, str]], bool] | None] | None = None,
) -> LineResult:
    """Run a reader's ``select`` (over relation ``l(line)``: every returned line) into a result.

    ``select`` returns :data:`STATE` and normalised or raw columns, one row per line in file order: a
    plain projection, nothing that reorders (no join, aggregate or window). Lines in state BAD are
    counted with ``describe`` as the error text. ``observed``, when given, is the same projection
    reduced to :data:`STATE` and the observed columns (the same state for every line): it is what is
    run, and ``select`` only when the full table is asked for (a lazy :class:`LineResult`). ``filled``
    names the columns of ``select`` that hold a value on every event (the value, or None when it varies),
    for :meth:`LineResult.sigma_shapes`. ``cut``, when given, is the reader's own way to the table of
    the query that is run (``query_lines``' result, or None to leave the file to the SQL).
    """
    query = observed or select

    def run(con: Any, lines: str) -> pa.Table:
        return con.sql(f"WITH l AS (SELECT line FROM {lines}) {query}").to_arrow_table()

    fast = cut(path, query) if cut is not None else None
    table, rejected, strict = fast if fast is not None else query_lines(path, run)
    result = finish(path, fmt, table, describe, rejected, raw_reader, share, strict, url_host)
    if observed is not None:
        made = set(table.column_names) - {STATE}
        computed = made | {n for n, src in (share or {}).items() if src in made}
        result.full_select, result.share, result.filled = select, share, filled
        result.computed = frozenset(computed)
    return result


def finish(
    path: Path,
    fmt: str,
    table: pa.Table,
    describe: str,
    rejected: Sequence[tuple[int, str]],
    raw_reader: Callable[[LineResult], list[Segment]] | None = None,
    share: dict[str, str] | None = None,
    strict: bool = True,
    url_host: str | None = None,
) -> LineResult:
    """Keep the event rows, count and name the bad lines, add the missing normalised columns."""
    state = table.column(STATE).to_numpy()
    table = table.drop_columns([STATE])
    ordinals = None
    if len(state) and (state != EVENT).any():
        ordinals = np.flatnonzero(state == EVENT).astype(np.int64) + 1
        table = table.take(pa.array(ordinals - 1))
    bad = np.flatnonzero(state == BAD) + 1
    reject_at = [n for n, _ in rejected]
    errors: list[tuple[int, str]] = [(n, f"line {n}: {kind.lower()}") for n, kind in rejected]
    if len(bad):
        lines = file_lines(bad[:MAX_ERRORS].astype(np.int64), reject_at)
        errors += [(int(n), f"line {n}: {describe}") for n in lines]
    return LineResult(
        path,
        fmt,
        normalised_table(table, share),
        len(bad) + len(rejected),
        [e for _, e in sorted(errors)[:MAX_ERRORS]],
        ordinals=ordinals,
        strict=strict,
        raw_reader=raw_reader,
        url_host=url_host,
    )


def normalised_table(table: pa.Table, share: dict[str, str] | None = None) -> pa.Table:
    """Every normalised column (in order, NULL when absent), then the other columns as they came.

    ``share`` names normalised columns that are the same values as another column: the column is
    referenced twice, not copied. The absent columns are one all-NULL array, referenced under each name
    (a fresh one per name cost 20 MiB of zeroed offsets per 5 M rows each).
    """
    cols: dict[str, pa.ChunkedArray | pa.Array] = {}
    names = set(table.column_names)
    nulls: pa.Array | None = None
    for name in NORMALISED:
        if name in names:
            cols[name] = _as_string(table.column(name))
        elif share and share.get(name) in names:
            cols[name] = _as_string(table.column(share[name]))
        else:
            nulls = pa.nulls(table.num_rows, pa.string()) if nulls is None else nulls
            cols[name] = nulls
    for name in table.column_names:
        if name not in cols:
            cols[name] = _as_string(table.column(name))
    return pa.table(cols)


def _as_string(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if col.type == pa.string():
        return col
    return col.cast(pa.string())
