"""The DuckDB engine: the Python readers (one Arrow table per file) and ``ioc.sweep``'s DuckDB joins.

This is what ``aptcatch hunt`` has always run, put behind :class:`~aptcatch.hunt.engines.HuntEngine`.
Large Windows event inputs (EVTX, Windows JSON lines) are read in worker processes, one per core
(``EngineOptions.cores``), which also evaluate the Sigma rules the engine was given beforehand
(:meth:`DuckDBEngine.prepare_sigma`; see :mod:`aptcatch.hunt.engines.winpool`).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from aptcatch.hunt.engines import EngineOptions, Reading
from aptcatch.hunt.engines.winpool import Shard
from aptcatch.hunt.ioc import IndicatorSet, Match, sweep
from aptcatch.hunt.readers import ReadResult, build_table, read_log

if TYPE_CHECKING:
    from aptcatch.hunt.sigma.evaluate import SigmaRun
    from aptcatch.hunt.sigma.rules import CompiledRule

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def expand(sources: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Local files, and the files under local folders (sorted, symlinks skipped); what does not exist."""
    files: list[Path] = []
    missing: list[str] = []
    for s in sources:
        p = Path(s[len("file://") :]) if s.startswith("file://") else Path(s)
        try:
            mode = p.stat().st_mode  # one stat (a hunt may be handed thousands of file names)
        except (OSError, ValueError):
            mode = 0
        if stat.S_ISDIR(mode):
            files += map(Path, sorted(_files_under(str(p)), key=_path_order))
        elif stat.S_ISREG(mode):
            files.append(p)
        else:
            missing.append(s)
    return files, missing


def _path_order(path: str) -> str:
    """A sort key giving :class:`Path` order (part by part) to the normalised paths under one folder,
    at the cost of a string comparison: the separator sorts before any character a name can hold."""
    return path.replace("/", "\0")


