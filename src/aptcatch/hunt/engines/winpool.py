"""Windows event files (EVTX, Windows/Sysmon JSON lines) read, and the Sigma rules run on them, in
worker processes: the DuckDB engine's path for large Windows inputs.

Why by hand: reading a Windows event is Python work per event (orjson, filing by shape, see
:mod:`aptcatch.hunt.readers.winsegments`) that holds the GIL, and the ``evtx`` parser reads a small file
on one thread, so one process uses one core however many the machine has. The files are cut into one
run of consecutive files per worker, of about equal size; a worker reads its run in batches (as the
in-process reader does) and, when the hunt has Sigma rules, evaluates them once over everything it
read before sending it back. Once, because an evaluation costs ~0.6 s however few events it sees
(a pass per event shape and rule, see :mod:`aptcatch.hunt.sigma.vector`): evaluating tasks of ~11,000
events one by one was measured three times slower than the single-process hunt. The parent receives
the finished batches (Arrow buffers, through a memory-mapped file: :mod:`.parcel`) and the hits, in
input order, and makes the same :class:`~aptcatch.hunt.readers.ReadResult` objects an in-process read
gives. Each batch goes to its parcel file as soon as it is built, and the worker evaluates the rules
over the file's mapped pages, so no batch is held twice (the pages are the ones the parent maps).

Workers start from a forkserver that has imported this module (a fork of a process holding DuckDB's
threads is not safe; a fresh interpreter per worker costs its imports). A worker that dies, or a
machine that cannot start processes, costs nothing but time: the tasks not yet done are read in this
process, and evaluated by the engine afterwards like any other input.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aptcatch.hunt.engines import parcel
from aptcatch.hunt.engines.parcel import Parcel
from aptcatch.hunt.readers.base import ReadResult
from aptcatch.hunt.readers.evtx import read_batches
from aptcatch.hunt.readers.winsegments import Payload

if TYPE_CHECKING:
    from aptcatch.hunt.sigma.evaluate import SigmaRun
    from aptcatch.hunt.sigma.rules import CompiledRule

FORMATS = ("evtx", "windows-json")
# Below this many bytes of Windows event files the pool's start-up (the forkserver's imports, the rules
# sent to each worker) costs more than the second core saves: measured on 2 cores with the SigmaHQ
# Windows rules (benchmarks/hunt_pool_breakeven.py), the pool took 1.13x the one-process hunt at 437 MiB
# and 0.91x at 582 MiB. More cores would pay sooner; this is the 2-core figure.
MIN_BYTES = 512 * 2**20
Item = tuple[Path, str]  # a file and its format (one of FORMATS)

_WORKER: dict[str, Any] = {}
_PRELOAD = [__name__, "aptcatch.hunt.sigma.vector_batch"]  # imported once by the forkserver, not per worker


@dataclass
class Shard:
    """One worker's files as read (input order) and, when the worker ran the rules, their Sigma run
    (``file_id`` = position in ``results``)."""

    results: list[ReadResult]
    sigma: SigmaRun | None


def worth_it(sizes: Sequence[int], workers: int) -> bool:
    """Whether files of these sizes are read faster by ``workers`` processes than by this one."""
    return workers > 1 and len(sizes) > 1 and sum(sizes) >= MIN_BYTES


def _context() -> Any:
    import multiprocessing

    try:
        context = multiprocessing.get_context("forkserver")
    except ValueError:  # no forkserver on this system (Windows): fresh interpreters
        return multiprocessing.get_context("spawn")
    context.set_forkserver_preload(_PRELOAD)  # no effect once the server runs (it has them)
    return context


def warm_up() -> None:
    """Start the workers' forkserver now: its imports take about a second, which then overlap the
    caller's own work (detecting the formats of the input files) instead of delaying the pool."""
    if _context().get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    with contextlib.suppress(OSError, ValueError):  # no processes here: the pool will say so
        forkserver.ensure_running()


def partitions(items: Sequence[Item], sizes: Sequence[int], count: int) -> list[list[Item]]:
    """At most ``count`` runs of consecutive files of about equal total size (input order kept): a
    file goes to the next run when most of it lies past the current run's share."""
    share = sum(sizes) / max(1, count)
    out: list[list[Item]] = [[]]
    acc = 0
    for item, size in zip(items, sizes, strict=True):
        if out[-1] and len(out) < count and acc + size / 2 > share * len(out):
            out.append([])
        out[-1].append(item)
        acc += size
    return out


