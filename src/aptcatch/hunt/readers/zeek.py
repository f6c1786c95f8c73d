"""Zeek logs, JSON lines and TSV (``#fields`` header): conn, dns, http, ssl, files, x509 and the rest.

Read and normalised by DuckDB (:mod:`aptcatch.hunt.readers.duck`): a JSON line is parsed once by
``json_extract_string`` for the fields the normalised columns need, a TSV line is split on the declared
separator. The log type comes from ``_path`` / ``@stream`` (JSON, first record), ``#path`` (TSV), the
file name or the fields. ``host.name`` is the connection's originator (the internal host, for the usual
sensor placement). The raw Zeek fields (``id.orig_h``, ``query``, ``host``, ``uri`` …) are the Sigma
segment, built from the file when Sigma first asks (:meth:`LineResult.sigma_segments`); the TSV reader
takes the first ``#fields`` header of the file for all its lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from aptcatch.hunt.readers.base import OBSERVED_COLUMNS, ROW, Segment, text
from aptcatch.hunt.readers.duck import (
    BAD,
    EVENT,
    SKIP,
    STATE,
    LineResult,
    ident,
    jpath,
    run_lines,
    sql_str,
    with_hostport,
)

_LOG_TYPES = ("conn", "dns", "http", "ssl", "files", "x509", "notice", "weird", "smtp", "ftp", "kerberos")

# Zeek fields the normalised columns read; ``id.*`` also under the ``id_*`` spelling some exporters use.
_COMMON = ("ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")
_BY_TYPE: dict[str, tuple[str, ...]] = {
    "dns": ("query",),
    "http": ("host", "uri", "user_agent"),
    "ssl": ("server_name",),
    "files": ("tx_hosts", "rx_hosts", "filename", "md5", "sha1", "sha256"),
}
# The fields the observed columns (what the IOC sweep reads) take, per log type; other types: id.*_h.
# A file is first read for these only; the rest when the full table is asked for (LineResult).
OBSERVED_FIELDS: dict[str, tuple[str, ...]] = {
    "dns": ("id.orig_h", "id.resp_h", "query"),
    "http": ("id.orig_h", "id.resp_h", "id.resp_p", "host", "uri"),
    "ssl": ("id.orig_h", "id.resp_h", "server_name"),
    "files": ("tx_hosts", "rx_hosts", "md5", "sha1", "sha256"),
}


def log_type(fields: dict[str, Any] | set[str], path: Path, declared: str | None = None) -> str:
    if declared:
        return declared
    stem = path.name.lower()
    for t in _LOG_TYPES:
        if re.search(rf"(^|[_.-]){t}([_.-]|$)", stem):
            return t
    keys = set(fields)
    if "query" in keys:
        return "dns"
    if "uri" in keys:
        return "http"
    if "server_name" in keys:
        return "ssl"
    if "fuid" in keys:
        return "files"
    return "conn"


def _normalise_sql(ltype: str, source: str, observed: bool = False) -> str:
    """The normalising SELECT over ``source`` (columns named as Zeek fields, already NULL when unset);
    ``observed``: only :data:`STATE` and the observed columns (:data:`OBSERVED_FIELDS` their fields)."""

    def f(name: str) -> str:
        return ident(name)

    cols = [
        (f"iso_epoch({f('ts')})", "@timestamp"),
        (f"'zeek.{ltype}'", "event.dataset"),
        (f("id.orig_p"), "source.port"),
        (f("id.resp_p"), "destination.port"),
    ]
    pre = ""
    if ltype == "files":
        cols += [
            (f"first_of({f('tx_hosts')})", "source.ip"),
            (f"first_of({f('rx_hosts')})", "destination.ip"),
            (f("filename"), "file.path"),
        ]
        cols += [(f"lower({f(a)})", f"file.hash.{a}") for a in ("md5", "sha1", "sha256")]
    else:
        cols += [(f("id.orig_h"), "source.ip"), (f("id.resp_h"), "destination.ip")]
    if ltype == "dns":
        cols.append((f("query"), "dns.question.name"))
    elif ltype == "ssl":
        cols.append((f("server_name"), "destination.domain"))
    elif ltype == "http":
        pre = f""", h AS (
  SELECT *, CASE WHEN {f("host")} IS NOT NULL THEN CASE WHEN contains({f("uri")}, '://') THEN {f("uri")}
    ELSE CASE WHEN {f("id.resp_p")} = '443' THEN 'https' ELSE 'http' END || '://' || {f("host")}
         || coalesce({f("uri")}, '/') END END AS __url
  FROM {source}
)"""
        source = with_hostport("h", "__url")
        cols += [
            ("__url", "url.full"),
            ("CASE WHEN contains(__url, '://') THEN host_of(hp) END", "url.domain"),
            (f("user_agent"), "user_agent.original"),
        ]
    picked = [f"{e} AS {ident(n)}" for e, n in cols if not observed or n in OBSERVED_COLUMNS]
    return f"{pre} SELECT {', '.join([STATE, *picked])} FROM {source}"


def _fields(ltype: str, observed: bool) -> tuple[str, ...]:
    """The Zeek fields the normalised columns read (``observed``: the observed columns only)."""
    if not observed:
        return _COMMON + _BY_TYPE.get(ltype, ())
    return OBSERVED_FIELDS.get(ltype, ("id.orig_h", "id.resp_h"))


def _share(ltype: str) -> dict[str, str]:
    return {"host.name": "destination.ip" if ltype == "files" else "source.ip"}


def _url_host(ltype: str) -> str | None:
    """http's ``url.domain`` is ``host_of`` the host and port of ``url.full`` (see ``_normalise_sql``)."""
    return "url.domain" if ltype == "http" else None


