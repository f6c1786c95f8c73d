"""EVTX files with the Rust-based ``evtx`` parser; damaged chunks and records are counted, never fatal.

The parser silently skips a chunk cut short at the end of a file, so the reader also checks the file
size against whole 64 KiB chunks and counts a partial trailing chunk as one damaged chunk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aptcatch.hunt.readers.base import ReadResult, build_table
from aptcatch.hunt.readers.windows import flatten_event, normalise

MAGIC = b"ElfFile\x00"
_HEADER = 4096
_CHUNK = 65536


def read_evtx(path: Path, mapping: dict[str, str] | None = None) -> ReadResult:
    from evtx import PyEvtxParser

    rows: list[dict[str, str | None]] = []
    errors: list[str] = []
    bad = 0
    size = path.stat().st_size
    if size > _HEADER and (size - _HEADER) % _CHUNK:
        bad += 1
        errors.append(f"truncated chunk at offset {_HEADER + (size - _HEADER) // _CHUNK * _CHUNK}")
    try:
        records: Any = PyEvtxParser(str(path)).records_json()
    except (OSError, RuntimeError, ValueError) as exc:
        return ReadResult(path, "evtx", build_table([]), bad + 1, [*errors, f"unreadable: {exc}"])
    while True:
        try:
            record: dict[str, Any] = next(records)
        except StopIteration:
            break
        except (RuntimeError, OSError, ValueError) as exc:
            bad += 1
            if len(errors) < 20:
                errors.append(str(exc)[:300])
            continue
        try:
            data = json.loads(record["data"])
        except (ValueError, KeyError, TypeError) as exc:
            bad += 1
            if len(errors) < 20:
                errors.append(f"record {record.get('event_record_id')}: {exc}"[:300])
            continue
        row = normalise(flatten_event(data))
        row["event.original"] = record["data"]
        rows.append(row)
    return ReadResult(path, "evtx", build_table(rows), bad, errors)


def looks_like_evtx(head: bytes) -> bool:
    return head.startswith(MAGIC)
