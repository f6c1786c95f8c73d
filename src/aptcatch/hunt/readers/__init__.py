"""Log readers: one module per format, chosen by a registry from the content (or forced with --format).

Each reader turns one file into one :class:`ReadResult`: a pyarrow table of string columns, with the
normalised columns of :data:`NORMALISED` always present, the raw fields beside them, and bad lines or
damaged records counted. Each file is read once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from aptcatch.hunt.readers.base import NORMALISED, Reader, ReadResult, build_table
from aptcatch.hunt.readers.evtx import looks_like_evtx, read_evtx
from aptcatch.hunt.readers.generic import load_mapping, read_csv, read_json, read_windows_json
from aptcatch.hunt.readers.squid import looks_like_squid, read_squid
from aptcatch.hunt.readers.zeek import read_zeek_json, read_zeek_tsv

READERS: dict[str, Reader] = {
    "evtx": read_evtx,
    "windows-json": read_windows_json,
    "zeek-json": read_zeek_json,
    "zeek-tsv": read_zeek_tsv,
    "squid": read_squid,
    "json": read_json,
    "csv": read_csv,
}
FORMATS: tuple[str, ...] = tuple(READERS)

__all__ = [
    "FORMATS",
    "NORMALISED",
    "READERS",
    "ReadResult",
    "build_table",
    "detect_format",
    "detect_open",
    "load_mapping",
    "read_log",
]

_WINDOWS_KEYS = {"Event", "EventID", "winlog", "EventData", "Channel"}
_PAGE = 4096  # read first: enough for the EVTX magic
_HEAD = 65536  # what the text formats are told apart by (the first non-blank line in it)


def detect_format(path: Path) -> str | None:
    """The format of a file from its first bytes and first line; None when no reader fits."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return detect_open(fd)
    finally:
        os.close(fd)


def detect_open(fd: int) -> str | None:
    """:func:`detect_format` of a file opened at its start (an EVTX file: from its first page only; a
    hunt may be handed thousands of them, and the 64 KiB a text format may need cost a copy each)."""
    head = _read(fd, _PAGE, b"")
    if looks_like_evtx(head):
        return "evtx"
    return format_of_head(_read(fd, _HEAD, head))


def _read(fd: int, size: int, head: bytes) -> bytes:
    """``head`` and what follows it in the file, up to ``size`` bytes in all (fewer at its end)."""
    parts = [head]
    got = len(head)
    while got < size:
        more = os.read(fd, size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts) if len(parts) > 1 else head


def format_of_head(head: bytes) -> str | None:
    """The format of a file whose first (up to) 64 KiB are ``head``."""
    if looks_like_evtx(head):
        return "evtx"
    lines = head.decode("utf-8", errors="replace").splitlines()
    first = next((ln.strip().lstrip("\ufeff") for ln in lines if ln.strip()), "")
    if not first:
        return None
    if first.startswith("#separator") or first.startswith("#fields"):
        return "zeek-tsv"
    if first.startswith("{"):
        try:
            rec = json.loads(first)
        except ValueError:
            return "json"
        if not isinstance(rec, dict):
            return "json"
        if "ts" in rec and ({"uid", "fuid", "_path", "@stream"} & set(rec) or "id.orig_h" in rec):
            return "zeek-json"
        if _WINDOWS_KEYS & set(rec):
            return "windows-json"
        return "json"
    if looks_like_squid(first):
        return "squid"
    if any(d in first for d in (",", ";", "\t", "|")):
        return "csv"
    return None


def read_log(path: Path, fmt: str | None = None, mapping: dict[str, str] | None = None) -> ReadResult:
    """Read one file with the forced or detected format; an unknown format, or a file that cannot be
    opened (gone since it was listed, no permission), is an error of its result, never of the hunt."""
    try:
        chosen = fmt or detect_format(path)
    except OSError as exc:
        return _unreadable(path, "unknown", exc)
    if chosen is None or chosen not in READERS:
        return ReadResult(path, chosen or "unknown", build_table([]), 0, ["format not recognised"])
    try:
        return READERS[chosen](path, mapping)
    except OSError as exc:
        return _unreadable(path, chosen, exc)


def _unreadable(path: Path, fmt: str, exc: OSError) -> ReadResult:
    return ReadResult(path, fmt, build_table([]), 0, [f"unreadable: {exc.strerror or exc}"])
