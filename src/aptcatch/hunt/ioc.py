"""IOC sweep as set joins in DuckDB: the log tables against the indicators, no per-row Python.

* domains: each distinct observed domain is exploded into its label suffixes (``a.b.evil.example`` ->
  ``a.b.evil.example``, ``b.evil.example``, ``evil.example``, ``example`` is left out: two labels at
  least) and joined on equality, so ``notevil.example`` never matches ``evil.example``;
  Only domains whose last two labels are the last two labels of some indicator domain are exploded;
* IPv4: addresses and CIDR blocks become (prefix length, network number) keys; each observed address is
  keyed at every prefix length the indicators use and joined on equality (hash joins, no range join);
* URLs: both sides normalised by the same SQL (lower-case scheme and host, default port dropped,
  empty path -> ``/``) and joined on equality, observed URLs only when their host is the host of some
  indicator URL; a URL's host also goes through the domain join (``url.domain``);
* hashes (MD5, SHA-1, SHA-256): lower-case equality.

The indicator join tables are built once per :class:`Sweeper`. The sweep reads each observed column
once: domains, URLs and hashes are cut to the rows that can match by a cheap per-row key (a domain's
last characters, then its last two labels; URL host; the hash) semi-joined with the indicators, and only
those few are exploded and joined
(a URL's host is the reader's when it cut it already, ``ReadResult.url_host``: Squid, Zeek http);
IPv4 columns hold few distinct values, so these are joined and the rows holding a matched one picked.
Knowledge-base indicators are exported once (``all_indicators``); the provenance and group links of the
few matched ones are then looked up with ``lookup_many``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from aptcatch.hunt.readers import ReadResult
from aptcatch.hunt.readers.base import OBSERVED as OBSERVED  # also the Spark sweep's
from aptcatch.hunt.readers.duck import ident, sql_str, with_hostport
from aptcatch.knowledge import indicators as ind
from aptcatch.knowledge.store import KnowledgeStore

SWEPT_TYPES = ("domain", "ipv4", "cidr", "url", "md5", "sha1", "sha256")

RULES: dict[str, str] = {
    "ioc.domain": "Known indicator: domain or a subdomain of it",
    "ioc.ip": "Known indicator: IPv4 address or inside a CIDR block",
    "ioc.url": "Known indicator: URL",
    "ioc.hash": "Known indicator: file hash",
}

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}(\.{_OCTET}){{3}}$"
# Macros take plain columns: a macro argument is pasted as often as it is used, so every URL part is
# computed once in its own projection (see ``_URL_PARTS``) instead of nesting macros.
_MACROS = f"""
CREATE OR REPLACE MACRO ip2int(s) AS
  (TRY_CAST(split_part(s, '.', 1) AS UBIGINT) << 24) + (TRY_CAST(split_part(s, '.', 2) AS UBIGINT) << 16)
  + (TRY_CAST(split_part(s, '.', 3) AS UBIGINT) << 8) + TRY_CAST(split_part(s, '.', 4) AS UBIGINT);
CREATE OR REPLACE MACRO is_ipv4(s) AS regexp_full_match(s, '{_IPV4}');
CREATE OR REPLACE MACRO url_hostport(u) AS
  split_part(split_part(split_part(substr(u, strpos(u, '://') + 3), '/', 1), '?', 1), '#', 1);
CREATE OR REPLACE MACRO host_only(hp) AS CASE
  WHEN starts_with(hp, '[')
  THEN CASE WHEN contains(hp, ']') THEN lower(substr(hp, 2, strpos(hp, ']') - 2)) END
  WHEN contains(hp, ':') THEN nullif(lower(left(hp, strpos(hp, ':') - 1)), '')
  ELSE nullif(lower(hp), '') END;
