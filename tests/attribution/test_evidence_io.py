"""Evidence parsing: the document's JSON Schema, value checks with field paths, STIX 2.1 bundles."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aptcatch.attribution.evidence_io import (
    EvidenceError,
    detect_format,
    evidence_json_schema,
    load_evidence,
    parse_evidence_document,
    store_technique_resolver,
)
from aptcatch.attribution.stix_evidence import evidence_from_stix
from aptcatch.knowledge.models import Claim, Entry, Fact, Link
from aptcatch.knowledge.sqlite_store import SqliteStore
from aptcatch.model.evidence import Evidence

ATT = "MITRE ATT&CK Enterprise v18.1"
REPO = Path(__file__).resolve().parents[2]
TECHS = {
    "attack-pattern--a1": ("T1566.001", "Spearphishing Attachment", ("T1193",)),
    "attack-pattern--a2": ("T1059.005", "Visual Basic", ()),
    "attack-pattern--a3": ("T1203", "Exploitation for Client Execution", ()),
    "attack-pattern--a4": ("T1204.002", "Malicious File", ()),
    "attack-pattern--a5": ("T1221", "Template Injection", ()),
}


def small_store() -> SqliteStore:
    """A tiny knowledge base: five techniques and two groups (one using three of them)."""
    c = Claim(ATT, "https://attack.mitre.org", "2020-01-01")
    entries = [
        Entry(
            ATT,
            key,
            "technique",
            name,
            facts=(Fact("external_id", tid, c), *(Fact("external_id", old, c) for old in olds)),
            claim=c,
        )
        for key, (tid, name, olds) in TECHS.items()
    ]
    uses = tuple(
        Link("uses", key, Claim(ATT, "Vendor Report 2019 <https://vendor.example/r>", "2019-06-01"))
        for key in ("attack-pattern--a1", "attack-pattern--a2", "attack-pattern--a5")
    )
    entries += [
        Entry(
            ATT,
            "intrusion-set--g1",
            "group",
            "HAZY TIGER",
            facts=(Fact("external_id", "G9001", c),),
            links=uses,
            claim=c,
        ),
        Entry(
            ATT,
            "intrusion-set--g2",
            "group",
            "QUILTED TIGER",
            facts=(Fact("external_id", "G9002", c),),
            claim=c,
        ),
    ]
    store = SqliteStore()
    store.replace_sources([(ATT, "test", entries)])
    return store


@pytest.fixture(scope="module")
def resolver() -> Any:
    return store_technique_resolver(small_store())


GOOD: dict[str, Any] = {
    "techniques": ["T1566.001", "t1193", "T1059.005"],
    "software": ["ZxxZ", "s1013"],
    "indicators": [
        {"type": "domain", "value": "Update.Example-CDN[.]test"},
        {"type": "ipv4", "value": "198.51.100.7"},
        {"type": "url", "value": "hxxp://update.example-cdn.test/ti.sct"},
        {"type": "sha256", "value": "A" * 64},
        {"type": "email", "value": "Notice@nhc-gov-cn.test"},
    ],
    "artifacts": [
        {"type": "pdb_path", "value": "C:\\work\\zxxz\\Release\\x.pdb"},
        {"type": "cve", "value": "cve-2017-11882"},
        {"type": "codepage", "value": "936"},
    ],
    "target": {"sectors": ["Healthcare", "government-national"], "countries": ["cn", "China", "中国"]},
    "lure": {"language": "zh-CN", "themes": ["Health", "government notice"]},
    "first_seen": "2020-02-01T08:00:00Z",
}


def test_good_document_is_normalised(resolver: Any) -> None:
    ev = parse_evidence_document(GOOD, resolve_technique=resolver)
    assert ev.techniques == ("T1566.001", "T1059.005")  # revoked T1193 maps to its replacement, deduped
    assert ev.software == ("ZxxZ", "S1013")
    assert [i.value for i in ev.indicators][:3] == [
        "update.example-cdn.test",
        "198.51.100.7",
        "http://update.example-cdn.test/ti.sct",
    ]
    assert ev.indicators[3].value == "a" * 64
    assert ev.indicators[4].value == "notice@nhc-gov-cn.test"
    assert ev.artifacts[1].value == "CVE-2017-11882"
    assert ev.target.sectors == ("healthcare", "government")
    assert ev.target.countries == ("CN",)
    assert ev.lure.language == "zh"
    assert ev.lure.themes == ("health", "government_notice")
    assert ev.first_seen == date(2020, 2, 1)


def test_every_field_is_optional(resolver: Any) -> None:
    assert parse_evidence_document({}, resolve_technique=resolver) == Evidence()


@pytest.mark.parametrize(
    ("doc", "field", "value"),
    [
        ({"techniques": ["T9999"]}, "techniques[0]", "T9999"),
        ({"techniques": ["T1566.1"]}, "techniques[0]", "T1566.1"),
        ({"techniques": ["1566"]}, "techniques[0]", "1566"),
        ({"software": ["S12"]}, "software[0]", "S12"),
        (
            {"indicators": [{"type": "domain", "value": "not a domain"}]},
            "indicators[0].value",
            "not a domain",
        ),
        ({"indicators": [{"type": "ipv4", "value": "1.2.3.999"}]}, "indicators[0].value", "1.2.3.999"),
        ({"indicators": [{"type": "ipv6", "value": "1.2.3.4"}]}, "indicators[0].value", "1.2.3.4"),
        ({"indicators": [{"type": "url", "value": "update.test/x"}]}, "indicators[0].value", "update.test/x"),
        ({"indicators": [{"type": "md5", "value": "abc"}]}, "indicators[0].value", "abc"),
        ({"indicators": [{"type": "sha1", "value": "a" * 64}]}, "indicators[0].value", "a" * 64),
        ({"indicators": [{"type": "sha256", "value": "g" * 64}]}, "indicators[0].value", "g" * 64),
        ({"indicators": [{"type": "email", "value": "nobody"}]}, "indicators[0].value", "nobody"),
        ({"indicators": [{"type": "bogus", "value": "x"}]}, "indicators[0].type", "bogus"),
        ({"artifacts": [{"type": "cve", "value": "CVE-17"}]}, "artifacts[0].value", "CVE-17"),
        ({"artifacts": [{"type": "codepage", "value": "utf8"}]}, "artifacts[0].value", "utf8"),
        ({"artifacts": [{"type": "imphash", "value": "xyz"}]}, "artifacts[0].value", "xyz"),
        ({"target": {"countries": ["XX"]}}, "target.countries[0]", "XX"),
        ({"target": {"countries": ["Narnia"]}}, "target.countries[0]", "Narnia"),
        ({"target": {"sectors": ["cooking"]}}, "target.sectors[0]", "cooking"),
        ({"lure": {"language": "english"}}, "lure.language", "english"),
        ({"first_seen": "2020-13-01"}, "first_seen", "2020-13-01"),
        ({"first_seen": "last spring"}, "first_seen", "last spring"),
        ({"techniques": "T1566.001"}, "techniques", "T1566.001"),
        ({"schema": "aptcatch.evidence/9"}, "schema", "aptcatch.evidence/9"),
        ({"colour": "red"}, "(document)", {"colour": "red"}),
    ],
)
def test_malformed_values_name_field_and_value(
    resolver: Any, doc: dict[str, Any], field: str, value: object
) -> None:
    with pytest.raises(EvidenceError) as exc:
        parse_evidence_document(doc, resolve_technique=resolver)
    assert [(p.field, p.value) for p in exc.value.problems] == [(field, value)]
    assert field in str(exc.value)


def test_all_problems_are_reported_at_once(resolver: Any) -> None:
    doc = {"techniques": ["T9999", "T1203"], "target": {"countries": ["XX"]}, "first_seen": "nope"}
    with pytest.raises(EvidenceError) as exc:
        parse_evidence_document(doc, resolve_technique=resolver)
    assert {p.field for p in exc.value.problems} == {"first_seen"}  # structure first, then values
    del doc["first_seen"]
    with pytest.raises(EvidenceError) as exc:
        parse_evidence_document(doc, resolve_technique=resolver)
    assert {p.field for p in exc.value.problems} == {"techniques[0]", "target.countries[0]"}


def test_without_a_knowledge_base_only_the_format_is_checked() -> None:
    assert parse_evidence_document({"techniques": ["T9999"]}).techniques == ("T9999",)


def test_schema_comes_from_the_model_and_is_documented() -> None:
    schema = evidence_json_schema()
    assert schema["properties"]["techniques"]["type"] == "array"
    assert schema["additionalProperties"] is False
    doc = (REPO / "docs" / "evidence.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- schema:begin -->\s*```json\n(.*?)```\s*<!-- schema:end -->", doc, re.DOTALL)
    assert block is not None, "docs/evidence.md must embed the schema between the schema markers"
    assert json.loads(block.group(1)) == schema, "regenerate the schema block in docs/evidence.md"


def test_load_detects_format_and_reports_bad_json(tmp_path: Path, resolver: Any) -> None:
    p = tmp_path / "ev.json"
    p.write_text(json.dumps(GOOD), encoding="utf-8")
    loaded = load_evidence(p, resolve_technique=resolver)
    assert loaded.format == "evidence"
    assert loaded.evidence.source == str(p)
    p.write_text('{"techniques": [', encoding="utf-8")
    with pytest.raises(EvidenceError, match="not valid JSON"):
        load_evidence(p)
    p.write_bytes(b"\xff\xfe{}")
    with pytest.raises(EvidenceError, match="UTF-8"):
        load_evidence(p)


# -- STIX 2.1 ------------------------------------------------------------------------------------------
def _bundle() -> dict[str, Any]:
    ts = "2020-02-03T10:00:00.000Z"
    common = {"spec_version": "2.1", "created": ts, "modified": ts}
    objs: list[dict[str, Any]] = [
        {
            "type": "attack-pattern",
            "id": "attack-pattern--11111111-1111-4111-8111-111111111111",
            "name": "Spearphishing Attachment",
            "external_references": [{"source_name": "mitre-attack", "external_id": "T1566.001"}],
        },
        {
            "type": "malware",
            "id": "malware--22222222-2222-4222-8222-222222222222",
            "name": "ZxxZ",
            "is_family": True,
        },
        {
            "type": "tool",
            "id": "tool--33333333-3333-4333-8333-333333333333",
            "name": "Cobalt Strike",
            "external_references": [{"source_name": "mitre-attack", "external_id": "S0154"}],
        },
        {
            "type": "indicator",
            "id": "indicator--44444444-4444-4444-8444-444444444444",
            "pattern_type": "stix",
            "valid_from": ts,
            "pattern": "[domain-name:value = 'update.example-cdn.test'] OR [ipv4-addr:value = '198.51.100.7']"
            " OR [file:hashes.'SHA-256' = '" + "b" * 64 + "'] OR [file:hashes.MD5 = '" + "c" * 32 + "']"
            " OR [url:value = 'http://update.example-cdn.test/ti.sct']",
        },
        {
            "type": "indicator",
            "id": "indicator--55555555-5555-4555-8555-555555555555",
            "pattern_type": "yara",
            "valid_from": ts,
            "pattern": "rule x { condition: true }",
        },
        {
            "type": "domain-name",
            "id": "domain-name--66666666-6666-4666-8666-666666666666",
            "value": "cdn.example.test",
        },
        {
            "type": "vulnerability",
            "id": "vulnerability--77777777-7777-4777-8777-777777777777",
            "name": "CVE-2017-11882",
        },
        {
            "type": "identity",
            "id": "identity--88888888-8888-4888-8888-888888888888",
            "name": "hospitals",
            "identity_class": "class",
            "sectors": ["healthcare", "government-national", "underwater-basket-weaving"],
        },
        {
            "type": "identity",
            "id": "identity--99999999-9999-4999-8999-999999999999",
            "name": "the reporting vendor",
            "identity_class": "organization",
            "sectors": ["technology"],
        },
        {"type": "location", "id": "location--aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "country": "CN"},
        {"type": "location", "id": "location--bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", "country": "IN"},
        {
            "type": "campaign",
            "id": "campaign--cccccccc-cccc-4ccc-8ccc-cccccccccccc",
            "name": "Wuhan travel lures",
        },
        {
            "type": "report",
            "id": "report--dddddddd-dddd-4ddd-8ddd-dddddddddddd",
            "name": "r",
            "published": "2020-03-01T00:00:00Z",
            "object_refs": ["campaign--cccccccc-cccc-4ccc-8ccc-cccccccccccc"],
        },
        {
            "type": "observed-data",
            "id": "observed-data--eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee",
            "first_observed": "2020-01-23T09:12:44Z",
            "last_observed": "2020-01-23T09:12:44Z",
            "number_observed": 1,
            "object_refs": ["domain-name--66666666-6666-4666-8666-666666666666"],
        },
    ]
    for n, target in enumerate(
        ("identity--88888888-8888-4888-8888-888888888888", "location--aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa")
    ):
        objs.append(
            {
                "type": "relationship",
                "id": f"relationship--{n}0000000-0000-4000-8000-000000000000",
                "relationship_type": "targets",
                "source_ref": "campaign--cccccccc-cccc-4ccc-8ccc-cccccccccccc",
                "target_ref": target,
            }
        )
    return {
        "type": "bundle",
        "id": "bundle--ffffffff-ffff-4fff-8fff-ffffffffffff",
        "objects": [
            {**common, **o} if o["type"] != "domain-name" else {"spec_version": "2.1", **o} for o in objs
        ],
    }


def test_stix_bundle_becomes_evidence(resolver: Any) -> None:
    ev, notes = evidence_from_stix(_bundle(), resolve_technique=resolver)
    assert ev.techniques == ("T1566.001",)
    assert ev.software == ("ZxxZ", "S0154")
    got = {(i.type, i.value) for i in ev.indicators}
    assert got == {
        ("domain", "update.example-cdn.test"),
        ("ipv4", "198.51.100.7"),
        ("sha256", "b" * 64),
        ("md5", "c" * 32),
        ("url", "http://update.example-cdn.test/ti.sct"),
        ("domain", "cdn.example.test"),
    }
    assert [(a.type, a.value) for a in ev.artifacts] == [("cve", "CVE-2017-11882")]
    assert ev.target.sectors == ("healthcare", "government")  # only the targeted identity's sectors
    assert ev.target.countries == ("CN",)  # only the targeted location
    assert ev.first_seen == date(2020, 1, 23)
    assert any("yara" in n for n in notes)
    assert any("underwater-basket-weaving" in n for n in notes)


def test_stix_bundle_is_valid_stix(resolver: Any) -> None:
    from stix2validator import validate_instance

    result = validate_instance(_bundle())
    assert result.is_valid, [str(e) for e in result.errors]


def test_stix_unknown_technique_and_bad_pattern_are_errors(resolver: Any) -> None:
    bundle = _bundle()
    bundle["objects"][0]["external_references"][0]["external_id"] = "T9999"
    with pytest.raises(EvidenceError, match=r"techniques\[0\]"):
        evidence_from_stix(bundle, resolve_technique=resolver)
    bundle = _bundle()
    bundle["objects"][3]["pattern"] = "[domain-name:value = "
    with pytest.raises(EvidenceError, match="not a STIX pattern"):
        evidence_from_stix(bundle, resolve_technique=resolver)
    bundle = _bundle()
    bundle["objects"][3]["pattern"] = "[ipv4-addr:value = '300.1.1.1']"
    with pytest.raises(EvidenceError, match="indicators"):
        evidence_from_stix(bundle, resolve_technique=resolver)


def test_format_detection(tmp_path: Path, resolver: Any) -> None:
    assert detect_format(_bundle()) == "stix"
    assert detect_format(_bundle()["objects"]) == "stix"
    assert detect_format(GOOD) == "evidence"
    assert detect_format({}) == "evidence"
    p = tmp_path / "bundle.json"
    p.write_text(json.dumps(_bundle()), encoding="utf-8")
    loaded = load_evidence(p, resolve_technique=resolver)
    assert loaded.format == "stix"
    assert loaded.notes
