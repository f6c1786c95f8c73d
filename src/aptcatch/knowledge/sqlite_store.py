"""SQLite implementation of :class:`~aptcatch.knowledge.store.KnowledgeStore` (stdlib ``sqlite3``).

One file (WAL journal), schema from :mod:`aptcatch.knowledge.migrations`.

Lookups: batches (and every lookup once it is loaded) are matched in memory by
:class:`~aptcatch.knowledge.match_index.MatchIndex`, built lazily from the ``indicators`` table and
rebuilt when the ``indicators`` generation counter in the database moves, together with the claims
of every indicator (:class:`~aptcatch.knowledge.hits.ClaimTable`): such a batch reads no SQL. Built
hits are cached per indicator (:class:`~aptcatch.knowledge.hits.HitCache`). Small batches on a store
whose index is not loaded yet (a one-off ``intel lookup``) use SQL instead: the candidate match keys
of every value in a temporary table joined with the unique ``mkey`` index, IPv4-in-CIDR as one
``cidr:<network>/<len>`` key per prefix length present, then the hits' claims in one statement.
Both paths give the same hits (tested). The integer ``ip_lo``/``ip_hi`` columns keep the ranges for
range queries and other backends.
"""

from __future__ import annotations

import gc
import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from aptcatch.knowledge import indicators as ind
from aptcatch.knowledge.errors import KnowledgeError
from aptcatch.knowledge.hits import ClaimTable, HitCache, Resolved, Target, make_claim
from aptcatch.knowledge.match_index import Match, MatchIndex
from aptcatch.knowledge.migrations import LATEST, MIGRATIONS
from aptcatch.knowledge.models import (
    ENTITY_KINDS,
    Claim,
    Entity,
    EntityKind,
    Entry,
    Fact,
    Hit,
    Indicator,
    IndicatorClaim,
    IndicatorType,
    Link,
    Name,
)
from aptcatch.knowledge.resolve import RESOLVER_VERSION, resolve
from aptcatch.knowledge.vocab import norm_name

