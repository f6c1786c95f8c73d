"""What every reader produces: one pyarrow table per file, with normalised columns and error counts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

# The normalised (ECS-like) columns the sweep knows; every table has all of them (null when absent).
NORMALISED: tuple[str, ...] = (
    "@timestamp",
    "host.name",
    "event.code",
    "event.dataset",
    "source.ip",
    "source.port",
    "destination.ip",
    "destination.port",
    "destination.domain",
    "dns.question.name",
    "url.full",
    "url.domain",
    "user_agent.original",
    "process.executable",
    "process.command_line",
    "process.parent.executable",
    "file.path",
    "file.hash.md5",
    "file.hash.sha1",
    "file.hash.sha256",
    "user.name",
    "event.original",
)

# kind of observation -> the normalised columns holding it: what the IOC sweep reads
OBSERVED: dict[str, tuple[str, ...]] = {
    "domain": ("destination.domain", "dns.question.name", "url.domain"),
    "ip": ("source.ip", "destination.ip"),
    "url": ("url.full",),
    "hash": ("file.hash.md5", "file.hash.sha1", "file.hash.sha256"),
}
OBSERVED_COLUMNS: frozenset[str] = frozenset(c for cols in OBSERVED.values() for c in cols)

ROW = "@row"  # segment column: the event's row number in its ReadResult.table


@dataclass
class Segment:
    """Events of one shape (one Windows channel + event id, one log file …) with their raw source fields.

    ``table`` holds the raw fields as columns (Windows: EventData/UserData names, System fields with
    attributes as ``Provider_Name``, ``TimeCreated_SystemTime`` …; Zeek: its own field names) plus
    :data:`ROW`. ``constants`` are fields with one value over the whole segment (``Channel``,
    ``EventID``…); they are not repeated as columns. Sigma rules are evaluated per segment, so a rule
    whose log-source conditions contradict the constants is never run on it.
    """

    table: pa.Table
    constants: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    def fields(self) -> set[str]:
        """Every field name this segment can answer (columns and constants)."""
        return {c for c in self.table.column_names if c != ROW} | set(self.constants)


@dataclass(frozen=True)
class SegmentShape:
    """What Sigma planning reads of a segment (its constants, column names and size), known without it.

    ``columns`` are the columns the segment has (:data:`ROW` left out), in table order; those in
    ``uncertain`` may turn out to hold no value at all, and the built segment then lacks them (a
    reader's segment leaves out the columns with no value). ``values`` are columns that hold one value on
    every event. A shape taken from a built segment has neither.
    """

    constants: Mapping[str, str]
    columns: tuple[str, ...]
    rows: int
    uncertain: frozenset[str] = frozenset()
    values: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, segment: Segment) -> SegmentShape:
        names = tuple(c for c in segment.table.column_names if c != ROW)
        return cls(segment.constants, names, segment.rows)


@dataclass
class ReadResult:
    """One file read: the normalised table, the raw-field segments, the format and what failed.

    ``table`` has every :data:`NORMALISED` column, one row per event, and is what the IOC sweep reads.
    ``segments`` (None: the table itself is the only segment, its raw columns beside the normalised
    ones) carry the raw source fields for Sigma. ``originals`` (None: the table's ``event.original``
    column) holds the raw text of each event by row number, so readers of large files need not copy it.
    ``url_host`` names a column that holds, on every row with a ``url.full``, that URL's host exactly as
    the IOC sweep keys a URL (lower-case, no credentials or port: ``host_of`` of
    :mod:`aptcatch.hunt.readers.duck`), so the sweep need not cut the URLs again; None: it cuts them.
    ``segment_source``, when ``segments`` is None, makes them on first use (:meth:`sigma_segments`):
    results whose rules ran elsewhere (in a worker process) never pay for them.
    """

    path: Path
    format: str
    table: pa.Table
    bad_lines: int = 0
    errors: list[str] = field(default_factory=list)
    segments: list[Segment] | None = None
    originals: Sequence[str] | None = None
    url_host: str | None = None
    segment_source: Callable[[], list[Segment]] | None = field(default=None, repr=False, compare=False)

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    def sigma_segments(self) -> list[Segment]:
        """The segments Sigma rules run on (the whole table, with a row column, when none were made)."""
        if self.segments is None and self.segment_source is not None:
            self.segments, self.segment_source = self.segment_source(), None
        if self.segments is not None:
            return self.segments
        table = self.table.select(self._segment_columns())
        table = table.append_column(ROW, pa.array(range(self.table.num_rows), type=pa.int64()))
        return [Segment(table)]

    def _segment_columns(self) -> list[str]:
        """The table's columns that make its segment. A column with no value at all (a normalised column
        this format never fills) is not a field of these events: leaving it out lets rules that read it
        be reported as blind. The raw line is not a field either (keywords would otherwise match field
        names in it)."""
        table, rows = self.table, self.table.num_rows
        return [c for c in table.column_names if c != "event.original" and table.column(c).null_count < rows]

    def sigma_shapes(self) -> list[SegmentShape]:
        """The shapes of :meth:`sigma_segments`, without making them; a reader that builds its table
        lazily answers without building it (Sigma then builds a file's segments only when a rule can
        match them)."""
        made = self.segments is not None or self.segment_source is not None
        if not made and type(self).sigma_segments is ReadResult.sigma_segments:
            return self._table_shapes()
        return [SegmentShape.of(s) for s in self.sigma_segments()]

    def _table_shapes(self) -> list[SegmentShape]:
        """The shape of the segment :meth:`sigma_segments` makes of the table (none made already)."""
        return [SegmentShape({}, tuple(self._segment_columns()), self.rows)]

    def observed(self) -> pa.Table:
        """The rows with (at least) the :data:`OBSERVED` columns, what the IOC sweep reads: ``table``; a
        reader that builds its full table lazily answers without building it."""
        return self.table

    def shared_table(self) -> tuple[pa.Table, int] | None:
        """When this result's ``table`` is a slice of one table several results share (the files of a
        batch), that table and the row it starts at: readers of many small files can then work on the
        whole table once. None otherwise."""
        return None

    def shared_originals(self) -> tuple[pa.Array, int] | None:
        """Like :meth:`shared_table`, for the raw texts: one Arrow array several results are slices of,
        and where this one starts (the same row as in the shared table). None otherwise."""
        return None

    def take(self, rows: Sequence[int], columns: Sequence[str]) -> pa.Table:
        """These columns (those the table has) of the events at these row numbers, in that order."""
        have = set(self.table.column_names)
        return self.table.select([c for c in columns if c in have]).take(pa.array(rows, type=pa.int64()))

    def original(self, rows: Sequence[int]) -> list[str | None]:
        """The raw text of the events at these row numbers."""
        if self.originals is not None:
            return [self.originals[i] for i in rows]
        if "event.original" not in self.table.column_names:
            return [None] * len(rows)
        column = self.table.column("event.original").take(pa.array(rows, type=pa.int64()))
        return [v if isinstance(v, str) or v is None else str(v) for v in column.to_pylist()]


Reader = Callable[[Path, dict[str, str] | None], ReadResult]


def build_table(rows: Iterable[dict[str, str | None]], extra: Iterable[str] = ()) -> pa.Table:
    """A table of string columns: every normalised column, then the extra (raw) columns seen."""
    rows = list(rows)
    names: dict[str, None] = dict.fromkeys(NORMALISED)
    for name in extra:
        names.setdefault(name, None)
    for row in rows:
        for k in row:
            names.setdefault(k, None)
    columns = {n: pa.array([r.get(n) for r in rows], type=pa.string()) for n in names}
    return pa.table(columns)


def read_json_lines(
    path: Path, fmt: str, convert: Callable[[dict[str, Any]], dict[str, str | None]]
) -> ReadResult:
    """One row per JSON object line (``convert`` normalises it); bad lines are counted, never fatal."""
    rows: list[dict[str, str | None]] = []
    bad, errors = 0, list[str]()
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                bad += 1
                if len(errors) < 20:
                    errors.append(f"line {n}: {exc}")
                continue
            row = convert(rec)
            row["event.original"] = line.rstrip("\n")
            rows.append(row)
    return ReadResult(path, fmt, build_table(rows), bad, errors)


def text(value: Any) -> str | None:
    """A cell as text: None/empty/'-' (Zeek's unset) stay None, lists are joined with commas."""
    if value is None:
        return None
    if isinstance(value, list):
        parts = [str(v) for v in value if v is not None]
        return ",".join(parts) if parts else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    s = str(value)
    return None if s in ("", "-", "(empty)") else s


def iso_from_epoch(value: Any) -> str | None:
    """Epoch seconds (Zeek ``ts``, Squid) as ISO 8601 UTC with milliseconds."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        return text(value)
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_hashes(value: str | None) -> dict[str, str]:
    """Sysmon's ``Hashes`` field (``SHA1=…,MD5=…,SHA256=…,IMPHASH=…``) as file.hash.* columns."""
    out: dict[str, str] = {}
    if not value:
        return out
    for part in value.split(","):
        algo, _, digest = part.partition("=")
        algo = algo.strip().lower()
        if algo in ("md5", "sha1", "sha256") and digest:
            out[f"file.hash.{algo}"] = digest.strip().lower()
    return out


def url_domain(url: str | None) -> str | None:
    """The host of a URL (no port, no credentials), lower-case; None when it has none."""
    if not url or "://" not in url:
        return None
    rest = url.split("://", 1)[1]
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else None
    return host.split(":", 1)[0].lower() or None
