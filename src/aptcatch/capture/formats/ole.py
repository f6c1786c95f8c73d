"""Office binary documents (OLE2 / MS-CFB): metadata, visible text and embedded objects.

Opens the compound file with olefile; a file olefile cannot read is reported as a ``parse`` error with
olefile's reason. Summary/DocumentSummary properties (``get_metadata()``) give author, last editor,
code page (with its language, useful for attribution), template, company and times; ``ole_text`` gives
the lure text; ``ole_objects`` the embedded packages, monikers, equations and dangerous classes. VBA,
XLM and encryption have their own analysers (``vba``, ``ole_xlm``, ``encrypted``).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import TYPE_CHECKING, Any

import olefile

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import ole_objects, ole_text, ooxml_dde
from aptcatch.capture.limits import AnalyzerTimeout, LimitExceeded
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.analyzer import Analyzer
    from aptcatch.capture.engine import ScanConfig

CODEPAGES: dict[int, str] = {
    874: "Thai",
    932: "Japanese (Shift-JIS)",
    936: "Simplified Chinese (GBK)",
    949: "Korean (Unified Hangul)",
    950: "Traditional Chinese (Big5)",
    1200: "Unicode (UTF-16LE)",
    1250: "Central European (Windows-1250)",
    1251: "Cyrillic (Windows-1251)",
    1252: "Western European (Windows-1252)",
    1253: "Greek",
    1254: "Turkish",
    1255: "Hebrew",
    1256: "Arabic",
    1257: "Baltic",
    1258: "Vietnamese",
    10000: "Mac Roman",
    20866: "Cyrillic (KOI8-R)",
    54936: "Simplified Chinese (GB18030)",
    65001: "Unicode (UTF-8)",
}

_TEXT_PROPS = (
    "title", "subject", "author", "keywords", "comments", "template", "last_saved_by", "revision_number",
    "creating_application", "company", "manager", "category",
)  # fmt: skip
_TIME_PROPS = ("create_time", "last_saved_time", "last_printed")
_META_NAMES = {"create_time": "created", "last_saved_time": "last_saved", "last_printed": "last_printed"}


def codepage_name(cp: int) -> str:
    return CODEPAGES.get(cp, f"code page {cp}")


def _decode(value: bytes, codepage: int | None) -> str:
    enc = f"cp{codepage}" if codepage and codepage not in (1200, 65001) else "utf-8"
    if codepage == 1200:
        enc = "utf-16-le"
    try:
        return value.decode(enc, "replace").strip("\x00 ").strip()
    except LookupError:
        return value.decode("latin-1", "replace").strip("\x00 ").strip()


def record_metadata(ctx: ArtifactContext, ole: Any) -> None:
    try:
        meta = ole.get_metadata()
    except (AnalyzerTimeout, LimitExceeded):
        raise
    except Exception as exc:
        ctx.error("parse", f"document properties unreadable: {exc}")
        return
    cp = meta.codepage if isinstance(meta.codepage, int) else None
    if cp:
        ctx.meta("codepage", cp)
        ctx.meta("codepage_name", codepage_name(cp))
    for attr in _TEXT_PROPS:
        value = getattr(meta, attr, None)
        if isinstance(value, bytes):
            value = _decode(value, cp)
        if value not in (None, "", b""):
            ctx.meta(attr, value if isinstance(value, int | str) else str(value))
    for attr in _TIME_PROPS:
        value = getattr(meta, attr, None)
        if isinstance(value, dt.datetime) and value.year > 1601:
            ctx.meta(_META_NAMES[attr], value.replace(tzinfo=dt.UTC).isoformat())
    for attr in ("num_pages", "num_words", "total_edit_time"):
        value = getattr(meta, attr, None)
        if isinstance(value, int):
            ctx.meta(attr, value)


def _fields(ctx: ArtifactContext, fields: list[str]) -> None:
    """DDE/DDEAUTO fields of a .doc, judged like the OOXML ones; other fields feed indicators."""
    if fields:
        ctx.meta("word_fields", ole_objects.meta_list([f[:200] for f in fields], 20))
    for instr in fields:
        dde = ooxml_dde.dde_from_field(instr)
        if dde:
            ooxml_dde.report(ctx, dde[0], dde[1], "WordDocument")
        elif re.match(r"(?i)\s*(INCLUDETEXT|INCLUDEPICTURE|IMPORT|LINK|HYPERLINK)\b", instr):
            ctx.indicators_from_text(instr.replace("\\\\", "\\"), "Word field code")


class OleAnalyzer:
    name = "ole"
    types: frozenset[FileType] | None = frozenset(
        {
            FileType.OLE_DOC,
            FileType.OLE_XLS,
            FileType.OLE_PPT,
            FileType.OLE_PACKAGE,
            FileType.OLE_OTHER,
            FileType.OLE_ENCRYPTED,
            FileType.OLE_VBA_PROJECT,
        }
    )

    def analyze(self, ctx: ArtifactContext) -> None:
        try:
            ole = olefile.OleFileIO(io.BytesIO(ctx.data))
        except (AnalyzerTimeout, LimitExceeded):
            raise
        except Exception as exc:
            ctx.error("parse", f"not a readable compound file: {exc}")
            return
        try:
            for _kind, issue in list(getattr(ole, "parsing_issues", []))[:5]:
                ctx.error("parse", f"compound file defect: {str(issue)[:200]}")
            root = (ole.root.clsid or "") if ole.root is not None else ""
            if root:
                ctx.meta("ole_root_clsid", root)
            if ctx.type is FileType.OLE_VBA_PROJECT:
                return
            record_metadata(ctx, ole)
            if ctx.type is FileType.OLE_ENCRYPTED:
                return
            summary = ole_objects.walk(ctx, ole)
            if ctx.type is FileType.OLE_PPT and ole.exists("PowerPoint Document"):
                size = ole.get_size("PowerPoint Document")
                if size <= ctx.limits.max_child_size:
                    ole_objects.ppt_objects(ctx, ole.openstream("PowerPoint Document").read())
            if summary.classes:
                ctx.meta("ole_classes", ole_objects.meta_list(summary.classes))
            if summary.activex:
                ctx.meta("activex_controls", ole_objects.meta_list(summary.activex))
            if summary.packages:
                ctx.meta("ole_packages", ole_objects.meta_list(summary.packages))
            try:
                text, fields = ole_text.extract(ole)
            except ole_text.FormatProblem as exc:
                ctx.error("parse", f"malformed document structure: {exc}")
                text, fields = "", []
            except (AnalyzerTimeout, LimitExceeded):
                raise
            except Exception as exc:  # text is best effort: record, never fail the artifact
                ctx.error("parse", f"document text not extracted: {exc}")
                text, fields = "", []
            _fields(ctx, fields)
            if text:
                ctx.text(text, "document")
                ctx.indicators_from_text(text, "document text")
        finally:
            ole.close()


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [OleAnalyzer()]
