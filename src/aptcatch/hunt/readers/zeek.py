"""Zeek logs, JSON lines and TSV (``#fields`` header): conn, dns, http, ssl, files and the rest.

The log type comes from ``_path`` / ``@stream`` (JSON), ``#path`` (TSV), the file name or the fields.
``host.name`` is the connection's originator (the internal host, for the usual sensor placement).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aptcatch.hunt.readers.base import (
    ReadResult,
    build_table,
    iso_from_epoch,
    read_json_lines,
    text,
    url_domain,
)

_LOG_TYPES = ("conn", "dns", "http", "ssl", "files", "x509", "notice", "weird", "smtp", "ftp", "kerberos")


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


def _get(rec: dict[str, Any], name: str) -> Any:
    """``id.orig_h`` or the ``id_orig_h`` spelling some exporters use."""
    v = rec.get(name)
    return rec.get(name.replace(".", "_")) if v is None else v


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        return text(value[0]) if value else None
    v = text(value)
    return v.split(",", 1)[0] if v else None


def normalise_zeek(rec: dict[str, Any], ltype: str) -> dict[str, str | None]:
    row: dict[str, str | None] = {k: text(v) for k, v in rec.items()}
    row["event.dataset"] = f"zeek.{ltype}"
    row["@timestamp"] = iso_from_epoch(rec.get("ts")) if rec.get("ts") is not None else None
    orig, resp = text(_get(rec, "id.orig_h")), text(_get(rec, "id.resp_h"))
    row["source.ip"], row["destination.ip"] = orig, resp
    row["source.port"], row["destination.port"] = text(_get(rec, "id.orig_p")), text(_get(rec, "id.resp_p"))
    row["host.name"] = orig
    if ltype == "dns":
        row["dns.question.name"] = text(rec.get("query"))
    elif ltype == "http":
        host, uri = text(rec.get("host")), text(rec.get("uri"))
        if host:
            port = text(_get(rec, "id.resp_p"))
            scheme = "https" if port == "443" else "http"
            if uri and "://" in uri:
                row["url.full"] = uri
            else:
                row["url.full"] = f"{scheme}://{host}{uri or '/'}"
            row["url.domain"] = url_domain(row["url.full"])
        row["user_agent.original"] = text(rec.get("user_agent"))
    elif ltype == "ssl":
        row["destination.domain"] = text(rec.get("server_name"))
    elif ltype == "files":
        row["source.ip"] = _first(rec.get("tx_hosts"))
        row["destination.ip"] = _first(rec.get("rx_hosts"))
        row["host.name"] = row["destination.ip"]
        row["file.path"] = text(rec.get("filename"))
        for algo in ("md5", "sha1", "sha256"):
            if (h := text(rec.get(algo))) is not None:
                row[f"file.hash.{algo}"] = h.lower()
    return row


def read_zeek_json(path: Path, mapping: dict[str, str] | None = None) -> ReadResult:
    ltype: str | None = None  # one log type per file, settled by its first record

    def convert(rec: dict[str, Any]) -> dict[str, str | None]:
        nonlocal ltype
        if ltype is None:
            ltype = log_type(rec, path, rec.get("_path") or rec.get("@stream"))
        return normalise_zeek(rec, ltype)

    return read_json_lines(path, "zeek-json", convert)


def read_zeek_tsv(path: Path, mapping: dict[str, str] | None = None) -> ReadResult:
    rows: list[dict[str, str | None]] = []
    bad, errors = 0, list[str]()
    sep, fields, declared = "\t", list[str](), None
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if line.startswith("#"):
                if line.startswith("#separator"):
                    raw = line.split(" ", 1)[1] if " " in line else "\\x09"
                    sep = raw.encode().decode("unicode_escape")
                elif line.startswith("#fields"):
                    fields = line.split(sep)[1:]
                elif line.startswith("#path"):
                    declared = line.split(sep)[1] if sep in line else None
                continue
            if not line.strip():
                continue
            values = line.split(sep)
            if not fields or len(values) != len(fields):
                bad += 1
                if len(errors) < 20:
                    errors.append(f"line {n}: {len(values)} values for {len(fields)} fields")
                continue
            rec = {f: (None if v in ("-", "(empty)") else v) for f, v in zip(fields, values, strict=True)}
            row = normalise_zeek(rec, log_type(set(fields), path, declared))
            row["event.original"] = line
            rows.append(row)
    return ReadResult(path, "zeek-tsv", build_table(rows), bad, errors)
