"""DuckDB-native reading of line-based logs: DuckDB scans the file, SQL cuts and normalises the fields.

Every line-based reader (Squid, Zeek JSON/TSV, generic JSON lines) starts from :func:`lines_sql`: the
file read by DuckDB's CSV scanner as one VARCHAR column (a four-byte delimiter no log contains, no
quoting), numbered by a streaming ``row_number()`` so each row keeps its line. Blank lines come back as
rows (NULL or white space) and keep the numbering; lines DuckDB cannot return (not UTF-8, longer than
:data:`MAX_LINE`, containing the delimiter) are recorded in its rejects table with their line number and
counted as bad lines. The reader's SQL then returns one row per non-blank line with an ``__ok`` flag, so
one parallel pass yields the normalised columns, the bad lines and their numbers.

The raw text of an event (``event.original``) and the raw source fields Sigma needs are not copied into
memory: :class:`LineResult` reads them back from the file on demand (``original(rows)`` for the few
alerted rows, ``sigma_segments()`` when Sigma runs), by line number, in one DuckDB pass each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aptcatch.hunt.readers.base import NORMALISED, ReadResult, Segment

DELIM = "\x01\x02\x03\x04"  # never in a log line; a line that has it is rejected (counted), not split
MAX_LINE = 16 * 2**20
MAX_ERRORS = 20
LINE = "__line"  # result column: the line's ordinal among the rows DuckDB returned
OK = "__ok"  # result column: false for a bad line (its other columns are ignored)

# SQL helpers shared by the readers (DuckDB macros, created on every reader connection).
MACROS = r"""
CREATE OR REPLACE MACRO txt(v) AS CASE WHEN v IN ('', '-', '(empty)') THEN NULL ELSE v END;
CREATE OR REPLACE MACRO iso_epoch(v) AS CASE
  WHEN TRY_CAST(v AS DOUBLE) BETWEEN -62135596800 AND 253402300799
  THEN strftime(make_timestamp(CAST(round(TRY_CAST(v AS DOUBLE) * 1e6) AS BIGINT)), '%Y-%m-%dT%H:%M:%S.%gZ')
  ELSE txt(v) END;
CREATE OR REPLACE MACRO url_hostport(u) AS
  split_part(split_part(split_part(substr(u, strpos(u, '://') + 3), '/', 1), '?', 1), '#', 1);
CREATE OR REPLACE MACRO host_of(h) AS CASE
  WHEN starts_with(h, '[') THEN CASE WHEN contains(h, ']') THEN lower(substr(h, 2, strpos(h, ']') - 2)) END
  ELSE nullif(lower(split_part(h, ':', 1)), '') END;
CREATE OR REPLACE MACRO url_domain_hp(u, hp) AS
  CASE WHEN contains(u, '://') THEN host_of(split_part(hp, '@', -1)) END;
CREATE OR REPLACE MACRO blank(l) AS CASE
  WHEN l IS NULL THEN true
  WHEN l = '' OR starts_with(l, ' ') OR starts_with(l, chr(9)) OR suffix(l, chr(13))
  THEN trim(l, ' ' || chr(9) || chr(13) || chr(11) || chr(12)) = ''
  ELSE false END;
CREATE OR REPLACE MACRO first_of(v) AS CASE
  WHEN starts_with(v, '[') THEN txt(json_extract_string(v, '$[0]')) ELSE txt(split_part(v, ',', 1)) END;
CREATE OR REPLACE MACRO jtxt(j) AS txt(CASE json_type(j)
  WHEN 'ARRAY' THEN nullif(array_to_string(
      list_filter(list_transform(CAST(j AS JSON[]), lambda e: CASE json_type(e)
        WHEN 'VARCHAR' THEN json_extract_string(e, '$') WHEN 'NULL' THEN NULL
        WHEN 'DOUBLE' THEN CASE WHEN CAST(e AS DOUBLE) = round(CAST(e AS DOUBLE))
          AND abs(CAST(e AS DOUBLE)) < 9007199254740992 THEN CAST(CAST(e AS DOUBLE) AS BIGINT)::VARCHAR
          ELSE CAST(e AS VARCHAR) END
        ELSE CAST(e AS VARCHAR) END), lambda x: x IS NOT NULL), ','), '')
  WHEN 'DOUBLE' THEN CASE WHEN CAST(j AS DOUBLE) = round(CAST(j AS DOUBLE))
    AND abs(CAST(j AS DOUBLE)) < 9007199254740992 THEN CAST(CAST(j AS DOUBLE) AS BIGINT)::VARCHAR
    ELSE CAST(j AS VARCHAR) END
  WHEN 'NULL' THEN NULL
  WHEN 'VARCHAR' THEN json_extract_string(j, '$')
  ELSE CAST(j AS VARCHAR) END);
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
        _DATABASE = db
    return _DATABASE.cursor()


