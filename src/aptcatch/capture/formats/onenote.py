"""OneNote section (.one) analyser: embedded files, their names, page text, click-to-run lures.

Two sources. pyOneNote (given a BytesIO) walks the revision store and yields the file data objects
with their extensions plus the property sets that name them (EmbeddedFileName, ImageFilename) and
the page text (RichEditTextUnicode, TextExtendedAscii, OCR text of pictures). It gives up on damaged
files, so a raw scan is always run too: every FileDataStoreObject (header GUID
{BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}, cbLength, unused, reserved, data, padding to 8 bytes, footer
GUID {71FBA722-0F79-4A0B-BB13-899256426B24}, MS-ONESTORE 2.6.13) is cut out of the bytes directly.
A section whose first header byte was lost in transit (seen in the wild) is repaired for pyOneNote.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.identify import ONENOTE_MAGIC, identify
from aptcatch.capture.types import FileType
from aptcatch.model.scan import JSONScalar

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

FDSO_HEADER = uuid.UUID("BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC").bytes_le
FDSO_FOOTER = uuid.UUID("71FBA722-0F79-4A0B-BB13-899256426B24").bytes_le
MAX_BLOBS = 200
MAX_PROPS = 5000
ICON_MAX = 4096

RUNNABLE_TYPES = frozenset(
    {
        FileType.HTA,
        FileType.JS,
        FileType.VBS,
        FileType.WSF,
        FileType.SCT,
        FileType.BATCH,
        FileType.POWERSHELL,
        FileType.PE,
        FileType.LNK,
        FileType.CHM,
        FileType.MSI,
        FileType.URL_SHORTCUT,
    }
)
RUNNABLE_EXT = re.compile(
    r"(?i)\.(hta|js|jse|vbs|vbe|wsf|wsh|sct|bat|cmd|ps1|psm1|exe|scr|com|pif|dll|cpl|lnk|chm|msi|url|jar)$"
)
IMAGE_EXT = re.compile(r"(?i)\.(png|jpe?g|gif|bmp|emf|wmf|tiff?|ico|svg)$")
LURE_TEXT = re.compile(
    r"(?i)double[- ]?click|click to (view|open|see)|click here|open the document|view document"
)


@dataclass
class Blob:
    data: bytes
    name: str = ""
    ext: str = ""


@dataclass
class Section:
    blobs: dict[str, Blob] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add(self, data: bytes, name: str = "", ext: str = "") -> None:
        key = hashlib.sha256(data).hexdigest()
        old = self.blobs.get(key)
        if old is None:
            if len(self.blobs) < MAX_BLOBS:
                self.blobs[key] = Blob(data, name, ext)
            return
        old.name = old.name or name
        old.ext = old.ext or ext


class OneNoteAnalyzer:
    name = "onenote"
    types: frozenset[FileType] | None = frozenset({FileType.ONENOTE})

    def analyze(self, ctx: ArtifactContext) -> None:
        sec = Section()
        data = ctx.data
        if data[:15] == ONENOTE_MAGIC[1:] and data[:16] != ONENOTE_MAGIC:
            ctx.meta("onenote_header_repaired", True)
            data = ONENOTE_MAGIC[:1] + data
        try:
            _with_pyonenote(data, sec)
        except Exception as exc:  # damaged revision store: the raw scan below still extracts files
            ctx.error("parse", f"pyOneNote: {type(exc).__name__}: {exc}"[:300])
        for err in _raw_scan(ctx.data, sec):
            ctx.error("parse", err)
        _report(ctx, sec)


def _clean(v: Any) -> str:
    return str(v).replace("\x00", "").strip()


def _ascii_text(v: Any) -> str:
    """pyOneNote decodes TextExtendedAscii as UTF-16 (or hex when that fails): undo it."""
    s = str(v)
    if re.fullmatch(r"(?:[0-9a-f]{2})+", s):
        raw = bytes.fromhex(s)
    else:
        try:
            raw = s.encode("utf-16-le")
        except UnicodeEncodeError:
            return ""
    return raw.decode("cp1252", "replace").replace("\x00", "").strip()


def _with_pyonenote(data: bytes, sec: Section) -> None:
    from pyOneNote.OneDocument import OneDocment

    doc = OneDocment(io.BytesIO(data))
    files = doc.get_files()
    names: dict[str, str] = {}
    seen_text: set[str] = set()
    for prop in doc.get_properties()[:MAX_PROPS]:
        val = prop.get("val") or {}
        kind = prop.get("type", "")
        fname = _clean(val.get("EmbeddedFileName") or val.get("ImageFilename") or "")
        for container in val.get("EmbeddedFileContainer") or val.get("PictureContainer") or []:
            if (fname and kind == "jcidEmbeddedFileNode") or str(container) not in names:
                names[str(container)] = fname
        if kind == "jcidEmbeddedFileNode" and fname:
            sec.names.append(fname)
        for key in ("RichEditTextUnicode", "TextExtendedAscii"):
            if key not in val:
                continue
            text = _clean(val[key]) if key == "RichEditTextUnicode" else _ascii_text(val[key])
            if text and text != fname and text not in seen_text:
                seen_text.add(text)
                sec.texts.append(text)
    for meta in list(files.values())[:MAX_BLOBS]:
        content = meta.get("content")
        if isinstance(content, bytes | bytearray) and content:
            sec.add(
                bytes(content),
                names.get(str(meta.get("identity", "")), ""),
                _clean(meta.get("extension", "")),
            )


def _raw_scan(data: bytes, sec: Section) -> list[str]:
    errors: list[str] = []
    pos = data.find(FDSO_HEADER)
    count = 0
    while pos >= 0:
        count += 1
        if count > MAX_BLOBS:
            errors.append(f"more than {MAX_BLOBS} file data objects: the rest were not read")
            break
        start = pos + 36
        if start > len(data):
            errors.append(f"file data object at {pos} is truncated")
            break
        (cb,) = struct.unpack_from("<Q", data, pos + 16)
        if cb > len(data) - start:
            errors.append(f"file data object at {pos} declares {cb} bytes, only {len(data) - start} left")
            if len(data) - start > 0:
                sec.add(data[start:])
            break
        end = start + cb
        pad = (8 - cb % 8) % 8
        if data[end + pad : end + pad + 16] != FDSO_FOOTER and FDSO_FOOTER not in data[end : end + 32]:
            errors.append(f"file data object at {pos}: footer GUID missing")
        if cb:
            sec.add(data[start:end])
        pos = data.find(FDSO_HEADER, max(end, pos + 16))
    return errors


def _classify(blob: Blob, name: str) -> tuple[str, FileType]:
    t = identify(blob.data, name)
    if t in RUNNABLE_TYPES or RUNNABLE_EXT.search(name):
        return "runnable", t
    if t is FileType.IMAGE or (IMAGE_EXT.search(name) and t in (FileType.UNKNOWN, FileType.IMAGE)):
        return "image", t
    return "file", t


def _report(ctx: ArtifactContext, sec: Section) -> None:
    text = "\n".join(sec.texts)
    if text:
        ctx.text(text[:50_000], "document")
        ctx.indicators_from_text(text[:100_000], "onenote text")
    if sec.names:
        names: list[JSONScalar] = list(sorted(set(sec.names))[:50])
        ctx.meta("onenote_embedded_names", names)
    ctx.meta("onenote_file_objects", len(sec.blobs))
    runnable: list[str] = []
    images = 0
    for i, blob in enumerate(sec.blobs.values()):
        name = blob.name or f"embedded_{i}{blob.ext if blob.ext.startswith('.') else ''}"
        kind, ftype = _classify(blob, name)
        if kind == "runnable":
            runnable.append(name)
            ctx.finding(
                "onenote.embedded_script_or_executable", f"{name} ({ftype.value}, {len(blob.data)} bytes)"
            )
        elif kind == "image":
            # attachment icons (the small PNG OneNote adds for every file) are not lure pictures
            images += len(blob.data) >= ICON_MAX
        else:
            ctx.finding("onenote.embedded_file", f"{name} ({ftype.value}, {len(blob.data)} bytes)")
        ctx.child(name, blob.data)
    if images:
        ctx.finding("onenote.embedded_image", f"{images} picture(s) larger than an icon")
    lure = LURE_TEXT.search(text)
    if runnable and (images or lure):
        why = f"text {lure.group(0)!r}" if lure else f"{images} picture(s)"
        ctx.finding("onenote.click_to_view_lure", f"{why} beside {', '.join(runnable[:5])}")


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [OneNoteAnalyzer()]
