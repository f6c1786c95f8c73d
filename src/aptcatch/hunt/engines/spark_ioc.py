"""The IOC sweep on Spark: one pass over the events, broadcast hash joins, per-file counts in the same job.

Same semantics as ``aptcatch.hunt.ioc`` (DuckDB), other plan: every event is turned into its join keys
(one ``explode``), the small indicator key table is broadcast, and a ``groupBy(file_id)`` returns, per
file, the event and bad-line counts and the matched rows (with the columns alerts need), so the data is
scanned once and nothing but matches leaves the executors:

* domains: the label suffixes of ``lower(rtrim(value, '.'))`` with two labels or more, key ``d|suffix``;
* IPv4: key ``i|<address >> 16>``; each indicator range ``[lo, hi]`` (an address or a CIDR block) is listed
  under every /16 bucket it covers (a /0 covers 65,536), the join keeps ``lo <= n <= hi`` — a range join
  done as an equi-join, so it scales with the events, not events x blocks;
* URLs: key ``u|norm_url(value)`` (both sides through the same Spark SQL expression);
* hashes: key ``h|lower(value)``.

The indicator side (CIDR arithmetic) is computed in Python on the driver, restating ioc.py's SQL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aptcatch.hunt.engines.spark_sql import (
    URL_RE,
    col,
    domain_labels,
    domain_suffixes,
    ip2int,
    is_ipv4,
    lit,
    norm_url,
    url_parts,
    url_rest,
)
from aptcatch.hunt.ioc import OBSERVED, IndicatorSet
from aptcatch.hunt.readers.base import NORMALISED as FRAME_FIELDS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ALERT_COLUMNS: tuple[str, ...] = ("@timestamp", "host.name", "event.dataset", "event.code", "event.original")
_RULE = {"domain": "ioc.domain", "ip": "ioc.ip", "url": "ioc.url", "hash": "ioc.hash"}
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(\.{_OCTET}){{3}}")
_BUCKET = 16  # the IPv4 join key is the address's top 16 bits


def _try_uint(text: str) -> int | None:
    """DuckDB's TRY_CAST(text AS UBIGINT) for the strings an indicator can hold."""
    try:
        n = int(text.strip())
    except ValueError:
        return None
    return n if n >= 0 else None


def _ip2int(value: str) -> int | None:
    parts = [*value.split("."), "", "", "", ""][:4]
    nums = [_try_uint(p) for p in parts]
    if any(n is None for n in nums):
        return None
    a, b, c, d = (n or 0 for n in nums)
    return (a << 24) + (b << 16) + (c << 8) + d


def ip_range(itype: str, value: str) -> tuple[int, int] | None:
    """The ``[lo, hi]`` of an ipv4 or cidr indicator, as ioc.py's ``ind_ip`` table computes it."""
    if itype == "ipv4":
        n = _ip2int(value) if _IPV4.fullmatch(value) else None
        return None if n is None else (n, n)
    base, _, plen_text = value.partition("/")
    plen = _try_uint(plen_text.split("/", 1)[0])
    if plen is None or not 0 <= plen <= 32 or not _IPV4.fullmatch(base):
        return None
    n = _ip2int(base)
    if n is None:
        return None
    net = (n >> (32 - plen)) << (32 - plen)
    return net, net + (1 << (32 - plen)) - 1


@dataclass(frozen=True)
class IndicatorKeys:
    """The indicators in id order (``ind_id`` = position) and the rows of the broadcast key table."""

    entries: list[tuple[str, str]]
    rows: list[tuple[str, int, int | None, int | None, bool]]  # key (url: u|raw value), ind_id, lo, hi, cidr


def indicator_keys(indicators: IndicatorSet) -> IndicatorKeys:
    entries = list(indicators.entries)
    rows: list[tuple[str, int, int | None, int | None, bool]] = []
    for ind_id, (itype, value) in enumerate(entries):
        if itype == "domain":
            rows.append((f"d|{value}", ind_id, None, None, False))
        elif itype in ("md5", "sha1", "sha256"):
            rows.append((f"h|{value.lower()}", ind_id, None, None, False))
        elif itype == "url":
            rows.append((f"u|{value}", ind_id, None, None, False))  # keyed in Spark with norm_url
        elif itype in ("ipv4", "cidr") and (r := ip_range(itype, value)) is not None:
            lo, hi = r
            for bucket in range(lo >> _BUCKET, (hi >> _BUCKET) + 1):
                rows.append((f"i|{bucket}", ind_id, lo, hi, itype == "cidr"))
    return IndicatorKeys(entries, rows)


def _key_table(spark: SparkSession, keys: IndicatorKeys) -> DataFrame:
    schema = "key string, ind_id bigint, lo bigint, hi bigint, cidr boolean"
    df = spark.createDataFrame(keys.rows, schema) if keys.rows else spark.createDataFrame([], schema)
    scheme, hostport = url_parts("substr(key, 3)")
    df = df.where(f"NOT startswith(key, 'u|') OR substr(key, 3) RLIKE '{URL_RE}'")
    df = df.selectExpr("*", f"{scheme} AS _us", f"{hostport} AS _uhr")
    df = df.selectExpr("*", "lower(_uhr) AS _uh", f"{url_rest('substr(key, 3)', '_uhr')} AS _ur")
    return df.selectExpr(
        f"IF(startswith(key, 'u|'), concat('u|', {norm_url('_us', '_uh', '_ur')}), key) AS key",
        "ind_id",
        "lo",
        "hi",
        "cidr",
    )


