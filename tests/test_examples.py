"""The bundled examples: each lure is caught with the right chain facts; each benign twin stays clean.

(tests/samplegen checks that the committed examples are exactly what the generator makes.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.model.scan import ItemResult

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

LURES: dict[str, dict[str, set[str]]] = {
    "wuhan-travel-form.eml": {
        "techniques": {"T1566.001", "T1218.010", "T1547.001", "T1204.002"},
        "cves": set(),
    },
    "equation-editor.rtf": {"techniques": {"T1203"}, "cves": {"CVE-2017-11882"}},
    "equation-editor-obfuscated.rtf": {"techniques": {"T1203", "T1027"}, "cves": {"CVE-2017-11882"}},
    "equation-object.bin": {"techniques": {"T1203"}, "cves": {"CVE-2017-11882"}},
    "remote-template.docx": {"techniques": {"T1221"}, "cves": set()},
    "dde-field.docx": {"techniques": {"T1559.002"}, "cves": set()},
    "invoice.zip": {"techniques": {"T1218.005"}, "cves": set()},
    "report.zip": {"techniques": {"T1059.001"}, "cves": set()},
    "openaction-js.pdf": {"techniques": {"T1059.007"}, "cves": set()},
}
BENIGN = [
    "benign-travel-form.eml",
    "benign-equation.rtf",
    "benign-template.docx",
    "benign-field.docx",
    "benign-archive.zip",
    "benign.pdf",
    "benign-macro.xlsm",
]


@pytest.fixture(scope="module")
def results(scanner: Scanner) -> dict[str, ItemResult]:
    return {name: scanner.scan_file(EXAMPLES / name) for name in [*LURES, *BENIGN]}


@pytest.mark.parametrize("name", sorted(LURES))
def test_lure_is_malicious_with_its_techniques(name: str, results: dict[str, ItemResult]) -> None:
    r = results[name]
    assert r.verdict == "malicious", (r.score, r.reasons)
    assert LURES[name]["techniques"] <= set(r.techniques), r.techniques
    assert LURES[name]["cves"] <= {c.id for c in r.cves}


@pytest.mark.parametrize("name", BENIGN)
def test_benign_twin_is_clean(name: str, results: dict[str, ItemResult]) -> None:
    r = results[name]
    assert r.verdict == "clean", (r.score, [(f.id, f.detail) for f in r.findings])


def test_wuhan_chain_indicators_and_lure(results: dict[str, ItemResult]) -> None:
    r = results["wuhan-travel-form.eml"]
    types = []
    node = r.artifact
    while True:
        types.append(node.type)
        if not node.children:
            break
        node = max(node.children, key=lambda c: len(c.children) + (c.type == "ooxml-excel"))
    assert types[:2] == ["eml", "ooxml-excel"]
    values = {(i.type.value, i.value) for i in r.indicators}
    assert ("url", "http://update.example-cdn.test/ti.sct") in values
    assert ("domain", "update.example-cdn.test") in values
    assert r.lure.language == "zh"
    assert r.lure.themes and r.lure.themes[0].theme in {"health", "health_epidemic", "epidemic"}
    assert "healthcare" in r.lure.sectors
