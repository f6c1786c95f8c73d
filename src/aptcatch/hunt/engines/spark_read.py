"""Log files to Spark DataFrames with the readers' normalised columns, read by Spark itself.

Zeek JSON and TSV, Squid access logs and generic JSON lines (with a field mapping) are read with
``spark.read.text`` and normalised by Spark SQL expressions that restate the Python readers
(``aptcatch.hunt.readers``) rule by rule; JSON lines are parsed into ``map<string, variant>`` so numbers
keep their JSON spelling. Other formats (EVTX, Windows JSON, CSV, and a Zeek TSV file with more than one
distinct header) are read by the Python readers and handed to Spark as Arrow tables, so they must fit in
the driver's memory.

Every frame has the columns of :data:`FRAME_COLUMNS`: ``file_id`` (the file's position in the hunt),
``rk`` (a row key, increasing in file order within a file), ``bad`` (a line that is no event: counted,
never fatal), ``sample`` (the text of a bad line), the :data:`NORMALISED` columns, and ``raw`` (the source
fields as ``map<string, string>``, for Sigma; evaluated only when used).

Known differences from the Python readers, all in raw fields or malformed input: a JSON line with text
after its closing brace is parsed by Spark; floats written with an exponent keep Java's spelling; a Zeek
JSON file's log type is settled per record (``_path``/``@stream``, the file name, then the record's own
fields) rather than by its first record; bad lines are counted with one sample, not line numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from aptcatch.hunt.engines.spark_sql import col, iso_from_epoch, lit, stxt, url_domain, url_host, vnull, vtxt
from aptcatch.hunt.readers.base import NORMALISED, ReadResult
from aptcatch.hunt.readers.squid import URL_EXTENSION_RE, URL_PATH_RE, URL_QUERY_RE
from aptcatch.hunt.readers.zeek import log_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FRAME_COLUMNS: tuple[str, ...] = ("file_id", "rk", "bad", "sample", *NORMALISED, "raw")
SPARK_FORMATS = ("zeek-json", "zeek-tsv", "squid", "json")
_HASHES = ("file.hash.md5", "file.hash.sha1", "file.hash.sha256")
_SQUID_RE = (
    "^[0-9]{9,11}(\\\\.[0-9]+)?\\\\s+-?[0-9]+\\\\s+\\\\S+\\\\s+[A-Z_]+/[0-9]{3}\\\\s+[0-9]+\\\\s+\\\\S+"
    "\\\\s+\\\\S+\\\\s+\\\\S+\\\\s+[A-Z_]+/\\\\S+"
)


@dataclass(frozen=True)
class SparkFile:
    """One input file as Spark sees it: ``path`` for ``spark.read``, ``key`` as ``_metadata.file_path``."""

    file_id: int
    path: str
    key: str
    name: str


def _lines(spark: SparkSession, files: Sequence[SparkFile]) -> DataFrame:
    """The non-blank lines of the files, with file_id and a row key in file order."""
    from pyspark.sql import functions as sf

    ids = spark.createDataFrame([(f.key, f.file_id) for f in files], "fkey string, file_id int")
    text = spark.read.text([f.path for f in files]).select(
        "value", sf.col("_metadata.file_path").alias("fkey"), sf.monotonically_increasing_id().alias("rk")
    )
    return text.join(sf.broadcast(ids), "fkey").where("NOT (value RLIKE '^\\\\s*\\\\z')")


def _frame(df: DataFrame, bad: str, columns: dict[str, str], raw: str) -> DataFrame:
    """Select the frame columns from per-column SQL; columns not given are NULL."""
    from pyspark.sql import functions as sf

    exprs = [
        sf.col("file_id"),
        sf.col("rk"),
        sf.expr(bad).alias("bad"),
        sf.expr(f"IF({bad}, value, NULL)").alias("sample"),
    ]
    for name in NORMALISED:
        e = "value" if name == "event.original" else columns.get(name)
        expr = sf.expr(f"IF({bad}, NULL, {e})") if e else sf.lit(None).cast("string")
        exprs.append(expr.alias(name))
    exprs.append(sf.expr(f"IF({bad}, NULL, {raw})").alias("raw"))
    return df.select(*exprs)


def _stage(df: DataFrame, columns: dict[str, str]) -> DataFrame:
    """Add computed columns in one select; later stages refer to them by name, so no SQL is repeated
    (Spark keeps a stage apart when merging it would compute an expression twice)."""
    return df.selectExpr("*", *[f"{e} AS {col(n)}" for n, e in columns.items()])


def _texts(df: DataFrame, fields: Sequence[str]) -> DataFrame:
    """``_t_f`` = ``text()`` of field ``f``, from ``tm`` (the record's text map; ``rm`` its raw map): the
    ``id.orig_h`` names fall back to the ``id_orig_h`` spelling when the first is absent or null."""

    def one(name: str) -> str:
        t = f"try_element_at(tm, {lit(name)})"
        if not name.startswith("id."):
            return t
        other = f"try_element_at(tm, {lit(name.replace('.', '_'))})"
        return f"IF(try_element_at(rm, {lit(name)}) IS NULL, {other}, {t})"

    return _stage(df, {f"_t_{n}": one(n) for n in fields})


ZEEK_FIELDS = (
    "ts", "id.orig_h", "id.resp_h", "id.orig_p", "id.resp_p", "query", "host", "uri", "user_agent",
    "server_name", "tx_hosts", "rx_hosts", "filename", "md5", "sha1", "sha256",
)  # fmt: skip


def _zeek(df: DataFrame, ts_raw: str, ltype: str) -> tuple[DataFrame, dict[str, str]]:
    """normalise_zeek as SQL stages over the text map ``tm``; the frame's normalised columns. A list's
    first element is the first item of its comma-joined text."""
    df = _texts(df, ZEEK_FIELDS)

    def t(name: str) -> str:
        return col(f"_t_{name}")

    host, uri, port = t("host"), t("uri"), t("id.resp_p")
    df = _stage(
        df,
        {
            "_full": (
                f"IF({ltype} != 'http' OR {host} IS NULL, NULL,"
                f" IF({uri} IS NOT NULL AND instr({uri}, '://') > 0,"
                f" {uri}, concat(IF({port} = '443', 'https', 'http'), '://', {host}, coalesce({uri}, '/'))))"
            ),
            "_tx": f"substring_index({t('tx_hosts')}, ',', 1)",
            "_rx": f"substring_index({t('rx_hosts')}, ',', 1)",
            "_ts": ts_raw,
        },
    )
    df = _stage(df, {"_fhost": url_host("_full")})
    is_files = f"{ltype} = 'files'"

    def when(kind: str, value: str) -> str:
        return f"IF({ltype} = '{kind}', {value}, NULL)"

    cols = {
        "event.dataset": f"concat('zeek.', {ltype})",
        "@timestamp": iso_from_epoch("_ts", t("ts")),
        "source.ip": f"IF({is_files}, _tx, {t('id.orig_h')})",
        "destination.ip": f"IF({is_files}, _rx, {t('id.resp_h')})",
        "source.port": t("id.orig_p"),
        "destination.port": port,
        "host.name": f"IF({is_files}, _rx, {t('id.orig_h')})",
        "dns.question.name": when("dns", t("query")),
        "url.full": "_full",
        "url.domain": url_domain("_full", "_fhost"),
        "user_agent.original": when("http", t("user_agent")),
        "destination.domain": when("ssl", t("server_name")),
        "file.path": when("files", t("filename")),
    }
    for h in _HASHES:
        cols[h] = when("files", f"lower({t(h.rsplit('.', 1)[1])})")
    return df, cols


def _zeek_name_types(files: Sequence[SparkFile]) -> str:
    """The log type each file's name says (NULL when it says none), as a SQL CASE on file_id."""
    cases = []
    for f in files:
        # log_type falls back to the fields only when the name says nothing: two different field sets
        # giving one answer means the name decided
        named = log_type({"query"}, Path(f.name))
        if named == log_type({"uri"}, Path(f.name)):
            cases.append(f"WHEN {f.file_id} THEN {lit(named)}")
    return f"(CASE file_id {' '.join(cases)} ELSE NULL END)" if cases else "CAST(NULL AS STRING)"


def _json_maps(df: DataFrame) -> DataFrame:
    """``j``: the line as ``map<string, variant>`` (NULL: no JSON object); ``rm`` the same with JSON null
    as NULL; ``tm``: ``text()`` of every value (``text`` is generated once, inside one lambda)."""
    df = df.selectExpr("*", "from_json(value, 'map<string,variant>') AS j")
    return _stage(
        df,
        {
            "rm": f"transform_values(j, (k, v) -> {vnull('v')})",
            "tm": f"transform_values(j, (k, v) -> {vtxt('v')})",
        },
    )


def read_zeek_json(spark: SparkSession, files: Sequence[SparkFile]) -> DataFrame:
    df = _json_maps(_lines(spark, files))

    def raw(name: str) -> str:
        return f"cast(try_element_at(rm, {lit(name)}) AS STRING)"

    declared = f"coalesce(nullif({raw('_path')}, ''), nullif({raw('@stream')}, ''))"
    by_fields = (
        "CASE WHEN map_contains_key(j, 'query') THEN 'dns' WHEN map_contains_key(j, 'uri') THEN 'http'"
        " WHEN map_contains_key(j, 'server_name') THEN 'ssl' WHEN map_contains_key(j, 'fuid') THEN 'files'"
        " ELSE 'conn' END"
    )
    df = _stage(df, {"ltype": f"coalesce({declared}, {_zeek_name_types(files)}, {by_fields})"})
    df, cols = _zeek(df, raw("ts"), "ltype")
    return _frame(df, "j IS NULL", cols, "tm")


@dataclass(frozen=True)
class TsvHeader:
    separator: str
    fields: tuple[str, ...]
    declared: str | None


def tsv_headers(spark: SparkSession, files: Sequence[SparkFile]) -> dict[int, TsvHeader | None]:
    """Each file's header (``#separator``, ``#fields``, ``#path``); None when one of them has more than one
    value in the file (the Python reader then reads it, line order deciding which header applies)."""
    from pyspark.sql import functions as sf

    ids = spark.createDataFrame([(f.key, f.file_id) for f in files], "fkey string, file_id int")
    lines = (
        spark.read.text([f.path for f in files])
        .where(
            "startswith(value, '#separator') OR startswith(value, '#fields') OR startswith(value, '#path')"
        )
        .select("value", sf.col("_metadata.file_path").alias("fkey"))
        .join(sf.broadcast(ids), "fkey")
        .distinct()
        .collect()
    )
    found: dict[int, dict[str, set[str]]] = {f.file_id: {} for f in files}
    for row in lines:
        line: str = row["value"]
        tag = (
            "#separator"
            if line.startswith("#separator")
            else "#fields"
            if line.startswith("#fields")
            else "#path"
        )
        found[row["file_id"]].setdefault(tag, set()).add(line)
    out: dict[int, TsvHeader | None] = {}
    for file_id, tags in found.items():
        if any(len(v) > 1 for v in tags.values()):
            out[file_id] = None
            continue
        sep = "\t"
        if "#separator" in tags:
            line = next(iter(tags["#separator"]))
            raw = line.split(" ", 1)[1] if " " in line else "\\x09"
            sep = raw.encode().decode("unicode_escape")
        fields = tuple(next(iter(tags["#fields"])).split(sep)[1:]) if "#fields" in tags else ()
        path_line = next(iter(tags.get("#path", set())), None)
        declared = path_line.split(sep)[1] if path_line is not None and sep in path_line else None
        out[file_id] = TsvHeader(sep, fields, declared)
    return out


def read_zeek_tsv(
    spark: SparkSession, files: Sequence[SparkFile], headers: dict[int, TsvHeader]
) -> DataFrame:
    """Zeek TSV files whose single header is known (see :func:`tsv_headers`)."""
    import re

    from pyspark.sql import functions as sf

    rows = []
    for f in files:
        h = headers[f.file_id]
        sep = (
            h.separator
            if len(h.separator) == 1 and h.separator not in ".$|()[{^?*+\\"
            else re.escape(h.separator)
        )
        ltype = log_type(set(h.fields), Path(f.name), h.declared)
        rows.append((f.file_id, sep, list(h.fields), ltype))
    consts = spark.createDataFrame(rows, "file_id int, sep string, fields array<string>, ltype string")
    df = (
        _lines(spark, files)
        .where("NOT startswith(value, '#')")
        .join(sf.broadcast(consts), "file_id")
        .selectExpr("*", "split(value, sep, -1) AS vals")
        .selectExpr(
            "*",
            "IF(size(fields) = 0 OR size(vals) != size(fields), NULL,"
            " map_from_arrays(fields, transform(vals, v -> IF(v IN ('-', '(empty)'), NULL, v)))) AS rm",
        )
    )
    df = _stage(df, {"tm": f"transform_values(rm, (k, v) -> {stxt('v')})"})
    df, cols = _zeek(df, "try_element_at(rm, 'ts')", "ltype")
    return _frame(df, "rm IS NULL", cols, "tm")


def read_squid(spark: SparkSession, files: Sequence[SparkFile]) -> DataFrame:
    df = _lines(spark, files).selectExpr(
        "*", f"value RLIKE '{_SQUID_RE}' AS ok", "split(value, '\\\\s+', -1) AS t"
    )
    df = _stage(
        df,
        {
            "_url": "get(t, 6)",
            "_method": "get(t, 5)",
            "_peer": "substr(get(t, 8), instr(get(t, 8), '/') + 1)",
        },
    )
    connect = "(_method = 'CONNECT' AND instr(_url, '://') = 0)"
    host_part = (
        "IF(instr(_url, ':') > 0,"
        " substr(_url, 1, length(_url) - length(substring_index(_url, ':', -1)) - 1), _url)"
    )
    df = _stage(df, {"_connect": connect, "_uhost": url_host("_url")})
    df = _stage(df, {"_domain": f"IF(_connect, lower({host_part}), {url_domain('_url', '_uhost')})"})
    cols = {
        "@timestamp": iso_from_epoch("get(t, 0)", "get(t, 0)"),
        "host.name": "get(t, 2)",
        "source.ip": "get(t, 2)",
        "destination.ip": "IF(_peer = '-', NULL, _peer)",
        "url.full": "IF(_connect, NULL, _url)",
        "url.domain": "_domain",
        "destination.domain": "_domain",
        "event.dataset": "'squid.access'",
        "user.name": "IF(get(t, 7) = '-', NULL, get(t, 7))",
    }
    # the URL's path, query and extension, as readers/squid.py cuts them (Sigma's proxy fields)
    df = _stage(df, {"_path": f"nullif(regexp_extract(_url, {lit(URL_PATH_RE)}, 1), '')"})
    raw = (
        "map('http.request.method', _method,"
        " 'http.response.status_code', substring_index(get(t, 3), '/', -1),"
        " 'event.action', substring_index(get(t, 3), '/', 1),"
        " 'url.path', _path,"
        f" 'url.query', IF(_connect, NULL, nullif(regexp_extract(_url, {lit(URL_QUERY_RE)}, 1), '')),"
        f" 'url.extension', nullif(regexp_extract(_path, {lit(URL_EXTENSION_RE)}, 1), ''))"
    )
    return _frame(df, "NOT ok", cols, raw)


def read_json(spark: SparkSession, files: Sequence[SparkFile], mapping: dict[str, str] | None) -> DataFrame:
    """Generic JSON lines: ``apply_mapping`` of readers/generic.py as SQL."""
    mapping = mapping or {}
    df = _json_maps(_lines(spark, files))

    def lookup(dotted: str) -> str:  # top-level key as is, else the nested path (objects are JSON text)
        top = f"try_element_at(tm, {lit(dotted)})"
        if "." not in dotted:
            return top
        head, *rest = dotted.split(".")
        path = "$" + "".join(f"[{lit(p)}]" for p in rest)
        nested = stxt(f"get_json_object(try_element_at(tm, {lit(head)}), {lit(path)})")
        return f"IF(map_contains_key(j, {lit(dotted)}), {top}, {nested})"

    def value_of(dst: str) -> str:  # mapped sources (the last one given wins), then the field itself
        sources = [lookup(src) for src, d in mapping.items() if d == dst][::-1]
        return f"coalesce({', '.join([*sources, lookup(dst)])})"

    names = [n for n in NORMALISED if n != "event.original"]
    df = _stage(df, {f"_n_{n}": value_of(n) for n in names} | {"_hashes": value_of("Hashes")})
    df = _stage(
        df,
        {
            "_uhost": url_host(col("_n_url.full")),
            "_hparts": "transform(split(_hashes, ','),"
            " p -> named_struct('a', lower(trim(substring_index(p, '=', 1))),"
            " 'd', IF(instr(p, '=') > 0, substr(p, instr(p, '=') + 1), '')))",
        },
    )
    cols = {n: col(f"_n_{n}") for n in names}
    cols["url.domain"] = f"coalesce({cols['url.domain']}, {url_domain(cols['url.full'], '_uhost')})"
    for h in _HASHES:
        algo = h.rsplit(".", 1)[1]
        parsed = f"try_element_at(reverse(filter(_hparts, x -> x.a = '{algo}' AND x.d != '')), 1).d"
        use = f"({cols['file.hash.sha256']} IS NULL AND _hashes IS NOT NULL)"
        cols[h] = f"lower(IF({use} AND {parsed} IS NOT NULL, trim({parsed}), {cols[h]}))"
    extra = [(dst, value_of(dst)) for dst in dict.fromkeys(mapping.values()) if dst not in NORMALISED]
    raw = "tm"
    if extra:
        pairs = ", ".join(f"{lit(d)}, {e}" for d, e in extra)
        raw = f"map_concat({raw}, map_filter(map({pairs}), (k, v) -> v IS NOT NULL))"
    return _frame(df, "j IS NULL", cols, raw)


def from_arrow(spark: SparkSession, file_id: int, result: ReadResult) -> DataFrame:
    """A table read by a Python reader, as a frame (row key = its row number; no raw map)."""
    from pyspark.sql import functions as sf

    table = result.table
    cols = {
        n: table.column(n) if n in table.column_names else pa.nulls(table.num_rows, pa.string())
        for n in NORMALISED
    }
    arrow = pa.table(
        {
            "rk": pa.array(range(table.num_rows), type=pa.int64()),
            **{n: c.cast(pa.string()) for n, c in cols.items() if n != "event.original"},
        }
    )
    df = spark.createDataFrame(arrow) if table.num_rows else spark.createDataFrame([], _empty_schema())
    return df.select(
        sf.lit(file_id).alias("file_id"),
        "rk",
        sf.lit(False).alias("bad"),
        sf.lit(None).cast("string").alias("sample"),
        *[
            sf.col(col(n)) if n != "event.original" else sf.lit(None).cast("string").alias(n)
            for n in NORMALISED
        ],
        sf.lit(None).cast("map<string,string>").alias("raw"),
    )


def _empty_schema() -> str:
    return "rk bigint, " + ", ".join(f"{col(n)} string" for n in NORMALISED if n != "event.original")
