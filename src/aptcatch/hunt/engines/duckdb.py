"""The DuckDB engine: the Python readers (one Arrow table per file) and ``ioc.sweep``'s DuckDB joins.

This is what ``aptcatch hunt`` has always run, put behind :class:`~aptcatch.hunt.engines.HuntEngine`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aptcatch.hunt.engines import EngineOptions, Reading
from aptcatch.hunt.ioc import IndicatorSet, Match, sweep
from aptcatch.hunt.readers import ReadResult, build_table, read_log

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


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()

    def read(
        self, sources: Sequence[str], fmt: str | None = None, mapping: dict[str, str] | None = None
    ) -> Reading:
        local = [s for s in sources if not _URI.match(s) or s.startswith("file://")]
        files, missing = expand(local)
        results = [read_log(f, fmt, mapping) for f in files]
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

    def run_sigma(self, results: Sequence[ReadResult], rules: Any) -> list[Any]:
        raise NotImplementedError("Sigma on the engine seam: wire aptcatch.hunt.sigma here")

    def close(self) -> None:
        return None

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