CREATE OR REPLACE MACRO norm_url_parts(scheme, hp, rest) AS
  scheme || '://'
  || CASE WHEN (scheme = 'http' AND suffix(hp, ':80')) OR (scheme = 'https' AND suffix(hp, ':443'))
          THEN regexp_replace(hp, ':[0-9]+$', '') ELSE hp END
  || CASE WHEN rest = '' OR starts_with(rest, '?') OR starts_with(rest, '#') THEN '/' || rest ELSE rest END;
"""


def _url_parts(source: str, column: str) -> str:
    """``source`` with the URL in ``column`` cut into ``scheme``, lower-case ``hp`` (host:port), ``rest``."""
    return f"""(SELECT *, lower(url_hostport(__u)) AS hp,
              substr(__u, strpos(__u, '://') + 3 + length(url_hostport(__u))) AS rest FROM (
              SELECT *, lower(split_part({column}, '://', 1)) AS scheme, {column} AS __u FROM {source}
              WHERE regexp_matches({column}, '^[A-Za-z][A-Za-z0-9+.-]*://')))"""


@dataclass
class IocEntry:
    type: str
    value: str
    origins: set[str] = field(default_factory=set)  # "knowledge" and/or the --iocs file paths
    comments: list[str] = field(default_factory=list)


@dataclass
class IndicatorSet:
    entries: dict[tuple[str, str], IocEntry] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)  # ad-hoc lines that are no sweepable indicator
    not_swept: dict[str, int] = field(default_factory=dict)  # knowledge types this sweep does not cover

    def add(self, itype: str, value: str, origin: str, comment: str = "") -> None:
        entry = self.entries.setdefault((itype, value), IocEntry(itype, value))
        entry.origins.add(origin)
        if comment and comment not in entry.comments:
            entry.comments.append(comment)

    def __len__(self) -> int:
        return len(self.entries)


def parse_ioc_lines(lines: Iterable[str], origin: str, into: IndicatorSet) -> None:
    """``value`` or ``value;comment`` per line (may be defanged); ``#`` lines and blank lines skipped."""
    for n, line in enumerate(lines, 1):
        raw = line.strip()
        if not raw or raw.startswith("#"):
            continue
        value, _, comment = raw.partition(";")
        itype = ind.detect_type(value.strip())
        if itype not in SWEPT_TYPES or itype is None:
            into.rejected.append(f"{origin}:{n}: {value.strip()!r} is no domain, IPv4, CIDR, URL or hash")
            continue
        try:
            norm = ind.normalize(itype, value.strip())
        except ind.IndicatorError as exc:
            into.rejected.append(f"{origin}:{n}: {exc}")
            continue
        into.add(itype, norm, origin, comment.strip())


def load_indicators(store: KnowledgeStore | None, ioc_files: Sequence[Path] = ()) -> IndicatorSet:
    """The knowledge base's sweepable indicators (exported once) plus the ad-hoc lists."""
    out = IndicatorSet()
    if store is not None:
        for i in store.all_indicators():
            if i.type in SWEPT_TYPES:
                out.add(i.type, i.value, "knowledge")
            else:
                out.not_swept[i.type] = out.not_swept.get(i.type, 0) + 1
    for path in ioc_files:
        with path.open(encoding="utf-8", errors="replace") as fh:
            parse_ioc_lines(fh, str(path), out)
    return out


@dataclass
class Match:
    """One indicator matched in one log row (the row is ``file_id``/``row_id`` of the read results)."""

    file_id: int
    row_id: int
    field: str
    observed: str
    rule_id: str
    match: str  # exact, parent-domain, cidr
    itype: str
    value: str


def _indicator_table(indicators: IndicatorSet) -> pa.Table:
    keys = list(indicators.entries)
    return pa.table(
        {
            "ind_id": pa.array(np.arange(len(keys), dtype=np.int64)),
            "itype": pa.array([k[0] for k in keys], type=pa.string()),
            "value": pa.array([k[1] for k in keys], type=pa.string()),
        }
    )


