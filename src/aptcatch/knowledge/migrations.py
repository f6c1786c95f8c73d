"""Versioned schema of the knowledge store: each migration is a numbered list of plain SQL statements.

The SQL is deliberately portable (TEXT/INTEGER columns, ordinary indexes, ``ON CONFLICT DO NOTHING``)
so that a PostgreSQL store can run the same steps. Applied versions are recorded in
``schema_migrations``; a store refuses to open a database newer than the code knows.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "entries, entities, indicators",
        (
            """CREATE TABLE sources (
                name TEXT PRIMARY KEY, kind TEXT NOT NULL, origin TEXT NOT NULL,
                imported_at TEXT NOT NULL, items INTEGER NOT NULL)""",
            """CREATE TABLE entries (
                source TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
                body TEXT NOT NULL, PRIMARY KEY (source, key))""",
            """CREATE TABLE entities (
                id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, active INTEGER NOT NULL,
                members TEXT NOT NULL)""",
            """CREATE TABLE names (
                entity_id TEXT NOT NULL, name TEXT NOT NULL, norm TEXT NOT NULL,
                is_primary INTEGER NOT NULL,
                source TEXT NOT NULL, reference TEXT NOT NULL, date TEXT NOT NULL,
                confidence TEXT NOT NULL)""",
            "CREATE INDEX names_norm ON names (norm)",
            "CREATE INDEX names_entity ON names (entity_id)",
            """CREATE TABLE facts (
                entity_id TEXT NOT NULL, attr TEXT NOT NULL, value TEXT NOT NULL,
                raw TEXT NOT NULL,
                source TEXT NOT NULL, reference TEXT NOT NULL, date TEXT NOT NULL,
                confidence TEXT NOT NULL)""",
            "CREATE INDEX facts_entity ON facts (entity_id)",
            "CREATE INDEX facts_attr_value ON facts (attr, value)",
            """CREATE TABLE links (
                src TEXT NOT NULL, rel TEXT NOT NULL, dst TEXT NOT NULL, dst_name TEXT NOT NULL,
                source TEXT NOT NULL, reference TEXT NOT NULL, date TEXT NOT NULL,
                confidence TEXT NOT NULL)""",
            "CREATE INDEX links_src ON links (src)",
            "CREATE INDEX links_dst ON links (dst)",
            "CREATE TABLE resolution_notes (kind TEXT NOT NULL, text TEXT NOT NULL)",
            """CREATE TABLE indicators (
                id INTEGER PRIMARY KEY, type TEXT NOT NULL, value TEXT NOT NULL,
                mkey TEXT NOT NULL UNIQUE,
                ip_lo INTEGER, ip_hi INTEGER, prefix INTEGER)""",
            "CREATE INDEX indicators_ip ON indicators (ip_lo, ip_hi)",
            """CREATE TABLE indicator_claims (
                indicator_id INTEGER NOT NULL, source TEXT NOT NULL, reference TEXT NOT NULL,
                date TEXT NOT NULL, confidence TEXT NOT NULL, target_kind TEXT NOT NULL, target TEXT NOT NULL,
                comment TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
                UNIQUE (indicator_id, source, reference, target_kind, target, comment))""",
            "CREATE INDEX indicator_claims_target ON indicator_claims (target)",
        ),
    ),
    (
        2,
        "generation counters",
        (
            # Bumped in the transaction of every write: 'indicators' by indicator imports, 'entities' by
            # reference imports. In-memory caches (the match index, resolved names) compare against them.
            "CREATE TABLE kb_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
            "INSERT INTO kb_state (name, value) VALUES ('indicators', 1), ('entities', 1)",
        ),
    ),
    (
        3,
        "covering index for the claims of looked-up indicators",
        (
            # Every column, in the order the lookup sorts them: the claims of a hit are read from the
            # index alone (one b-tree descent per indicator instead of two).
            """CREATE INDEX indicator_claims_lookup ON indicator_claims (
                indicator_id, source, reference, target_kind, target, comment, date, confidence,
                first_seen, last_seen)""",
        ),
    ),
)

LATEST = MIGRATIONS[-1][0]
