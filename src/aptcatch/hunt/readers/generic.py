"""Windows/Sysmon JSON lines, and generic CSV / JSON lines with a field mapping (source -> normalised).

A mapping file is YAML or JSON: ``{"src_ip": "source.ip", "query": "dns.question.name", ...}`` (or the
same under a ``fields:`` key). Nested JSON fields are named with dots (``proxy.url``). Unmapped fields
stay as raw columns; a field already named like a normalised column is taken as is.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from aptcatch.hunt.readers.base import (
    NORMALISED,
    ReadResult,
    build_table,
    parse_hashes,
    read_json_lines,
    text,
    url_domain,
)
from aptcatch.hunt.readers.windows import read_windows_json_segments


def load_mapping(path: Path) -> dict[str, str]:
    """Read a field-mapping file (YAML or JSON); raises ValueError when it is not a flat string map."""
    raw = path.read_text(encoding="utf-8")
    data: Any
    try:
        data = json.loads(raw)
    except ValueError:
        import importlib

        data = importlib.import_module("yaml").safe_load(raw)  # PyYAML (no stubs needed)
    if isinstance(data, dict) and isinstance(data.get("fields"), dict):
        data = data["fields"]
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: a field mapping is a map of source field -> normalised field")
    return dict(data)


def _lookup(rec: dict[str, Any], dotted: str) -> Any:
    if dotted in rec:
        return rec[dotted]
    cur: Any = rec
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def apply_mapping(rec: dict[str, Any], mapping: dict[str, str]) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        k: text(v) if not isinstance(v, dict) else json.dumps(v) for k, v in rec.items()
    }
    for src, dst in mapping.items():
        if (v := text(_lookup(rec, src))) is not None:
            row[dst] = v
    for col in NORMALISED:  # already-normalised names (ECS exports)
        if row.get(col) is None and (v := text(_lookup(rec, col))) is not None:
            row[col] = v
    if row.get("url.full") and not row.get("url.domain"):
        row["url.domain"] = url_domain(row["url.full"])
    if row.get("file.hash.sha256") is None and row.get("Hashes"):
        row.update(parse_hashes(row["Hashes"]))
    for col in ("file.hash.md5", "file.hash.sha1", "file.hash.sha256"):
        if row.get(col):
            row[col] = str(row[col]).lower()
    return row


def read_windows_json(path: Path, mapping: dict[str, str] | None = None) -> ReadResult:
    return read_windows_json_segments(path, mapping)  # per-shape segments, see windows.py


def read_json(path: Path, mapping: dict[str, str] | None = None) -> ReadResult:
    return read_json_lines(path, "json", lambda rec: apply_mapping(rec, mapping or {}))


def read_csv(path: Path, mapping: dict[str, str] | None = None) -> ReadResult:
    rows: list[dict[str, str | None]] = []
    bad, errors = 0, list[str]()
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        sample = fh.read(8192)
        fh.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(fh, dialect)
        header = next(reader, None)
        if not header:
            return ReadResult(path, "csv", build_table([]), 0, ["empty file"])
        for record in reader:
            if not any(record):
                continue
            if len(record) != len(header):
                bad += 1
                if len(errors) < 20:
                    errors.append(f"line {reader.line_num}: {len(record)} values for {len(header)} columns")
                continue
            row = apply_mapping(dict(zip(header, record, strict=True)), mapping or {})
            row["event.original"] = (
                dialect.delimiter.join(record) if isinstance(dialect.delimiter, str) else None
            )
            rows.append(row)
    return ReadResult(path, "csv", build_table(rows, extra=header), bad, errors)
