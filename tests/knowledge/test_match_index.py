"""The in-memory match index: same hits as the SQL matching, parent domains, CIDR edges, invalidation."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptcatch.knowledge.match_index import MatchIndex
from aptcatch.knowledge.models import Claim, Indicator, IndicatorClaim, IndicatorType
from aptcatch.knowledge.sqlite_store import INDEX_MIN_BATCH, SqliteStore

ROWS: list[tuple[IndicatorType, str]] = [
    ("domain", "evil.example"),
    ("domain", "deep.sub.evil.example"),
    ("domain", "other.test"),
    ("ipv4", "198.51.100.7"),
    ("cidr", "203.0.113.0/24"),
    ("cidr", "203.0.0.0/16"),
    ("cidr", "192.0.2.8/31"),
    ("url", "http://evil.example/a/B.php"),
    ("sha256", "ab" * 32),
    ("md5", "cd" * 16),
    ("file_name", "invoice.doc"),
    ("file_name", "payload.exe"),
    ("mutex", "Global\\QWERTY"),
    ("user_agent", "Mozilla/4.0 (compatible; EvilBot)"),
    ("pdb_path", "c:\\x\\release\\a.pdb"),
    ("ipv6", "2001:db8::1"),
]

QUERIES = [
    "evil.example",
    "EVIL.example.",
    "a.b.evil.example",
    "x.deep.sub.evil.example",
    "notevil.example",
    "example",
    "evil[.]example",
    "hxxp://evil[.]example/a/B.php",
    "http://www.evil.example/other",
    "https://203.0.113.9/x",
    "198.51.100.7",
    "198.51.100.8",
    "203.0.113.0",
    "203.0.113.255",
    "203.0.112.255",
    "203.0.114.0",
    "203.0.200.1",
    "192.0.2.8",
    "192.0.2.9",
    "192.0.2.10",
    "192.0.2.7",
    "203.0.113.0/24",
    "AB" * 32,
    "cd" * 16,
    "ef" * 20,
    "invoice.doc",
    "Payload.EXE",
    "Global\\QWERTY",
    "global\\qwerty",
    "Mozilla/4.0 (compatible; EvilBot)",
    "c:\\x\\Release\\a.pdb",
    "2001:db8::1",
    "   evil.example  ",
    "\ufeffevil.example",
    "",
    "not an indicator at all",
]


@pytest.fixture
def store() -> SqliteStore:
    s = SqliteStore()
    claim = IndicatorClaim(Claim("feed t", "r"), "group", "X")
    s.add_indicators("feed t", "t", [Indicator(t, v, (claim,)) for t, v in ROWS])
    return s


def test_index_matches_exactly_what_sql_matches(store: SqliteStore) -> None:
    index = store.match_index()
    assert index.match_many(QUERIES) == store.match_sql(QUERIES)


def test_parent_domains(store: SqliteStore) -> None:
    index = store.match_index()
    kinds = {q: [(k, store_value(store, i)) for k, i in index.match(q)] for q in QUERIES[:6]}
    assert kinds["evil.example"] == [("exact", "evil.example")]
    assert kinds["EVIL.example."] == [("exact", "evil.example")]
    assert kinds["a.b.evil.example"] == [("parent-domain", "evil.example")]
    assert kinds["x.deep.sub.evil.example"] == [
        ("parent-domain", "deep.sub.evil.example"),
        ("parent-domain", "evil.example"),
    ]
    assert kinds["notevil.example"] == [] and kinds["example"] == []


@pytest.mark.parametrize(
    ("query", "blocks"),
    [
        ("203.0.113.0", ["203.0.113.0/24", "203.0.0.0/16"]),
        ("203.0.113.255", ["203.0.113.0/24", "203.0.0.0/16"]),
        ("203.0.112.255", ["203.0.0.0/16"]),
        ("203.0.114.0", ["203.0.0.0/16"]),
        ("203.1.0.0", []),
        ("202.255.255.255", []),
        ("192.0.2.8", ["192.0.2.8/31"]),
        ("192.0.2.9", ["192.0.2.8/31"]),
        ("192.0.2.7", []),
        ("192.0.2.10", []),
    ],
)
def test_cidr_boundaries_most_specific_first(store: SqliteStore, query: str, blocks: list[str]) -> None:
    got = store.match_index().match(query)
    assert [store_value(store, i) for _, i in got] == blocks
    assert all(k == "cidr" for k, _ in got)


def test_domain_shaped_file_names_and_free_text(store: SqliteStore) -> None:
    hits = store.lookup_many(["invoice.doc", "Payload.EXE", "Global\\QWERTY", "c:\\x\\Release\\a.pdb"])
    assert [h.indicator.type for h in hits["invoice.doc"]] == ["file_name"]
    assert [h.indicator.type for h in hits["Payload.EXE"]] == ["file_name"]
    assert [h.indicator.type for h in hits["Global\\QWERTY"]] == ["mutex"]
    assert {h.indicator.type for h in hits["c:\\x\\Release\\a.pdb"]} == {"pdb_path"}


def test_index_is_rebuilt_after_an_import(store: SqliteStore) -> None:
    before = store.match_index()
    assert store.lookup("new.example") == []
    store.add_indicators("feed u", "u", [Indicator("domain", "new.example", (IndicatorClaim(Claim("u")),))])
    assert store.generation() > before.generation
    assert [h.match for h in store.lookup("a.new.example")] == ["parent-domain"]
    assert store.match_index() is not before


def test_import_by_another_connection_invalidates_the_index(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    reader, writer = SqliteStore(db), SqliteStore(db)
    reader.match_index()
    writer.add_indicators("feed w", "w", [Indicator("cidr", "10.1.0.0/16", (IndicatorClaim(Claim("w")),))])
    hits = reader.lookup("10.1.2.3")
    assert [(h.match, h.indicator.value) for h in hits] == [("cidr", "10.1.0.0/16")]
    assert hits[0].indicator.claims[0].claim.source == "w"
    reader.close()
    writer.close()


def test_batches_use_the_index_and_match_the_sql_path(store: SqliteStore) -> None:
    values = QUERIES + [f"m{i}.example" for i in range(INDEX_MIN_BATCH)] + QUERIES
    small = store.lookup_many(QUERIES)  # small batch, no index loaded yet: SQL
    assert store._index is None
    big = store.lookup_many(values)  # a large batch loads the index
    assert store._index is not None
    assert small == {q: big[q] for q in small}
    assert len(big) == len(QUERIES) + INDEX_MIN_BATCH  # repeated values are answered once
    assert [h.resolved for h in big["evil.example"]] == [()]  # "X" is no known group
    assert big["evil.example"][0].indicator.claims[0].target == "X"


def test_index_from_rows_without_a_store() -> None:
    index = MatchIndex([(1, "domain", "a.example", None, None), (2, "cidr", "10.0.0.0/8", 10 << 24, 8)])
    assert index.match("x.a.example") == [("parent-domain", 1)]
    assert index.match("10.255.0.1") == [("cidr", 2)]
    assert index.size == 2 and index.lengths == (8,)


def store_value(store: SqliteStore, iid: int) -> str:
    return str(store.db.execute("SELECT value FROM indicators WHERE id = ?", (iid,)).fetchone()[0])
