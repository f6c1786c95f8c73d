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

The indicator join tables are built once per :class:`Sweeper`; the sweep takes the distinct observed
values per kind, finds the matched ones, then picks the rows holding them (semi-joins per column).
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
from aptcatch.knowledge import indicators as ind
from aptcatch.knowledge.store import KnowledgeStore

SWEPT_TYPES = ("domain", "ipv4", "cidr", "url", "md5", "sha1", "sha256")

# kind of observation -> normalised columns holding it
OBSERVED: dict[str, tuple[str, ...]] = {
    "domain": ("destination.domain", "dns.question.name", "url.domain"),
    "ip": ("source.ip", "destination.ip"),
    "url": ("url.full",),
    "hash": ("file.hash.md5", "file.hash.sha1", "file.hash.sha256"),
}
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
  ELSE nullif(lower(split_part(hp, ':', 1)), '') END;
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

# Matched distinct values (``observed``) per kind, from ``domain_obs``, ``ip_obs``, ``url_obs``, ``hash_obs``.
# observed URLs whose host is the host of some indicator URL (the only ones that can match)
_URL_CANDIDATES = """(SELECT observed FROM (
    SELECT observed, split_part(lower(url_hostport(observed)), '@', -1) AS h FROM url_obs)
  WHERE host_only(h) IN (SELECT host FROM ind_url_host))"""

_HITS = (
    """CREATE OR REPLACE TEMP TABLE hits (observed VARCHAR, kind VARCHAR, ind_id BIGINT, m VARCHAR)""",
    """
INSERT INTO hits
WITH low AS (
  SELECT observed, lower(rtrim(observed, '.')) AS v FROM domain_obs
), cand AS (
  SELECT observed, v, string_split(v, '.') AS labels FROM low
  WHERE split_part(v, '.', -2) || '.' || split_part(v, '.', -1) IN (SELECT l2 FROM ind_l2)
), suffixes AS (
  SELECT observed, v, array_to_string(labels[i:], '.') AS suffix FROM (
    SELECT observed, v, labels, unnest(range(1, len(labels))) AS i FROM cand)
)
SELECT s.observed, 'domain', d.ind_id, CASE WHEN s.suffix = s.v THEN 'exact' ELSE 'parent-domain' END
FROM suffixes s JOIN ind_domain d ON d.key = s.suffix""",
    """
INSERT INTO hits
WITH ips AS (SELECT observed, ip2int(observed) AS n FROM ip_obs WHERE is_ipv4(observed)),
keyed AS (SELECT observed, l.plen, n >> (32 - l.plen) AS net FROM ips CROSS JOIN ind_plen l)
SELECT k.observed, 'ip', i.ind_id, CASE WHEN i.itype = 'cidr' THEN 'cidr' ELSE 'exact' END
FROM keyed k JOIN ind_ip i ON i.plen = k.plen AND i.net = k.net""",
    f"""
INSERT INTO hits
WITH urls AS (
  SELECT observed, norm_url_parts(scheme, hp, rest) AS key
  FROM {_url_parts(_URL_CANDIDATES, "observed")}
)
SELECT u.observed, 'url', i.ind_id, 'exact' FROM urls u JOIN ind_url i ON i.key = u.key""",
    """
INSERT INTO hits
SELECT o.observed, 'hash', h.ind_id, 'exact' FROM hash_obs o JOIN ind_hash h ON h.key = lower(o.observed)""",
)


SMALL_FILE = 100_000  # rows: files below this are swept as one stacked table


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

    def sweep(self, results: Sequence[ReadResult]) -> list[Match]:
        """Every (row, field, indicator) match, ordered by file, row, field."""
        con = self.con
        columns: dict[str, list[tuple[str, str]]] = {kind: [] for kind in OBSERVED}
        distinct: dict[str, list[tuple[str, str]]] = {kind: [] for kind in OBSERVED}  # shared ones once
        names = []
        small: list[pa.Table] = []  # small files are stacked into one table: one query part, not N
        for file_id, r in enumerate(results):
            if r.rows == 0:
                continue
            present = set(r.table.column_names)
            wanted = [f for fields in OBSERVED.values() for f in fields if f in present]
            if not wanted:
                continue
            table = r.table.select(wanted).append_column("__row", pa.array(np.arange(r.rows, dtype=np.int64)))
            if r.rows < SMALL_FILE:
                small.append(table.append_column("__file", pa.array(np.full(r.rows, file_id, np.int64))))
                continue
            name = f"log_{file_id}"
            con.register(name, table)
            names.append(name)
            self._columns(name, r.table, present, columns, distinct)
        if small:
            stacked = pa.concat_tables(small, promote_options="permissive")
            con.register("log_small", stacked)
            names.append("log_small")
            self._columns("log_small", stacked, set(stacked.column_names), columns, distinct, shared=False)
        try:
            if not names or len(self.indicators) == 0:
                return []
            for kind in OBSERVED:
                parts = [
                    f'SELECT "{f}" AS observed FROM {n} WHERE "{f}" IS NOT NULL' for n, f in distinct[kind]
                ]
                parts = parts or ["SELECT NULL::VARCHAR AS observed WHERE false"]
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {kind}_obs AS SELECT DISTINCT observed FROM ("
                    + " UNION ALL ".join(parts)
                    + ")"
                )
            for statement in _HITS:
                con.execute(statement)
            rows_sql = [
                f"SELECT {'__file' if n == 'log_small' else n[4:]} AS file_id, __row AS row_id,"
                f" '{f}' AS field, '{kind}' AS kind,"
                f' "{f}" AS observed FROM {n}'
                f" WHERE \"{f}\" IN (SELECT observed FROM hits WHERE kind = '{kind}')"
                for kind in OBSERVED
                for n, f in columns[kind]
            ]
            rows = con.execute(
                f"""
                SELECT o.file_id, o.row_id, o.field, o.observed, 'ioc.' || h.kind, h.m, ind.itype, ind.value
                FROM ({" UNION ALL ".join(rows_sql)}) o
                JOIN hits h ON h.observed = o.observed AND h.kind = o.kind
                JOIN ind ON ind.ind_id = h.ind_id
                ORDER BY o.file_id, o.row_id, o.field, ind.itype, ind.value
                """
            ).fetchall()
            return [Match(*row) for row in rows]
        finally:
            for name in names:
                con.unregister(name)

    @staticmethod
    def _columns(
        name: str,
        table: pa.Table,
        present: set[str],
        columns: dict[str, list[tuple[str, str]]],
        distinct: dict[str, list[tuple[str, str]]],
        shared: bool = True,
    ) -> None:
        """Record which observed fields ``name`` has; a column shared under two names is read once."""
        for kind, fields in OBSERVED.items():
            columns[kind] += [(name, f) for f in fields if f in present]
            seen: list[pa.ChunkedArray] = []
            for f in fields:
                if f in present and not (shared and any(_same(table.column(f), c) for c in seen)):
                    seen.append(table.column(f))
                    distinct[kind].append((name, f))


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
