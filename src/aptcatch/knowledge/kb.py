"""Opening the knowledge base: the store file in the user data directory, filled from the snapshot."""

from __future__ import annotations

import logging
from pathlib import Path

from aptcatch.knowledge.snapshot import SNAPSHOT_PATH, load_snapshot
from aptcatch.knowledge.sqlite_store import SqliteStore
from aptcatch.paths import data_dir

log = logging.getLogger(__name__)


def default_db_path() -> Path:
    return data_dir() / "knowledge.sqlite"


def open_store(
    db: Path | str | None = None, init: bool = True, snapshot: Path = SNAPSHOT_PATH
) -> SqliteStore:
    """Open (creating) the store; an empty store is initialised from the bundled snapshot."""
    store = SqliteStore(db if db is not None else default_db_path())
    if init and store.counts().get("entries", 0) == 0 and snapshot.is_file():
        log.info("initialising the knowledge base from %s", snapshot)
        load_snapshot(store, snapshot)
    return store
