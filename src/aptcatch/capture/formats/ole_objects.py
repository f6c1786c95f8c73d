"""Embedded objects inside compound files: storage classes, packages, monikers, equations, ActiveX.

Walks every storage and stream of an opened ``olefile.OleFileIO`` (bounded by ``MAX_ENTRIES``):

- storage CLSIDs are looked up in ``DANGEROUS_CLASSES`` (our own table of classes abused in exploits);
- ``\\x01Ole10Native`` streams are parsed with ``oletools.oleobj.OleNativeStream`` and the packaged file
  becomes a child (the Packager Shell Object trick);
- ``\\x01Ole`` streams are searched for URL/composite/script/SOAP monikers (MS-OLEDS OLEStream moniker
  data; the URL is a NUL-terminated UTF-16LE string after the URL moniker CLSID);
- ``Equation Native`` streams become ``FileType.MTEF`` children for the Equation Editor analyser;
- ``Package`` / ``CONTENTS`` streams holding a recognisable file (zip/OOXML, PDF, PE, RTF, CFB) become
  children; ActiveX controls (``\\x03OCXNAME``, ``Ctls``, ``\\x03ObjInfo`` with a control CLSID) are listed.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import olefile
from oletools import oleobj

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.limits import AnalyzerTimeout, LimitExceeded
from aptcatch.capture.types import FileType
from aptcatch.model.scan import IndicatorType, JSONScalar

MAX_ENTRIES = 5000
MAX_PPT_RECORDS = 200_000
RT_EXOLEOBJSTG = 0x1011
MAX_STREAM = 64 * 1024 * 1024

CLSID_EQUATION = "0002CE02-0000-0000-C000-000000000046"
CLSID_PACKAGE = "0003000C-0000-0000-C000-000000000046"


@dataclass(frozen=True)
class ClassInfo:
    name: str
    finding: str
    note: str = ""


# CLSID (upper case, no braces) → what it is and which finding it raises.
DANGEROUS_CLASSES: dict[str, ClassInfo] = {
    "00000300-0000-0000-C000-000000000046": ClassInfo(
        "OLE2Link (StdOleLink)", "ole.ole2link", "CVE-2017-0199"
    ),
    "79EAC9E0-BAF9-11CE-8C82-00AA004BA90B": ClassInfo("URL Moniker", "ole.ole2link", "CVE-2017-0199"),
    "00000309-0000-0000-C000-000000000046": ClassInfo(
        "Composite Moniker", "ole.script_moniker", "CVE-2017-8570"
    ),
    "06290BD3-48AA-11D2-8432-006008C3FBFC": ClassInfo("Script Moniker (scriptlet)", "ole.script_moniker"),
    "06290BD2-48AA-11D2-8432-006008C3FBFC": ClassInfo("Scriptlet.Factory", "ole.script_moniker"),
    "ECABB0C7-7F19-11D2-978E-0000F8757E2A": ClassInfo("SOAP Moniker", "ole.soap_moniker", "CVE-2017-8759"),
    "BDD1F04B-858B-11D1-B16A-00C0F0283628": ClassInfo(
        "MSCOMCTL.ListViewCtrl", "ole.mscomctl", "CVE-2012-0158"
    ),
    "C74190B6-8589-11D1-B16A-00C0F0283628": ClassInfo(
        "MSCOMCTL.TreeViewCtrl", "ole.mscomctl", "CVE-2012-0158"
    ),
    "996BF5E0-8044-4650-ADEB-0B013914E99C": ClassInfo(
        "MSCOMCTL.ListViewCtrl.2", "ole.mscomctl", "CVE-2012-0158"
    ),
    "9181DC5F-E07D-418A-ACA6-8EEA1ECB8E9E": ClassInfo("MSCOMCTL.TreeCtrl.2", "ole.mscomctl", "CVE-2012-0158"),
    "1EFB6596-857C-11D1-B16A-00C0F0283628": ClassInfo("MSCOMCTL.TabStrip", "ole.mscomctl", "CVE-2012-0158"),
    "D27CDB6E-AE6D-11CF-96B8-444553540000": ClassInfo("Shockwave Flash", "ole.flash", "CVE-2018-4878"),
    "D27CDB70-AE6D-11CF-96B8-444553540000": ClassInfo("Shockwave Flash (alt)", "ole.flash", "CVE-2018-4878"),
    "25336920-03F9-11CF-8FD0-00AA00686F13": ClassInfo("htmlfile (MSHTML document)", "ole.dangerous_class"),
    "3050F4D8-98B5-11CF-BB82-00AA00BDCE0B": ClassInfo("htmlfile_FullWindowEmbed", "ole.dangerous_class"),
    "8856F961-340A-11D0-A96B-00C04FD705A2": ClassInfo("Shell.Explorer (WebBrowser)", "ole.dangerous_class"),
    "EAB22AC3-30C1-11CF-A7EB-0000C05BAE0B": ClassInfo("Shell.Explorer.1 (WebBrowser)", "ole.dangerous_class"),
    "5512D11A-5CC6-11CF-8D67-00AA00BDCE1D": ClassInfo("Forms.HTML:Submitbutton", "ole.dangerous_class"),
    "5512D110-5CC6-11CF-8D67-00AA00BDCE1D": ClassInfo("Forms.HTML:Text", "ole.dangerous_class"),
    "F4754C9B-64F5-4B40-8AF4-679732AC0607": ClassInfo(
        "Word.Document.12 (OOXML via OLE)", "ole.embedded_object"
    ),
    CLSID_PACKAGE: ClassInfo("Package (Packager Shell Object)", "ole.package"),
    "F20DA720-C02F-11CE-927B-0800095AE340": ClassInfo("Package (OLE Packager)", "ole.package"),
}

# ActiveX controls of Forms 2.0 and others are ordinary; they are listed, not flagged, unless above.
ACTIVEX_NAMES: dict[str, str] = {
    "8BD21D40-EC42-11CE-9E0D-00AA006002F3": "Forms.CheckBox.1",
    "8BD21D10-EC42-11CE-9E0D-00AA006002F3": "Forms.TextBox.1",
    "D7053240-CE69-11CD-A777-00DD01143C57": "Forms.CommandButton.1",
    "978C9E23-D4B0-11CE-BF2D-00AA003F40D0": "Forms.Label.1",
    "4C599241-6926-101B-9992-00000B65C6F9": "Forms.Image.1",
    "8BD21D50-EC42-11CE-9E0D-00AA006002F3": "Forms.OptionButton.1",
    "8BD21D30-EC42-11CE-9E0D-00AA006002F3": "Forms.ComboBox.1",
    "8BD21D20-EC42-11CE-9E0D-00AA006002F3": "Forms.ListBox.1",
    "6E182020-F460-11CE-9BCD-00AA00608E01": "Forms.Frame.1",
}

_RISKY = (
    ".exe .scr .com .pif .js .jse .vbs .vbe .hta .lnk .bat .cmd .ps1 .wsf .wsh .cpl .dll .msi .jar .sct .reg"
)
RISKY_EXTENSIONS = frozenset([*_RISKY.split(" "), ".chm", ".iso", ".img", ".url", ".inf", ".msc", ".gadget"])

_URL_MONIKER = bytes.fromhex("E0C9EA79F9BACE118C8200AA004BA90B")
_COMPOSITE_MONIKER = bytes.fromhex("0903000000000000C000000000000046")
_SOAP_MONIKER = bytes.fromhex("C7B0ABEC197FD211978E0000F8757E2A")
_SCRIPT_MONIKER = bytes.fromhex("D30B2906AA48D2118432006008C3FBFC")
_URL16 = re.compile(rb"((?:[\x20-\x7e]\x00){6,})\x00\x00")
_CHILD_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"%PDF", "pdf"),
    (b"MZ", "pe"),
    (b"{\\rt", "rtf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
)


@dataclass
class ObjectSummary:
    classes: list[str] = field(default_factory=list)
    activex: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


def meta_list(values: list[str], limit: int = 50) -> list[JSONScalar]:
    """At most ``limit`` strings, typed for ``ctx.meta``."""
    return list(values[:limit])


def lookup_class(clsid: str) -> ClassInfo | None:
    """The dangerous-class entry for a CLSID in any usual spelling (braces, case)."""
    return DANGEROUS_CLASSES.get(clsid.strip("{}").upper())


def risky_name(filename: str) -> bool:
    low = filename.lower().rstrip(". ")
    return any(low.endswith(ext) for ext in RISKY_EXTENSIONS)


def moniker_urls(data: bytes) -> list[tuple[str, str]]:
    """(kind, text) for monikers in an ``\\x01Ole`` stream: url / composite / soap / script."""
    out: list[tuple[str, str]] = []
    for clsid, kind in (
        (_URL_MONIKER, "url"),
        (_SOAP_MONIKER, "soap"),
        (_SCRIPT_MONIKER, "script"),
        (_COMPOSITE_MONIKER, "composite"),
    ):
        pos = data.find(clsid)
        if pos < 0:
            continue
        text = ""
        m = _URL16.search(data, pos + 16, pos + 16 + 8192)
        if m:
            text = m.group(1).decode("utf-16-le", "replace")
        out.append((kind, text))
    return out


def _read(ole: Any, path: list[str]) -> bytes:
    size = ole.get_size(path)
    if size > MAX_STREAM:
        return b""
    data: bytes = ole.openstream(path).read()
    return data


def _package(ctx: ArtifactContext, data: bytes, where: str, summary: ObjectSummary) -> None:
    try:
        native = oleobj.OleNativeStream(bindata=data)
    except (AnalyzerTimeout, LimitExceeded):
        raise
    except Exception as exc:
        ctx.error("parse", f"{where}: Ole10Native stream could not be parsed: {exc}")
        return
    name = str(native.filename or "").strip()
    if not name and not native.src_path and not native.temp_path:
        if isinstance(native.data, bytes | bytearray) and native.data:
            ctx.child("Ole10Native data", bytes(native.data), metadata={"ole_path": where})
        return
    name = name or "package"
    meta: dict[str, Any] = {
        "ole_label": str(native.filename or ""),
        "ole_source_path": str(native.src_path or ""),
        "ole_temp_path": str(native.temp_path or ""),
    }
    summary.packages.append(name)
    detail = f"{where}: {name!r} (source {native.src_path!r}, temp {native.temp_path!r})"
    if risky_name(name) or risky_name(str(native.temp_path or "")):
        ctx.finding("ole.package_executable", detail)
    ctx.finding("ole.package", detail)
    for path in (native.src_path, native.temp_path):
        if path:
            ctx.indicator(IndicatorType.FILE_PATH, str(path), "OLE package path")
    payload = native.data
    if isinstance(payload, bytes | bytearray) and payload:
        ctx.child(name, bytes(payload), metadata=meta)


def walk(ctx: ArtifactContext, ole: Any) -> ObjectSummary:
    """Record embedded objects of every storage; returns what was seen (for metadata)."""
    summary = ObjectSummary()
    entries = ole.listdir(streams=True, storages=True)
    if len(entries) > MAX_ENTRIES:
        ctx.error("limit", f"compound file has {len(entries)} entries, only {MAX_ENTRIES} examined")
        entries = entries[:MAX_ENTRIES]
    root_clsid = (ole.root.clsid or "").upper() if ole.root is not None else ""
    storages: list[tuple[str, str]] = [("/", root_clsid)] if root_clsid else []
    for path in entries:
        if ole.get_type(path) == olefile.STGTY_STORAGE:
            clsid = (ole.getclsid(path) or "").upper()
            if clsid and clsid != "00000000-0000-0000-0000-000000000000":
                storages.append(("/".join(path), clsid))
    clsids = dict(storages)
    for where, clsid in storages:
        info = lookup_class(clsid)
        label = f"{where} {{{clsid}}}"
        if clsid in ACTIVEX_NAMES:
            summary.activex.append(f"{ACTIVEX_NAMES[clsid]} at {where}")
        if info is None:
            continue
        summary.classes.append(f"{info.name} at {where}")
        if info.finding in ("ole.package", "ole.embedded_object"):
            continue  # judged from the stream content below
        ctx.finding(info.finding, f"{info.name} {label}" + (f" ({info.note})" if info.note else ""))
    for path in entries:
        if ole.get_type(path) != olefile.STGTY_STREAM:
            continue
        leaf = path[-1]
        low = leaf.lower()
        where = "/".join(path)
        parent = clsids.get("/".join(path[:-1]) or "/", "")
        if low == "\x01ole10native" and parent == CLSID_EQUATION:
            data = _read(ole, path)  # Equation objects of old documents: size-prefixed MTEF
            ctx.child("Equation Native", data[4:], type_hint=FileType.MTEF, metadata={"ole_path": where})
        elif low == "\x01ole10native":
            _package(ctx, _read(ole, path), where, summary)
        elif low == "\x01ole":
            for kind, text in moniker_urls(_read(ole, path)):
                _moniker(ctx, kind, text, where, summary)
        elif low == "equation native" and ctx.type is not FileType.OLE_EQUATION:
            ctx.child(
                "Equation Native", _read(ole, path), type_hint=FileType.MTEF, metadata={"ole_path": where}
            )
        elif low in ("package", "contents") and len(path) > 1:
            data = _read(ole, path)
            found = next((k for magic, k in _CHILD_MAGIC if data.startswith(magic)), None)
            if found:
                ctx.finding("ole.embedded_object", f"{where}: embedded {found} ({len(data)} bytes)")
                ctx.child(
                    f"{'/'.join(p.strip(chr(1) + chr(3)) for p in path)}", data, metadata={"ole_path": where}
                )
        elif low == "\x03ocxname":
            name = _read(ole, path)[:200].decode("utf-16-le", "replace").strip("\x00")
            summary.activex.append(f"{name or 'control'} at {where}")
    if summary.activex:
        ctx.finding("ole.activex", "; ".join(summary.activex[:10]))
    return summary


def _moniker(ctx: ArtifactContext, kind: str, text: str, where: str, summary: ObjectSummary) -> None:
    if kind == "url":
        if not text:
            return
        summary.urls.append(text)
        ctx.indicator(IndicatorType.URL, text, f"OLE2Link moniker in {where}")
        ctx.finding("ole.ole2link", f"{where}: {text}")
    elif kind == "soap":
        ctx.finding("ole.soap_moniker", f"{where}: {text}")
        if text:
            ctx.indicators_from_text(text, f"SOAP moniker in {where}")
    elif kind == "script":
        ctx.finding("ole.script_moniker", f"{where}: {text or 'script moniker'}")
        if text:
            ctx.indicators_from_text(text, f"script moniker in {where}")


def ppt_objects(ctx: ArtifactContext, stream: bytes) -> int:
    """Embedded objects of a PowerPoint document stream (ExOleObjStg records, zlib-compressed when
    their instance is 1) become children; returns how many."""
    pos, n, found = 0, 0, 0
    while pos + 8 <= len(stream) and n < MAX_PPT_RECORDS:
        ver_inst, rtype, rlen = struct.unpack_from("<HHI", stream, pos)
        n += 1
        if ver_inst & 0x0F == 0x0F:
            pos += 8
            continue
        body = stream[pos + 8 : pos + 8 + rlen]
        pos += 8 + rlen
        if rtype != RT_EXOLEOBJSTG or not body:
            continue
        data = body
        if ver_inst >> 4 == 1 and len(body) > 4:
            declared = struct.unpack_from("<I", body, 0)[0]
            ctx.check_ratio(f"ExOleObjStg #{found}", len(body), declared)
            try:
                inflater = zlib.decompressobj()
                data = inflater.decompress(body[4:], ctx.limits.max_child_size)
            except zlib.error as exc:
                ctx.error("parse", f"ExOleObjStg #{found}: zlib data damaged: {exc}")
                continue
        ctx.child(f"ExOleObjStg #{found}", data, metadata={"ppt_record_offset": pos - 8 - rlen})
        found += 1
    if found:
        ctx.finding("ole.embedded_object", f"{found} embedded OLE object(s) in the PowerPoint stream")
    return found