def _start(mapping: dict[str, str] | None, key: str | None, folder: str) -> None:
    """Worker initialiser: the field mapping, the rule set's cache key, the parcels' folder. (The rules
    come with the job: what an initialiser gets is read while the parent waits, job arguments are
    sent by a feeder thread.)"""
    _WORKER.update(mapping=mapping, key=key, folder=folder)


def _job(items: list[Item], rules: bytes | None) -> tuple[list[Parcel], SigmaRun | None]:
    """A worker's run of files: read in batches, each sent to a parcel file as soon as it is built, then
    the rules (pickled) evaluated once over all of it, on the batches as the parcels' mapped pages give
    them back (the worker keeps no copy of its own, and makes no result or segment per file:
    :mod:`aptcatch.hunt.sigma.vector_batch`)."""
    parcels: list[Parcel] = []
    mapped: list[Payload] = []
    for payload in read_batches(items, _WORKER["mapping"], threads=1):
        sent = parcel.wrap(payload.compact(), _WORKER["folder"])  # compact: originals as one array
        del payload
        parcels.append(sent)
        if rules is not None:
            mapped.append(parcel.peek(sent))
    run = None
    if rules is not None:
        from aptcatch.hunt.sigma.vector import VectorSigma
        from aptcatch.hunt.sigma.vector_batch import run_payloads

        run = run_payloads(VectorSigma(pickle.loads(rules), cache_key=_WORKER["key"]), mapped)
    return parcels, run


def _results(payloads: Sequence[Payload], paths: Sequence[Path] | None = None) -> list[ReadResult]:
    """The payloads' results, their segments made only if Sigma asks (rules not prepared, or a share
    read here after a broken pool); ``paths``: this process's Path objects for their files, in order
    (a received payload carries its paths as text)."""
    out: list[ReadResult] = []
    for p in payloads:
        mine = None if paths is None else paths[len(out) : len(out) + p.file_count]
        out += p.results(lazy=True, paths=mine)
    return out


def read_here(
    items: Sequence[Item],
    mapping: dict[str, str] | None,
    rules: Sequence[CompiledRule] | None = None,
    cache_key: str | None = None,
) -> Shard:
    """The files read in this process, as one shard, and with ``rules`` evaluated as a worker does: on
    the batches (:func:`~aptcatch.hunt.sigma.vector_batch.run_payloads`), no segment made per file."""
    payloads = list(read_batches(items, mapping))
    results = _results(payloads, [p for p, _ in items])
    if not rules:
        return Shard(results, None)
    from aptcatch.hunt.sigma.vector import VectorSigma
    from aptcatch.hunt.sigma.vector_batch import run_payloads

    return Shard(results, run_payloads(VectorSigma(rules, cache_key=cache_key), payloads))


def read_pooled(
    items: Sequence[Item],
    mapping: dict[str, str] | None,
    workers: int,
    rules: Sequence[CompiledRule] | None = None,
    cache_key: str | None = None,
    sizes: Sequence[int] | None = None,
) -> Iterator[Shard]:
    """The files read (and, with ``rules``, evaluated) in ``workers`` processes, shard by shard in input
    order. The files a broken pool leaves undone are read here and come with ``sigma`` None."""
    if sizes is None:
        sizes = [p.stat().st_size if p.is_file() else 0 for p, _ in items]
    todo = partitions(items, sizes, workers)
    folder: str | None = None
    done = 0
    try:
        folder = parcel.scratch_dir()
        with ProcessPoolExecutor(
            len(todo), mp_context=_context(), initializer=_start, initargs=(mapping, cache_key, folder)
        ) as pool:
            blob = pickle.dumps(list(rules), protocol=5) if rules else None
            for part, (sent, run) in zip(todo, pool.map(_job, todo, repeat(blob)), strict=True):
                payloads = [parcel.unwrap(p) for p in sent]
                done += 1  # counted once received: a share lost on the way is read again below
                yield Shard(_results(payloads, [p for p, _ in part]), run)
    except (BrokenProcessPool, OSError):  # no worker processes here, or one died: the rest in this one
        for part in todo[done:]:
            yield Shard(_results(list(read_batches(part, mapping))), None)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)  # parcels of a broken run (received ones are gone)
