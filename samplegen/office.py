"""OOXML package builders (xlsx/xlsm, docx/docm) with the standard library only.

Each builder returns the bytes of a valid Open Packaging Conventions zip: ``[Content_Types].xml``,
``_rels/.rels``, the main part with its relationships, ``docProps/core.xml`` and ``app.xml``.
Macro-enabled variants carry a ``vbaProject.bin`` built by :mod:`samplegen.ovba`. Timestamps are
fixed so that generated files are reproducible byte for byte.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

ZIP_TIME = (2020, 1, 22, 9, 30, 0)

NS_MAIN_X = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_MAIN_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
REL_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
REL_TEMPLATE = REL + "attachedTemplate"

CT_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
CT_XLSM = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
CT_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
CT_DOCM = "application/vnd.ms-word.document.macroEnabled.main+xml"
CT_VBA = "application/vnd.ms-office.vbaProject"

XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


@dataclass(frozen=True)
class DocProps:
    """docProps/core.xml and app.xml metadata."""

    title: str = ""
    author: str = "Administrator"
    last_modified_by: str = "Administrator"
    created: str = "2020-01-21T08:12:00Z"
    modified: str = "2020-01-22T09:30:00Z"
    company: str = ""
    application: str = "Microsoft Office Word"
    template: str = "Normal.dotm"


def package(parts: dict[str, str | bytes]) -> bytes:
    """Zip ``parts`` (name to text or bytes) with fixed timestamps, content types first."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(parts, key=lambda n: (n != "[Content_Types].xml", n)):
            data = parts[name]
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data.encode("utf-8") if isinstance(data, str) else data)
    return buf.getvalue()


def relationships(rels: Sequence[tuple[str, str, str] | tuple[str, str, str, str]]) -> str:
    """``_rels`` XML; each rel is (Id, Type, Target) or (Id, Type, Target, TargetMode)."""
    items = []
    for rel in rels:
        mode = f' TargetMode="{rel[3]}"' if len(rel) == 4 else ""
        items.append(f'<Relationship Id="{rel[0]}" Type="{rel[1]}" Target="{escape(rel[2])}"{mode}/>')
    return f'{XML_DECL}<Relationships xmlns="{NS_PKG_RELS}">{"".join(items)}</Relationships>'


def content_types(overrides: dict[str, str], vba: bool) -> str:
    defaults = [
        ("rels", "application/vnd.openxmlformats-package.relationships+xml"),
        ("xml", "application/xml"),
    ]
    if vba:
        defaults.insert(0, ("bin", CT_VBA))
    body = "".join(f'<Default Extension="{e}" ContentType="{t}"/>' for e, t in defaults)
    body += "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in overrides.items())
    return f'{XML_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">{body}</Types>'


def core_xml(props: DocProps) -> str:
    return (
        f"{XML_DECL}<cp:coreProperties "
        'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:dcmitype="http://purl.org/dc/dcmitype/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{escape(props.title)}</dc:title>"
        f"<dc:creator>{escape(props.author)}</dc:creator>"
        f"<cp:lastModifiedBy>{escape(props.last_modified_by)}</cp:lastModifiedBy>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{props.created}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{props.modified}</dcterms:modified>'
        "</cp:coreProperties>"
    )


def app_xml(props: DocProps) -> str:
    return (
        f"{XML_DECL}<Properties "
        'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" '
        'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        f"<Template>{escape(props.template)}</Template>"
        f"<Application>{escape(props.application)}</Application>"
        "<DocSecurity>0</DocSecurity>"
        f"<Company>{escape(props.company)}</Company>"
        "<AppVersion>16.0000</AppVersion></Properties>"
    )


def _package_rels() -> str:
    return relationships(
        [
            ("rId1", REL + "officeDocument", "{main}"),
            (
                "rId2",
                "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties",
                "docProps/core.xml",
            ),
            ("rId3", REL + "extended-properties", "docProps/app.xml"),
        ]
    )


# --------------------------------------------------------------------------- spreadsheet

