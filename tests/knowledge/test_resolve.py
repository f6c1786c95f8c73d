"""Alias resolution past the one-entry-per-source guard, on small hand-made entries.

A source with two entries for one actor (a vendor's old and new name; a galaxy that never merged
UNC2452 into APT29) joins them only when the source declares it and another source agrees, or when
ATT&CK names the entry's main name; the ATT&CK-id guard still holds.
"""

from __future__ import annotations

from pathlib import Path

from aptcatch.knowledge.models import Claim, EntityKind, Entry, Fact, Name
from aptcatch.knowledge.resolve import RESOLVER_VERSION, Resolution, resolve
from aptcatch.knowledge.sqlite_store import SqliteStore

ATT = "MITRE ATT&CK Enterprise v18.1"
TA = "MISP galaxy threat-actor v349"
MS = "MISP galaxy microsoft-activity-group v23"
MAL = "MISP galaxy malpedia v1"


def _entry(
    source: str,
    key: str,
    name: str,
    aliases: tuple[str, ...] = (),
    gid: str = "",
    kind: EntityKind = "group",
) -> Entry:
    c = Claim(source, f"ref-{key}")
    facts = (Fact("external_id", gid, c),) if gid else ()
    return Entry(source, key, kind, name, tuple(Name(a, c) for a in aliases), facts, (), c)


def _identity(res: Resolution) -> dict[str, str]:
    return {key: e.id for e in res.entities for _, key in e.members}


def test_renamed_entry_joins_when_another_source_names_both() -> None:
    res = resolve(
        [
            _entry(ATT, "intrusion-set--28", "APT28", ("Sofacy",), "G0007"),
            _entry(TA, "ta-28", "APT28", ("Sofacy", "STRONTIUM", "Forest Blizzard")),
            _entry(MS, "ms-old", "STRONTIUM", ("APT28", "Sofacy")),
            _entry(MS, "ms-new", "Forest Blizzard", ("STRONTIUM", "APT28")),
        ]
    )
    ids = _identity(res)
    assert ids["ms-old"] == ids["ms-new"] == ids["intrusion-set--28"] == ids["ta-28"]
    assert len(res.merged) == 1
    assert "'STRONTIUM'" in res.merged[0] and "as a synonym" in res.merged[0]
    assert "'APT28' (MISP galaxy threat-actor" in res.merged[0]  # the other source that agrees


def test_a_declaration_without_a_second_source_merges_nothing() -> None:
    # The threat-actor galaxy's Lazarus Group lists STARDUST CHOLLIMA; no other source puts the two
    # together, so the galaxy's own STARDUST CHOLLIMA entry stays apart.
    res = resolve(
        [
            _entry(TA, "ta-lazarus", "Lazarus Group", ("HIDDEN COBRA", "STARDUST CHOLLIMA")),
            _entry(TA, "ta-stardust", "STARDUST CHOLLIMA", ()),
        ]
    )
    ids = _identity(res)
    assert ids["ta-lazarus"] != ids["ta-stardust"]
    assert not res.merged


def test_attack_alias_brings_in_a_second_entry_of_one_source() -> None:
    res = resolve(
        [
            _entry(ATT, "intrusion-set--29", "APT29", ("NOBELIUM", "UNC2452", "Dark Halo"), "G0016"),
            _entry(TA, "ta-29", "APT29", ("Cozy Bear", "NOBELIUM")),
            _entry(TA, "ta-unc2452", "UNC2452", ("DarkHalo", "NOBELIUM")),
        ]
    )
    ids = _identity(res)
    assert ids["ta-29"] == ids["ta-unc2452"] == ids["intrusion-set--29"]
    assert res.merged == [
        "'UNC2452' (MISP galaxy threat-actor v349) joins 'APT29' (MITRE ATT&CK Enterprise v18.1), "
        "which names 'UNC2452'"
    ]
    # The first pass refused it; the refusal that a later rule overturned is not reported.
    assert not any("UNC2452" in r for r in res.refused)


def test_source_main_entry_still_joins_beside_an_attack_named_one() -> None:
    # IRIDIUM is an ATT&CK alias of Sandworm Team; the galaxy's main entry "Sandworm" (not an ATT&CK
    # name) links by its synonyms first, and IRIDIUM is added after the name pass.
    res = resolve(
        [
            _entry(ATT, "intrusion-set--sw", "Sandworm Team", ("ELECTRUM", "IRIDIUM"), "G0034"),
            _entry(TA, "ta-sw", "Sandworm", ("ELECTRUM", "Sandworm Team")),
            _entry(TA, "ta-iridium", "IRIDIUM", ()),
        ]
    )
    ids = _identity(res)
    assert ids["ta-sw"] == ids["ta-iridium"] == ids["intrusion-set--sw"]


