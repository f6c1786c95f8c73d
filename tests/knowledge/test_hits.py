"""Hits from the in-memory claims and the hit cache: same objects as the SQL path, invalidated on writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from aptcatch.knowledge.hits import ClaimTable, HitCache, _hit, _indicator, make_claim
from aptcatch.knowledge.models import Claim, Entry, Hit, Indicator, IndicatorClaim, IndicatorType
from aptcatch.knowledge.sqlite_store import INDEX_MIN_BATCH, SqliteStore

C1 = IndicatorClaim(Claim("feed b", "https://r/2", "2021-02-03", "high"), "group", "Lazarus", "c2")
C2 = IndicatorClaim(Claim("feed a", 'quote " and \\ back', "", ""), "", "", "通信, ünïcode", "2020-01-01")
C3 = IndicatorClaim(Claim("feed a", "r1"), "software", "PlugX", "", "", "2022-05-06")
ROWS: list[tuple[IndicatorType, str, tuple[IndicatorClaim, ...]]] = [
    ("domain", "evil.example", (C1, C2, C3)),
    ("domain", "other.example", (C3, C1)),
    ("ipv4", "198.51.100.7", (C2,)),
    ("cidr", "203.0.113.0/24", (C1,)),
    ("sha256", "ab" * 32, ()),
]
QUERIES = [
    "evil.example",
    "a.evil.example",
    "other.example",
    "198.51.100.7",
    "203.0.113.9",
    "AB" * 32,
    "x.test",
]


@pytest.fixture
def store() -> SqliteStore:
    s = SqliteStore()
    s.add_indicators("feeds", "t", [Indicator(t, v, cs) for t, v, cs in ROWS])
    return s


def test_index_path_gives_the_sql_paths_hits(store: SqliteStore) -> None:
    small = store.lookup_many(QUERIES)  # SQL: no index loaded yet
    assert store._index is None
    store._hit_cache = HitCache()  # build everything again, from the in-memory claims
    big = store.lookup_many(QUERIES + [f"m{i}.example" for i in range(INDEX_MIN_BATCH)])
    assert store._index is not None
    assert small == {q: big[q] for q in QUERIES}
    evil = big["evil.example"][0].indicator
    assert set(evil.claims) == {C1, C2, C3} and len(evil.claims) == 3
    assert [h.indicator.claims for h in big["AB" * 32]] == [()]  # an indicator without claims


def test_claim_table_parses_each_equal_list_once() -> None:
    rows = [(1, '[["s","","","","","","","",""]]'), (3, '[["s","","","","","","","",""]]')]
    table = ClaimTable(rows, 4)
    got = table.of([1, 2, 3, 9])
    assert got[1] is got[3] and got[1] == (IndicatorClaim(Claim("s")),)
    assert got[2] == () and 9 not in got and table.distinct == 1


def test_fast_constructors_build_the_same_objects() -> None:
    row = ("s", "r", "d", "c", "group", "t", "m", "f", "l")
    assert make_claim(row) == IndicatorClaim(Claim("s", "r", "d", "c"), "group", "t", "m", "f", "l")
    ind = _indicator("domain", "a.example", (C1,))
    assert ind == Indicator("domain", "a.example", (C1,)) and hash(ind) == hash(
        Indicator("domain", "a.example", (C1,))
    )
    assert _hit("q", "exact", ind, (("g", "G"),)) == Hit("q", "exact", ind, (("g", "G"),))
    # The fast constructors set every field: a new field must be added to them too.
    assert [f.name for f in dataclasses.fields(Hit)] == ["query", "match", "indicator", "resolved"]
    assert [f.name for f in dataclasses.fields(Indicator)] == ["type", "value", "claims"]
    assert [f.name for f in dataclasses.fields(Claim)] == ["source", "reference", "date", "confidence"]
    assert [f.name for f in dataclasses.fields(IndicatorClaim)] == [
        "claim",
        "target_kind",
        "target",
        "comment",
        "first_seen",
        "last_seen",
    ]


def test_cache_reuses_built_indicators_until_a_write(store: SqliteStore) -> None:
    store.match_index()
    first = store.lookup("evil.example")[0].indicator
    assert store.lookup("a.evil.example")[0].indicator is first  # built once, hit twice
    store.add_indicators("feed c", "c", [Indicator("domain", "evil.example", (C3,))])
    again = store.lookup("evil.example")[0].indicator
    assert again is not first and again == first  # rebuilt: the claim was already there


def test_reference_import_re_resolves_cached_hits(store: SqliteStore) -> None:
    store.match_index()
    assert store.lookup("evil.example")[0].resolved == ()
    group = Entry("ref", "g1", "group", "Lazarus", claim=Claim("ref"))
    store.replace_sources([("ref", "test", [group])])
    resolved = store.lookup("evil.example")[0].resolved
    assert [name for _, name in resolved] == ["Lazarus"]


def test_full_cache_starts_afresh() -> None:
    cache = HitCache(limit=2)
    matched = [(0, "exact", 1, "domain", "a.example"), (1, "exact", 2, "domain", "b.example")]
    claims = {1: (C1,), 2: (C2,)}

    def claims_of(ids: set[int]) -> dict[int, tuple[IndicatorClaim, ...]]:
        return {i: claims[i] for i in ids}

    out = cache.hits(["a.example", "b.example"], matched, (1, 1), claims_of, lambda ts: {t: () for t in ts})
    assert len(cache) == 2 and [h.indicator.claims for h in out["b.example"]] == [(C2,)]
    third = [(0, "exact", 3, "domain", "c.example")]
    claims[3] = (C3,)
    out = cache.hits(["c.example"], third, (1, 1), claims_of, lambda ts: {t: () for t in ts})
    assert len(cache) == 1 and out["c.example"][0].indicator.claims == (C3,)


def test_claims_loaded_from_one_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    reader, writer = SqliteStore(db), SqliteStore(db)
    reader.match_index()
    writer.add_indicators("feed w", "w", [Indicator("domain", "new.example", (C3,))])
    hits = reader.lookup("new.example")
    assert [h.indicator.claims for h in hits] == [(C3,)]
    reader.close()
    writer.close()