_STYLES = (
    f'{XML_DECL}<styleSheet xmlns="{NS_MAIN_X}">'
    '<fonts count="2"><font><sz val="11"/><name val="DengXian"/><family val="2"/><charset val="134"/></font>'
    '<font><b/><sz val="14"/><name val="DengXian"/><family val="2"/><charset val="134"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _col(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def build_workbook(
    rows: Sequence[Sequence[str]],
    *,
    sheet_name: str = "Sheet1",
    props: DocProps | None = None,
    vba_project: bytes | None = None,
) -> bytes:
    """An .xlsx (or .xlsm when ``vba_project`` is given) with one sheet of shared strings.

    The first row is styled bold (a title row).
    """
    props = props or DocProps(application="Microsoft Excel")
    strings: list[str] = []
    index: dict[str, int] = {}
    xml_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, text in enumerate(row):
            if text == "":
                continue
            if text not in index:
                index[text] = len(strings)
                strings.append(text)
            style = ' s="1"' if r == 1 else ""
            cells.append(f'<c r="{_col(c)}{r}" t="s"{style}><v>{index[text]}</v></c>')
        xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    width = max((len(row) for row in rows), default=1)
    sheet = (
        f'{XML_DECL}<worksheet xmlns="{NS_MAIN_X}" xmlns:r="{NS_R}">'
        '<sheetPr codeName="Sheet1"/>'
        f'<dimension ref="A1:{_col(width - 1)}{max(len(rows), 1)}"/>'
        f'<cols><col min="1" max="{width}" width="18" customWidth="1"/></cols>'
        f"<sheetData>{''.join(xml_rows)}</sheetData></worksheet>"
    )
    total = sum(1 for row in rows for text in row if text)
    shared = (
        f'{XML_DECL}<sst xmlns="{NS_MAIN_X}" count="{total}" uniqueCount="{len(strings)}">'
        + "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in strings)
        + "</sst>"
    )
    workbook = (
        f'{XML_DECL}<workbook xmlns="{NS_MAIN_X}" xmlns:r="{NS_R}">'
        '<workbookPr codeName="ThisWorkbook" defaultThemeVersion="164011"/>'
        f'<sheets><sheet name="{escape(sheet_name)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    wb_rels: list[tuple[str, str, str] | tuple[str, str, str, str]] = [
        ("rId1", REL + "worksheet", "worksheets/sheet1.xml"),
        ("rId2", REL + "styles", "styles.xml"),
        ("rId3", REL + "sharedStrings", "sharedStrings.xml"),
    ]
    if vba_project is not None:
        wb_rels.append(("rId4", REL_VBA, "vbaProject.bin"))
    sml = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    overrides = {
        "/xl/workbook.xml": CT_XLSM if vba_project is not None else CT_XLSX,
        "/xl/worksheets/sheet1.xml": f"{sml}.worksheet+xml",
        "/xl/styles.xml": f"{sml}.styles+xml",
        "/xl/sharedStrings.xml": f"{sml}.sharedStrings+xml",
        "/docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
        "/docProps/app.xml": "application/vnd.openxmlformats-officedocument.extended-properties+xml",
    }
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": content_types(overrides, vba_project is not None),
        "_rels/.rels": _package_rels().replace("{main}", "xl/workbook.xml"),
        "docProps/core.xml": core_xml(props),
        "docProps/app.xml": app_xml(props),
        "xl/workbook.xml": workbook,
        "xl/_rels/workbook.xml.rels": relationships(wb_rels),
        "xl/worksheets/sheet1.xml": sheet,
        "xl/styles.xml": _STYLES,
        "xl/sharedStrings.xml": shared,
    }
    if vba_project is not None:
        parts["xl/vbaProject.bin"] = vba_project
    return package(parts)


# --------------------------------------------------------------------------- word processing


def run(text: str, *, bold: bool = False) -> str:
    """A ``w:r`` run with preserved spaces."""
    rpr = "<w:rPr><w:b/></w:rPr>" if bold else ""
    return f'<w:r>{rpr}<w:t xml:space="preserve">{escape(text)}</w:t></w:r>'


