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

from aptcatch.hunt.readers.base import ROW, Segment, text
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


def _normalise_sql(ltype: str, source: str) -> str:
    """The normalising SELECT over ``source`` (columns named as Zeek fields, already NULL when unset)."""

    def f(name: str) -> str:
        return ident(name)

    cols = [
        STATE,
        f'iso_epoch({f("ts")}) AS "@timestamp"',
        f"'zeek.{ltype}' AS \"event.dataset\"",
        f'{f("id.orig_p")} AS "source.port"',
        f'{f("id.resp_p")} AS "destination.port"',
    ]
    pre = ""
    if ltype == "files":
        cols += [
            f'first_of({f("tx_hosts")}) AS "source.ip"',
            f'first_of({f("rx_hosts")}) AS "destination.ip"',
            f'{f("filename")} AS "file.path"',
        ]
        cols += [f'lower({f(a)}) AS "file.hash.{a}"' for a in ("md5", "sha1", "sha256")]
    else:
        cols += [f'{f("id.orig_h")} AS "source.ip"', f'{f("id.resp_h")} AS "destination.ip"']
    if ltype == "dns":
        cols.append(f'{f("query")} AS "dns.question.name"')
    elif ltype == "ssl":
        cols.append(f'{f("server_name")} AS "destination.domain"')
    elif ltype == "http":
        pre = f""", h AS (
  SELECT *, CASE WHEN {f("host")} IS NOT NULL THEN CASE WHEN contains({f("uri")}, '://') THEN {f("uri")}
    ELSE CASE WHEN {f("id.resp_p")} = '443' THEN 'https' ELSE 'http' END || '://' || {f("host")}
         || coalesce({f("uri")}, '/') END END AS __url
  FROM {source}
)"""
        source = with_hostport("h", "__url")
        cols += [
            '__url AS "url.full"',
            "CASE WHEN contains(__url, '://') THEN host_of(hp) END AS \"url.domain\"",
            f'{f("user_agent")} AS "user_agent.original"',
        ]
    return f"{pre} SELECT {', '.join(cols)} FROM {source}"


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
    wanted = _COMMON + _BY_TYPE.get(ltype, ())
    paths: list[str] = []
    for name in wanted:
        paths.append(jpath(name))
        if name.startswith("id."):
            paths.append(jpath(name.replace(".", "_")))
    values = []
    i = 1
    for name in wanted:
        if name.startswith("id."):
            values.append(f"txt(coalesce(v[{i}], v[{i + 1}])) AS {ident(name)}")
            i += 2
        else:
            values.append(f"txt(v[{i}]) AS {ident(name)}")
            i += 1
    select = f"""
, j AS (
  SELECT line, try(json_extract_string(line, [{", ".join(sql_str(p) for p in paths)}])) AS v FROM l
), z AS (
  SELECT CASE WHEN v IS NOT NULL AND (starts_with(line, '{{') OR starts_with(ltrim(line), '{{')) THEN {EVENT}
    WHEN blank(line) THEN {SKIP} ELSE {BAD} END AS {STATE},
    {", ".join(values)}
  FROM j
)
{_normalise_sql(ltype, "z")}"""
    return run_lines(
        path,
        "zeek-json",
        select,
        "not a JSON object",
        raw_reader=_json_segment,
        share=_share(ltype),
        url_host=_url_host(ltype),
    )


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
    values = []
    for name in _COMMON + _BY_TYPE.get(ltype, ()):
        i = index.get(name) or index.get(name.replace(".", "_"))
        values.append(f"txt(f[{i}]) AS {ident(name)}" if i else f"NULL::VARCHAR AS {ident(name)}")
    select = f"""
, s AS (SELECT line, string_split(line, {sql_str(sep)}) AS f FROM l)
, z AS (
  SELECT CASE WHEN blank(line) OR starts_with(line, '#') THEN {SKIP}
    WHEN len(f) = {len(fields)} AND {len(fields)} > 0 THEN {EVENT} ELSE {BAD} END AS {STATE},
    {", ".join(values)}
  FROM s
)
{_normalise_sql(ltype, "z")}"""
    return run_lines(
        path,
        "zeek-tsv",
        select,
        f"values do not match the {len(fields)} #fields",
        raw_reader=_tsv_segment,
        share=_share(ltype),
        url_host=_url_host(ltype),
    )


def _segment_query(result: LineResult, select: str) -> list[Segment]:
    """Run ``select`` (a plain projection over ``l(line)``, every returned line) and keep the lines of the
    table's rows, in row order."""
    if result.rows == 0:
        return [Segment(pa.table({ROW: pa.array([], type=pa.int64())}))]
    table = result.scan_lines(select, result.positions())
    table = table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    # The log type is constant over a file: Sigma rules for another Zeek log are never run on it.
    dataset = result.table.column("event.dataset")[0].as_py()
    return [Segment(table, {"event.dataset": dataset} if dataset else {})]


RECORD_PREFIXES = ("id", "certificate", "san", "basic_constraints")  # Zeek fields that are records


def _json_segment(result: LineResult) -> list[Segment]:
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
    dataset = result.table.column("event.dataset")[0].as_py() if result.rows else None
    return [Segment(table, {"event.dataset": dataset} if dataset else {})]


def _tsv_segment(result: LineResult) -> list[Segment]:
    sep, fields, _ = _tsv_header(result.path)
    cols = ", ".join(f"txt(f[{i}]) AS {ident(k)}" for i, k in enumerate(fields, 1))
    # a table row is a line that had every #fields value, so ``fields`` is never empty here
    split = f"SELECT string_split(line, {sql_str(sep)}) AS f FROM l"
    return _segment_query(result, f"SELECT {cols} FROM ({split})")