_INSERT_INDICATOR = (
    "INSERT INTO indicators (type, value, mkey, ip_lo, ip_hi, prefix) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
_INSERT_CLAIM = "INSERT INTO indicator_claims VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
_BUMP = "UPDATE kb_state SET value = value + 1 WHERE name = ?"
_CLAIMS = (
    "SELECT indicator_id, source, reference, date, confidence, target_kind, target, comment, first_seen,"
    " last_seen FROM indicator_claims WHERE indicator_id IN (SELECT value FROM json_each(?))"
    " ORDER BY indicator_id, source, reference, target_kind, target, comment"
)
_INDEX_ROWS = "SELECT id, type, value, ip_lo, prefix FROM indicators"
# Every indicator's claims as one JSON array, in the order of _CLAIMS: the covering index is read in
# order and each group is aggregated as it streams by (rows in index order, no sort).
_ALL_CLAIMS = (
    "SELECT indicator_id, json_group_array(json_array(source, reference, date, confidence, target_kind,"
    " target, comment, first_seen, last_seen)) FROM indicator_claims INDEXED BY indicator_claims_lookup"
    " GROUP BY indicator_id"
)
# Below this many values, a store whose match index is not loaded yet answers with SQL: building the
# index costs about a second per million indicators, a one-off lookup a few hundred microseconds.
INDEX_MIN_BATCH = 256


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SqliteStore:
    def __init__(self, path: Path | str = ":memory:") -> None:
        self._path = None if str(path) == ":memory:" else Path(path)
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA foreign_keys = ON")
        if self._path is not None:
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA mmap_size = 1073741824")  # reads of a large store map, not copy
        self.db.execute("PRAGMA cache_size = -65536")  # KiB
        self._index: MatchIndex | None = None
        self._claims: ClaimTable | None = None
        self._hit_cache = HitCache()  # built indicators of recent hits
        self._cidr_lengths: tuple[int, tuple[int, ...]] | None = None  # (generation, lengths)
        self._resolved: tuple[int, dict[Target, Resolved]] = (-1, {})
        self.migrate()
        self.refresh_identities()

    @property
    def path(self) -> Path | None:
        return self._path

    def close(self) -> None:
        self.db.close()

    # -- schema ---------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        row = self.db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> int:
        current = self.schema_version()
        if current > LATEST:
            raise KnowledgeError(f"database schema v{current} is newer than this aptcatch (v{LATEST})")
        for version, name, statements in MIGRATIONS:
            if version <= current:
                continue
            with self._tx():
                for sql in statements:
                    self.db.execute(sql)
                self.db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, _now()),
                )
        return self.schema_version()

    @contextmanager
    def _tx(self) -> Iterator[None]:
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- reference entries and identities -------------------------------------------------------------
    def replace_sources(self, batches: Sequence[tuple[str, str, Sequence[Entry]]]) -> None:
        with self._tx():
            for source, origin, entries in batches:
                self.db.execute("DELETE FROM entries WHERE source = ?", (source,))
                self.db.execute("DELETE FROM sources WHERE name = ?", (source,))
                self.db.executemany(
                    "INSERT INTO entries (source, key, kind, name, body) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    [
                        (e.source, e.key, e.kind, e.name, json.dumps(e.to_dict(), ensure_ascii=False))
                        for e in entries
                    ],
                )
                self.db.execute(
                    "INSERT INTO sources (name, kind, origin, imported_at, items) VALUES (?, ?, ?, ?, ?)",
                    (source, "reference", origin, _now(), len(entries)),
                )
            self._rebuild()
            self.db.execute(_BUMP, ("entities",))

    def refresh_identities(self) -> bool:
        """Re-resolve the stored entries when they were resolved by another resolver version (an
        upgrade that changed the merge rules); True when it did. The entries themselves are kept."""
        if self.generation("resolver") == RESOLVER_VERSION:
            return False
        if self.db.execute("SELECT 1 FROM entries LIMIT 1").fetchone() is None:
            return False
        with self._tx():
            self._rebuild()
            self.db.execute(_BUMP, ("entities",))
        return True

    def entries(self) -> list[Entry]:
        rows = self.db.execute("SELECT body FROM entries ORDER BY source, key")
        return [Entry.from_dict(json.loads(b)) for (b,) in rows]

    def sources(self) -> list[dict[str, object]]:
        cols = ("name", "kind", "origin", "imported_at", "items")
        rows = self.db.execute(f"SELECT {', '.join(cols)} FROM sources ORDER BY name")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def _rebuild(self) -> None:
        for table in ("entities", "names", "facts", "links", "resolution_notes"):
            self.db.execute(f"DELETE FROM {table}")
        res = resolve(self.entries())
        ents, names, facts, links = [], [], [], []
        for e in res.entities:
            ents.append((e.id, e.kind, e.name, int(e.active), json.dumps(e.members, ensure_ascii=False)))
            for n in e.names:
                names.append((e.id, n.value, norm_name(n.value), int(n.primary), *_claim_row(n.claim)))
            for f in e.facts:
                facts.append((e.id, f.attr, f.value, f.raw, *_claim_row(f.claim)))
            for lk in e.links:
                links.append((e.id, lk.rel, lk.target, lk.target_name, *_claim_row(lk.claim)))
        self.db.executemany("INSERT INTO entities VALUES (?, ?, ?, ?, ?)", ents)
        self.db.executemany("INSERT INTO names VALUES (?, ?, ?, ?, ?, ?, ?, ?)", names)
        self.db.executemany("INSERT INTO facts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", facts)
        self.db.executemany("INSERT INTO links VALUES (?, ?, ?, ?, ?, ?, ?, ?)", links)
        notes = (
            [("refused", t) for t in res.refused]
            + [("ambiguous", t) for t in res.ambiguous]
            + [("merged", t) for t in res.merged]
        )
        self.db.executemany("INSERT INTO resolution_notes VALUES (?, ?)", notes)
        self.db.execute(
            "INSERT INTO kb_state (name, value) VALUES ('resolver', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (RESOLVER_VERSION,),
        )

    def resolution_notes(self) -> list[tuple[str, str]]:
        return [(k, t) for k, t in self.db.execute("SELECT kind, text FROM resolution_notes")]

    def entity(self, entity_id: str) -> Entity | None:
        row = self.db.execute(
            "SELECT id, kind, name, active, members FROM entities WHERE id = ?", (entity_id,)
        ).fetchone()
        if row is None:
            return None
        eid, kind, name, active, members = row
        names = tuple(
            Name(v, Claim(*c), bool(p))
            for v, p, *c in self.db.execute(
                "SELECT name, is_primary, source, reference, date, confidence FROM names WHERE entity_id = ?",
                (eid,),
            )
        )
        facts = tuple(
            Fact(a, v, Claim(*c), raw)
            for a, v, raw, *c in self.db.execute(
                "SELECT attr, value, raw, source, reference, date, confidence FROM facts WHERE entity_id = ?",
                (eid,),
            )
        )
        links = tuple(
            Link(r, d, Claim(*c), dn)
            for r, d, dn, *c in self.db.execute(
                "SELECT rel, dst, dst_name, source, reference, date, confidence FROM links WHERE src = ?",
                (eid,),
            )
        )
        mem = tuple((s, k) for s, k in json.loads(members))
        return Entity(eid, kind, name, bool(active), names, facts, links, mem)

    def find(self, name: str, kind: EntityKind | None = None) -> list[Entity]:
        q = name.strip()
        ids: list[tuple[int, str]] = []
        if "--" in q and self.entity(q) is not None:
            ids.append((0, q))
        for (eid,) in self.db.execute(
            "SELECT entity_id FROM facts WHERE attr = 'external_id' AND value = ?", (q.upper(),)
        ):
            ids.append((0, eid))
        for eid, prim, active in self.db.execute(
            "SELECT n.entity_id, MAX(n.is_primary), e.active FROM names n "
            "JOIN entities e ON e.id = n.entity_id WHERE n.norm = ? GROUP BY n.entity_id, e.active",
            (norm_name(q),),
        ):
            ids.append((0 if prim and active else 1 if active else 2, eid))
        out: list[Entity] = []
        for _, eid in sorted(ids):
            ent = self.entity(eid)
            if ent is not None and ent.id not in {o.id for o in out} and (kind is None or ent.kind == kind):
                out.append(ent)
        return out

    def entities(
        self, kind: EntityKind, country: str | None = None, sector: str | None = None
    ) -> list[Entity]:
        sql = "SELECT id FROM entities e WHERE kind = ?"
        args: list[str] = [kind]
        if country:
            sql += (
                " AND EXISTS (SELECT 1 FROM facts f WHERE f.entity_id = e.id"
                " AND f.attr IN ('country', 'sponsor') AND f.value = ?)"
            )
            args.append(country.upper())
        if sector:
            sql += (
                " AND EXISTS (SELECT 1 FROM facts f WHERE f.entity_id = e.id"
                " AND f.attr = 'target_sector' AND f.value = ?)"
            )
            args.append(sector.lower())
        ids = [r[0] for r in self.db.execute(sql + " ORDER BY name", args)]
        return [e for i in ids if (e := self.entity(i)) is not None]

    def linked_to(self, entity_id: str) -> list[tuple[str, str, str]]:
        out = [
            (r, d, "out")
            for r, d in self.db.execute("SELECT rel, dst FROM links WHERE src = ?", (entity_id,))
        ]
        out += [
            (r, s, "in") for r, s in self.db.execute("SELECT rel, src FROM links WHERE dst = ?", (entity_id,))
        ]
        return out

    # -- indicators ------------------------------------------------------------------------------------
    def add_indicators(self, source: str, origin: str, indicators: Iterable[Indicator]) -> int:
        before = self._claim_count()
        with self._tx():
            n = 0
            for it in indicators:
                n += 1
                key = ind.match_key(it.type, it.value)
                rng = ind.ipv4_range(it.type, it.value)
                prefix = int(it.value.rsplit("/", 1)[1]) if it.type == "cidr" and rng else None
                self.db.execute(
                    _INSERT_INDICATOR,
                    (it.type, it.value, key, rng[0] if rng else None, rng[1] if rng else None, prefix),
                )
                (iid,) = self.db.execute("SELECT id FROM indicators WHERE mkey = ?", (key,)).fetchone()
                self.db.executemany(
                    _INSERT_CLAIM,
                    [
                        (
                            iid,
                            *_claim_row(c.claim),
                            c.target_kind,
                            c.target,
                            c.comment,
                            c.first_seen,
                            c.last_seen,
                        )
                        for c in it.claims
                    ],
                )
            self.db.execute("DELETE FROM sources WHERE name = ?", (source,))
            self.db.execute(
                "INSERT INTO sources (name, kind, origin, imported_at, items) VALUES (?, ?, ?, ?, ?)",
                (source, "indicators", origin, _now(), n),
            )
            self.db.execute(_BUMP, ("indicators",))
        return self._claim_count() - before

    def _claim_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM indicator_claims").fetchone()[0])

    def bulk_load_indicators(self, rows: Iterable[tuple[IndicatorType, str]], source: str) -> None:
        """Fast path for generated/benchmark data: one claim per indicator, no per-row id lookup."""
        with self._tx():
            for itype, value in rows:
                rng = ind.ipv4_range(itype, value)
                prefix = int(value.rsplit("/", 1)[1]) if itype == "cidr" else None
                self.db.execute(
                    _INSERT_INDICATOR,
                    (itype, value, ind.match_key(itype, value), *(rng or (None, None)), prefix),
                )
            self.db.execute(
                "INSERT INTO indicator_claims SELECT id, ?, '', '', '', '', '', '', '', '' "
                "FROM indicators WHERE 1 = 1 ON CONFLICT DO NOTHING",
                (source,),
            )
            self.db.execute(_BUMP, ("indicators",))

    def generation(self, name: str = "indicators") -> int:
        """Counter bumped by every write of ``indicators`` or ``entities`` (by any connection)."""
        row = self.db.execute("SELECT value FROM kb_state WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def cidr_lengths(self, gen: int | None = None) -> tuple[int, ...]:
        """The CIDR prefix lengths present (``gen``: the indicators generation, if just read)."""
        gen = self.generation() if gen is None else gen
        if self._cidr_lengths is None or self._cidr_lengths[0] != gen:
            rows = self.db.execute("SELECT DISTINCT prefix FROM indicators WHERE prefix IS NOT NULL")
            self._cidr_lengths = (gen, tuple(sorted((int(r[0]) for r in rows), reverse=True)))
        return self._cidr_lengths[1]

    def match_index(self) -> MatchIndex:
        """The in-memory match index, (re)built when the indicators changed since it was built."""
        return self._loaded(self.generation())[0]

    def _loaded(self, gen: int) -> tuple[MatchIndex, ClaimTable]:
        """The match index and the claims of every indicator (one snapshot), rebuilt if not of ``gen``."""
        if self._index is None or self._claims is None or self._index.generation != gen:
            self._index = self._claims = None  # let the old ones go before building the new ones
            self.db.execute("BEGIN")  # one read snapshot: never half of another process's import
            try:
                gen = self.generation()
                self._index = MatchIndex(self.db.execute(_INDEX_ROWS), gen)
                (max_id,) = self.db.execute("SELECT coalesce(max(id), 0) FROM indicators").fetchone()
                self._claims = ClaimTable(self.db.execute(_ALL_CLAIMS), int(max_id))
            finally:
                self.db.execute("COMMIT")
        return self._index, self._claims

    def lookup_many(self, values: Sequence[str]) -> dict[str, list[Hit]]:
        # A batch builds tens of thousands of small acyclic objects; the cyclic collector would only
        # re-scan the caller's whole heap on the way (a third of the time in a large process).
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._lookup_many(values)
        finally:
            if enabled:
                gc.enable()

    def _lookup_many(self, values: Sequence[str]) -> dict[str, list[Hit]]:
        unique = list(dict.fromkeys(values))
        gen = self.generation()
        claims_of: Callable[[set[int]], Mapping[int, tuple[IndicatorClaim, ...]]]
        if (self._index is not None and self._index.generation == gen) or len(unique) >= INDEX_MIN_BATCH:
            index, table = self._loaded(gen)
            gen = index.generation  # the snapshot it was built from: what the cached hits are of
            matched = index.match_many(unique)
            claims_of = table.of
        else:
            matched = self.match_sql(unique, gen)
            claims_of = self._claims_by_id
        if not matched:
            return {v: [] for v in unique}
        entities = self.generation("entities")
        return self._hit_cache.hits(
            unique, matched, (gen, entities), claims_of, lambda ts: self._resolve_targets(ts, entities)
        )

    def match_sql(self, values: Sequence[str], gen: int | None = None) -> list[Match]:
        """The SQL matching of a batch: what a backend without the in-memory index does."""
        lengths = self.cidr_lengths(gen)
        keyrows: list[tuple[int, str, str]] = []
        for i, v in enumerate(values):
            keyrows.extend((i, kind, key) for kind, key in ind.query_keys(v, lengths))
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS q (i INTEGER, kind TEXT, mkey TEXT)")
        self.db.execute("DELETE FROM q")
        self.db.executemany("INSERT INTO q VALUES (?, ?, ?)", keyrows)
        matched = self.db.execute(
            "SELECT q.i, q.kind, x.id, x.type, x.value FROM q JOIN indicators x ON x.mkey = q.mkey"
            " ORDER BY q.i, q.rowid"
        ).fetchall()
        self.db.execute("DELETE FROM q")
        return [(int(i), str(k), int(iid), str(t), str(v)) for i, k, iid, t, v in matched]

    def lookup(self, value: str) -> list[Hit]:
        return self.lookup_many([value])[value]

    def _resolve_targets(self, targets: Iterable[Target], gen: int | None = None) -> dict[Target, Resolved]:
        """(entity id, name) a claim's (target kind, target) resolves to; cached until entities change.

        The kind the feed stated is searched first, so a malware named like a group stays malware.
        ``gen``: the ``entities`` generation, if just read.
        """
        gen = self.generation("entities") if gen is None else gen
        if self._resolved[0] != gen:
            self._resolved = (gen, {})
        cache = self._resolved[1]
        for kind, t in targets:
            if (kind, t) not in cache:
                ents = self.find(t, kind) if kind in ENTITY_KINDS else []
                ents = ents or self.find(t)
                cache[(kind, t)] = ((ents[0].id, ents[0].name),) if ents else ()
        return cache

    def _claims_by_id(self, ids: set[int]) -> dict[int, tuple[IndicatorClaim, ...]]:
        """The claims of these indicators, in one statement (the ids travel as one JSON array).

        Equal claims (one feed states the same thing about many indicators) become one object.
        """
        out: dict[int, list[IndicatorClaim]] = defaultdict(list)
        same: dict[tuple[str, ...], IndicatorClaim] = {}
        for row in self.db.execute(_CLAIMS, (json.dumps(sorted(ids)),)):
            key = row[1:]
            ic = same.get(key)
            if ic is None:
                ic = same[key] = make_claim(key)
            out[row[0]].append(ic)
        return {iid: tuple(cs) for iid, cs in out.items()}

    def _indicators_by_id(self, ids: set[int]) -> dict[int, Indicator]:
        if not ids:
            return {}
        claims = self._claims_by_id(ids)
        rows = self.db.execute(
            "SELECT id, type, value FROM indicators WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(ids)),),
        )
        return {iid: Indicator(t, v, claims.get(iid, ())) for iid, t, v in rows}

    def indicators_of(self, names: Sequence[str]) -> list[Indicator]:
        wanted = {n for n in names if n}
        ids: set[int] = set()
        for n in wanted:
            ids.update(
                r[0]
                for r in self.db.execute("SELECT indicator_id FROM indicator_claims WHERE target = ?", (n,))
            )
        return sorted(self._indicators_by_id(ids).values(), key=lambda i: (i.type, i.value))

    def all_indicators(self, limit: int | None = None) -> list[Indicator]:
        sql = "SELECT id FROM indicators ORDER BY id" + (f" LIMIT {int(limit)}" if limit else "")
        ids = {r[0] for r in self.db.execute(sql)}
        return sorted(self._indicators_by_id(ids).values(), key=lambda i: (i.type, i.value))

    def counts(self) -> dict[str, int]:
        out = {}
        for kind, n in self.db.execute("SELECT kind, COUNT(*) FROM entities GROUP BY kind"):
            out[f"{kind}s"] = n
        for table in ("entries", "indicators", "indicator_claims"):
            out[table] = self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        return out


def _claim_row(c: Claim) -> tuple[str, str, str, str]:
    return (c.source, c.reference, c.date, c.confidence)
