"""Scanning many inputs: folder expansion and a process pool (one Scanner per worker process).

Worker processes also isolate the main process from a native parser crash: a broken pool is rebuilt and
the items it held are rescanned one by one, so a single poisonous file costs only its own result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from aptcatch.capture.engine import ScanConfig, Scanner, unreadable_result
from aptcatch.model.scan import ItemResult

_worker: Scanner | None = None


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named directly, then every regular file below each folder, in a stable order."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink()))
        else:
            out.append(p)  # missing files become an item-level error in the result
    return out


def _init(config: ScanConfig) -> None:
    global _worker
    _worker = Scanner(config)


def _scan_one(path: str) -> ItemResult:
    assert _worker is not None
    return _worker.scan_file(path)


def _crashed(path: Path, reason: str) -> ItemResult:
    return unreadable_result(path, f"{path}: analysis process died ({reason}); not analysed", 0, 0.0)


def scan_paths(
    paths: list[Path],
    config: ScanConfig,
    jobs: int = 1,
    on_result: Callable[[ItemResult], None] | None = None,
) -> list[ItemResult]:
    """Scan ``paths``; results come back in input order. ``on_result`` is called as each finishes."""
    if jobs <= 1 or len(paths) <= 1:
        scanner = Scanner(config)
        results = []
        for p in paths:
            r = scanner.scan_file(p)
            if on_result:
                on_result(r)
            results.append(r)
        return results
    done: dict[int, ItemResult] = {}
    pending = list(range(len(paths)))
    while pending:
        retry: list[int] = []
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(config,)) as pool:
            futures: list[tuple[int, Future[ItemResult]]] = [
                (i, pool.submit(_scan_one, str(paths[i]))) for i in pending
            ]
            for i, fut in _in_completion_order(futures):
                try:
                    r = fut.result()
                except BrokenProcessPool:
                    retry.append(i)
                    continue
                done[i] = r
                if on_result:
                    on_result(r)
        if retry and len(retry) == len(pending) and len(retry) == 1:
            i = retry[0]
            done[i] = _crashed(paths[i], "native crash")
            if on_result:
                on_result(done[i])
            retry = []
        if retry and jobs > 1 and len(retry) > 1:
            # isolate: one item per pool so the poisonous one is found
            for i in retry:
                done[i] = _isolated(paths[i], config)
                if on_result:
                    on_result(done[i])
            retry = []
        pending = retry
    return [done[i] for i in range(len(paths))]


def _isolated(path: Path, config: ScanConfig) -> ItemResult:
    try:
        with ProcessPoolExecutor(max_workers=1, initializer=_init, initargs=(config,)) as pool:
            return pool.submit(_scan_one, str(path)).result()
    except BrokenProcessPool:
        return _crashed(path, "native crash")


def _in_completion_order(
    futures: list[tuple[int, Future[ItemResult]]],
) -> Iterator[tuple[int, Future[ItemResult]]]:
    from concurrent.futures import as_completed

    index = {id(f): i for i, f in futures}
    for fut in as_completed([f for _, f in futures]):
        yield index[id(fut)], fut
