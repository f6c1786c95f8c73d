"""The knowledge base built from ../shared/data: alias resolution and exports on real sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stix2validator import ValidationOptions, validate_file

from aptcatch.knowledge.export import export_stix
from aptcatch.knowledge.sqlite_store import SqliteStore

pytestmark = pytest.mark.corpus

BITTER_NAMES = ("BITTER", "APT-C-08", "T-APT-17", "蔓灵花", "HAZY TIGER", "TA397", "G1002")


def _gid(kb: SqliteStore, name: str) -> str:
    found = kb.find(name, "group")
    assert found, name
    return found[0].id


def test_all_bitter_names_resolve_to_one_group(full_kb: SqliteStore) -> None:
    ids = {_gid(full_kb, n) for n in BITTER_NAMES}
    assert len(ids) == 1
    g = full_kb.entity(ids.pop())
    assert g is not None and g.name == "BITTER"
    assert {"G1002"} == {f.value for f in g.values("external_id")}


def test_apt_c_48_and_south_asian_groups_stay_apart(full_kb: SqliteStore) -> None:
    bitter = _gid(full_kb, "BITTER")
    assert _gid(full_kb, "APT-C-48") != bitter
    assert _gid(full_kb, "CNC - APT-C-48") != bitter
    ids = [_gid(full_kb, n) for n in ("Patchwork", "SideWinder", "Donot", "Confucius", "BITTER")]
    assert len(set(ids)) == 5


def test_bitter_claims_carry_sources(full_kb: SqliteStore) -> None:
    g = full_kb.find("BITTER")[0]
    sources = {n.claim.source for n in g.names}
    assert any(s.startswith("MITRE ATT&CK Enterprise v18.1") for s in sources)
    assert any("threat-actor" in s for s in sources) and any("360net" in s for s in sources)
    sectors = {(f.value, f.raw) for f in g.values("target_sector")}
    assert ("government", "政府") in sectors
    assert all(f.claim.source for f in g.facts) and all(lk.claim.source for lk in g.links)
    uses = [lk for lk in g.links if lk.rel == "uses" and lk.claim.source.startswith("MITRE")]
    assert len(uses) >= 17 and all(lk.claim.reference for lk in uses)


def test_revoked_group_alias_still_resolves(full_kb: SqliteStore) -> None:
    # ATT&CK revoked APT34 (G0057) in favour of OilRig.
    assert full_kb.find("APT34", "group")[0].name == "OilRig"


def test_bitter_feed_indicators_link_to_bitter(full_kb: SqliteStore) -> None:
    hits = full_kb.lookup_many(["frameworksupport.net", "sub.frameworksupport.net"])
    assert any(r[1] == "BITTER" for h in hits["frameworksupport.net"] for r in h.resolved)
    assert hits["sub.frameworksupport.net"][0].match == "parent-domain"


def test_bitter_stix_export_passes_validator(full_kb: SqliteStore, tmp_path: Path) -> None:
    g = full_kb.find("BITTER")[0]
    bundle = export_stix(full_kb, [g], full_kb.indicators_of(sorted({n.value for n in g.names})))
    out = tmp_path / "bitter.json"
    out.write_text(json.dumps(bundle), encoding="utf-8")
    result = validate_file(str(out), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for r in result.object_results for e in r.errors][:5]
    assert sum(o["type"] == "attack-pattern" for o in bundle["objects"]) >= 16


def test_tool_rat_backdoor_galaxies_are_software_with_provenance(full_kb: SqliteStore) -> None:
    wellmess = full_kb.find("WellMess", "software")[0]
    sources = {s.split(" v")[0] for s, _ in wellmess.members}
    assert {"MISP galaxy backdoor", "MISP galaxy tool"} <= sources
    backdoor = [n for n in wellmess.names if n.claim.source.startswith("MISP galaxy backdoor")]
    assert backdoor and all(n.claim.reference.startswith("http") for n in backdoor)
    used_by = [
        lk
        for e in full_kb.entities("software")
        for lk in e.links_of("used-by")
        if lk.claim.source.startswith("MISP galaxy backdoor")
    ]
    assert used_by and all(full_kb.entity(lk.target) is not None for lk in used_by)
    njrat = full_kb.find("njRAT", "software")[0]
    assert any(s.startswith("MISP galaxy rat") for s, _ in njrat.members)
    # A RAT known only to the rat galaxy, with its synonyms.
    only_rat = [
        e
        for e in full_kb.entities("software")
        if {s.split(" v")[0] for s, _ in e.members} == {"MISP galaxy rat"}
    ]
    assert only_rat and all(e.values("software_type")[0].value == "malware" for e in only_rat)


MERGES_FIXTURE = Path(__file__).parent / "data" / "resolution_merges.txt"


def _active_groups(kb: SqliteStore, name: str) -> set[str]:
    return {e.id for e in kb.find(name, "group") if e.active}


def test_renamed_and_unmerged_galaxy_entries_join_their_attack_group(full_kb: SqliteStore) -> None:
    # Microsoft's old and new names, and the threat-actor galaxy's UNC2452, are one group each.
    for names in (
        ("APT28", "STRONTIUM", "Forest Blizzard", "G0007"),
        ("APT29", "UNC2452", "NOBELIUM", "Midnight Blizzard", "G0016"),
        ("Sandworm Team", "IRIDIUM", "Seashell Blizzard", "G0034"),
        ("PROMETHIUM", "StrongPity", "G0056"),
    ):
        found = [_active_groups(full_kb, n) for n in names]
        assert all(len(f) == 1 for f in found) and len(set.union(*found)) == 1, names
    # A synonym only the threat-actor galaxy gives (its Lazarus Group lists STARDUST CHOLLIMA) does
    # not pull ATT&CK's distinct North Korean groups together.
    lazarus, apt38, andariel = (_gid(full_kb, n) for n in ("Lazarus Group", "APT38", "Andariel"))
    assert len({lazarus, apt38, andariel}) == 3
    # The threat-actor galaxy's own STARDUST CHOLLIMA entry (its primary name) joins APT38, which
    # ATT&CK names so; Lazarus Group only keeps it as one of its synonyms.
    owners = {
        e.id
        for e in full_kb.find("STARDUST CHOLLIMA", "group")
        for n in e.names
        if n.primary and n.value == "STARDUST CHOLLIMA" and "threat-actor" in n.claim.source
    }
    assert owners == {apt38}


def test_guard_passing_merges_are_the_listed_ones(full_kb: SqliteStore) -> None:
    """Every merge past the one-entry-per-source guard is listed in the fixture, and only those.

    After a change to the resolver or the data, rewrite the list with
    ``python scripts/build_knowledge_snapshot.py --out /tmp/snap --merges FILE`` (FILE: this
    fixture) and review the difference.
    """
    listed = {
        line
        for line in MERGES_FIXTURE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    merged = {t for k, t in full_kb.resolution_notes() if k == "merged"}
    assert sorted(merged - listed) == [] and sorted(listed - merged) == []
