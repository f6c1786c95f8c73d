"""Knowledge base core: resolution guards, provenance, feeds, lookups, exports — on small inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pymisp import MISPEvent
from stix2validator import validate_instance

from aptcatch.knowledge.errors import FeedError
from aptcatch.knowledge.export import export_misp, export_stix
from aptcatch.knowledge.importers import import_paths
from aptcatch.knowledge.migrations import LATEST
from aptcatch.knowledge.models import Claim, Entry, Fact, Name
from aptcatch.knowledge.resolve import resolve
from aptcatch.knowledge.sqlite_store import SqliteStore

ATT = "MITRE ATT&CK Enterprise v18.1"
TA = "MISP galaxy threat-actor v349"
N360 = "MISP galaxy 360net v6"


def _entry(source: str, key: str, name: str, aliases: tuple[str, ...] = (), gid: str = "") -> Entry:
    c = Claim(source, f"ref-{key}")
    facts = (Fact("external_id", gid, c),) if gid else ()
    return Entry(source, key, "group", name, tuple(Name(a, c) for a in aliases), facts, (), c)


def _groups() -> list[Entry]:
    return [
        _entry(ATT, "intrusion-set--1", "BITTER", ("T-APT-17",), "G1002"),
        _entry(ATT, "intrusion-set--2", "Patchwork", ("Dropping Elephant",), "G0040"),
        _entry(ATT, "intrusion-set--3", "Confucius", (), "G0142"),
        _entry(TA, "ta-bitter", "HAZY TIGER", ("Bitter", "T-APT-17", "APT-C-08", "TA397")),
        _entry(TA, "ta-patchwork", "QUILTED TIGER", ("Patchwork", "Dropping Elephant")),
        _entry(TA, "ta-donot", "VICEROY TIGER", ("Donot Team",)),
        _entry(N360, "360-bitter", "蔓灵花 - APT-C-08", ("蔓灵花", "APT-C-08")),
        _entry(N360, "360-cnc", "CNC - APT-C-48", ("CNC", "APT-C-48")),
        # A noisy synonym list: names both Patchwork and Donot.
        _entry(
            N360, "360-patchwork", "摩诃草 - APT-C-09", ("Patchwork", "Dropping Elephant", "VICEROY TIGER")
        ),
    ]


@pytest.fixture
def store() -> SqliteStore:
    s = SqliteStore()
    s.replace_sources(
        [
            (ATT, "t", [e for e in _groups() if e.source == ATT]),
            (TA, "t", [e for e in _groups() if e.source == TA]),
            (N360, "t", [e for e in _groups() if e.source == N360]),
        ]
    )
    return s


def test_resolution_merges_linked_names_only(store: SqliteStore) -> None:
    ids = {
        q: store.find(q, "group")[0].id
        for q in ("BITTER", "APT-C-08", "T-APT-17", "蔓灵花", "HAZY TIGER", "TA397", "G1002")
    }
    assert set(ids.values()) == {"intrusion-set--1"}
    assert store.find("APT-C-48")[0].id != "intrusion-set--1"
    distinct = {store.find(n, "group")[0].id for n in ("Patchwork", "Donot Team", "Confucius", "BITTER")}
    assert len(distinct) == 4


def test_noisy_synonym_merge_is_refused_and_reported() -> None:
    res = resolve(_groups())
    by_member = {k: e.id for e in res.entities for _, k in e.members}
    assert by_member["360-patchwork"] == by_member["intrusion-set--2"]
    assert by_member["ta-donot"] != by_member["intrusion-set--2"]
    assert any("VICEROY TIGER" in r and "refused" in r for r in res.refused)


def test_different_attack_ids_never_merge() -> None:
    entries = [
        _entry(ATT, "intrusion-set--a", "Alpha", (), "G0001"),
        _entry(TA, "x", "Alpha", ("Beta",), ""),
        _entry("MISP galaxy tidal-groups v1", "y", "Beta", (), "G0002"),
    ]
    res = resolve(entries)
    assert len({e.id for e in res.entities}) == 2
    assert res.refused


def test_every_claim_has_a_source(store: SqliteStore) -> None:
    g = store.find("BITTER")[0]
    assert {n.claim.source for n in g.names} == {ATT, TA, N360}
    assert all(n.claim.source and n.claim.reference for n in g.names)
    assert all(f.claim.source for f in g.facts)


STIX_FEED = {
    "type": "bundle",
    "id": "bundle--0b7f6e0b-1d2c-4c7e-9a4c-1b2d3e4f5a6b",
    "spec_version": "2.1",
    "objects": [
        {
            "type": "intrusion-set",
            "id": "intrusion-set--5a9a8c4e-0a5c-4a0c-8a3e-9f1f1f1f1f1f",
            "name": "TA397",
        },
        {
            "type": "indicator",
            "id": "indicator--11111111-1111-4111-8111-111111111111",
            "valid_from": "2024-05-01T00:00:00Z",
            "pattern": "[domain-name:value = 'evil.example'] OR [ipv4-addr:value = '203.0.113.0/24']",
        },
        {
            "type": "indicator",
            "id": "indicator--22222222-2222-4222-8222-222222222222",
            "valid_from": "2024-05-02T00:00:00Z",
            "pattern": "[file:hashes.'SHA-256' = '" + "ab" * 32 + "']",
        },
        {
            "type": "relationship",
            "id": "relationship--33333333-3333-4333-8333-333333333333",
            "relationship_type": "indicates",
            "source_ref": "indicator--11111111-1111-4111-8111-111111111111",
            "target_ref": "intrusion-set--5a9a8c4e-0a5c-4a0c-8a3e-9f1f1f1f1f1f",
        },
    ],
}


def _write(tmp: Path, name: str, content: object) -> Path:
    p = tmp / name
    p.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return p


def test_stix_feed_lookups_and_idempotence(store: SqliteStore, tmp_path: Path) -> None:
    p = _write(tmp_path, "feed.json", STIX_FEED)
    first = import_paths(store, [p])[0]
    assert first.kind == "stix" and first.items == 3 and first.new == 3
    again = import_paths(store, [p])[0]
    assert again.new == 0 and store.counts()["indicators"] == 3
    hits = store.lookup_many(
        [
            "evil.example",
            "a.b.evil.example",
            "203.0.113.77",
            "hxxps://x.evil[.]example/p",
            "AB" * 32,
            "unknown.test",
        ]
    )
    assert [h.match for h in hits["evil.example"]] == ["exact"]
    assert [h.match for h in hits["a.b.evil.example"]] == ["parent-domain"]
    assert [h.match for h in hits["203.0.113.77"]] == ["cidr"]
    assert hits["hxxps://x.evil[.]example/p"][0].match == "url-host"
    assert hits["AB" * 32][0].indicator.type == "sha256"
    assert hits["unknown.test"] == []
    assert hits["evil.example"][0].resolved[0][1] == "BITTER"  # TA397 resolves through the aliases


def test_text_and_csv_feeds(store: SqliteStore, tmp_path: Path) -> None:
    txt = _write(tmp_path, "c2-iocs.txt", "# Report A\nbad.example\n198.51.100.7;c2 of A\n")
    csv = _write(
        tmp_path,
        "iocs.csv",
        "SHA256,MD5,PDB String,C2 Server\n"
        + "cd" * 32
        + ","
        + "ef" * 16
        + ",c:\\x\\Release\\a.pdb,frame[.]example\n",
    )
    import_paths(store, [txt, csv], target=("group", "BITTER"))
    hits = store.lookup_many(["198.51.100.7", "frame.example", "c:\\x\\Release\\a.pdb"])
    assert hits["198.51.100.7"][0].indicator.claims[0].comment == "c2 of A"
    assert hits["frame.example"][0].resolved == (("intrusion-set--1", "BITTER"),)
    assert hits["c:\\x\\Release\\a.pdb"][0].indicator.type == "pdb_path"


@pytest.mark.parametrize(
    ("name", "content", "position"),
    [
        ("bad.txt", "good.example\nthis is not an indicator\n", "line 2"),
        ("bad.json", '{"type": "bundle", "objects": [', "line 1"),
        (
            "bad2.json",
            {
                "type": "bundle",
                "id": "bundle--x",
                "objects": [
                    {
                        "type": "indicator",
                        "id": "indicator--a",
                        "pattern": "[domain-name:value = 'ok.example']",
                    },
                    {"type": "indicator", "id": "indicator--b", "pattern": "[domain-name:value = 'broken]"},
                ],
            },
            "object 1",
        ),
    ],
)
def test_malformed_feed_names_position_and_stores_nothing(
    store: SqliteStore, tmp_path: Path, name: str, content: object, position: str
) -> None:
    p = _write(tmp_path, name, content)
    with pytest.raises(FeedError) as info:
        import_paths(store, [p])
    assert info.value.path == str(p) and info.value.position.startswith(position)
    assert store.counts()["indicators"] == 0


MISP_EVENT = {
    "Event": {
        "info": "test event",
        "date": "2023-04-01",
        "uuid": "5b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
        "Tag": [{"name": 'misp-galaxy:threat-actor="HAZY TIGER"'}],
        "Attribute": [
            {"type": "domain", "value": "m.example", "category": "Network activity"},
            {"type": "filename|sha256", "value": "a.doc|" + "12" * 32, "category": "Payload delivery"},
            {"type": "ip-dst|port", "value": "192.0.2.5|443", "category": "Network activity"},
        ],
    }
}


def test_misp_event_import_and_round_trip(store: SqliteStore, tmp_path: Path) -> None:
    import_paths(store, [_write(tmp_path, "e.misp.json", MISP_EVENT)])
    inds = store.indicators_of(["HAZY TIGER"])
    assert {(i.type, i.value) for i in inds} == {
        ("domain", "m.example"),
        ("file_name", "a.doc"),
        ("sha256", "12" * 32),
        ("ipv4", "192.0.2.5"),
    }
    g = store.find("BITTER")[0]
    doc = export_misp([g], inds, "round trip")
    back = MISPEvent()
    back.load(json.dumps(doc))
    assert {(a.type, a.value) for a in back.attributes} == {
        ("domain", "m.example"),
        ("filename", "a.doc"),
        ("sha256", "12" * 32),
        ("ip-dst", "192.0.2.5"),
    }
    assert [t.name for t in back.tags] == ['misp-galaxy:threat-actor="BITTER"']


def test_stix_export_validates(store: SqliteStore, tmp_path: Path) -> None:
    import_paths(store, [_write(tmp_path, "feed.json", STIX_FEED)])
    g = store.find("BITTER")[0]
    bundle = export_stix(store, [g], store.indicators_of(["TA397"]))
    result = validate_instance(bundle)
    assert result.is_valid, [str(e) for e in result.errors]
    types = {o["type"] for o in bundle["objects"]}
    assert {"intrusion-set", "indicator", "relationship", "identity", "marking-definition"} <= types
    iset = next(o for o in bundle["objects"] if o["type"] == "intrusion-set")
    assert {"HAZY TIGER", "TA397", "APT-C-08"} <= set(iset["aliases"])


def test_migrations_are_recorded_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "k.sqlite"
    s = SqliteStore(db)
    assert s.schema_version() == LATEST
    s.close()
    s2 = SqliteStore(db)
    assert s2.migrate() == LATEST
    assert s2.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_software_galaxies_and_sector_countries(tmp_path: Path) -> None:
    actor = {
        "type": "threat-actor",
        "version": 1,
        "uuid": "7cdff317-a673-4474-84ec-4f1754947823",
        "values": [
            {
                "value": "HAZY TIGER",
                "uuid": "1e9bd6fe-e009-41ce-8e92-ad78c73ee772",
                "meta": {"cfr-target-category": ["Government", "Iran"]},
            }
        ],
    }
    rat = {
        "type": "rat",
        "version": 48,
        "uuid": "2e9bd6fe-e009-41ce-8e92-ad78c73ee772",
        "values": [
            {
                "value": "ZxShell",
                "uuid": "3e9bd6fe-e009-41ce-8e92-ad78c73ee772",
                "meta": {"synonyms": ["Zox"], "refs": ["https://example.org/zx"]},
                "related": [{"dest-uuid": "1e9bd6fe-e009-41ce-8e92-ad78c73ee772", "type": "used-by"}],
            }
        ],
    }
    s = SqliteStore()
    import_paths(s, [_write(tmp_path, "threat-actor.json", actor), _write(tmp_path, "rat.json", rat)])
    sw = s.find("Zox", "software")[0]
    assert sw.name == "ZxShell" and sw.id.startswith("malware--")
    assert {n.claim for n in sw.names} == {Claim("MISP galaxy rat v48", "https://example.org/zx")}
    assert [(lk.rel, lk.target_name) for lk in sw.links] == [("used-by", "HAZY TIGER")]
    g = s.find("HAZY TIGER")[0]
    assert [f.value for f in g.values("target_sector")] == ["government"]
    assert [(f.value, f.raw) for f in g.values("target_country")] == [("IR", "Iran")]
