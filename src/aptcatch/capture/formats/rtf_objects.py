"""OLE 1.0 embedded objects as RTF carries them, and what their classes and monikers mean.

The OLE 1.0 ``ObjectHeader`` ([MS-OLEDS] 2.2.4/2.2.5) is parsed here rather than with
``oletools.oleobj.OleObject`` because Word ignores fields that oleobj checks (the OLE version is
often random in exploit kits) and because a truncated ``NativeDataSize`` must still yield the bytes that
are present. The class/CLSID table below is this project's own, written from the vendors' advisories.
"""

from __future__ import annotations

import io
import re
import struct
import uuid
from dataclasses import dataclass

import olefile

CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _le(clsid: str) -> bytes:
    return uuid.UUID(clsid).bytes_le


@dataclass(frozen=True)
class ClassInfo:
    finding: str
    label: str


# Finding per dangerous OLE class name (lower-case, prefix match when the key ends with ".").
CLASS_FINDINGS: dict[str, ClassInfo] = {
    "equation.3": ClassInfo("rtf.equation_object", "Microsoft Equation 3.0 (EQNEDT32.EXE)"),
    "equation.2": ClassInfo("rtf.equation_object", "Microsoft Equation 2.0"),
    "equation": ClassInfo("rtf.equation_object", "Microsoft Equation Editor"),
    "ole2link": ClassInfo("rtf.ole2link", "OLE2Link (linked object, URL moniker)"),
    "package": ClassInfo("rtf.package_object", "OLE Packager (embedded file)"),
    "htmlfile": ClassInfo("rtf.htmlfile_object", "MSHTML document (htmlfile)"),
    "forms.": ClassInfo("rtf.activex_object", "Microsoft Forms 2.0 ActiveX control"),
    "mscomctllib.listviewctrl.": ClassInfo("rtf.mscomctl_object", "MSCOMCTL ListView control"),
    "mscomctllib.treectrl.": ClassInfo("rtf.mscomctl_object", "MSCOMCTL TreeView control"),
    "comctl.listviewctrl.": ClassInfo("rtf.mscomctl_object", "COMCTL ListView control"),
    "comctl.treectrl.": ClassInfo("rtf.mscomctl_object", "COMCTL TreeView control"),
    "shockwaveflash.shockwaveflash": ClassInfo("rtf.flash_object", "Adobe Flash Player ActiveX"),
    "otkloadr.wrassembly.": ClassInfo("rtf.aslr_bypass_object", "OTKLOADR.WRAssembly (loads non-ASLR DLL)"),
    "word.document.": ClassInfo("rtf.nested_document", "embedded Word document"),
    "word.documentmacroenabled.": ClassInfo("rtf.nested_document", "embedded macro-enabled Word document"),
    "excel.sheet.": ClassInfo("rtf.nested_document", "embedded Excel workbook"),
    "excel.sheetmacroenabled.": ClassInfo("rtf.nested_document", "embedded macro-enabled Excel workbook"),
    "powerpoint.show.": ClassInfo("rtf.nested_document", "embedded PowerPoint presentation"),
    "powerpoint.slide.": ClassInfo("rtf.nested_document", "embedded PowerPoint slide"),
}

# Canonical spellings as Office writes them (a different case is a builder's fingerprint).
CANONICAL = ("Equation.3", "OLE2Link", "Package", "htmlfile", "Word.Document.8", "Word.Document.12")

