"""The store interface every backend implements (SQLite today; PostgreSQL can follow the same shape).

Writes are per source and transactional: ``replace_source`` swaps one source's entries and re-derives
the merged identities; ``add_indicators`` stores one feed's indicators or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from aptcatch.knowledge.models import Entity, EntityKind, Entry, Hit, Indicator


class KnowledgeStore(Protocol):
    def replace_sources(self, batches: Sequence[tuple[str, str, Sequence[Entry]]]) -> None:
        """Replace the entries of each (source, origin, entries) batch, then re-resolve identities."""

    def entries(self) -> list[Entry]: ...

    def sources(self) -> list[dict[str, object]]: ...

    def entity(self, entity_id: str) -> Entity | None: ...

    def find(self, name: str, kind: EntityKind | None = None) -> list[Entity]:
        """Entities carrying this name, alias or ATT&CK id; the ones whose primary name it is first."""

    def entities(
        self, kind: EntityKind, country: str | None = None, sector: str | None = None
    ) -> list[Entity]: ...

    def linked_to(self, entity_id: str) -> list[tuple[str, str, str]]:
        """(rel, other entity id, direction) for links in either direction."""

    def resolution_notes(self) -> list[tuple[str, str]]: ...

    def add_indicators(self, source: str, origin: str, indicators: Iterable[Indicator]) -> int:
        """Store a feed's indicators (idempotent); returns the number of new claims."""

    def lookup_many(self, values: Sequence[str]) -> dict[str, list[Hit]]: ...

    def indicators_of(self, names: Sequence[str]) -> list[Indicator]:
        """Indicators whose claims name any of these (group/campaign/software names or ids)."""

    def all_indicators(self, limit: int | None = None) -> list[Indicator]: ...

    def counts(self) -> dict[str, int]: ...

    def close(self) -> None: ...

    @property
    def path(self) -> Path | None: ...