# The indicator side, built once per Sweeper: one table per join key.
_INDICATOR_TABLES = f"""
CREATE OR REPLACE TABLE ind AS SELECT * FROM ind_arrow;
CREATE OR REPLACE TABLE ind_domain AS
  SELECT ind_id, value AS key FROM ind WHERE itype = 'domain';
-- the last two labels of every indicator domain: an observed domain whose own last two labels are not
-- among them cannot equal any indicator or be a subdomain of one, and is not exploded into suffixes
CREATE OR REPLACE TABLE ind_l2 AS
  SELECT DISTINCT array_to_string(string_split(key, '.')[-2:], '.') AS l2 FROM ind_domain;
-- the last T characters of every indicator domain, T the length of the shortest (see ``_MIN_TAIL``)
CREATE OR REPLACE TABLE ind_tail AS
  SELECT DISTINCT right(key, (SELECT min(length(key)) FROM ind_domain)) AS tail FROM ind_domain;
CREATE OR REPLACE TABLE ind_hash AS
  SELECT ind_id, lower(value) AS key FROM ind WHERE itype IN ('md5', 'sha1', 'sha256');
CREATE OR REPLACE TABLE ind_url AS
  SELECT ind_id, norm_url_parts(scheme, hp, rest) AS key, host_only(split_part(hp, '@', -1)) AS host
  FROM {_url_parts("(SELECT * FROM ind WHERE itype = 'url')", "value")};
CREATE OR REPLACE TABLE ind_url_host AS SELECT DISTINCT host FROM ind_url WHERE host IS NOT NULL;
-- IPv4 addresses are /32 blocks; a block is (prefix length, address >> (32 - length))
CREATE OR REPLACE TABLE ind_ip AS
  SELECT ind_id, itype, 32 AS plen, ip2int(value) AS net FROM ind WHERE itype = 'ipv4' AND is_ipv4(value)
  UNION ALL
  SELECT ind_id, itype, plen, ip2int(split_part(value, '/', 1)) >> (32 - plen) AS net FROM (
    SELECT ind_id, itype, value, TRY_CAST(split_part(value, '/', 2) AS INTEGER) AS plen
    FROM ind WHERE itype = 'cidr' AND is_ipv4(split_part(value, '/', 1))
  ) WHERE plen BETWEEN 0 AND 32;
CREATE OR REPLACE TABLE ind_plen AS SELECT DISTINCT plen FROM ind_ip;
"""

# Per kind, the rows of ``{src}`` (file_id, row_id, o) with a per-row key ``k``, made of cheap
# string functions (``split_part`` builds a list and ``rtrim`` scans a character set on every call:
# several times the cost over millions of rows). A domain's key is its last two labels (lower-case,
# trailing dots dropped); a URL's is its host (``{hp}``: ``{src}`` with the host and port ``hp``), the
# one ``ind_url_host`` holds. IPv4 rows are those holding a matched distinct value (``ip_hits``).
_NO_DOT = "CASE WHEN suffix(o, '.') THEN rtrim(o, '.') ELSE o END"
_CANDIDATES = {
    "domain": f"SELECT lower(array_to_string(string_split({_NO_DOT}, '.')[-2:], '.')) AS k, * FROM {{src}}",
    "url": "SELECT CASE WHEN contains(o, '://') THEN host_only(hp) END AS k, * EXCLUDE (hp) FROM {hp}",
    "hash": "SELECT lower(o) AS k, * FROM {src}",
}
# A domain is first cut by its last T characters (lower-case, trailing dots dropped; T the length of
# the shortest indicator domain): a domain equal to an indicator or below it ends with that indicator, so
# its last T characters are the indicator's (DuckDB's ``lower`` maps one code point to one, so lowering
# the tail is lowering the domain's tail). That costs a third of the two-label key, which is then cut
# from the few domains left; below ``_MIN_TAIL`` characters a tail filters too little to pay.
_MIN_TAIL = 6
# what each kind's key is semi-joined with (the key is projected first: as a join condition expression
# it cost a third more)
_KEYS = {
    "domain": "SELECT l2 FROM ind_l2",
    "url": "SELECT host FROM ind_url_host",
    "hash": "SELECT key FROM ind_hash",
    "ip": "SELECT observed FROM ip_hits",
}

