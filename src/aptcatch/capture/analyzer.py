"""The one small interface every format analyser implements, and the registry that dispatches to them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.types import FileType


@runtime_checkable
class Analyzer(Protocol):
    """Reads one artifact and records what it sees through the context.

    ``types`` lists the file types it handles; ``None`` means every artifact (e.g. YARA). An analyser
    must never write to disk, execute anything or contact any host; it may raise on malformed input,
    which the engine records as a per-artifact error.
    """

    name: str
    types: frozenset[FileType] | None

    def analyze(self, ctx: ArtifactContext) -> None: ...


class Registry:
    """Maps file types to analysers, in registration order."""

    def __init__(self, analyzers: Iterable[Analyzer] = ()) -> None:
        self._by_type: dict[FileType, list[Analyzer]] = {}
        self._universal: list[Analyzer] = []
        for a in analyzers:
            self.register(a)

    def register(self, analyzer: Analyzer) -> None:
        if analyzer.types is None:
            self._universal.append(analyzer)
            return
        for t in analyzer.types:
            self._by_type.setdefault(t, []).append(analyzer)

    def for_type(self, t: FileType) -> list[Analyzer]:
        return [*self._by_type.get(t, ()), *self._universal]

    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        for lst in (*self._by_type.values(), self._universal):
            for a in lst:
                seen.setdefault(a.name, None)
        return list(seen)