def paragraph(*runs: str, style: str | None = None) -> str:
    """A ``w:p``; plain strings are wrapped into runs, strings starting with '<' are raw XML."""
    ppr = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    body = "".join(r if r.startswith("<") else run(r) for r in runs)
    return f"<w:p>{ppr}{body}</w:p>"


def complex_field(instruction_pieces: Sequence[str], result: str) -> str:
    """A complex field whose instruction text is split across several ``w:instrText`` runs."""
    instr = "".join(
        f'<w:r><w:instrText xml:space="preserve">{escape(piece)}</w:instrText></w:r>'
        for piece in instruction_pieces
    )
    return (
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        + instr
        + '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        + run(result)
        + '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    )


def simple_field(instruction: str, result: str) -> str:
    return f'<w:fldSimple w:instr="{escape(instruction, {chr(34): "&quot;"})}">{run(result)}</w:fldSimple>'


def build_document(
    paragraphs: Sequence[str],
    *,
    props: DocProps | None = None,
    template_target: str | None = None,
    template_external: bool = True,
    vba_project: bytes | None = None,
) -> bytes:
    """A .docx (or .docm when ``vba_project`` is given).

    ``template_target`` adds ``w:attachedTemplate`` in settings.xml with a relationship in
    ``word/_rels/settings.xml.rels`` (``TargetMode="External"`` when ``template_external``).
    """
    props = props or DocProps()
    document = (
        f'{XML_DECL}<w:document xmlns:w="{NS_MAIN_W}" xmlns:r="{NS_R}"><w:body>'
        + "".join(paragraphs)
        + '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/>'
        '<w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440" w:header="851" '
        'w:footer="992" w:gutter="0"/></w:sectPr></w:body></w:document>'
    )
    template = '<w:attachedTemplate r:id="rId1"/>' if template_target else ""
    settings = (
        f'{XML_DECL}<w:settings xmlns:w="{NS_MAIN_W}" xmlns:r="{NS_R}">'
        f'<w:zoom w:percent="100"/>{template}<w:defaultTabStop w:val="720"/>'
        '<w:characterSpacingControl w:val="doNotCompress"/><w:compat/></w:settings>'
    )
    styles = (
        f'{XML_DECL}<w:styles xmlns:w="{NS_MAIN_W}">'
        '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>'
        '<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/>'
        '<w:basedOn w:val="Normal"/><w:rPr><w:b/><w:sz w:val="32"/></w:rPr></w:style></w:styles>'
    )
    doc_rels: list[tuple[str, str, str] | tuple[str, str, str, str]] = [
        ("rId1", REL + "styles", "styles.xml"),
        ("rId2", REL + "settings", "settings.xml"),
    ]
    if vba_project is not None:
        doc_rels.append(("rId3", REL_VBA, "vbaProject.bin"))
    overrides = {
        "/word/document.xml": CT_DOCM if vba_project is not None else CT_DOCX,
        "/word/styles.xml": "application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml",
        "/word/settings.xml": "application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml",
        "/docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
        "/docProps/app.xml": "application/vnd.openxmlformats-officedocument.extended-properties+xml",
    }
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": content_types(overrides, vba_project is not None),
        "_rels/.rels": _package_rels().replace("{main}", "word/document.xml"),
        "docProps/core.xml": core_xml(props),
        "docProps/app.xml": app_xml(props),
        "word/document.xml": document,
        "word/_rels/document.xml.rels": relationships(doc_rels),
        "word/styles.xml": styles,
        "word/settings.xml": settings,
    }
    if template_target:
        rel: tuple[str, str, str] | tuple[str, str, str, str]
        if template_external:
            rel = ("rId1", REL_TEMPLATE, template_target, "External")
        else:
            rel = ("rId1", REL_TEMPLATE, template_target)
        parts["word/_rels/settings.xml.rels"] = relationships([rel])
    if vba_project is not None:
        parts["word/vbaProject.bin"] = vba_project
    return package(parts)