def lines_sql(path: Path) -> str:
    """The file as rows ``(__line, line)``: every line, blank ones included, in file order."""
    return (
        f"(SELECT row_number() OVER () AS {LINE}, line FROM read_csv({sql_str(str(path))},"
        f" columns={{'line': 'VARCHAR'}}, delim={sql_str(DELIM)}, quote='', escape='', header=false,"
        f" auto_detect=false, max_line_size={MAX_LINE}, store_rejects=true))"
    )


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

    ``ordinals`` gives each table row its line (ordinal among the lines DuckDB returned, stable across
    reads of the same file); ``raw_reader`` builds the Sigma segments on first use.
    """

    ordinals: pa.Array | None = None
    raw_reader: Callable[[LineResult], list[Segment]] | None = None

    def __post_init__(self) -> None:
        if self.originals is None:
            self.originals = _LazyOriginals(self)

    def original(self, rows: Sequence[int]) -> list[str | None]:
        if self.ordinals is None or not rows:
            return [None] * len(rows)
        wanted = self.ordinals.take(pa.array(rows, type=pa.int64())).to_numpy(zero_copy_only=False)
        con = connect()
        try:
            con.register("wanted", pa.table({"n": pa.array(np.unique(wanted))}))
            found = dict(
                con.execute(
                    f"SELECT {LINE}, line FROM {lines_sql(self.path)} WHERE {LINE} IN (SELECT n FROM wanted)"
                ).fetchall()
            )
        finally:
            con.close()
        return [found.get(int(n)) for n in wanted]

    def sigma_segments(self) -> list[Segment]:
        if self.segments is None and self.raw_reader is not None:
            self.segments = self.raw_reader(self)
        return super().sigma_segments()


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
    con: Any = None,
    raw_reader: Callable[[LineResult], list[Segment]] | None = None,
    share: dict[str, str] | None = None,
) -> LineResult:
    """Run a reader's ``select`` (over relation ``l(__line, line)`` of the non-blank lines) into a result.

    ``select`` returns :data:`LINE`, :data:`OK` and normalised or raw columns; bad rows (``__ok`` false)
    are counted with ``describe`` as the error text.
    """
    own = con is None
    con = con or connect()
    try:
        query = f"WITH l AS (SELECT * FROM {lines_sql(path)} WHERE NOT blank(line)) {select}"
        table = con.sql(query).to_arrow_table()
        rejected = rejected_lines(con)
    finally:
        if own:
            con.close()
    return finish(path, fmt, table, describe, rejected, raw_reader, share)


def finish(
    path: Path,
    fmt: str,
    table: pa.Table,
    describe: str,
    rejected: Sequence[tuple[int, str]],
    raw_reader: Callable[[LineResult], list[Segment]] | None = None,
    share: dict[str, str] | None = None,
) -> LineResult:
    """Split good and bad rows, count and name the bad lines, add the missing normalised columns."""
    ok = table.column(OK)
    n_bad = int(len(ok) - pc.sum(ok.cast(pa.int64())).as_py()) if len(ok) else 0
    bad_ordinals: list[int] = []
    if n_bad:
        bad_ordinals = table.filter(pc.invert(ok)).column(LINE).slice(0, MAX_ERRORS).to_pylist()
        table = table.filter(ok)
    reject_at = [n for n, _ in rejected]
    errors: list[tuple[int, str]] = [(n, f"line {n}: {kind.lower()}") for n, kind in rejected]
    if bad_ordinals:
        lines = file_lines(np.asarray(bad_ordinals, dtype=np.int64), reject_at)
        errors += [(int(n), f"line {n}: {describe}") for n in lines]
    ordinals = table.column(LINE).combine_chunks() if table.num_rows else pa.array([], type=pa.int64())
    return LineResult(
        path,
        fmt,
        normalised_table(table.drop_columns([LINE, OK]), share),
        n_bad + len(rejected),
        [e for _, e in sorted(errors)[:MAX_ERRORS]],
        ordinals=ordinals,
        raw_reader=raw_reader,
    )


def normalised_table(table: pa.Table, share: dict[str, str] | None = None) -> pa.Table:
    """Every normalised column (in order, NULL when absent), then the other columns as they came.

    ``share`` names normalised columns that are the same values as another column: the column is
    referenced twice, not copied.
    """
    n = table.num_rows
    cols: dict[str, pa.ChunkedArray | pa.Array] = {}
    names = set(table.column_names)
    for name in NORMALISED:
        if name in names:
            cols[name] = _as_string(table.column(name))
        elif share and share.get(name) in names:
            cols[name] = _as_string(table.column(share[name]))
        else:
            cols[name] = pa.nulls(n, pa.string())
    for name in table.column_names:
        if name not in cols:
            cols[name] = _as_string(table.column(name))
    return pa.table(cols)


def _as_string(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if col.type == pa.string():
        return col
    return col.cast(pa.string())


@dataclass
class Fields:
    """Column name -> SQL expression of it, in order (a reader's projection, built up per log type)."""

    exprs: dict[str, str] = field(default_factory=dict)

    def set(self, name: str, expr: str) -> None:
        self.exprs[name] = expr

    def sql(self) -> str:
        return ", ".join(f"{e} AS {ident(n)}" for n, e in self.exprs.items())