def _first_record(path: Path) -> dict[str, Any] | None:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh):
            if n > 1000:
                break
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                return rec
    return None


def read_zeek_json(path: Path, mapping: dict[str, str] | None = None) -> LineResult:
    first = _first_record(path) or {}
    declared = first.get("_path") or first.get("@stream")
    ltype = log_type(first, path, declared if isinstance(declared, str) else None)
    dotted = any(isinstance(k, str) and k.startswith("id.") for k in first)
    return run_lines(
        path,
        "zeek-json",
        _json_select(ltype, observed=False, dotted=dotted),
        "not a JSON object",
        raw_reader=lambda r: _json_segment(r, ltype),
        share=_share(ltype),
        url_host=_url_host(ltype),
        observed=_json_select(ltype, observed=True, dotted=dotted),
    )


def _json_select(ltype: str, observed: bool, dotted: bool = False) -> str:
    """The JSON reader's projection: one ``json_extract_string`` of the fields it reads (Zeek's
    ``id.*`` also under the ``id_*`` spelling), then :func:`_normalise_sql`.

    ``dotted`` (the file's first record spells them ``id.*``): the ``id_*`` spellings are extracted, by
    a second ``json_extract_string``, only from the lines that lack an ``id.*`` field read; the values
    are the same (the ``id.*`` one when there is one), and a file of Zeek's own spelling parses each line
    once for fewer paths (two paths cost as much as a tenth of the parse).
    """
    read = _fields(ltype, observed)
    ids = [n for n in read if n.startswith("id.")]
    paths: list[str] = []
    for name in read:
        paths.append(jpath(name))
        if name.startswith("id.") and not dotted:
            paths.append(jpath(name.replace(".", "_")))
    values = []
    i = 1
    for name in _fields(ltype, False):
        if name not in read:
            values.append(f"NULL::VARCHAR AS {ident(name)}")
        elif name.startswith("id.") and dotted:
            values.append(f"txt(coalesce(v[{i}], u[{ids.index(name) + 1}])) AS {ident(name)}")
            i += 1
        elif name.startswith("id."):
            values.append(f"txt(coalesce(v[{i}], v[{i + 1}])) AS {ident(name)}")
            i += 2
        else:
            values.append(f"txt(v[{i}]) AS {ident(name)}")
            i += 1
    under = "NULL::VARCHAR[]"
    if dotted and ids:
        lacking = " OR ".join(f"v[{paths.index(jpath(n)) + 1}] IS NULL" for n in ids)
        spelled = ", ".join(sql_str(jpath(n.replace(".", "_"))) for n in ids)
        again = f"try(json_extract_string(line, [{spelled}]))"
        under = f"CASE WHEN v IS NOT NULL AND ({lacking}) THEN {again} END"
    return f"""
, j AS (
  SELECT line, try(json_extract_string(line, [{", ".join(sql_str(p) for p in paths)}])) AS v FROM l
), k AS (
  SELECT line, v, {under} AS u FROM j
), z AS (
  SELECT CASE WHEN v IS NOT NULL AND (starts_with(line, '{{') OR starts_with(ltrim(line), '{{')) THEN {EVENT}
    WHEN blank(line) THEN {SKIP} ELSE {BAD} END AS {STATE},
    {", ".join(values)}
  FROM k
)
{_normalise_sql(ltype, "z", observed)}"""


