"""OLE analyser: class table, monikers, text walkers, and real embedded-object samples."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.capture.formats import ole, ole_objects, ole_text

OLEOBJ = "oletools-testdata/tests/test-data/oleobj"


def test_class_table_lookup() -> None:
    info = ole_objects.lookup_class("{bdd1f04b-858b-11d1-b16a-00c0f0283628}")
    assert info is not None and info.finding == "ole.mscomctl"
    flash = ole_objects.lookup_class("D27CDB6E-AE6D-11CF-96B8-444553540000")
    assert flash is not None and flash.finding == "ole.flash"
    assert ole_objects.lookup_class("00020906-0000-0000-C000-000000000046") is None  # Word document


def test_risky_names() -> None:
    assert ole_objects.risky_name("invoice.pdf.exe")
    assert ole_objects.risky_name("Readme.LNK")
    assert not ole_objects.risky_name("budget.xlsx")


def test_url_moniker_extraction() -> None:
    url = "http://203.0.113.5/x.hta"
    stream = b"\x01\x00\x00\x02" + b"\x00" * 16 + ole_objects._URL_MONIKER + b"\x40\x00\x00\x00"
    stream += url.encode("utf-16-le") + b"\x00\x00" + b"\x00" * 24
    assert ole_objects.moniker_urls(stream) == [("url", url)]


def test_ppt_text_atoms() -> None:
    chars = "Quarterly report".encode("utf-16-le")
    atom = struct.pack("<HHI", 0x0000, 0x0FA0, len(chars)) + chars
    raw = b"Ministry"
    atom2 = struct.pack("<HHI", 0x0000, 0x0FA8, len(raw)) + raw
    container = struct.pack("<HHI", 0x000F, 0x03E8, len(atom) + len(atom2)) + atom + atom2
    assert ole_text.ppt_text(container) == "Quarterly report\nMinistry"
    with pytest.raises(ole_text.FormatProblem):
        ole_text.ppt_text(struct.pack("<HHI", 0, 0x0FA0, 1000) + b"ab")


def test_xls_sst_across_continue() -> None:
    # two strings; the second one switches from 8-bit to UTF-16 at the CONTINUE boundary
    sst = struct.pack("<II", 2, 2) + struct.pack("<HB", 5, 0) + b"Hello" + struct.pack("<HB", 4, 0) + b"Pr"
    cont = b"\x01" + "ив".encode("utf-16-le")
    stream = struct.pack("<HH", 0x00FC, len(sst)) + sst + struct.pack("<HH", 0x003C, len(cont)) + cont
    stream += struct.pack("<HH", 0x000A, 0)  # EOF
    assert ole_text.xls_text(stream) == "Hello\nPrив"


def test_doc_text_rejects_bad_fib() -> None:
    with pytest.raises(ole_text.FormatProblem):
        ole_text.doc_text(b"\x00" * 0x200, b"", b"")


def test_codepage_names() -> None:
    assert "GBK" in ole.codepage_name(936)
    assert "Cyrillic" in ole.codepage_name(1251)


def test_malformed_compound_file_is_a_parse_error(scanner: Scanner) -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 600
    r = scanner.scan_bytes(data, name="broken.doc")
    errors = [e for e in r.artifact.errors if e.analyzer == "ole"]
    assert errors and errors[0].kind == "parse"
    assert r.verdict == "clean"


# -- real files ----------------------------------------------------------------------------------
@pytest.mark.corpus
def test_package_with_executable(shared_data: Path, scanner: Scanner) -> None:
    r = scanner.scan_file(shared_data / OLEOBJ / "sample_with_calc_embedded.doc")
    ids = {f.id for f in r.findings}
    assert {"ole.package", "ole.package_executable"} <= ids
    child = r.artifact.children[0]
    assert child.name == "calc.exe" and child.type == "pe"
    assert "calc.exe" in str(child.metadata["ole_source_path"])
    assert r.artifact.metadata["codepage"] == 1252


@pytest.mark.corpus
def test_ppt_embedded_lnk(shared_data: Path, scanner: Scanner) -> None:
    for name in ("sample_with_lnk_file.ppt", "sample_with_lnk_file.pps"):
        ids = {f.id for f in scanner.scan_file(shared_data / OLEOBJ / name).findings}
        assert "ole.package_executable" in ids, name


@pytest.mark.corpus
def test_benign_embedded_document_not_malicious(shared_data: Path, scanner: Scanner) -> None:
    for name in ("embedded-simple-2007.doc", "embedded-simple-2007.xls", "embedded-unicode.doc"):
        r = scanner.scan_file(shared_data / OLEOBJ / name)
        assert "ole.package" in {f.id for f in r.findings}, name
        assert r.verdict != "malicious", name


@pytest.mark.corpus
def test_strelka_docs_have_text_and_are_clean(shared_data: Path, scanner: Scanner) -> None:
    r = scanner.scan_file(shared_data / "strelka-fixtures/test.doc")
    assert r.verdict == "clean"
    assert r.artifact.metadata.get("creating_application")
