"""Hunt engines: where the logs are read and the IOC / Sigma joins run. DuckDB (embedded, the default) or
Apache Spark (PySpark, for logs that outgrow one machine), behind one small protocol.

    engine = open_engine("spark", EngineOptions(cores=2))
    with engine:
        reading = engine.read(["logs/", "hdfs://nn/zeek/"])
        matches = engine.sweep_iocs(reading.results, indicators)   # list[ioc.Match]
    alerts = output.alerts(matches, reading.results, output.provenance(matches, indicators, store))

Every engine returns the same records: :class:`~aptcatch.hunt.readers.ReadResult` per input file (the
summary reads ``path``, ``format``, ``rows``, ``bad_lines``, ``errors``) and :class:`~aptcatch.hunt.ioc.Match`
whose ``file_id``/``row_id`` point into ``results[file_id].table`` — for the Spark engine that table holds
only the matched rows (see docs/spark.md), which is all ``output.alerts`` reads. Engines are chosen by name
from :data:`ENGINES`; an engine module is imported only when it is opened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from aptcatch.hunt.ioc import IndicatorSet, Match
from aptcatch.hunt.readers import ReadResult

if TYPE_CHECKING:
    from aptcatch.hunt.sigma.evaluate import SigmaRun
    from aptcatch.hunt.sigma.rules import CompiledRule

__all__ = [
    "ENGINES",
    "EngineError",
    "EngineOptions",
    "HuntEngine",
    "Reading",
    "open_engine",
]


class EngineError(RuntimeError):
    """The engine cannot do what was asked (no Java for Spark, a filesystem it cannot read ...)."""


@dataclass(frozen=True)
class EngineOptions:
    """Options every engine accepts; each takes what applies to it (DuckDB ignores the Spark ones)."""

    cores: int | None = None  # Spark local[N]; DuckDB: worker processes for large EVTX inputs; None: all
    driver_memory: str = "2g"
    spark_conf: tuple[tuple[str, str], ...] = ()  # extra Spark settings, e.g. (("spark.jars", "/opt/a.jar"),)


@dataclass
class Reading:
    """The input files as read (one result per file, in a stable order) and the inputs that do not exist."""

    results: list[ReadResult]
    missing: list[str] = field(default_factory=list)


class HuntEngine(Protocol):
    """Read logs and run the hunt's joins. ``read`` accepts local files and folders (and, for engines that
    can, URIs); ``sweep_iocs`` and ``run_sigma`` take the results of this engine's ``read``."""

    name: str

    def read(
        self, sources: Sequence[str], fmt: str | None = None, mapping: dict[str, str] | None = None
    ) -> Reading: ...

    def prepare_sigma(self, rules: Sequence[CompiledRule], *, cache_key: str | None = None) -> None:
        """The rules ``run_sigma`` will get, known before ``read`` (an engine may evaluate while reading)."""

    def sweep_iocs(self, results: Sequence[ReadResult], indicators: IndicatorSet) -> list[Match]: ...

    def run_sigma(
        self, results: Sequence[ReadResult], rules: Sequence[CompiledRule], *, cache_key: str | None = None
    ) -> SigmaRun: ...

    def close(self) -> None: ...

    def __enter__(self) -> HuntEngine: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def _duckdb(options: EngineOptions) -> HuntEngine:
    from aptcatch.hunt.engines.duckdb import DuckDBEngine

    return DuckDBEngine(options)


def _spark(options: EngineOptions) -> HuntEngine:
    from aptcatch.hunt.engines.spark import SparkEngine

    return SparkEngine(options)


ENGINES: dict[str, Callable[[EngineOptions], HuntEngine]] = {"duckdb": _duckdb, "spark": _spark}


def open_engine(name: str, options: EngineOptions | None = None) -> HuntEngine:
    """The engine registered under ``name``; raises :class:`EngineError` for an unknown name."""
    try:
        factory = ENGINES[name]
    except KeyError:
        raise EngineError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}") from None
    return factory(options or EngineOptions())