def test_attack_id_guard_holds_for_both_rules() -> None:
    # ATT&CK's Mustang Panda lists LuminousMoth, which ATT&CK also keeps as its own group.
    res = resolve(
        [
            _entry(ATT, "intrusion-set--mp", "Mustang Panda", ("LuminousMoth", "RedDelta"), "G0129"),
            _entry(ATT, "intrusion-set--lm", "LuminousMoth", (), "G1014"),
            _entry(TA, "ta-mp", "MUSTANG PANDA", ("RedDelta", "LuminousMoth")),
        ]
    )
    ids = _identity(res)
    assert ids["intrusion-set--mp"] != ids["intrusion-set--lm"]
    assert not res.merged
    assert any("different ATT&CK ids" in r and "LuminousMoth" in r for r in res.refused)


def test_a_name_attack_gives_to_two_groups_names_neither() -> None:
    res = resolve(
        [
            _entry(ATT, "intrusion-set--a", "Alpha", ("Shared",), "G0001"),
            _entry(ATT, "intrusion-set--b", "Beta", ("Shared",), "G0002"),
            _entry(TA, "ta-a", "Alpha", ()),
            _entry(TA, "ta-b", "Beta", ()),
            _entry(TA, "ta-shared", "Shared", ()),
        ]
    )
    ids = _identity(res)
    assert ids["ta-shared"] not in {ids["intrusion-set--a"], ids["intrusion-set--b"]}
    assert not res.merged


def test_software_keeps_the_strict_guard() -> None:
    # ATT&CK lists "Aurora" as a name of Hydraq; malpedia's "Aurora" is a ransomware family, and
    # malpedia's Hydraq is already in the identity.
    res = resolve(
        [
            _entry(ATT, "malware--hydraq", "Hydraq", ("Aurora",), "S0203", kind="software"),
            _entry(MAL, "win.hydraq", "Hydraq", (), kind="software"),
            _entry(MAL, "win.aurora", "Aurora", ("OneKeyLocker",), kind="software"),
        ]
    )
    ids = _identity(res)
    assert ids["win.hydraq"] == ids["malware--hydraq"] != ids["win.aurora"]
    assert not res.merged


def test_store_keeps_merges_as_resolution_notes() -> None:
    store = SqliteStore()
    entries = [
        _entry(ATT, "intrusion-set--29", "APT29", ("UNC2452",), "G0016"),
        _entry(TA, "ta-29", "APT29", ()),
        _entry(TA, "ta-unc2452", "UNC2452", ()),
    ]
    store.replace_sources([(s, "t", [e for e in entries if e.source == s]) for s in (ATT, TA)])
    notes = store.resolution_notes()
    assert [t for k, t in notes if k == "merged"] and all(k != "refused" for k, _ in notes)
    assert store.find("UNC2452", "group")[0].id == "intrusion-set--29"


def test_a_store_resolved_by_an_older_resolver_is_re_resolved_when_opened(tmp_path: Path) -> None:
    entries = [
        _entry(ATT, "intrusion-set--29", "APT29", ("UNC2452",), "G0016"),
        _entry(TA, "ta-29", "APT29", ()),
        _entry(TA, "ta-unc2452", "UNC2452", ()),
    ]
    path = tmp_path / "kb.sqlite"
    store = SqliteStore(path)
    store.replace_sources([(s, "t", [e for e in entries if e.source == s]) for s in (ATT, TA)])
    assert store.generation("resolver") == RESOLVER_VERSION
    # As a store resolved by an older version: identities that differ, no resolver version kept.
    store.db.execute("DELETE FROM kb_state WHERE name = 'resolver'")
    store.db.execute("DELETE FROM names WHERE name = 'UNC2452'")
    assert not store.find("UNC2452", "group")
    before = store.generation("entities")
    store.close()

    reopened = SqliteStore(path)
    assert reopened.generation("resolver") == RESOLVER_VERSION
    assert reopened.generation("entities") == before + 1  # caches built on the old identities go stale
    assert reopened.find("UNC2452", "group")[0].id == "intrusion-set--29"
    assert len(reopened.entries()) == 3  # the stored entries are kept, only re-resolved
    assert not reopened.refresh_identities()  # nothing to do a second time