_IP_HITS = """
CREATE OR REPLACE TEMP TABLE ip_hits AS
WITH ips AS (SELECT observed, ip2int(observed) AS n FROM ip_obs WHERE is_ipv4(observed)),
keyed AS (SELECT observed, l.plen, n >> (32 - l.plen) AS net FROM ips CROSS JOIN ind_plen l)
SELECT k.observed, i.ind_id, CASE WHEN i.itype = 'cidr' THEN 'cidr' ELSE 'exact' END AS m
FROM keyed k JOIN ind_ip i ON i.plen = k.plen AND i.net = k.net"""

_HITS = (
    """
CREATE OR REPLACE TEMP TABLE domain_hits AS
WITH low AS (
  SELECT DISTINCT observed, lower(rtrim(observed, '.')) AS v FROM domain_cand
), suffixes AS (
  SELECT observed, v, array_to_string(labels[i:], '.') AS suffix FROM (
    SELECT observed, v, labels, unnest(range(1, len(labels))) AS i FROM (
      SELECT observed, v, string_split(v, '.') AS labels FROM low))
)
SELECT s.observed, d.ind_id, CASE WHEN s.suffix = s.v THEN 'exact' ELSE 'parent-domain' END AS m
FROM suffixes s JOIN ind_domain d ON d.key = s.suffix""",
    f"""
CREATE OR REPLACE TEMP TABLE url_hits AS
WITH urls AS (
  SELECT observed, norm_url_parts(scheme, hp, rest) AS key
  FROM {_url_parts("(SELECT DISTINCT observed FROM url_cand)", "observed")}
)
SELECT u.observed, i.ind_id, 'exact' AS m FROM urls u JOIN ind_url i ON i.key = u.key""",
    """
CREATE OR REPLACE TEMP TABLE hash_hits AS
SELECT DISTINCT c.observed, h.ind_id, 'exact' AS m
FROM hash_cand c JOIN ind_hash h ON h.key = lower(c.observed)""",
)


SMALL_FILE = 100_000  # rows: files below this are swept as one stacked table


@dataclass
class _Source:
    """One registered table: its name, the SQL of its file id, and per kind its observed columns, each
    with the field names it answers (a reader may share one column under two names: read once)."""

    name: str
    file_id: str
    columns: dict[str, list[tuple[str, list[str]]]]
    url_host: str | None = None  # the column holding url.full's host (ReadResult.url_host)

    def rows(self, column: str, key: str | None = None) -> str:
        """``(file_id, row_id, o)``: the non-NULL values of one column (and column ``key`` as ``k``)."""
        c = ident(column)
        k = f", {ident(key)} AS k" if key else ""
        rows = f"SELECT {self.file_id} AS file_id, __row AS row_id, {c} AS o{k} FROM {self.name}"
        return f"({rows} WHERE {c} IS NOT NULL)"


@dataclass
class _Run:
    """Consecutive small files whose tables are consecutive slices of one shared table (the files of one
    batch, :meth:`ReadResult.shared_table`): stacked with one slice instead of one table per file."""

    table: pa.Table
    start: int
    stop: int
    files: list[int]
    rows: list[int]

    def add(self, file_id: int, rows: int) -> None:
        self.files.append(file_id)
        self.rows.append(rows)
        self.stop += rows

    def stacked(self) -> pa.Table:
        """The observed columns of the run's rows, with each row's ``__row`` (in its file) and ``__file``."""
        present = set(self.table.column_names)
        wanted = [f for fields in OBSERVED.values() for f in fields if f in present]
        sizes = np.asarray(self.rows, dtype=np.int64)
        total = int(sizes.sum())
        firsts = np.repeat(np.cumsum(sizes) - sizes, sizes)
        part = self.table.slice(self.start, total).select(wanted)
        part = part.append_column("__row", pa.array(np.arange(total, dtype=np.int64) - firsts))
        return part.append_column("__file", pa.array(np.repeat(np.asarray(self.files, np.int64), sizes)))


