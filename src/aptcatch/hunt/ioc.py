"""IOC sweep as set joins in DuckDB: the log tables against the indicators, no per-row Python.

* domains: each distinct observed domain is exploded into its label suffixes (``a.b.evil.example`` ->
  ``a.b.evil.example``, ``b.evil.example``, ``evil.example``, ``example`` is left out: two labels at
  least) and joined on equality, so ``notevil.example`` never matches ``evil.example``;
* IPv4: addresses and CIDR blocks become integer ranges ``[lo, hi]`` (UBIGINT) and are joined with
  ``BETWEEN``;
* URLs: both sides normalised by one SQL macro (lower-case scheme and host, default port dropped,
  empty path -> ``/``) and joined on equality; a URL's host also goes through the domain join;
* hashes (MD5, SHA-1, SHA-256): lower-case equality.

Knowledge-base indicators are exported once (``all_indicators``); the provenance and group links of the
few matched ones are then looked up with ``lookup_many``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
_MACROS = f"""
CREATE OR REPLACE MACRO ip2int(s) AS
  (TRY_CAST(split_part(s, '.', 1) AS UBIGINT) << 24) + (TRY_CAST(split_part(s, '.', 2) AS UBIGINT) << 16)
  + (TRY_CAST(split_part(s, '.', 3) AS UBIGINT) << 8) + TRY_CAST(split_part(s, '.', 4) AS UBIGINT);
