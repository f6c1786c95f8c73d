"""Small in-memory OOXML/ODF builders for the ooxml/odf tests."""

from __future__ import annotations

import io
import zipfile

from aptcatch.model.scan import ItemResult

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_RELS = (
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="{main}"/></Relationships>'
)


def zip_bytes(parts: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return buf.getvalue()


def content_types(main: str, ct: str) -> str:
    return (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Override PartName="/{main}" ContentType="{ct}"/></Types>'
    )


def rels(*entries: tuple[str, str, str, bool]) -> str:
    out = [
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    ]
    for rid, rtype, target, external in entries:
        mode = ' TargetMode="External"' if external else ""
        out.append(f'<Relationship Id="{rid}" Type="{R_NS}/{rtype}" Target="{target}"{mode}/>')
    out.append("</Relationships>")
    return "".join(out)


def docx(
    body: str = "<w:p><w:r><w:t>Hello</w:t></w:r></w:p>",
    extra: dict[str, str | bytes] | None = None,
    macro: bool = False,
) -> bytes:
    ct = (
        "application/vnd.ms-word.document.macroEnabled.main+xml"
        if macro
        else "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    )
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": content_types("word/document.xml", ct),
        "_rels/.rels": PKG_RELS.format(main="word/document.xml"),
        "word/document.xml": f'<?xml version="1.0"?><w:document {W}><w:body>{body}</w:body></w:document>',
    }
    parts.update(extra or {})
    return zip_bytes(parts)


def xlsx(parts: dict[str, str | bytes], macro: bool = True) -> bytes:
    ct = (
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
        if macro
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    )
    base: dict[str, str | bytes] = {
        "[Content_Types].xml": content_types("xl/workbook.xml", ct),
        "_rels/.rels": PKG_RELS.format(main="xl/workbook.xml"),
    }
    base.update(parts)
    return zip_bytes(base)


def ids(result: ItemResult) -> set[str]:
    return {f.id for f in result.findings}


def details(result: ItemResult, fid: str) -> list[str]:
    return [f.detail for f in result.findings if f.id == fid]


def indicator_values(result: ItemResult) -> set[str]:
    return {i.value for i in result.indicators}