class Sweeper:
    """The indicators loaded once into DuckDB join tables; :meth:`sweep` runs them over read results."""

    def __init__(self, indicators: IndicatorSet, con: Any = None) -> None:
        import duckdb

        self.indicators = indicators
        self.con = con or duckdb.connect()
        self.con.execute(_MACROS)
        self.con.register("ind_arrow", _indicator_table(indicators))
        self.con.execute(_INDICATOR_TABLES)
        self.con.unregister("ind_arrow")
        ((shortest,),) = self.con.execute("SELECT min(length(key)) FROM ind_domain").fetchall()
        self._tail = int(shortest or 0)

    def sweep(self, results: Sequence[ReadResult]) -> list[Match]:
        """Every (row, field, indicator) match, ordered by file, row, field."""
        con = self.con
        sources: list[_Source] = []
        small: list[pa.Table] = []  # small files are stacked into one table: one query part, not N
        runs: list[_Run] = []  # small files that are consecutive slices of one shared table (a batch)
        for file_id, r in enumerate(results):
            if r.rows == 0:
                continue
            shared = r.shared_table() if r.rows < SMALL_FILE else None
            if shared is not None:
                table, start = shared
                if not runs or runs[-1].table is not table or runs[-1].stop != start:
                    runs.append(_Run(table, start, start, [], []))
                runs[-1].add(file_id, r.rows)
                continue
            observed = r.observed()
            present = set(observed.column_names)
            wanted = [f for fields in OBSERVED.values() for f in fields if f in present]
            if not wanted:
                continue
            table = observed.select(wanted).append_column(
                "__row", pa.array(np.arange(r.rows, dtype=np.int64))
            )
            if r.rows < SMALL_FILE:
                small.append(table.append_column("__file", pa.array(np.full(r.rows, file_id, np.int64))))
                continue
            host = r.url_host if r.url_host in present else None
            sources.append(_Source(f"log_{file_id}", str(file_id), _columns(table), host))
            con.register(sources[-1].name, table)
        small += [run.stacked() for run in runs]
        if small:
            stacked = pa.concat_tables(small, promote_options="permissive")
            sources.append(_Source("log_small", "__file", _columns(stacked, shared=False)))
            con.register("log_small", stacked)
        try:
            if not sources or len(self.indicators) == 0:
                return []
            ips = [f"SELECT o FROM {s.rows(c)}" for s in sources for c, _ in s.columns["ip"]]
            con.execute(
                "CREATE OR REPLACE TEMP TABLE ip_obs AS SELECT DISTINCT o AS observed FROM ("
                + (" UNION ALL ".join(ips) or "SELECT NULL::VARCHAR AS o WHERE false")
                + ")"
            )
            con.execute(_IP_HITS)
            for kind in ("domain", "url", "hash", "ip"):
                self._candidates(kind, sources)
            for statement in _HITS:
                con.execute(statement)
            rows = con.execute(
                """
                SELECT c.file_id, c.row_id, c.field, c.observed, 'ioc.' || c.kind, h.m, ind.itype, ind.value
                FROM (SELECT *, 'domain' AS kind FROM domain_cand UNION ALL SELECT *, 'ip' FROM ip_cand
                      UNION ALL SELECT *, 'url' FROM url_cand UNION ALL SELECT *, 'hash' FROM hash_cand) c
                JOIN (SELECT *, 'domain' AS kind FROM domain_hits UNION ALL SELECT *, 'ip' FROM ip_hits
                      UNION ALL SELECT *, 'url' FROM url_hits UNION ALL SELECT *, 'hash' FROM hash_hits) h
                  ON h.observed = c.observed AND h.kind = c.kind
                JOIN ind ON ind.ind_id = h.ind_id
                ORDER BY c.file_id, c.row_id, c.field, ind.itype, ind.value
                """
            ).fetchall()
            return [Match(*row) for row in rows]
        finally:
            for s in sources:
                con.unregister(s.name)

    def domain_tail_sql(self, column: str = "o") -> str:
        """The first per-row filter of the domains in ``column`` that the sweep looks up, as SQL (their
        tails, see ``_MIN_TAIL``); ``true`` when the shortest indicator domain is too short to pay."""
        if self._tail < _MIN_TAIL:
            return "true"
        no_dot = f"CASE WHEN suffix({column}, '.') THEN rtrim({column}, '.') ELSE {column} END"
        return f"lower(right({no_dot}, {self._tail})) IN (SELECT tail FROM ind_tail)"

    def _candidates(self, kind: str, sources: list[_Source]) -> None:
        """``{kind}_cand(file_id, row_id, field, observed)``: the rows of ``kind`` that can match, one per
        field name; one pass over each observed column."""
        parts = []
        for s in sources:
            for column, names in s.columns[kind]:
                src = s.rows(column)
                if kind == "ip":  # the value is its own key
                    select = f"SELECT * FROM {src} WHERE o IN ({_KEYS[kind]})"
                elif kind == "url" and s.url_host:  # the reader cut the URL's host already
                    keyed = s.rows(column, s.url_host)
                    select = f"SELECT * EXCLUDE (k) FROM {keyed} WHERE k IN ({_KEYS[kind]})"
                else:
                    if kind == "domain":
                        src = f"(SELECT * FROM {src} WHERE {self.domain_tail_sql()})"
                    keyed = _CANDIDATES[kind].format(src=src, hp=with_hostport(src, "o"))
                    select = f"SELECT * EXCLUDE (k) FROM ({keyed}) WHERE k IN ({_KEYS[kind]})"
                fields = "[" + ", ".join(sql_str(n) for n in names) + "]"
                parts.append(
                    f"SELECT file_id, row_id, unnest({fields}) AS field, o AS observed FROM ({select})"
                )
        body = " UNION ALL ".join(parts) or (
            "SELECT NULL::BIGINT AS file_id, NULL::BIGINT AS row_id, NULL::VARCHAR AS field,"
            " NULL::VARCHAR AS observed WHERE false"
        )
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {kind}_cand AS {body}")