CLSID_FINDINGS: dict[str, ClassInfo] = {
    "0002CE02-0000-0000-C000-000000000046": ClassInfo("rtf.equation_object", "Equation Editor 3.0"),
    "0002CE03-0000-0000-C000-000000000046": ClassInfo("rtf.equation_object", "Equation Editor 3.0 (alt.)"),
    "00000300-0000-0000-C000-000000000046": ClassInfo("rtf.ole2link", "StdOleLink (OLE2Link)"),
    "79EAC9E0-BAF9-11CE-8C82-00AA004BA90B": ClassInfo("rtf.ole2link", "URL moniker"),
    "06290BD3-48AA-11D2-8432-006008C3FBFC": ClassInfo("rtf.script_moniker", "script moniker (scriptlet)"),
    "ECABB0C7-7F19-11D2-978E-0000F8757E2A": ClassInfo("rtf.soap_moniker", "SOAP moniker"),
    "0003000C-0000-0000-C000-000000000046": ClassInfo("rtf.package_object", "OLE Packager"),
    "F20DA720-C02F-11CE-927B-0800095AE340": ClassInfo("rtf.package_object", "OLE Packager"),
    "BDD1F04B-858B-11D1-B16A-00C0F0283628": ClassInfo("rtf.mscomctl_object", "MSCOMCTL ListView control"),
    "C74190B6-8589-11D1-B16A-00C0F0283628": ClassInfo("rtf.mscomctl_object", "MSCOMCTL TreeView control"),
    "D27CDB6E-AE6D-11CF-96B8-444553540000": ClassInfo("rtf.flash_object", "Shockwave Flash"),
    "D27CDB70-AE6D-11CF-96B8-444553540000": ClassInfo("rtf.flash_object", "Shockwave Flash"),
    "25336920-03F9-11CF-8FD0-00AA00686F13": ClassInfo("rtf.htmlfile_object", "MSHTML document"),
    "A08A033D-1A75-4AB6-A166-EAD02F547959": ClassInfo("rtf.aslr_bypass_object", "OTKLOADR.WRAssembly"),
    "00020906-0000-0000-C000-000000000046": ClassInfo("rtf.nested_document", "Word 97-2003 document"),
    "F4754C9B-64F5-4B40-8AF4-679732AC0607": ClassInfo("rtf.nested_document", "Word document"),
    "00020820-0000-0000-C000-000000000046": ClassInfo("rtf.nested_document", "Excel 97-2003 workbook"),
    "00020830-0000-0000-C000-000000000046": ClassInfo("rtf.nested_document", "Excel workbook"),
}

EQUATION_CLSID_LE = _le("0002CE02-0000-0000-C000-000000000046")
URL_MONIKER_LE = _le("79EAC9E0-BAF9-11CE-8C82-00AA004BA90B")
FILE_MONIKER_LE = _le("00000303-0000-0000-C000-000000000046")
MONIKER_CLSIDS = {
    _le(k): k for k, v in CLSID_FINDINGS.items() if "moniker" in v.finding or "ole2link" in v.finding
}

_UTF16_URL = re.compile(
    rb"(?:(?:h\x00t\x00t\x00p\x00(?:s\x00)?|f\x00i\x00l\x00e\x00):\x00/\x00/\x00|\\\x00\\\x00)"
    rb"(?:[\x21-\x7e]\x00){3,1000}"
)
EQNOLEFILEHDR = re.compile(rb"\x1c\x00\x00\x00\x02\x00", re.S)
_EQ_NAME = re.compile(rb"(?i)equation\.3")
_EQ_STREAM = "Equation Native".encode("utf-16-le")


def class_info(name: str) -> ClassInfo | None:
    key = "".join(name.split()).rstrip("\x00").lower()
    if not key:
        return None
    if key in CLASS_FINDINGS:
        return CLASS_FINDINGS[key]
    for prefix, info in CLASS_FINDINGS.items():
        if prefix.endswith(".") and key.startswith(prefix):
            return info
    if key.startswith("equation"):
        return CLASS_FINDINGS["equation"]
    return None


def class_is_garbled(name: str) -> bool:
    """True for a known class spelled in an odd case/with blanks (``oLe2LInk``, ``EqUaTion.3``)."""
    clean = "".join(name.split()).rstrip("\x00")
    for canon in CANONICAL:
        if clean.lower() == canon.lower():
            return clean != canon or clean != name.rstrip("\x00")
    return False


@dataclass
class Ole1Object:
    ole_version: int
    format_id: int
    class_name: str
    topic: str
    item: str
    native: bytes
    declared_size: int

    @property
    def truncated(self) -> bool:
        return self.format_id == 2 and self.declared_size > len(self.native)


def _lpstr(data: bytes, off: int, limit: int = 4096) -> tuple[str, int] | None:
    if off + 4 > len(data):
        return None
    (n,) = struct.unpack_from("<I", data, off)
    if n > limit or off + 4 + n > len(data):
        return None
    return data[off + 4 : off + 4 + n].split(b"\x00", 1)[0].decode("latin-1"), off + 4 + n


