"""OOXML/ODF/Office-XML analysers against the shared corpora (skipped when ../shared/data is absent)."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest
import pyzipper

from aptcatch.capture.engine import Scanner
from tests.capture.formats.ooxml_helpers import ids

pytestmark = pytest.mark.corpus
OOXML_EXT = (".docx", ".docm", ".dotx", ".dotm", ".xlsx", ".xlsm", ".xlsb", ".pptx", ".pptm", ".ppsx")


def _td(shared: Path) -> Path:
    return shared / "oletools-testdata" / "tests" / "test-data"


@pytest.mark.parametrize("ext", ["xlsm", "xlsb", "xltm", "slk"])
def test_excel4_samples_show_xlm(shared_data: Path, scanner: Scanner, ext: str) -> None:
    r = scanner.scan_file(_td(shared_data) / "excel4-macros" / f"excel4_sample_macro.{ext}")
    assert {"xlm.macrosheet", "xlm.auto_open"} <= ids(r)


@pytest.mark.parametrize(
    "name", ["dde-test.docx", "dde-test.docm", "dde-test.xlsx", "dde-test.xlsm", "dde-test.xlsb",
             "dde-in-excel2003.xml", "dde-in-csv.csv"],
)  # fmt: skip
def test_msodde_samples_show_dde(shared_data: Path, scanner: Scanner, name: str) -> None:
    r = scanner.scan_file(_td(shared_data) / "msodde" / name)
    assert "dde.command" in ids(r)


@pytest.mark.parametrize("name", ["dde-in-word2003.xml.zip", "dde-in-word2007.xml.zip"])
def test_zipped_word_xml_dde(shared_data: Path, scanner: Scanner, name: str) -> None:
    with zipfile.ZipFile(_td(shared_data) / "msodde" / name) as zf:
        inner = zf.namelist()[0]
        data = zf.read(inner, pwd=b"infected-test")
    r = scanner.scan_bytes(data, name=inner)
    assert r.type == "word-xml"
    assert "dde.command" in ids(r)


def test_external_link_samples(shared_data: Path, scanner: Scanner) -> None:
    files = sorted((_td(shared_data) / "oleobj" / "external_link").iterdir())
    assert len(files) >= 13
    for f in files:
        r = scanner.scan_file(f)
        assert ids(r) & {"ooxml.external_oleobject", "ooxml.remote_template"}, f.name


@pytest.mark.parametrize(
    "ext", ["docx", "docm", "dotx", "xlsx", "xlsm", "xlsb", "pptx", "ppsx", "odt", "ods", "xml"]
)
def test_embedded_object_is_extracted(shared_data: Path, scanner: Scanner, ext: str) -> None:
    r = scanner.scan_file(_td(shared_data) / "oleobj" / f"embedded-simple-2007.{ext}")

    def types(a: object) -> list[str]:
        out = [a.type]  # type: ignore[attr-defined]
        for c in a.children:  # type: ignore[attr-defined]
            out.extend(types(c))
        return out

    assert "ole-package" in types(r.artifact) or "ole" in types(r.artifact)


@pytest.mark.parametrize(
    "name", ["harmless-clean.docx", "harmless-clean.docm", "harmless-clean.xml", "harmless-clean-2003.xml"]
)
def test_harmless_clean(shared_data: Path, scanner: Scanner, name: str) -> None:
    r = scanner.scan_file(_td(shared_data) / "msodde" / name)
    assert r.verdict == "clean"
    assert not ids(r) & {"dde.command", "dde.link"}


def test_maldocs_ooxml_excel_all_malicious(shared_data: Path, scanner: Scanner) -> None:
    base = shared_data / "maldocs-dev"
    with (base / "MANIFEST.tsv").open() as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["doc_class"] == "OOXML-excel"]
    seen: set[str] = set()
    for row in rows:
        if row["zip"] in seen:
            continue
        seen.add(row["zip"])
        with pyzipper.AESZipFile(base / row["zip"]) as zf:
            name = zf.namelist()[0]
            data = zf.read(name, pwd=b"infected")
        r = scanner.scan_bytes(data, name=name)
        assert r.verdict == "malicious", row["zip"]
    assert len(seen) == 11


def test_benign_office_false_positive_rate(shared_data: Path, scanner: Scanner) -> None:
    files = [p for p in sorted((shared_data / "benign-office").iterdir()) if p.suffix.lower() in OOXML_EXT]
    files += sorted((shared_data / "strelka-fixtures").glob("test.doc*"))
    assert len(files) > 250
    verdicts = [scanner.scan_file(p).verdict for p in files]
    malicious = verdicts.count("malicious") / len(verdicts)
    flagged = (verdicts.count("malicious") + verdicts.count("suspicious")) / len(verdicts)
    assert malicious <= 0.01
    assert flagged <= 0.05
