"""OneNote analyser: synthetic FileDataStoreObject blobs in memory, plus the shared corpora."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.capture.formats.onenote import FDSO_FOOTER, FDSO_HEADER
from aptcatch.capture.identify import ONENOTE_MAGIC
from aptcatch.model.scan import ItemResult

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x01" * 6000
ICON = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x02" * 900
HTA = (
    b'<html><head><hta:application id="x"/></head>'
    b'<script language="VBScript">CreateObject("WScript.Shell")</script></html>'
)


def fdso(data: bytes) -> bytes:
    pad = (8 - len(data) % 8) % 8
    return FDSO_HEADER + struct.pack("<QI", len(data), 0) + b"\x00" * 8 + data + b"\x00" * pad + FDSO_FOOTER


def section(*blobs: bytes) -> bytes:
    return ONENOTE_MAGIC + b"\x00" * 1008 + b"".join(b"\x00" * 24 + fdso(b) for b in blobs)


def ids(result: ItemResult) -> set[str]:
    return {f.id for f in result.findings}


@pytest.fixture(scope="module")
def scan() -> Scanner:
    return Scanner()


def test_script_beside_picture_is_malicious(scan: Scanner) -> None:
    r = scan.scan_bytes(section(PNG, HTA), name="Invoice.one")
    assert r.type == "onenote"
    found = ids(r)
    assert {
        "onenote.embedded_script_or_executable",
        "onenote.embedded_image",
        "onenote.click_to_view_lure",
    } <= found
    assert r.verdict == "malicious"
    kinds = sorted(c.type for c in r.artifact.children)
    assert kinds == ["hta", "image"]
    assert [c.name for c in r.artifact.children] == ["embedded_0", "embedded_1"]
    assert any(e.kind == "parse" for e in r.artifact.errors)  # pyOneNote cannot read the fake store


def test_icon_alone_is_not_a_lure(scan: Scanner) -> None:
    r = scan.scan_bytes(section(ICON, HTA), name="plain.one")
    assert "onenote.embedded_script_or_executable" in ids(r)
    assert "onenote.click_to_view_lure" not in ids(r)


def test_document_attachment_is_only_suspicious(scan: Scanner) -> None:
    r = scan.scan_bytes(section(b"%PDF-1.4\n" + b"%" * 200), name="notes.one")
    assert "onenote.embedded_file" in ids(r)
    assert "onenote.embedded_script_or_executable" not in ids(r)
    assert r.verdict != "malicious"


def test_truncated_store_object_is_reported(scan: Scanner) -> None:
    blob = section(PNG, HTA)
    r = scan.scan_bytes(blob[: len(blob) - 60], name="cut.one")
    assert r.type == "onenote"
    assert any("declares" in e.message for e in r.artifact.errors)
    assert r.artifact.children  # what was there is still extracted


def test_header_missing_first_byte_is_still_onenote(scan: Scanner) -> None:
    r = scan.scan_bytes(section(HTA)[1:], name="x.one")
    assert r.type == "onenote"
    assert "onenote.embedded_script_or_executable" in ids(r)


def test_garbage_after_magic_does_not_crash(scan: Scanner) -> None:
    r = scan.scan_bytes(ONENOTE_MAGIC + bytes(range(256)) * 8 + FDSO_HEADER + b"\xff" * 8, name="g.one")
    assert r.type == "onenote"
    assert r.verdict == "clean"


# -- corpora ----------------------------------------------------------------------------------------
def _onenote_rows(root: Path) -> list[str]:
    rows = []
    for line in (root / "maldocs-dev" / "MANIFEST.tsv").read_text().splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) > 3 and cols[3] == "OneNote":
            rows.append(cols[0])
    return rows


@pytest.mark.corpus
def test_maldocs_onenote_all_malicious(shared_data: Path, scan: Scanner) -> None:
    import pyzipper

    rows = _onenote_rows(shared_data)
    assert len(rows) == 26
    for rel in rows:
        with pyzipper.AESZipFile(shared_data / "maldocs-dev" / rel) as zf:
            name = zf.namelist()[0]
            data = zf.read(name, pwd=b"infected")
        r = scan.scan_bytes(data, name=name)
        assert r.type == "onenote", rel
        assert r.verdict == "malicious", (rel, r.findings)
        assert "onenote.embedded_script_or_executable" in ids(r), rel
        assert r.lure.text_chars > 0, rel


@pytest.mark.corpus
def test_benign_fixture_onenote_is_not_malicious(shared_data: Path, scan: Scanner) -> None:
    r = scan.scan_file(shared_data / "strelka-fixtures" / "test.one")
    assert r.type == "onenote"
    assert r.verdict != "malicious"
    assert "onenote.embedded_script_or_executable" not in ids(r)
    names = {c.name: c.type for c in r.artifact.children}
    assert names.get("test.docx") == "ooxml-word"
    assert not r.artifact.errors
