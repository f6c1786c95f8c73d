from __future__ import annotations

import io
import zipfile

import pytest

from aptcatch.capture.identify import LNK_MAGIC, ONENOTE_MAGIC, identify
from aptcatch.capture.types import FileType


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", FileType.EMPTY),
        (b"{\\rtf1\\ansi hello}", FileType.RTF),
        (b"{\\rtvpn junk", FileType.RTF),
        (b"%PDF-1.7\n1 0 obj", FileType.PDF),
        (b"\x00" * 100 + b"%PDF-1.4", FileType.PDF),
        (LNK_MAGIC + b"\x00" * 60, FileType.LNK),
        (ONENOTE_MAGIC + b"\x00" * 60, FileType.ONENOTE),
        (b"ITSF\x03\x00\x00\x00", FileType.CHM),
        (b"Rar!\x1a\x07\x01\x00", FileType.RAR),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", FileType.SEVENZIP),
        (b"\x1f\x8b\x08\x00", FileType.GZIP),
        (b"MSCF\x00\x00\x00\x00", FileType.CAB),
        (b"[InternetShortcut]\r\nURL=http://x.test/\r\n", FileType.URL_SHORTCUT),
        (b"WEB\r\n1\r\nhttp://x.test/q.txt\r\n", FileType.IQY),
        (b'ID;PWXL;N;E\r\nC;X1;Y1;K0;EEXEC("calc")\r\n', FileType.SLK),
        (b'<html><hta:application id="x"/><script>1</script></html>', FileType.HTA),
        (b"<html><body><p>hi</p></body></html>", FileType.HTML),
        (
            b'<?XML version="1.0"?><scriptlet><registration progid="x"/><script>a</script></scriptlet>',
            FileType.SCT,
        ),
        (b'Set s = CreateObject("WScript.Shell")\r\nDim a\r\ns.Run "calc"\r\n', FileType.VBS),
        (b"$a = New-Object Net.WebClient; IEX $a.DownloadString('x')", FileType.POWERSHELL),
        (b"@echo off\r\nset x=1\r\ncall y\r\n", FileType.BATCH),
        (b"just some words in a note", FileType.TEXT),
    ],
)
def test_identify_from_content(data: bytes, expected: FileType) -> None:
    assert identify(data) is expected


def test_identify_ignores_misleading_extension() -> None:
    assert identify(b"%PDF-1.4 ...", "invoice.docx") is FileType.PDF
    assert identify(b"{\\rtf1 x}", "report.doc") is FileType.RTF


def test_identify_ooxml_flavours() -> None:
    ct = b"<Types/>"
    assert identify(_zip({"[Content_Types].xml": ct, "word/document.xml": b"<w/>"})) is FileType.OOXML_WORD
    assert identify(_zip({"[Content_Types].xml": ct, "xl/workbook.xml": b"<w/>"})) is FileType.OOXML_EXCEL
    assert (
        identify(_zip({"[Content_Types].xml": ct, "ppt/presentation.xml": b"<p/>"}))
        is FileType.OOXML_POWERPOINT
    )
    assert identify(_zip({"a.txt": b"x"})) is FileType.ZIP
    odt = _zip({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"})
    assert identify(odt) is FileType.ODF


def test_identify_email() -> None:
    mail = (
        b"Received: from x\r\nFrom: a@b.test\r\nTo: c@d.test\r\nSubject: hi\r\nMessage-ID: <1@b>\r\n\r\nbody"
    )
    assert identify(mail) is FileType.EML


def test_identify_pe() -> None:
    pe = bytearray(b"MZ" + b"\x00" * 0x3A + (0x40).to_bytes(4, "little") + b"PE\x00\x00" + b"\x00" * 64)
    assert identify(bytes(pe)) is FileType.PE
    assert identify(b"MZ not really") is FileType.UNKNOWN


def test_identify_truncated_ole_is_not_a_crash() -> None:
    assert identify(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100) is FileType.OLE_OTHER
