"""Office Open XML packages (docx/xlsx/pptx and their macro/template variants, XPS): the OPC view.

Reads the zip in memory with ``zipfile`` (each member through ``ctx.check_ratio``/``ctx.read_member``)
and the XML with the DTD-refusing parser of ``ooxml_xml``. What it looks at:

- relationships: external targets (remote template, remote OLE object, mhtml:, ms-msdt:, UNC …) —
  ``ooxml_rels``;
- Word field codes (DDE/DDEAUTO), Excel DDE links and formulas — ``ooxml_dde``/``ooxml_parts``;
- Excel 4.0 macro sheets in xlsm/xlsb — ``ooxml_xlm``/``ooxml_xlsb``;
- children for the other analysers: vbaProject.bin (VBA engineer), ActiveX binaries, embeddings/*,
  stray non-Office members; Flash inside ActiveX;
- metadata (docProps) and the visible text of the lure.
"""

from __future__ import annotations

import posixpath
import re
import struct
import zipfile
import zlib
from typing import TYPE_CHECKING

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import ooxml_parts, ooxml_rels, ooxml_xlm
from aptcatch.capture.formats.ooxml_rels import Rel
from aptcatch.capture.formats.ooxml_xml import Package, attr, iter_local, meta_list
from aptcatch.capture.identify import LNK_MAGIC, OLE_MAGIC
from aptcatch.capture.types import OOXML_TYPES, FileType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

FLASH_CLSID = "D27CDB6E-AE6D-11CF-96B8-444553540000"
_SUSPICIOUS_EXT = frozenset(
    {
        "exe",
        "dll",
        "scr",
        "com",
        "pif",
        "cpl",
        "lnk",
        "js",
        "jse",
        "vbs",
        "vbe",
        "wsf",
        "wsh",
        "hta",
        "ps1",
        "psm1",
        "bat",
        "cmd",
        "msi",
        "jar",
        "rar",
        "7z",
        "iso",
        "img",
        "url",
        "chm",
        "sct",
        "inf",
        "reg",
        "vhd",
        "vhdx",
        "one",
        "zip",
    }
)
_KNOWN_EXT = frozenset(
    {
        "xml",
        "rels",
        "vml",
        "bin",
        "png",
        "jpg",
        "jpeg",
        "jfif",
        "gif",
        "emf",
        "wmf",
        "tif",
        "tiff",
        "bmp",
        "svg",
        "wdp",
        "hdp",
        "odttf",
        "ttf",
        "otf",
        "fntdata",
        "sigs",
        "psdsxs",
        "psdsor",
        "data",
        "mp4",
        "mp3",
        "wav",
        "m4a",
        "avi",
        "wmv",
        "mov",
        "mpg",
        "wma",
        "glb",
        "json",
        "thmx",
        "txt",
        "xsd",
        "xsl",
        "css",
        "htm",
        "html",
        "docx",
        "xlsx",
        "pptx",
        "docm",
        "xlsm",
        "pptm",
        "sldx",
        "ppsx",
        "vsdx",
        "ico",
        "cur",
        "ink",
    }
)
MAX_SWF = 32 * 1024 * 1024