def parse_ole1(data: bytes) -> Ole1Object | None:
    """Parse an OLE 1.0 ObjectHeader + native data as Word does (version ignored). None if not one."""
    if len(data) < 12:
        return None
    version, format_id = struct.unpack_from("<II", data, 0)
    if format_id not in (1, 2):
        return None
    cls = _lpstr(data, 8, 256)
    if cls is None or not cls[0] or sum(1 for c in cls[0] if 32 <= ord(c) < 127) < len(cls[0]) * 0.8:
        return None
    topic = _lpstr(data, cls[1])
    if topic is None:
        return Ole1Object(version, format_id, cls[0], "", "", b"", 0)
    item = _lpstr(data, topic[1])
    if item is None:
        return Ole1Object(version, format_id, cls[0], topic[0], "", b"", 0)
    off = item[1]
    native, size = b"", 0
    if format_id == 2 and off + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, off)
        native = data[off + 4 : off + 4 + size]
    return Ole1Object(version, format_id, cls[0], topic[0], item[0], native, size)


def cfb_info(blob: bytes) -> tuple[str, list[str], bytes]:
    """(root CLSID, stream names, ``\\x01Ole`` stream) of a compound file; empty values if unreadable."""
    if not blob.startswith(CFB_MAGIC):
        return "", [], b""
    try:
        ole = olefile.OleFileIO(io.BytesIO(blob))
    except Exception:
        return "", [], b""
    try:
        clsid = (ole.root.clsid or "").upper() if ole.root is not None else ""
        names = ["/".join(p) for p in ole.listdir(streams=True, storages=False)][:200]
        ole_stream = b""
        if ole.exists("\x01Ole"):
            with ole.openstream("\x01Ole") as fh:
                ole_stream = fh.read(1 << 20)
        return clsid, names, ole_stream
    except Exception:
        return "", [], b""
    finally:
        ole.close()


def _clean(text: str) -> str:
    """Cut a moniker string at its first non-printable character (garbage after a broken decode)."""
    for i, ch in enumerate(text):
        if not (ch.isascii() and ch.isprintable()):
            return text[:i].strip()
    return text.strip()


def moniker_targets(blob: bytes, cap: int = 16) -> tuple[list[str], list[str]]:
    """(moniker CLSIDs present, URLs/paths they point to) from an ``\\x01Ole`` stream or raw object."""
    kinds: list[str] = []
    targets: list[str] = []
    for raw, name in MONIKER_CLSIDS.items():
        if raw in blob and name not in kinds:
            kinds.append(name)
    start = 0
    for _ in range(cap):
        at = blob.find(URL_MONIKER_LE, start)
        if at < 0:
            break
        start = at + 16
        if at + 20 <= len(blob):
            (n,) = struct.unpack_from("<I", blob, at + 16)
            raw = blob[at + 20 : at + 20 + min(n, 8192)]
            url = _clean(raw.decode("utf-16-le", "replace").split("\x00", 1)[0])
            if len(url) > 4 and url not in targets:
                targets.append(url)
    at = blob.find(FILE_MONIKER_LE)
    if at >= 0 and at + 22 <= len(blob):
        (n,) = struct.unpack_from("<I", blob, at + 18)
        path = _clean(blob[at + 22 : at + 22 + min(n, 4096)].split(b"\x00", 1)[0].decode("latin-1"))
        if len(path) > 2 and path not in targets:
            targets.append(path)
    for m in _UTF16_URL.finditer(blob[: 4 << 20]):
        url = m.group().decode("utf-16-le", "replace")
        if url not in targets and len(targets) < cap:
            targets.append(url)
    return kinds, targets


@dataclass
class EquationTrace:
    signals: list[str]
    mtef_offset: int
    cfb_offset: int


def equation_trace(blob: bytes) -> EquationTrace | None:
    """Equation Editor signatures in bytes that no longer parse as an object (or never did)."""
    window = blob[: 16 << 20]
    signals: list[str] = []
    if EQUATION_CLSID_LE in window:
        signals.append("Equation Editor CLSID {0002CE02-…}")
    if _EQ_STREAM in window:
        signals.append('"Equation Native" stream name')
    if _EQ_NAME.search(window):
        signals.append('"Equation.3" class name')
    mtef = -1
    for m in EQNOLEFILEHDR.finditer(window):
        off = m.start() + 0x1C
        if window[off : off + 1] in (b"\x02", b"\x03") and window[off + 2 : off + 3] == b"\x01":
            mtef = m.start()
            signals.append(f"EQNOLEFILEHDR + MTEF v{window[off]} header at {m.start():#x}")
            break
    if not signals:
        return None
    return EquationTrace(signals, mtef, window.find(CFB_MAGIC))