CREATE OR REPLACE MACRO is_ipv4(s) AS regexp_full_match(s, '{_IPV4}');
CREATE OR REPLACE MACRO url_scheme(u) AS lower(regexp_extract(u, '^([A-Za-z][A-Za-z0-9+.-]*)://', 1));
CREATE OR REPLACE MACRO url_host(u) AS lower(regexp_extract(u, '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)', 1));
CREATE OR REPLACE MACRO url_rest(u) AS regexp_extract(u, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*(.*)$', 1);
CREATE OR REPLACE MACRO norm_url(u) AS
  url_scheme(u) || '://'
  || CASE WHEN (url_scheme(u) = 'http' AND suffix(url_host(u), ':80'))
            OR (url_scheme(u) = 'https' AND suffix(url_host(u), ':443'))
          THEN regexp_replace(url_host(u), ':[0-9]+$', '') ELSE url_host(u) END
  || CASE WHEN url_rest(u) = '' OR starts_with(url_rest(u), '?') OR starts_with(url_rest(u), '#')
          THEN '/' || url_rest(u) ELSE url_rest(u) END;
"""


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
            "ind_id": pa.array(range(len(keys)), type=pa.int64()),
            "itype": pa.array([k[0] for k in keys], type=pa.string()),
            "value": pa.array([k[1] for k in keys], type=pa.string()),
        }
    )


def _obs_sql(file_id: int, name: str, columns: Sequence[str]) -> list[str]:
    parts = []
    for kind, fields in OBSERVED.items():
        for f in fields:
            if f in columns:
                parts.append(
                    f"SELECT {file_id} AS file_id, __row AS row_id, '{f}' AS field, '{kind}' AS kind,"
                    f' "{f}" AS observed FROM {name} WHERE "{f}" IS NOT NULL'
                )
    return parts


def sweep(results: Sequence[ReadResult], indicators: IndicatorSet, con: Any = None) -> list[Match]:
    """Every (row, field, indicator) match, ordered by file, row, field."""
    import duckdb

    con = con or duckdb.connect()
    con.execute(_MACROS)
    con.register("ind_arrow", _indicator_table(indicators))
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE ind AS SELECT * FROM ind_arrow;
        CREATE OR REPLACE TEMP TABLE ind_domain AS
          SELECT ind_id, value AS key FROM ind WHERE itype = 'domain';
        CREATE OR REPLACE TEMP TABLE ind_hash AS
          SELECT ind_id, lower(value) AS key FROM ind WHERE itype IN ('md5', 'sha1', 'sha256');
        CREATE OR REPLACE TEMP TABLE ind_url AS
          SELECT ind_id, norm_url(value) AS key FROM ind WHERE itype = 'url';
        CREATE OR REPLACE TEMP TABLE ind_ip AS
          SELECT ind_id, itype, ip2int(value) AS lo, ip2int(value) AS hi FROM ind WHERE itype = 'ipv4'
          UNION ALL
          SELECT ind_id, itype, net AS lo, net + ((1::UBIGINT << (32 - plen)) - 1) AS hi FROM (
            SELECT ind_id, itype, TRY_CAST(split_part(value, '/', 2) AS INTEGER) AS plen,
                   (ip2int(split_part(value, '/', 1))
                    >> (32 - TRY_CAST(split_part(value, '/', 2) AS INTEGER)))
                    << (32 - TRY_CAST(split_part(value, '/', 2) AS INTEGER)) AS net
            FROM ind WHERE itype = 'cidr' AND is_ipv4(split_part(value, '/', 1))
          ) WHERE plen BETWEEN 1 AND 32
          UNION ALL
          SELECT ind_id, itype, 0::UBIGINT, 4294967295::UBIGINT FROM ind
          WHERE itype = 'cidr' AND split_part(value, '/', 2) = '0';
        """
    )
    parts: list[str] = []
    for file_id, r in enumerate(results):
        if r.rows == 0:
            continue
        name = f"log_{file_id}"
        table = r.table.append_column("__row", pa.array(range(r.rows), type=pa.int64()))
        con.register(name, table)
        parts += _obs_sql(file_id, name, r.table.column_names)
    if not parts or len(indicators) == 0:
        return []
    con.execute("CREATE OR REPLACE TEMP TABLE obs AS " + " UNION ALL ".join(parts))
    rows = con.execute(
        """
        WITH dom AS (
          SELECT DISTINCT observed, lower(rtrim(observed, '.')) AS v FROM obs WHERE kind = 'domain'
        ), suffixes AS (
          SELECT observed, v, array_to_string(labels[i:], '.') AS suffix FROM (
            SELECT observed, v, string_split(v, '.') AS labels,
                   unnest(range(1, len(string_split(v, '.')))) AS i
            FROM dom)
        ), dom_hits AS (
          SELECT s.observed, d.ind_id, CASE WHEN s.suffix = s.v THEN 'exact' ELSE 'parent-domain' END AS m,
                 'ioc.domain' AS rule_id, 'domain' AS kind
          FROM suffixes s JOIN ind_domain d ON d.key = s.suffix
        ), ips AS (
          SELECT DISTINCT observed, ip2int(observed) AS n FROM obs WHERE kind = 'ip' AND is_ipv4(observed)
        ), ip_hits AS (
          SELECT p.observed, i.ind_id, CASE WHEN i.itype = 'cidr' THEN 'cidr' ELSE 'exact' END AS m,
                 'ioc.ip' AS rule_id, 'ip' AS kind
          FROM ips p JOIN ind_ip i ON p.n BETWEEN i.lo AND i.hi
        ), url_hits AS (
          SELECT o.observed, u.ind_id, 'exact' AS m, 'ioc.url' AS rule_id, 'url' AS kind
          FROM (SELECT DISTINCT observed FROM obs WHERE kind = 'url' AND observed LIKE '%://%') o
          JOIN ind_url u ON u.key = norm_url(o.observed)
        ), hash_hits AS (
          SELECT o.observed, h.ind_id, 'exact' AS m, 'ioc.hash' AS rule_id, 'hash' AS kind
          FROM (SELECT DISTINCT observed FROM obs WHERE kind = 'hash') o
          JOIN ind_hash h ON h.key = lower(o.observed)
        ), hits AS (
          SELECT * FROM dom_hits UNION ALL SELECT * FROM ip_hits
          UNION ALL SELECT * FROM url_hits UNION ALL SELECT * FROM hash_hits
        )
        SELECT o.file_id, o.row_id, o.field, o.observed, h.rule_id, h.m, ind.itype, ind.value
        FROM hits h
        JOIN obs o ON o.observed = h.observed AND o.kind = h.kind
        JOIN ind ON ind.ind_id = h.ind_id
        ORDER BY o.file_id, o.row_id, o.field, ind.itype, ind.value
        """
    ).fetchall()
    return [Match(*row) for row in rows]
