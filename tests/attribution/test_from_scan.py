"""Scan results → evidence, on the bundled example lures and on hand-built results."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aptcatch.attribution.evidence_io import store_technique_resolver
from aptcatch.attribution.from_scan import evidence_from_scan
from aptcatch.capture.engine import Scanner
from aptcatch.model.scan import Artifact, Finding, ItemResult, Lure
from tests.attribution.test_evidence_io import small_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _scan(scanner: Scanner, name: str) -> ItemResult:
    return scanner.scan_file(EXAMPLES / name)


def test_wuhan_lure(scanner: Scanner) -> None:
    ev = evidence_from_scan([_scan(scanner, "wuhan-travel-form.eml")])
    assert {"T1566.001", "T1059.005", "T1218.010"} <= set(ev.techniques)
    got = {(i.type, i.value) for i in ev.indicators}
    assert ("domain", "update.example-cdn.test") in got
    assert ("url", "http://update.example-cdn.test/ti.sct") in got
    assert ("email", "notice@nhc-gov-cn.test") in got
    assert ("email", "nhc-office@mail-service.test") in got
    assert not any(v == "infection-control@hospital.example" for _, v in got)  # the victim is no evidence
    assert sum(1 for t, _ in got if t == "sha256") >= 3  # mail, workbook, VBA project
    arts = {(a.type, a.value) for a in ev.artifacts}
    assert ("other", "x_mailer: Foxmail 7.2.15.80[cn]") in arts
    assert ("author", "user01") in arts
    assert ("author", "Administrator") not in arts  # generic
    assert any(t == "macro_key" for t, _ in arts)
    assert ev.lure.language == "zh"
    assert {"health", "government_notice"} <= set(ev.lure.themes)
    assert {"healthcare", "government"} <= set(ev.target.sectors)
    assert ev.first_seen == date(2020, 1, 23)  # the e-mail's Date, not the workbook's creation time
    seen = {i.seen_in for i in ev.indicators if i.type == "url"}
    assert any(s and "vbaProject.bin" in s for s in seen)


def test_lnk_lure_machine_id(scanner: Scanner) -> None:
    ev = evidence_from_scan([_scan(scanner, "invoice.zip")])
    arts = {(a.type, a.value) for a in ev.artifacts}
    assert ("lnk_machine_id", "desktop-lure01") in arts
    assert any(t == "other" and v.startswith("lnk_mac_address: ") for t, v in arts)
    assert ("domain", "cdn.example-cdn.test") in {(i.type, i.value) for i in ev.indicators}
    assert "T1218.005" in ev.techniques


def test_equation_lure_cves(scanner: Scanner) -> None:
    ev = evidence_from_scan([_scan(scanner, "equation-editor.rtf")])
    assert {("cve", "CVE-2017-11882"), ("cve", "CVE-2018-0802")} <= {(a.type, a.value) for a in ev.artifacts}
    assert "T1203" in ev.techniques
    assert not any(a.type == "codepage" for a in ev.artifacts)  # 1252 is the default: no signal


def test_document_time_is_first_seen_without_mail(scanner: Scanner) -> None:
    ev = evidence_from_scan([_scan(scanner, "remote-template.docx")])
    assert ev.first_seen == date(2020, 1, 22)  # the latest of created / modified
    assert ("url", "http://templates.example-cdn.test/office/normal.dotm") in {
        (i.type, i.value) for i in ev.indicators
    }


def test_clean_items_do_not_dilute_flagged_ones(scanner: Scanner) -> None:
    lure, twin = _scan(scanner, "dde-field.docx"), _scan(scanner, "benign-field.docx")
    ev = evidence_from_scan([lure, twin])
    hashes = {i.value for i in ev.indicators if i.type == "sha256"}
    assert lure.sha256 in hashes and twin.sha256 not in hashes
    only_clean = evidence_from_scan([twin])
    assert twin.sha256 in {i.value for i in only_clean.indicators}


def test_unknown_techniques_are_left_out_with_a_knowledge_base(scanner: Scanner) -> None:
    item = _scan(scanner, "remote-template.docx")
    ev = evidence_from_scan([item], resolve_technique=store_technique_resolver(small_store()))
    assert set(ev.techniques) == {"T1221", "T1204.002"} & set(item.techniques)


def _item(metadata: dict[str, Any], findings: tuple[Finding, ...] = ()) -> ItemResult:
    art = Artifact(
        id="0", name="x.exe", type="pe", sha256="a" * 64, md5="b" * 32, size=10, depth=0, metadata=metadata
    )
    return ItemResult(
        path="x.exe",
        sha256="a" * 64,
        size=10,
        type="pe",
        verdict="malicious",
        score=90,
        findings=findings,
        lure=Lure(language=None),
        artifact=art,
    )


def test_pe_and_yara_artifacts() -> None:
    yara = Finding(
        id="yara.third_party",
        title="t",
        severity="high",
        weight=0.5,
        artifact="0",
        artifact_path="x.exe",
        detail="vendor.ZxxZ_loader (family=ZxxZ, actor=BITTER): ZxxZ downloader",
        source="yara:vendor",
    )
    own = yara.model_copy(update={"source": "yara:aptcatch", "detail": "aptcatch.rule: x"})
    item = _item(
        {
            "pe_pdb_path": "C:\\Users\\dev\\zxxz\\Release\\zxxz.pdb",
            "pe_imphash": "C" * 32,
            "pe_rich_hash": "d" * 32,
            "codepage": 936,
            "created": "D:20210304101010+05'30'",
        },
        (yara, own),
    )
    ev = evidence_from_scan([item])
    arts = {(a.type, a.value) for a in ev.artifacts}
    assert ("pdb_path", "C:\\Users\\dev\\zxxz\\Release\\zxxz.pdb") in arts
    assert ("imphash", "c" * 32) in arts
    assert ("rich_hash", "d" * 32) in arts
    assert ("codepage", "936") in arts
    assert ("yara_rule", "vendor.ZxxZ_loader") in arts
    assert ("other", "yara_actor: BITTER") in arts
    assert not any(v.startswith("aptcatch.") for _, v in arts)  # our exploit rules carry no attribution
    assert ev.software == ("ZxxZ",)
    assert ev.first_seen == date(2021, 3, 4)


@pytest.mark.parametrize("value", ["1970-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "garbage"])
def test_implausible_times_are_ignored(value: str) -> None:
    assert evidence_from_scan([_item({"created": value})]).first_seen is None
