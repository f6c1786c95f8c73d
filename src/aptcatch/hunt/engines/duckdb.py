"""The DuckDB engine: the Python readers (one Arrow table per file) and ``ioc.sweep``'s DuckDB joins.

This is what ``aptcatch hunt`` has always run, put behind :class:`~aptcatch.hunt.engines.HuntEngine`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from aptcatch.hunt.engines import EngineOptions, Reading
from aptcatch.hunt.ioc import IndicatorSet, Match, sweep
from aptcatch.hunt.readers import ReadResult, build_table, read_log

if TYPE_CHECKING:
    from aptcatch.hunt.sigma.evaluate import SigmaRun
    from aptcatch.hunt.sigma.rules import CompiledRule

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def expand(sources: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Local files, and the files under local folders (sorted, symlinks skipped); what does not exist."""
    files, missing = [], []
    for s in sources:
        p = Path(s[len("file://") :]) if s.startswith("file://") else Path(s)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink())
        elif p.is_file():
            files.append(p)
        else:
            missing.append(s)
    return files, missing


def read_files(files: list[Path], fmt: str | None, mapping: dict[str, str] | None) -> list[ReadResult]:
    """Every file read once, in input order; EVTX files together (their tables are built per batch)."""
    from aptcatch.hunt.readers import detect_format
    from aptcatch.hunt.readers.evtx import read_evtx_files

    formats = [fmt or (detect_format(f) if f.is_file() else None) for f in files]
    evtx = [f for f, k in zip(files, formats, strict=True) if k == "evtx"]
    batch = iter(read_evtx_files(evtx, mapping)) if evtx else iter(())
    pairs = zip(files, formats, strict=True)
    return [next(batch) if k == "evtx" else read_log(f, k, mapping) for f, k in pairs]


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()

    def read(
        self, sources: Sequence[str], fmt: str | None = None, mapping: dict[str, str] | None = None
    ) -> Reading:
        local = [s for s in sources if not _URI.match(s) or s.startswith("file://")]
        files, missing = expand(local)
        results = read_files(files, fmt, mapping)
        for s in sources:
            if s not in local:
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
        ``cache_key`` (the rule set's) keeps the segment plans between runs."""
        from aptcatch.hunt.sigma.vector import VectorSigma

        return VectorSigma(rules, cache_key=cache_key).run(results)

    def close(self) -> None:
        return None

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
