"""EVTX files with the Rust-based ``evtx`` parser, into per-shape segments; damage is counted, never fatal.

The parser silently skips a chunk cut short at the end of a file, so the reader also checks the file
size against whole 64 KiB chunks and counts a partial trailing chunk as one damaged chunk.

:func:`read_evtx_files` reads many files in batches, the Arrow data of a batch built at once
(:class:`~aptcatch.hunt.readers.winsegments.Batch`). A batch built from DuckDB's JSON functions
instead was measured slower (16.1 s against 14.6 s at 503,555 events, see BENCHMARKS) and removed
(see git history). Large inputs are read in worker processes by the DuckDB engine
(:mod:`aptcatch.hunt.engines.winpool`, with :func:`read_into` per file): the Rust parse of a small
file runs on one thread and holds the GIL, as does the Python half of the work.

The garbage collector is paused while a batch is read and built: between two files it would otherwise
walk every value the batch holds, again and again (a sixth of the reading time at 500,000 events);
nothing the reader makes while it is paused is cyclic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

from aptcatch.gc_pause import gc_paused
from aptcatch.hunt.readers.base import ReadResult
from aptcatch.hunt.readers.windows import ingest_json_lines, new_batch
from aptcatch.hunt.readers.winsegments import Batch, Payload

MAGIC = b"ElfFile\x00"
_HEADER = 4096
_CHUNK = 65536
_MAX_DAMAGE = 10_000  # damaged records in one file before giving up on the rest of it
BATCH_EVENTS = 50_000  # events whose Arrow data is built at once (memory vs. per-call overhead)
_data = itemgetter("data")


def read_into(batch: Batch, path: Path, threads: int | None = None) -> None:
    """One EVTX file's events into ``batch``; an unreadable file or damaged records are counted there."""
    from evtx import PyEvtxParser

    f = batch.open(path, "evtx")
    try:
        size = path.stat().st_size
        if size > _HEADER and (size - _HEADER) % _CHUNK:
            f.error(f"truncated chunk at offset {_HEADER + (size - _HEADER) // _CHUNK * _CHUNK}")
        parser = PyEvtxParser(str(path), number_of_threads=threads or 0)
        records: Any = parser.records_json()
    except (OSError, RuntimeError, ValueError) as exc:
        f.error(f"unreadable: {exc}")
        return
    while f.bad < _MAX_DAMAGE:
        try:
            batch.ingest(f, map(_data, records))
            return
        except (RuntimeError, OSError, ValueError, KeyError, TypeError) as exc:
            f.error(str(exc))  # a damaged record; the parser goes on with the next one
    f.errors.append(f"gave up after {_MAX_DAMAGE} damaged records")


def read_evtx(path: Path, mapping: dict[str, str] | None = None) -> ReadResult:
    with gc_paused():
        batch = new_batch(mapping)
        read_into(batch, path)
        return batch.finish().results()[0]


def read_batches(
    items: Sequence[tuple[Path, str]], mapping: dict[str, str] | None = None, threads: int | None = None
) -> Iterator[Payload]:
    """Windows event files — ``(path, "evtx")`` or ``(path, "windows-json")`` — read in input order into
    batches of about :data:`BATCH_EVENTS` events, each finished (its Arrow data built) as it fills."""
    i = 0
    while i < len(items):
        with gc_paused():
            batch = new_batch(mapping)
            while i < len(items) and batch.events < BATCH_EVENTS:
                path, fmt = items[i]
                if fmt == "evtx":
                    read_into(batch, path, threads)
                else:
                    ingest_json_lines(batch, path)
                i += 1
            payload = batch.finish()
            del batch  # its Python values: freed now, not walked by the next collection
        yield payload


def read_evtx_files(paths: Sequence[Path], mapping: dict[str, str] | None = None) -> Iterator[ReadResult]:
    """Read EVTX files in this process, results in input order, the Arrow data built per batch of files."""
    for payload in read_batches([(p, "evtx") for p in paths], mapping):
        yield from payload.results()


def looks_like_evtx(head: bytes) -> bool:
    return head.startswith(MAGIC)
