"""LNK (MS-SHLLINK) shortcuts in zips, the PDFs and the e-mails."""

from __future__ import annotations

import base64
import email
import email.policy
import io
import re
import struct
import zipfile

import pytest

from samplegen import build, lnk

LINKS = {
    ("invoice.zip", "Invoice_2020.pdf.lnk"): build.MSHTA_LINK,
    ("report.zip", "report.docx.lnk"): build.POWERSHELL_LINK,
}


def _member(zip_name: str, member: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(build.build_bytes(zip_name))) as zf:
        assert zf.namelist() == [member]
        return zf.read(member)


@pytest.mark.parametrize(("key", "link"), list(LINKS.items()), ids=lambda v: str(v)[:20])
def test_lnk_header_and_strings(key: tuple[str, str], link: lnk.Shortcut) -> None:
    data = _member(*key)
    size, clsid, flags = struct.unpack_from("<I16sI", data)
    assert size == 0x4C
    assert clsid.hex() == "0114020000000000c000000000000046"
    for flag in (
        lnk.HAS_LINK_TARGET_ID_LIST,
        lnk.HAS_ARGUMENTS,
        lnk.HAS_ICON_LOCATION,
        lnk.HAS_RELATIVE_PATH,
        lnk.HAS_WORKING_DIR,
        lnk.IS_UNICODE,
    ):
        assert flags & flag
    assert link.arguments.encode("utf-16-le") in data
    assert link.machine_id.encode("ascii") + b"\x00" in data
    assert data.endswith(b"\x00\x00\x00\x00")


@pytest.mark.parametrize(("key", "link"), list(LINKS.items()), ids=lambda v: str(v)[:20])
def test_lnkparse3_reads_target_arguments_icon_machine(key: tuple[str, str], link: lnk.Shortcut) -> None:
    lnkparse3 = pytest.importorskip("LnkParse3")
    parsed = lnkparse3.lnk_file(io.BytesIO(_member(*key))).get_json()
    assert parsed["link_info"]["local_base_path"] == link.target
    assert parsed["data"]["command_line_arguments"] == link.arguments
    assert parsed["data"]["icon_location"] == link.icon_location
    assert parsed["header"]["icon_index"] == link.icon_index
    assert parsed["data"]["working_directory"] == link.working_dir
    tracker = parsed["extra"]["DISTRIBUTED_LINK_TRACKER_BLOCK"]
    assert tracker["machine_identifier"] == "desktop-lure01"
    assert tracker["droid_file_identifier"] == link.droid_file.strip("{}")
    names = [item.get("primary_name") for item in parsed["target"]["items"]]
    assert names[-1] == lnk._short_name(link.target.rsplit("\\", 1)[1])


def test_mshta_link_details() -> None:
    link = build.MSHTA_LINK
    assert link.target.endswith("\\mshta.exe")
    assert link.arguments == "http://cdn.example-cdn.test/invoice.hta"
    assert link.icon_location.endswith("msedge.exe")
    assert link.icon_index == 11
    assert lnk.droid_mac(link.droid_file) == "00:00:5e:00:53:01"  # RFC 7042 documentation MAC


def test_powershell_link_encodes_a_harmless_line() -> None:
    args = build.POWERSHELL_LINK.arguments
    match = re.fullmatch(r"-nop -w hidden -enc ([A-Za-z0-9+/=]+)", args)
    assert match
    script = base64.b64decode(match.group(1)).decode("utf-16-le")
    assert script == build.POWERSHELL_SCRIPT
    assert script.startswith("Write-Host ")


def test_benign_archive() -> None:
    with zipfile.ZipFile(io.BytesIO(build.build_bytes("benign-archive.zip"))) as zf:
        assert sorted(zf.namelist()) == ["Invoice_2020.pdf", "readme.txt"]
        pdf = zf.read("Invoice_2020.pdf")
    assert b"/JavaScript" not in pdf
    assert b"/OpenAction" not in pdf


def _xref_ok(data: bytes) -> None:
    start = int(data.rsplit(b"startxref", 1)[1].split()[0])
    assert data[start : start + 4] == b"xref"
    lines = data[start:].split(b"\n")
    count = int(lines[1].split()[1])
    for number in range(1, count):
        offset = int(lines[2 + number][:10])
        assert data[offset:].startswith(f"{number} 0 obj".encode()), number


def test_pdf_xref_offsets_are_exact() -> None:
    for name in ("openaction-js.pdf", "benign.pdf"):
        data = build.build_bytes(name)
        assert data.startswith(b"%PDF-1.7")
        assert data.endswith(b"%%EOF\n")
        _xref_ok(data)


def test_pypdf_reads_openaction_and_uri() -> None:
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(io.BytesIO(build.build_bytes("openaction-js.pdf")), strict=True)
    action = reader.trailer["/Root"]["/OpenAction"].get_object()
    assert action["/S"] == "/JavaScript"
    assert action["/JS"] == build.PDF_JS
    assert "app.launchURL" in action["/JS"]
    (annot,) = [a.get_object() for a in reader.pages[0]["/Annots"]]
    assert annot["/Subtype"] == "/Link"
    assert annot["/A"]["/URI"] == "http://docs.example-cdn.test/register"
    assert "Regional Security Dialogue" in reader.pages[0].extract_text()


def test_pypdf_reads_benign_pdf() -> None:
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(io.BytesIO(build.build_bytes("benign.pdf")), strict=True)
    root = reader.trailer["/Root"]
    assert "/OpenAction" not in root
    assert "/Annots" not in reader.pages[0]
    assert "Invoice INV-2020-0117" in reader.pages[0].extract_text()


def _mail(name: str) -> email.message.EmailMessage:
    msg = email.message_from_bytes(build.build_bytes(name), policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_lure_mail() -> None:
    msg = _mail("wuhan-travel-form.eml")
    assert msg["Subject"] == "关于武汉旅行信息收集的通知 / Wuhan travel information form"
    assert msg["From"].addresses[0].domain == "nhc-gov-cn.test"
    assert msg["To"] == "infection-control@hospital.example"
    body = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert body is not None
    assert html is not None
    assert "启用内容" in body.get_content()
    assert "Enable Content" in html.get_content()
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == build.XLSM_NAME
    # Foxmail style: an RFC 2047 encoded word (GB18030) inside the quoted parameter
    assert b'filename="=?GB18030?B?' in build.build_bytes("wuhan-travel-form.eml")
    payload = att.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload == build.lure_xlsm()
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        assert "xl/vbaProject.bin" in zf.namelist()


def test_benign_mail() -> None:
    msg = _mail("benign-travel-form.eml")
    assert msg["From"].addresses[0].domain == "hospital.example"
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "武汉旅行信息收集表.xlsx"
    assert b"filename*=utf-8''" in build.build_bytes("benign-travel-form.eml")  # RFC 2231
    payload = att.get_payload(decode=True)
    assert isinstance(payload, bytes)
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        assert not [n for n in zf.namelist() if "vba" in n.lower()]