class OOXMLAnalyzer:
    name = "ooxml"
    types: frozenset[FileType] | None = frozenset(OOXML_TYPES | {FileType.XPS})

    def analyze(self, ctx: ArtifactContext) -> None:
        try:
            pkg = Package(ctx, ctx.data)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            ctx.error("parse", f"not a readable OOXML package: {type(exc).__name__}: {exc}"[:500])
            return
        rels = ooxml_rels.read_all(pkg)
        main_part = self._content_type(ctx, pkg, rels)
        template = ooxml_parts.metadata(ctx, pkg)
        ooxml_rels.analyze(ctx, pkg, rels, template)
        ooxml_rels.scan_parts_for_schemes(pkg)
        self._children(ctx, pkg, rels)
        self._custom_ui(ctx, pkg)
        sink = ooxml_parts.TextSink()
        low_main = (main_part or "").lower()
        if low_main.startswith("word/") or ctx.type is FileType.OOXML_WORD:
            ooxml_parts.word(ctx, pkg, sink)
        if low_main.startswith("xl/") or ctx.type is FileType.OOXML_EXCEL:
            ooxml_xlm.analyze(ctx, pkg, rels)
            ooxml_parts.external_links(ctx, pkg)
            ooxml_parts.worksheet_formulas(ctx, pkg)
            ooxml_parts.shared_strings(ctx, pkg, sink)
        if low_main.startswith("ppt/") or ctx.type is FileType.OOXML_POWERPOINT:
            ooxml_parts.slides(ctx, pkg, sink)
        sink.flush(ctx)

    # -- content types ---------------------------------------------------------------------------
    def _content_type(self, ctx: ArtifactContext, pkg: Package, rels: list[Rel]) -> str | None:
        main = next(
            (r.resolved() for r in rels if r.source == "" and r.type == "officeDocument" and not r.external),
            None,
        )
        if main is None:
            main = next((r.resolved() for r in rels if r.source == "" and r.type.endswith("Document")), None)
        root = pkg.xml("[Content_Types].xml") if pkg.has("[Content_Types].xml") else None
        if root is None:
            return main
        overrides: dict[str, str] = {}
        for el in iter_local(root, "Override"):
            overrides[(el.get("PartName") or "").lstrip("/").lower()] = el.get("ContentType") or ""
        defaults = {
            (el.get("Extension") or "").lower(): el.get("ContentType") or ""
            for el in iter_local(root, "Default")
        }
        main_ct = overrides.get((main or "").lower(), "") or defaults.get(
            (main or "").rsplit(".", 1)[-1].lower(), ""
        )
        if main_ct:
            ctx.meta("content_type", main_ct)
        macro = [ct for ct in overrides.values() if "macroenabled" in ct.lower()]
        if "macroenabled" in main_ct.lower() or (macro and not main_ct):
            ctx.finding("ooxml.macro_enabled", main_ct or macro[0])
        return main

    # -- children ----------------------------------------------------------------------------------
    def _children(self, ctx: ArtifactContext, pkg: Package, rels: list[Rel]) -> None:
        activex_bins = self._activex(ctx, pkg, rels)
        signatures: list[str] = []
        for info in pkg.infos:
            name = info.filename
            low = name.lower().replace("\\", "/")
            base = posixpath.basename(low)
            ext = base.rsplit(".", 1)[-1] if "." in base else ""
            if base.startswith("vbaprojectsignature"):
                signatures.append(name)
                continue
            if base == "vbaproject.bin" or (base.startswith("vbaproject") and ext == "bin"):
                data = pkg.read(name)
                if data:
                    hint = FileType.OLE_VBA_PROJECT if data.startswith(OLE_MAGIC) else None
                    ctx.child(name, data, type_hint=hint, metadata={"ooxml_part": name})
                continue
            if low in activex_bins:
                data = pkg.read(name)
                if data:
                    clsid = activex_bins[low]
                    ctx.child(name, data, metadata={"ooxml_part": name, "activex_clsid": clsid})
                    if clsid.upper() == FLASH_CLSID:
                        self._flash(ctx, name, data)
                continue
            if "/embeddings/" in f"/{low}" and not low.endswith(".rels"):
                data = pkg.read(name)
                if data:
                    ctx.finding("ooxml.embedded_object", name)
                    ctx.child(name, data, metadata={"ooxml_part": name})
                continue
            if ext in _SUSPICIOUS_EXT or (ext not in _KNOWN_EXT and info.file_size >= 64):
                self._maybe_unexpected(ctx, pkg, name, ext)
        if signatures:
            ctx.meta("vba_signature_parts", meta_list(signatures, 10))

    def _maybe_unexpected(self, ctx: ArtifactContext, pkg: Package, name: str, ext: str) -> None:
        data = pkg.read(name)
        if not data:
            return
        magic = data[:8]
        binary_payload = (
            magic[:2] == b"MZ" or magic == OLE_MAGIC or data[:20] == LNK_MAGIC or magic[:4] == b"PK\x03\x04"
        )
        if ext in _SUSPICIOUS_EXT or binary_payload:
            if magic == OLE_MAGIC and re.search(r"(?i)(printersettings|customxml|\.bin$)", name):
                return
            ctx.finding("ooxml.unexpected_part", f"{name} ({len(data)} bytes)")
            ctx.child(name, data, metadata={"ooxml_part": name})

    def _activex(self, ctx: ArtifactContext, pkg: Package, rels: list[Rel]) -> dict[str, str]:
        """Map of ActiveX binary part (lower case) → CLSID; records the controls in metadata."""
        by_source: dict[str, list[Rel]] = {}
        for r in rels:
            by_source.setdefault(r.source.lower(), []).append(r)
        out: dict[str, str] = {}
        controls: list[str] = []
        for info in pkg.infos:
            low = info.filename.lower()
            if not re.match(r"^.*activex/activex[^/]*\.xml$", low):
                continue
            root = pkg.xml(info.filename)
            if root is None:
                continue
            clsid = (attr(root, "classid") or "").strip("{}").upper()
            controls.append(clsid or "?")
            for r in by_source.get(low, []):
                if not r.external:
                    out[r.resolved().lower()] = clsid
        for info in pkg.infos:  # binaries without a readable .xml still become children
            low = info.filename.lower()
            if re.match(r"^.*activex/[^/]*\.bin$", low):
                out.setdefault(low, "")
        if controls:
            ctx.meta("activex_clsids", meta_list(sorted(set(controls))))
            flash = [c for c in controls if c == FLASH_CLSID]
            if flash:
                ctx.finding("ooxml.activex_flash", f"ShockwaveFlash control {{{FLASH_CLSID}}}")
            ctx.finding(
                "ooxml.activex", f"{len(controls)} control(s): {', '.join(sorted(set(controls)))[:300]}"
            )
        return out

    def _flash(self, ctx: ArtifactContext, name: str, data: bytes) -> None:
        """Carve the SWF out of a ShockwaveFlash ActiveX stream; its strings feed indicators."""
        for m in re.finditer(rb"(FWS|CWS|ZWS)[\x01-\x30]", data[:4096]):
            off = m.start()
            if off + 8 > len(data):
                break
            length = struct.unpack_from("<I", data, off + 4)[0]
            swf = data[off : off + min(length, MAX_SWF)] if m.group(1) == b"FWS" else data[off:]
            ctx.child(f"{name}:swf", swf, metadata={"carved_from": name})
            body = swf
            if m.group(1) == b"CWS":
                try:
                    body = zlib.decompressobj().decompress(swf[8:], MAX_SWF)
                except zlib.error:
                    body = b""
            urls = re.findall(rb"(?i)(?:https?|ftp)://[\x21-\x7e]{4,2000}", body[:MAX_SWF])
            ctx.indicators_from_text("\n".join(u.decode() for u in urls[:2000]), f"Flash object {name}")
            break

    def _custom_ui(self, ctx: ArtifactContext, pkg: Package) -> None:
        for info in pkg.infos:
            if not re.match(r"(?i)^customui/customui\d*\.xml$", info.filename):
                continue
            root = pkg.xml(info.filename)
            if root is None:
                continue
            onload = root.get("onLoad")
            if onload:
                ctx.finding("ooxml.customui_callback", f"{info.filename}: onLoad={onload[:200]}")


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [OOXMLAnalyzer()]
