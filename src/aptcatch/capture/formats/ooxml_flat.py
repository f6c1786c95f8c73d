"""Single-file XML Office formats: Word 2003 XML, flat OPC (``pkg:package``) and Excel 2003 XML.

- Flat OPC holds a whole OOXML package as ``pkg:part`` elements (XML inline, binaries base64). It is
  rebuilt in memory as a zip package and handed back to the engine as a child, so the OOXML analyser
  (relationships, DDE, macros, embeddings) sees it exactly like a docx/xlsx.
- Word 2003 XML (``w:wordDocument``): field codes (DDE), text, document properties, and ``w:binData``
  blobs — ``editdata.mso`` is an ActiveMime container whose zlib stream holds the VBA project.
- Excel 2003 XML: ``ss:Formula`` cells (DDE ``cmd|'...'!A0``, XLM functions) and ``SupBook`` DDE paths.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import zipfile
import zlib
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import ooxml_dde, ooxml_xlm
from aptcatch.capture.formats.ooxml_parts import TextSink, paragraphs
from aptcatch.capture.formats.ooxml_xml import attr, iter_local, local, xml_or_error
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

MAX_PARTS = 5000
_DOC_PROPS = {
    "Author": "author",
    "LastAuthor": "last_saved_by",
    "Created": "created",
    "LastSaved": "modified",
    "LastPrinted": "last_printed",
    "Revision": "revision",
    "Title": "title",
    "Subject": "subject",
    "Keywords": "keywords",
    "Company": "company",
    "Template": "template",
    "TotalTime": "total_edit_time_minutes",
}


def activemime_payload(ctx: ArtifactContext, blob: bytes) -> bytes | None:
    """The zlib-compressed content of an ActiveMime blob (``ActiveMime`` magic), within the limits."""
    if not blob.startswith(b"ActiveMime"):
        return None
    budget = min(ctx.limits.max_child_size, 64 * 1024 * 1024)
    for m in re.finditer(rb"\x78[\x01\x5e\x9c\xda]", blob[:1024]):
        d = zlib.decompressobj()
        try:
            out = d.decompress(blob[m.start() :], budget + 1)
        except zlib.error:
            continue
        if len(out) > budget:
            ctx.error("limit", f"ActiveMime payload larger than {budget} bytes; truncated")
            out = out[:budget]
        if out:
            return out
    ctx.error("parse", "ActiveMime blob without a readable zlib stream")
    return None


def child_blob(ctx: ArtifactContext, name: str, blob: bytes) -> None:
    """Child an embedded binary; ActiveMime containers are unpacked first."""
    inner = activemime_payload(ctx, blob)
    if inner is not None:
        ctx.finding("ooxml.activemime", f"{name}: {len(inner)} bytes inside")
        ctx.child(f"{name}:activemime", inner, metadata={"carved_from": name})
    else:
        ctx.child(name, blob)


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(re.sub(r"\s+", "", text), validate=False)
    except (binascii.Error, ValueError):
        return None


def _doc_props(ctx: ArtifactContext, root: ET.Element) -> None:
    for props in iter_local(root, "DocumentProperties"):
        for el in props:
            key = _DOC_PROPS.get(local(el.tag))
            if key and el.text and el.text.strip():
                ctx.meta(key, el.text.strip()[:1000])
        break


class FlatOfficeAnalyzer:
    name = "office-xml"
    types: frozenset[FileType] | None = frozenset({FileType.WORD_XML, FileType.EXCEL_XML})

    def analyze(self, ctx: ArtifactContext) -> None:
        root = xml_or_error(ctx, ctx.name, ctx.data)
        if root is None:
            return
        top = local(root.tag)
        if top == "package":
            self._flat_opc(ctx, root)
        elif top == "Workbook" or ctx.type is FileType.EXCEL_XML:
            self._excel2003(ctx, root)
        else:
            self._word2003(ctx, root)

    # -- flat OPC ------------------------------------------------------------------------------
    def _flat_opc(self, ctx: ArtifactContext, root: ET.Element) -> None:
        buf = io.BytesIO()
        overrides: list[tuple[str, str]] = []
        n = 0
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in iter_local(root, "part"):
                if n >= MAX_PARTS:
                    ctx.error("limit", f"more than {MAX_PARTS} parts; the rest are ignored")
                    break
                name = (attr(part, "name") or "").lstrip("/")
                if not name or ".." in name.split("/"):
                    continue
                data: bytes | None = None
                for el in part:
                    if local(el.tag) == "xmlData" and len(el):
                        data = ET.tostring(el[0], encoding="utf-8")
                    elif local(el.tag) == "binaryData" and el.text:
                        data = _b64(el.text)
                if data is None:
                    continue
                n += 1
                zf.writestr(name, data)
                overrides.append((name, attr(part, "contentType") or ""))
            types = "".join(f'<Override PartName="/{p}" ContentType="{ct}"/>' for p, ct in overrides)
            zf.writestr(
                "[Content_Types].xml",
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                f"{types}</Types>",
            )
        if n:
            ctx.child("flat-opc-package.zip", buf.getvalue(), metadata={"rebuilt_from": "flat OPC XML"})

    # -- Word 2003 XML ---------------------------------------------------------------------------
    def _word2003(self, ctx: ArtifactContext, root: ET.Element) -> None:
        _doc_props(ctx, root)
        ooxml_dde.analyze_word_part(ctx, root, "Word 2003 XML")
        for el in iter_local(root, "hlink"):
            dest = attr(el, "dest") or ""
            if dest:
                ctx.indicators_from_text(dest, "Word 2003 XML hyperlink")
        for n, el in enumerate(iter_local(root, "binData"), 1):
            if n > MAX_PARTS:
                break
            name = attr(el, "name") or f"binData{n}"
            blob = _b64(el.text or "")
            if blob:
                child_blob(ctx, name, blob)
        if (attr(root, "macrosPresent") or "").lower() == "yes":
            ctx.meta("macros_present", True)
        sink = TextSink()
        paragraphs(root, sink)
        sink.flush(ctx)

    # -- Excel 2003 XML --------------------------------------------------------------------------
    def _excel2003(self, ctx: ArtifactContext, root: ET.Element) -> None:
        _doc_props(ctx, root)
        for sup in iter_local(root, "SupBook"):
            for p in sup:
                if local(p.tag) == "Path" and p.text and "|" in p.text:
                    app, _, topic = p.text.partition("|")
                    ooxml_dde.report(ctx, "SupBook DDE", f"{app} {topic}", "Excel 2003 XML SupBook")
                elif local(p.tag) == "Path" and p.text:
                    ctx.indicators_from_text(p.text, "Excel 2003 XML external workbook")
        formulas: list[tuple[str, str]] = []
        sink = TextSink()
        for cell in iter_local(root, "Cell"):
            f = attr(cell, "Formula")
            if f:
                formulas.append(("cell", f))
            for d in cell:
                if local(d.tag) == "Data" and not sink.full:
                    sink.add("".join(d.itertext()) + "\n")
            if len(formulas) >= 200_000:
                break
        sheets = [ws for ws in iter_local(root, "Worksheet")]
        macro = [ws for ws in sheets if any(local(o.tag) == "MacroSheet" for o in ws.iter())]
        if macro:
            ctx.finding("xlm.macrosheet", f"{len(macro)} macro sheet(s) in Excel 2003 XML")
        if formulas:
            ooxml_xlm.judge(ctx, formulas, "Excel 2003 XML")
        sink.flush(ctx)


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [FlatOfficeAnalyzer()]