def _tsv_header(path: Path) -> tuple[str, list[str], str | None]:
    sep, fields, declared = "\t", list[str](), None
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if not line.startswith("#"):
                if line.strip():
                    break
                continue
            if line.startswith("#separator"):
                raw = line.split(" ", 1)[1] if " " in line else "\\x09"
                sep = raw.encode().decode("unicode_escape")
            elif line.startswith("#fields") and not fields:
                fields = line.split(sep)[1:]
            elif line.startswith("#path") and declared is None:
                declared = line.split(sep)[1] if sep in line else None
    return sep, fields, declared


def read_zeek_tsv(path: Path, mapping: dict[str, str] | None = None) -> LineResult:
    sep, fields, declared = _tsv_header(path)
    ltype = log_type(set(fields), path, declared)
    index = {name: i + 1 for i, name in enumerate(fields)}

    def select(observed: bool) -> str:
        values = []
        read = _fields(ltype, observed)
        for name in _fields(ltype, False):
            i = index.get(name) or index.get(name.replace(".", "_"))
            value = f"txt(f[{i}])" if i and name in read else "NULL::VARCHAR"
            values.append(f"{value} AS {ident(name)}")
        return f"""
, s AS (SELECT line, string_split(line, {sql_str(sep)}) AS f FROM l)
, z AS (
  SELECT CASE WHEN blank(line) OR starts_with(line, '#') THEN {SKIP}
    WHEN len(f) = {len(fields)} AND {len(fields)} > 0 THEN {EVENT} ELSE {BAD} END AS {STATE},
    {", ".join(values)}
  FROM s
)
{_normalise_sql(ltype, "z", observed)}"""

    return run_lines(
        path,
        "zeek-tsv",
        select(False),
        f"values do not match the {len(fields)} #fields",
        raw_reader=lambda r: _tsv_segment(r, ltype),
        share=_share(ltype),
        url_host=_url_host(ltype),
        observed=select(True),
    )


def _segment_query(result: LineResult, select: str, ltype: str) -> list[Segment]:
    """Run ``select`` (a plain projection over ``l(line)``, every returned line) and keep the lines of the
    table's rows, in row order."""
    if result.rows == 0:
        return [Segment(pa.table({ROW: pa.array([], type=pa.int64())}))]
    table = result.scan_lines(select, result.positions())
    table = table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    # The log type is constant over a file: Sigma rules for another Zeek log are never run on it.
    return [Segment(table, {"event.dataset": f"zeek.{ltype}"})]


RECORD_PREFIXES = ("id", "certificate", "san", "basic_constraints")  # Zeek fields that are records


def _json_segment(result: LineResult, ltype: str) -> list[Segment]:
    """Every key of the file's records as a column, values as text (lists joined with commas).

    Parsed with orjson from the kept lines: a DuckDB query naming every key of a Zeek log costs more to
    bind (~1 s for a log of 40 keys) than parsing the lines takes.
    """
    import orjson

    lines = result.original(list(range(result.rows)))
    columns: dict[str, list[str | None]] = {}
    for i, line in enumerate(lines):
        try:
            rec = orjson.loads(line or "")
        except orjson.JSONDecodeError:
            continue  # the table never kept a line that is not a JSON object
        if not isinstance(rec, dict):
            continue
        for k, v in rec.items():
            col = columns.get(k)
            if col is None:
                col = columns[k] = [None] * len(lines)
            col[i] = text(v)
    # RockNSM writes Zeek's record fields with "_" (id_orig_h, certificate_serial); Sigma rules use "."
    for k in list(columns):
        prefix = next((p for p in RECORD_PREFIXES if k.startswith(p + "_")), None)
        if prefix is not None and (dotted := prefix + "." + k[len(prefix) + 1 :]) not in columns:
            columns[dotted] = columns[k]
    table = pa.table(
        {
            **{k: pa.array(v, type=pa.string()) for k, v in columns.items()},
            ROW: pa.array(np.arange(len(lines), dtype=np.int64)),
        }
    )
    return [Segment(table, {"event.dataset": f"zeek.{ltype}"} if result.rows else {})]


def _tsv_segment(result: LineResult, ltype: str) -> list[Segment]:
    sep, fields, _ = _tsv_header(result.path)
    cols = ", ".join(f"txt(f[{i}]) AS {ident(k)}" for i, k in enumerate(fields, 1))
    # a table row is a line that had every #fields value, so ``fields`` is never empty here
    split = f"SELECT string_split(line, {sql_str(sep)}) AS f FROM l"
    return _segment_query(result, f"SELECT {cols} FROM ({split})", ltype)
