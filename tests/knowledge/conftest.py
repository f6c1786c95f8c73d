"""Knowledge-base fixtures: the full staged KB is built once per session (about 6 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptcatch.knowledge.feeds_catalog import import_staged
from aptcatch.knowledge.sqlite_store import SqliteStore


@pytest.fixture(scope="session")
def full_kb(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    store = SqliteStore(tmp_path_factory.mktemp("kb") / "kb.sqlite")
    import_staged(store, shared_data)
    return store
