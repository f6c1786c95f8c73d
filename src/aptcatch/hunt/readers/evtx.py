"""EVTX files with the Rust-based ``evtx`` parser, into per-shape segments; damage is counted, never fatal.

The parser silently skips a chunk cut short at the end of a file, so the reader also checks the file
size against whole 64 KiB chunks and counts a partial trailing chunk as one damaged chunk.

:func:`read_evtx_files` reads many files in batches, the Arrow data of a batch built at once
(:class:`~aptcatch.hunt.readers.winsegments.Batch`). A batch built from DuckDB's JSON functions
instead was measured slower (16.1 s against 14.6 s at 503,555 events, see BENCHMARKS) and removed
(see git history). For large inputs the reader can work in worker processes: the Rust parse of a
small file runs on one thread and holds the GIL, as does the Python half of the work (opt-in: see the
function).

The garbage collector is paused while a batch is read and built: between two files it would otherwise
walk every value the batch holds, again and again (a sixth of the reading time at 500,000 events);
nothing the reader makes while it is paused is cyclic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from aptcatch.gc_pause import gc_paused
from aptcatch.hunt.readers.base import ReadResult
from aptcatch.hunt.readers.windows import new_batch
from aptcatch.hunt.readers.winsegments import Batch, Payload

MAGIC = b"ElfFile\x00"
_HEADER = 4096
_CHUNK = 65536
_MAX_DAMAGE = 10_000  # damaged records in one file before giving up on the rest of it
BATCH_EVENTS = 50_000  # events whose Arrow data is built at once (memory vs. per-call overhead)
_data = itemgetter("data")


def _read_into(batch: Batch, path: Path, threads: int | None = None) -> None:
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
        _read_into(batch, path)
        return batch.finish().results()[0]


def _read_task(paths: Sequence[Path], mapping: dict[str, str] | None) -> Payload:
    with gc_paused():
        batch = new_batch(mapping)
        for p in paths:
            _read_into(batch, p, threads=1)
        return batch.finish().compact()


def _batches(paths: Sequence[Path], mapping: dict[str, str] | None) -> Iterator[list[ReadResult]]:
    """The files' results, one batch (of about :data:`BATCH_EVENTS` events) at a time."""
    i = 0
    while i < len(paths):
        with gc_paused():
            batch = new_batch(mapping)
            while i < len(paths) and batch.events < BATCH_EVENTS:
                _read_into(batch, paths[i])
                i += 1
            results = batch.finish().results()
            del batch  # its Python values: freed now, not walked by the next collection
        yield results


def _tasks(paths: Sequence[Path], sizes: Sequence[int], count: int) -> list[list[Path]]:
    """Consecutive runs of files of about equal total size (results stay in input order)."""
    target = max(1, sum(sizes) // count)
    out: list[list[Path]] = [[]]
    acc = 0
    for p, s in zip(paths, sizes, strict=True):
        if acc >= target and out[-1]:
            out.append([])
            acc = 0
        out[-1].append(p)
        acc += s
    return out


def read_evtx_files(
    paths: Sequence[Path],
    mapping: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[ReadResult]:
    """Read EVTX files, results in input order, the Arrow data built per batch of files.

    ``workers`` > 1 reads in that many worker processes (forkserver). On an idle machine with two
    cores that can shorten the wall time of a large input; it costs about two seconds of start-up
    and gives nothing when the cores are busy anyway, so reading in this process is the default."""
    sizes = [p.stat().st_size if p.is_file() else 0 for p in paths]
    if workers <= 1 or len(paths) < 2:
        for results in _batches(paths, mapping):
            yield from results
        return
    import multiprocessing

    # Many tasks of at most BATCH_EVENTS-ish bytes each keep memory bounded and the workers busy.
    count = max(workers * 4, sum(sizes) // (BATCH_EVENTS * 1500) + 1)  # ~1.5 kB of file per event
    context = multiprocessing.get_context("forkserver")
    tasks = _tasks(paths, sizes, count)
    done = 0
    try:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for payload in pool.map(_read_task, tasks, repeat(mapping)):
                done += 1
                yield from payload.results()
    except (BrokenProcessPool, OSError):  # no worker processes here: read the rest in this process
        for task in tasks[done:]:
            yield from read_evtx_files(task, mapping, workers=1)


def looks_like_evtx(head: bytes) -> bool:
    return head.startswith(MAGIC)
