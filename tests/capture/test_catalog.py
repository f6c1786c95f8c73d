from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aptcatch.capture import catalog


def test_catalogue_loads_and_is_consistent() -> None:
    defs = catalog.findings()
    assert len(defs) > 10
    for d in defs.values():
        assert d.title and 0 <= d.weight <= 1
        for t in d.techniques:
            assert t in catalog.techniques()


def test_unknown_finding_is_an_error() -> None:
    with pytest.raises(catalog.CatalogError):
        catalog.finding("no.such_finding")


@pytest.mark.corpus
def test_technique_names_match_attack_v18(shared_data: Path) -> None:
    bundle = json.loads((shared_data / "attack" / "enterprise-attack.json").read_text())
    names: dict[str, str] = {}
    for o in bundle["objects"]:
        if o["type"] == "attack-pattern" and not o.get("revoked") and not o.get("x_mitre_deprecated"):
            for ref in o.get("external_references", []):
                if ref.get("source_name") == "mitre-attack":
                    names[ref["external_id"]] = o["name"]
    for tid, name in catalog.techniques().items():
        assert tid in names, f"{tid} is not an active ATT&CK v18.1 technique"
        assert name.split(": ")[-1] == names[tid], tid


def test_cves_have_patch_advice() -> None:
    for c in catalog.cves().values():
        assert re.match(r"CVE-\d{4}-\d+", c.id)
        assert c.product and c.fix and c.reference.startswith("https://")


def test_grouped_findings_count_once() -> None:
    from aptcatch.capture.verdict import decide
    from aptcatch.model.scan import Finding

    def f(fid: str) -> Finding:
        d = catalog.finding(fid)
        return Finding(
            id=fid, title=d.title, severity=d.severity, weight=d.weight, artifact="0", artifact_path="x"
        )

    same_fact = decide([f("ole.package_executable"), f("pe.executable")])[0]
    assert same_fact == round(100 * catalog.finding("ole.package_executable").weight)
    independent = decide([f("ole.package_executable"), f("archive.double_extension")])[0]
    assert independent > same_fact