def _observations(columns: Sequence[str]) -> str:
    """SQL for the array of (field, observed, key, n, exact) structs of one event, a marker first."""

    def item(field: str, key: str, n: str = "CAST(NULL AS BIGINT)", exact: str = "true") -> str:
        return (
            f"named_struct('field', {lit(field)}, 'observed', {col(field)}, 'key', {key}, 'n', {n},"
            f" 'exact', {exact})"
        )

    marker = (
        "array(named_struct('field', CAST(NULL AS STRING), 'observed', CAST(NULL AS STRING),"
        " 'key', CAST(NULL AS STRING), 'n', CAST(NULL AS BIGINT), 'exact', CAST(NULL AS BOOLEAN)))"
    )
    arrays = [marker]
    for kind, fields in OBSERVED.items():
        for f in fields:
            if f not in columns:
                continue
            c = col(f)
            if kind == "domain":
                element = item(f, "concat('d|', s)", exact="i = 0")
                suffixes = domain_suffixes(col("_dl_" + f))
                arrays.append(f"IF({c} IS NULL, array(), transform({suffixes}, (s, i) -> {element}))")
            elif kind == "ip":
                n = ip2int(c)
                key = f"concat('i|', CAST(shiftright({n}, {_BUCKET}) AS STRING))"
                arrays.append(f"IF({c} IS NOT NULL AND {is_ipv4(c)}, array({item(f, key, n)}), array())")
            elif kind == "url":
                norm = norm_url(*(col(f"_u{p}_{f}") for p in "shr"))
                element = item(f, f"concat('u|', {norm})")
                arrays.append(f"IF({c} IS NOT NULL AND {c} RLIKE '{URL_RE}', array({element}), array())")
            else:
                element = item(f, f"concat('h|', lower({c}))")
                arrays.append(f"IF({c} IS NOT NULL, array({element}), array())")
    return f"flatten(array({', '.join(arrays)}))"


@dataclass
class FileSweep:
    """What one pass found in one file: counts, a bad-line sample, and the matches with their rows."""

    rows: int
    bad_lines: int
    sample: str | None
    hits: list[dict[str, Any]]  # rk, field, observed, rule_id, match, ind_id, and ALERT_COLUMNS


def sweep_frame(
    spark: SparkSession, events: DataFrame, indicators: IndicatorSet
) -> tuple[IndicatorKeys, dict[int, FileSweep]]:
    """One job: per file the counts and every (row, field, indicator) match."""
    from pyspark.sql import functions as sf

    keys = indicator_keys(indicators)
    table = sf.broadcast(_key_table(spark, keys))
    carried = [col(c) for c in ALERT_COLUMNS]
    staged, staged2 = [], []  # per-field values the observation array reads more than once
    for kind, fields in OBSERVED.items():
        for f in fields:
            if kind == "domain":
                staged.append(f"{domain_labels(col(f))} AS {col('_dl_' + f)}")
            elif kind == "url":
                scheme, hostport = url_parts(col(f))
                staged += [f"{scheme} AS {col('_us_' + f)}", f"{hostport} AS {col('_uhr_' + f)}"]
                staged2 += [
                    f"lower({col('_uhr_' + f)}) AS {col('_uh_' + f)}",
                    f"{url_rest(col(f), col('_uhr_' + f))} AS {col('_ur_' + f)}",
                ]
    events = events.selectExpr("*", *staged).selectExpr("*", *staged2)
    obs = events.selectExpr(
        "file_id", "rk", "bad", "sample", *carried, f"explode({_observations(FRAME_FIELDS)}) AS o"
    )
    joined = obs.join(
        table,
        (obs["o.key"] == table["key"])
        & (table["lo"].isNull() | obs["o.n"].between(table["lo"], table["hi"])),
        "left",
    )
    rule = (
        "CASE substr(o.key, 1, 1) WHEN 'd' THEN 'ioc.domain' WHEN 'i' THEN 'ioc.ip' WHEN 'u' THEN 'ioc.url'"
        " ELSE 'ioc.hash' END"
    )
    match = (
        "CASE WHEN startswith(o.key, 'd|') AND NOT o.exact THEN 'parent-domain' WHEN cidr THEN 'cidr'"
        " ELSE 'exact' END"
    )
    alert = ", ".join(f"{lit(c)}, {col(c)}" for c in ALERT_COLUMNS)
    hit = (
        f"IF(ind_id IS NULL, NULL, named_struct('rk', rk, 'field', o.field, 'observed', o.observed,"
        f" 'rule_id', {rule}, 'match', {match}, 'ind_id', ind_id, 'cols', map({alert})))"
    )
    per_file = joined.groupBy("file_id").agg(
        sf.expr("count_if(o.field IS NULL AND NOT bad)").alias("rows"),
        sf.expr("count_if(o.field IS NULL AND bad)").alias("bad_lines"),
        sf.expr("max(sample)").alias("sample"),
        sf.expr(f"collect_list({hit})").alias("hits"),
    )
    out: dict[int, FileSweep] = {}
    for r in per_file.collect():
        hits = []
        for h in r["hits"]:
            d = h.asDict()
            d.update(d.pop("cols"))
            hits.append(d)
        out[int(r["file_id"])] = FileSweep(int(r["rows"]), int(r["bad_lines"]), r["sample"], hits)
    return keys, out