def _files_under(folder: str) -> Iterator[str]:
    """Regular files under ``folder``, symlinks (to files or folders) skipped, unreadable folders too;
    the entries of a ``scandir`` know their type (``rglob`` + ``is_file`` stat every file twice), and
    their paths stay text until sorted (a Path per entry and Path comparisons cost 0.1 s per 17 k)."""
    stack = [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            elif e.is_file(follow_symlinks=False):
                yield e.path


@dataclass
class Pooled:
    """Results read (and maybe evaluated) by worker processes: each shard's results and Sigma run."""

    shards: list[Shard] = field(default_factory=list)


def read_files(
    files: list[Path],
    fmt: str | None,
    mapping: dict[str, str] | None,
    workers: int = 1,
    rules: Sequence[CompiledRule] | None = None,
    cache_key: str | None = None,
    pooled: Pooled | None = None,
) -> list[ReadResult]:
    """Every file read once, results in input order. EVTX files are read together (their tables are
    built per batch); when the Windows event files (EVTX, Windows JSON lines) are large enough and
    ``workers`` > 1 they are read in worker processes, which also run ``rules`` on them, else here,
    where ``rules`` run on them the same way (with ``pooled`` given: the shards go there)."""
    from aptcatch.hunt.engines import winpool
    from aptcatch.hunt.readers.evtx import read_evtx_files

    warm = pooled is not None and workers > 1
    total = 0
    all_sizes: list[int] = []  # -1: gone since it was listed (its reader reports it)
    formats: list[str | None] = []
    for f in files:
        size, kind = (_size(f), fmt) if fmt else _probe(f)
        all_sizes.append(size)
        formats.append(kind)
        total += max(size, 0)
        if warm and total >= winpool.MIN_BYTES:  # a pool may follow: its forkserver starts meanwhile
            winpool.warm_up()
            warm = False
    picked = [i for i, k in enumerate(formats) if k in winpool.FORMATS]
    windows = [(files[i], formats[i] or "") for i in picked]
    sizes = [max(all_sizes[i], 0) for i in picked]
    if pooled is not None and windows:
        if winpool.worth_it(sizes, workers):
            shards = winpool.read_pooled(windows, mapping, workers, rules, cache_key, sizes)
        else:  # read here, and the rules run on the batches as a worker runs them
            shards = iter([winpool.read_here(windows, mapping, rules, cache_key)])
        done = _kept(shards, pooled)
        pairs = zip(files, formats, strict=True)
        return [next(done) if k in winpool.FORMATS else read_log(f, k, mapping) for f, k in pairs]
    evtx = [f for f, k in zip(files, formats, strict=True) if k == "evtx"]
    batch = iter(read_evtx_files(evtx, mapping)) if evtx else iter(())
    pairs = zip(files, formats, strict=True)
    return [next(batch) if k == "evtx" else read_log(f, k, mapping) for f, k in pairs]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _probe(path: Path) -> tuple[int, str | None]:
    """A file's size and format, with one open: (-1, None) when it is gone, format None when it cannot be
    read or no reader fits (its reader reports it)."""
    from aptcatch.hunt.readers import detect_open

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return _size(path), None
    try:
        size = os.fstat(fd).st_size
        try:
            return size, detect_open(fd)
        except OSError:
            return size, None
    finally:
        os.close(fd)


def _kept(shards: Iterator[Shard], into: Pooled) -> Iterator[ReadResult]:
    """The shards' results one by one, each shard kept in ``into`` as it arrives."""
    for shard in shards:
        into.shards.append(shard)
        yield from shard.results


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self._rules: Sequence[CompiledRule] | None = None
        self._cache_key: str | None = None
        self._pooled = Pooled()

    @property
    def workers(self) -> int:
        """Worker processes for large Windows event inputs: ``cores``, or every core this process has."""
        from aptcatch.cores import available_cores

        return self.options.cores or available_cores()

    def prepare_sigma(self, rules: Sequence[CompiledRule], *, cache_key: str | None = None) -> None:
        """Rules that :meth:`run_sigma` will run: worker processes that read Windows events evaluate
        them on the spot, so ``run_sigma`` then only evaluates the rest."""
        self._rules, self._cache_key = rules, cache_key

    def read(
        self, sources: Sequence[str], fmt: str | None = None, mapping: dict[str, str] | None = None
    ) -> Reading:
        local = [s for s in sources if not _URI.match(s) or s.startswith("file://")]
        files, missing = expand(local)
        results = read_files(files, fmt, mapping, self.workers, self._rules, self._cache_key, self._pooled)
        kept = set(local)
        for s in sources:
            if s not in kept:
                results.append(
                    ReadResult(
                        Path(s),
                        fmt or "unknown",
                        build_table([]),
                        0,
                        ["the duckdb engine reads local files only; use --engine spark"],
                    )
                )
        return Reading(results, missing)

    def sweep_iocs(self, results: Sequence[ReadResult], indicators: IndicatorSet) -> list[Match]:
        return sweep(results, indicators)

    def run_sigma(
        self, results: Sequence[ReadResult], rules: Sequence[CompiledRule], *, cache_key: str | None = None
    ) -> SigmaRun:
        """The default evaluator (:class:`~aptcatch.hunt.sigma.vector.VectorSigma`) over the segments;
        ``cache_key`` (the rule set's) keeps the segment plans between runs. Results that worker
        processes already evaluated with these rules (:meth:`prepare_sigma`) are not evaluated again."""
        from aptcatch.hunt.sigma.evaluate import combine
        from aptcatch.hunt.sigma.vector import VectorSigma

        position = {id(r): i for i, r in enumerate(results)}
        parts: list[tuple[SigmaRun, list[int]]] = []
        done: set[int] = set()
        for shard in self._pooled.shards:
            ids = [position.get(id(r), -1) for r in shard.results]
            if shard.sigma is not None and rules is self._rules and -1 not in ids:
                parts.append((shard.sigma, ids))
                done.update(ids)
        rest = [i for i in range(len(results)) if i not in done]
        if rest or not parts:
            run = VectorSigma(rules, cache_key=cache_key).run([results[i] for i in rest])
            parts.append((run, rest))
        return combine(parts)

    def close(self) -> None:
        return None

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