def _columns(table: pa.Table, shared: bool = True) -> dict[str, list[tuple[str, list[str]]]]:
    """Per kind, the observed columns of ``table`` with the field names each answers; a column that is
    the same memory as an earlier one of its kind (a reader shares one column under two names) is
    read once, under both names."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for kind, fields in OBSERVED.items():
        cols: list[tuple[str, list[str]]] = []
        for f in fields:
            if f not in table.column_names:
                continue
            same = next(
                (names for c, names in cols if shared and _same(table.column(f), table.column(c))), None
            )
            if same is not None:
                same.append(f)
            else:
                cols.append((f, [f]))
        out[kind] = cols
    return out


def _same(a: pa.ChunkedArray, b: pa.ChunkedArray) -> bool:
    """True when two columns are the same memory (a reader shares one column under two names)."""
    if a.num_chunks != b.num_chunks or len(a) != len(b):
        return False
    for x, y in zip(a.chunks, b.chunks, strict=True):
        bx, by = x.buffers(), y.buffers()
        if x.offset != y.offset or len(bx) != len(by):
            return False
        if any(
            (p is None) != (q is None) or (p is not None and q is not None and p.address != q.address)
            for p, q in zip(bx, by, strict=True)
        ):
            return False
    return True


def sweep(results: Sequence[ReadResult], indicators: IndicatorSet, con: Any = None) -> list[Match]:
    """Every (row, field, indicator) match, ordered by file, row, field (builds the join tables once)."""
    return Sweeper(indicators, con).sweep(results)
