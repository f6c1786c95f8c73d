"""A reference evaluator for the tests: Sigma rules -> SQLite queries (pySigma's sqlite backend with the
sysmon + windows pipelines) run over flattened evtx_dump events in an in-memory table.

It is independent of aptcatch's own DuckDB engine on purpose, so the bundled rules and their sample
events are checked against pySigma's reading of the Sigma specification.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.pipelines.sysmon import sysmon_pipeline
from sigma.pipelines.windows import windows_logsource_pipeline

from aptcatch.hunt.readers.windows import flatten_event


def rule_queries(paths: Iterable[Path]) -> dict[str, str]:
    """Rule id -> one SQL query over a table named ``logs``."""
    backend = sqliteBackend(sysmon_pipeline() + windows_logsource_pipeline())
    out: dict[str, str] = {}
    for path in paths:
        collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
        (rule,) = collection.rules
        (query,) = backend.convert_rule(rule)
        out[str(rule.id)] = query
    return out


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def events_db(events: list[dict[str, Any]]) -> sqlite3.Connection:
    """Events (evtx_dump JSON) flattened into ``logs``, one row each, with ``row_no`` = list index."""
    rows = [{k.lower(): v for k, v in flatten_event(e).items()} for e in events]  # SQLite names are caseless
    columns = sorted({k for r in rows for k in r if re.fullmatch(r"\w+", k)})
    db = sqlite3.connect(":memory:")
    db.create_function("REGEXP", 2, _regexp, deterministic=True)
    ddl = ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in columns)
    db.execute(f"CREATE TABLE logs (row_no INTEGER, {ddl})")
    marks = ", ".join("?" for _ in range(len(columns) + 1))
    db.executemany(
        f"INSERT INTO logs VALUES ({marks})",
        [[i, *(None if r.get(c) is None else str(r[c]) for c in columns)] for i, r in enumerate(rows)],
    )
    return db


def matches(db: sqlite3.Connection, query: str) -> set[int]:
    """Indexes of the events that ``query`` selects."""
    sql = query.replace("SELECT * FROM logs", "SELECT row_no FROM logs", 1)
    return {int(r[0]) for r in db.execute(sql)}
