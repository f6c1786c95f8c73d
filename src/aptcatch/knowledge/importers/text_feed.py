"""CSV and plain-text indicator lists -> :class:`Indicator` records.

Hand-written because the formats are informal: signature-base ``value;comment`` lines (``# comment``
lines name the report the following values come from), one-value-per-line lists (defanged values
allowed) and CSV files with a header (Unit 42 style: ``SHA256,SHA1,MD5,...,PDB String,C2 Server`` or
``Type,Indicator,Name``). Types are taken from the column name when it says, else detected.
A line that has content but no recognisable indicator is an error naming the line, unless the file
is a CSV (cells may hold anything) or the value is a signature-base filename regex.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from aptcatch.knowledge import indicators as ind
from aptcatch.knowledge.errors import FeedError
from aptcatch.knowledge.models import Claim, Indicator, IndicatorClaim, IndicatorType

_COLUMN_TYPES: dict[str, IndicatorType] = {
    "sha256": "sha256",
    "sha1": "sha1",
    "md5": "md5",
    "pdb": "pdb_path",
    "pdb string": "pdb_path",
    "filename": "file_name",
    "itw filename": "file_name",
    "c2": "domain",
    "c2 server": "domain",
    "domain": "domain",
    "ip": "ipv4",
    "url": "url",
    "mutex": "mutex",
    "user agent": "user_agent",
}
_VALUE_COLUMNS = {"indicator", "value", "ioc"}


def read_text_feed(path: Path, text: str, source: str, target: tuple[str, str] = ("", "")) -> list[Indicator]:
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
    if "," in first and any(_column_type(c) or c.strip().lower() in _VALUE_COLUMNS for c in first.split(",")):
        return _read_csv(path, text, source, target)
    return _read_lines(path, text, source, target)


def _column_type(name: str) -> IndicatorType | None:
    return _COLUMN_TYPES.get(re.sub(r"[^a-z0-9]+", " ", name.lower()).strip())


def _value(itype: IndicatorType | None, raw: str) -> tuple[IndicatorType, str] | None:
    raw = raw.strip()
    if not raw:
        return None
    detected = ind.detect_type(raw)
    if itype in (None, "domain", "ipv4") and detected is not None:
        itype = detected  # a "C2" column holds domains, IPs or URLs
    if itype is None:
        return None
    try:
        return itype, ind.normalize(itype, raw)
    except ind.IndicatorError:
        return None


def _read_csv(path: Path, text: str, source: str, target: tuple[str, str]) -> list[Indicator]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader)]
    types = [_column_type(h) for h in header]
    lower = [h.lower() for h in header]
    value_col = next((i for i, h in enumerate(lower) if h in _VALUE_COLUMNS), None)
    name_col = next((i for i, h in enumerate(lower) if h in ("name", "tool name", "malware")), None)
    out: list[Indicator] = []
    for row in reader:
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(header) + 1:
            raise FeedError(str(path), f"line {line}", f"{len(row)} cells for {len(header)} columns")
        comment = row[name_col].strip() if name_col is not None and name_col < len(row) else ""
        claim = IndicatorClaim(Claim(source, f"{path.name} line {line}"), target[0], target[1], comment)
        if value_col is not None:
            got = _value(None, row[value_col]) if value_col < len(row) else None
            if got:
                out.append(Indicator(got[0], got[1], (claim,)))
            continue
        for cell, itype in zip(row, types, strict=False):
            if itype is not None and (got := _value(itype, cell)):
                out.append(Indicator(got[0], got[1], (claim,)))
    return out


def _read_lines(path: Path, text: str, source: str, target: tuple[str, str]) -> list[Indicator]:
    out: list[Indicator] = []
    section = ""
    filename_list = "filename" in path.name.lower()
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip().lstrip("\ufeff")
        if not s:
            continue
        if s.startswith("#"):
            section = s.lstrip("# ").strip()
            continue
        value, _, comment = s.partition(";")
        if filename_list:
            continue  # signature-base filename IOCs are regular expressions, not values
        got = _value(None, value)
        if got is None:
            raise FeedError(str(path), f"line {n}", f"not an indicator: {value[:80]!r}")
        note = comment.strip() or section
        claim = IndicatorClaim(Claim(source, f"{path.name} line {n}"), target[0], target[1], note[:200])
        out.append(Indicator(got[0], got[1], (claim,)))
    return out
