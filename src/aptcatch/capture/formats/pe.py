"""Windows executables (PE) with pefile, and a light look at ELF files.

pefile loads with ``fast_load=True``; only the import, export, debug and resource directories are then
parsed (the engine's deadline bounds the time). Recorded: machine, subsystem, DLL/EXE, compile time (with
notes for zero, future and Delphi's 1992 stamp), imphash, Rich-header hash, sections with entropy,
CodeView RSDS PDB path/GUID/age (a strong attribution artifact, also an indicator), exports, a resource
summary, version-info strings, whether an Authenticode blob is present (never validated), the .NET CLR
header and the overlay. Overlays that are themselves files become children. The ELF header is read with
``struct`` (a dozen fixed fields; pulling in an ELF library for that is not worth it).
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pefile

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.identify import identify
from aptcatch.capture.limits import AnalyzerTimeout, LimitExceeded
from aptcatch.capture.types import ARCHIVE_TYPES, FileType
from aptcatch.model.scan import IndicatorType, JSONScalar

T = TypeVar("T")

if TYPE_CHECKING:
    from aptcatch.capture.analyzer import Analyzer
    from aptcatch.capture.engine import ScanConfig

DIRS = [
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"],
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_DEBUG"],
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"],
]
SECURITY = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]
CLR = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR"]
DELPHI_STAMP = 0x2A425E19  # 1992-06-19 22:22:17, written by old Delphi/BCB linkers
MAX_IMPORTS = 4000
MAX_EXPORT_NAMES = 64
MAX_SECTIONS = 96

INJECTION_API = frozenset(
    {
        "virtualallocex",
        "writeprocessmemory",
        "createremotethread",
        "createremotethreadex",
        "ntcreatethreadex",
        "queueuserapc",
        "setthreadcontext",
        "ntunmapviewofsection",
        "zwunmapviewofsection",
        "rtlcreateuserthread",
        "ntwritevirtualmemory",
        "ntallocatevirtualmemory",
    }
)
DOWNLOAD_API = frozenset(
    {
        "urldownloadtofilea",
        "urldownloadtofilew",
        "urldownloadtocachefilea",
        "urldownloadtocachefilew",
        "winexec",
    }
)
NETWORK_API = frozenset(
    {
        "internetopena",
        "internetopenw",
        "internetopenurla",
        "internetopenurlw",
        "internetreadfile",
        "internetconnecta",
        "internetconnectw",
        "httpopenrequesta",
        "httpopenrequestw",
        "httpsendrequesta",
        "httpsendrequestw",
        "winhttpopen",
        "winhttpconnect",
        "winhttpsendrequest",
        "winhttpreaddata",
    }
)
PACKER_SECTIONS = frozenset(
    {
        "upx0",
        "upx1",
        "upx2",
        ".aspack",
        ".adata",
        ".mpress1",
        ".mpress2",
        ".petite",
        ".nsp0",
        ".nsp1",
        ".themida",
        ".vmp0",
        ".vmp1",
        ".enigma1",
        ".enigma2",
        "pec2",
        ".packed",
        ".perplex",
        ".yp",
        "mew",
    }
)
EXEC_EXTENSIONS = (".exe", ".dll", ".scr", ".cpl", ".ocx", ".sys", ".com", ".pif", ".drv", ".efi")
OVERLAY_PAYLOADS = frozenset(
    {
        FileType.PE,
        FileType.ELF,
        FileType.LNK,
        FileType.PDF,
        FileType.RTF,
        FileType.OLE_DOC,
        FileType.OLE_XLS,
        FileType.OLE_OTHER,
        FileType.MSI,
        FileType.OOXML_WORD,
        FileType.OOXML_EXCEL,
    }
    | (ARCHIVE_TYPES - {FileType.CAB})
)


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").rstrip("\x00").strip()
    return str(value).strip()


def _guard(ctx: ArtifactContext, part: str, fn: Callable[[], T], default: T) -> T:
    """Run one part of the PE walk; a hostile structure costs that part only, recorded as an error."""
    try:
        return fn()
    except (AnalyzerTimeout, LimitExceeded, MemoryError):
        raise
    except Exception as exc:
        ctx.error("parse", f"pefile {part}: {type(exc).__name__}: {exc}"[:300])
        return default


def _stem(name: str) -> str:
    base = re.split(r"[\\/]", name)[-1].lower()
    base = base.split(".")[0]
    return re.sub(r"[^a-z0-9]", "", base)


class PEAnalyzer:
    name = "pe"
    types: frozenset[FileType] | None = frozenset({FileType.PE})

    def analyze(self, ctx: ArtifactContext) -> None:
        try:
            pe = pefile.PE(data=ctx.data, fast_load=True)
        except pefile.PEFormatError as exc:
            ctx.error("parse", f"pefile: {exc}"[:300])
            return
        try:
            self._analyze(ctx, pe)
        finally:
            pe.close()

    def _analyze(self, ctx: ArtifactContext, pe: pefile.PE) -> None:
        fh, oh = pe.FILE_HEADER, pe.OPTIONAL_HEADER
        is_dll = bool(pe.is_dll())
        machine = pefile.MACHINE_TYPE.get(fh.Machine, hex(fh.Machine)).replace("IMAGE_FILE_MACHINE_", "")
        subsystem = pefile.SUBSYSTEM_TYPE.get(oh.Subsystem, str(oh.Subsystem)).replace("IMAGE_SUBSYSTEM_", "")
        ctx.meta("pe_kind", "dll" if is_dll else "exe")
        ctx.meta("pe_machine", machine)
        ctx.meta("pe_subsystem", subsystem)
        self._timestamp(ctx, int(fh.TimeDateStamp))

        try:
            pe.parse_data_directories(directories=DIRS)
        except Exception as exc:  # pefile raises plain exceptions on hostile directories
            ctx.error("parse", f"pefile directories: {type(exc).__name__}: {exc}"[:300])

        dirs = oh.DATA_DIRECTORY
        signed = len(dirs) > SECURITY and dirs[SECURITY].Size > 0 and dirs[SECURITY].VirtualAddress > 0
        dotnet = len(dirs) > CLR and dirs[CLR].VirtualAddress > 0
        ctx.meta("pe_signature_blob", bool(signed))
        if signed:
            ctx.meta("pe_signature_size", int(dirs[SECURITY].Size))
        ctx.meta("pe_dotnet", bool(dotnet))

        imports: list[str] = _guard(ctx, "imports", lambda: self._imports(ctx, pe), [])
        high_entropy: list[tuple[str, float]] = _guard(ctx, "sections", lambda: self._sections(ctx, pe), [])
        _guard(ctx, "rich header", lambda: self._rich(ctx, pe), None)
        _guard(ctx, "debug directory", lambda: self._debug(ctx, pe), None)
        exports: list[str] = _guard(ctx, "exports", lambda: self._exports(ctx, pe), [])
        _guard(ctx, "resources", lambda: self._resources(ctx, pe), None)
        version: dict[str, str] = _guard(ctx, "version info", lambda: self._version(ctx, pe), {})
        overlay = _guard(ctx, "overlay", lambda: self._overlay(ctx, pe), None)

        ctx.finding(
            "pe.executable",
            f"{'DLL' if is_dll else 'EXE'} {machine} {subsystem}{' .NET' if dotnet else ''}"
            f"{', signed' if signed else ''}",
        )
        if not signed:
            ctx.finding("pe.unsigned")
        packer = sorted(n for n, _ in high_entropy if n.lower() in PACKER_SECTIONS)
        few_imports = len(imports) < 10 and not dotnet
        if packer or (high_entropy and few_imports):
            names = ", ".join(f"{n} ({e:.2f})" for n, e in high_entropy) or ", ".join(packer)
            ctx.finding("pe.packed", f"sections {names}; {len(imports)} imported functions")
        lower = {i.lower() for i in imports}
        inj = sorted(lower & INJECTION_API)
        if len(inj) >= 2:
            ctx.finding("pe.injection_api", ", ".join(inj))
        dl = sorted(lower & DOWNLOAD_API)
        if dl:
            ctx.finding("pe.download_api", ", ".join(dl))
        net = sorted(lower & NETWORK_API)
        if net:
            ctx.finding("pe.network_api", ", ".join(net[:8]))
        reg = sorted(
            {e for e in exports if e.lower() in ("dllregisterserver", "dllinstall", "dllunregisterserver")}
        )
        if reg:
            ctx.finding("pe.regsvr32_exports", ", ".join(reg))
        original = version.get("OriginalFilename") or version.get("InternalName") or ""
        name = ctx.name
        if original and name.lower().endswith(EXEC_EXTENSIONS):
            a, b = _stem(original), _stem(name)
            if a and b and a not in b and b not in a:
                ctx.finding("pe.version_mismatch", f"named {name!r}, version info says {original!r}")
        if overlay is not None:
            kind, size = overlay
            ctx.finding("pe.overlay_payload", f"{size}-byte overlay holding {kind.value}")

    # -- parts -----------------------------------------------------------------------------------------
    @staticmethod
    def _timestamp(ctx: ArtifactContext, stamp: int) -> None:
        ctx.meta("pe_timestamp_raw", stamp)
        if stamp == 0:
            ctx.meta("pe_timestamp_note", "zero (stripped)")
            return
        when = dt.datetime.fromtimestamp(stamp, dt.UTC)
        ctx.meta("pe_compile_time", when.replace(tzinfo=None).isoformat() + "Z")
        now = dt.datetime.now(dt.UTC)
        if stamp == DELPHI_STAMP:
            ctx.meta("pe_timestamp_note", "1992-06-19 Delphi/BCB linker constant")
        elif when > now + dt.timedelta(days=1):
            ctx.meta("pe_timestamp_note", "in the future (forged, or a reproducible-build hash)")
        elif when.year < 2000:
            ctx.meta("pe_timestamp_note", "before 2000 (forged or reproducible-build hash)")

    @staticmethod
    def _imports(ctx: ArtifactContext, pe: pefile.PE) -> list[str]:
        names: list[str] = []
        dlls: list[str] = []
        for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])[:512]:
            dlls.append(_s(entry.dll).lower())
            for imp in entry.imports:
                if len(names) >= MAX_IMPORTS:
                    break
                if imp.name:
                    names.append(_s(imp.name))
        if dlls:
            ctx.meta("pe_import_dlls", list[JSONScalar](dlls[:64]))
            ctx.meta("pe_import_count", len(names))
        try:
            imphash = pe.get_imphash()
        except Exception:
            imphash = ""
        if imphash:
            ctx.meta("pe_imphash", imphash)
        return names

    @staticmethod
    def _sections(ctx: ArtifactContext, pe: pefile.PE) -> list[tuple[str, float]]:
        summary: list[str] = []
        high: list[tuple[str, float]] = []
        for sec in pe.sections[:MAX_SECTIONS]:
            name = _s(sec.Name) or "?"
            entropy = float(sec.get_entropy())
            summary.append(
                f"{name} raw={sec.SizeOfRawData} virtual={sec.Misc_VirtualSize} entropy={entropy:.2f}"
            )
            if (entropy > 7.2 and sec.SizeOfRawData > 4096) or name.lower() in PACKER_SECTIONS:
                high.append((name, entropy))
        ctx.meta("pe_sections", list[JSONScalar](summary))
        return high

    @staticmethod
    def _rich(ctx: ArtifactContext, pe: pefile.PE) -> None:
        try:
            rich_hash = pe.get_rich_header_hash()
        except Exception:
            rich_hash = ""
        if rich_hash:
            ctx.meta("pe_rich_hash", rich_hash)

    @staticmethod
    def _debug(ctx: ArtifactContext, pe: pefile.PE) -> None:
        for dbg in getattr(pe, "DIRECTORY_ENTRY_DEBUG", [])[:16]:
            entry = getattr(dbg, "entry", None)
            if entry is None or getattr(entry, "CvSignature", b"") != b"RSDS":
                continue
            path = _s(getattr(entry, "PdbFileName", b""))
            if not path:
                continue
            off = entry.get_file_offset()
            raw = ctx.data[off + 4 : off + 20]
            guid = str(uuid.UUID(bytes_le=raw)).upper() if len(raw) == 16 else ""
            ctx.meta("pe_pdb_path", path)
            if guid:
                ctx.meta("pe_pdb_guid", guid)
            ctx.meta("pe_pdb_age", int(entry.Age))
            ctx.indicator(IndicatorType.PDB_PATH, path, "CodeView debug record")
            return

    @staticmethod
    def _exports(ctx: ArtifactContext, pe: pefile.PE) -> list[str]:
        exp = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
        if exp is None:
            return []
        names = [_s(sym.name) for sym in exp.symbols[:4096] if sym.name]
        dll_name = _s(getattr(exp, "name", b"") or b"")
        if dll_name:
            ctx.meta("pe_export_dll_name", dll_name)
        if names:
            ctx.meta("pe_exports", list[JSONScalar](names[:MAX_EXPORT_NAMES]))
            ctx.meta("pe_export_count", len(names))
        return names

    @staticmethod
    def _resources(ctx: ArtifactContext, pe: pefile.PE) -> None:
        root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
        if root is None:
            return
        kinds: list[str] = []
        count = 0
        for entry in root.entries[:64]:
            label = (
                _s(entry.name)
                if entry.name is not None
                else pefile.RESOURCE_TYPE.get(entry.id, str(entry.id))
            )
            kinds.append(str(label).replace("RT_", ""))
            sub = getattr(entry, "directory", None)
            count += len(sub.entries) if sub is not None else 0
        ctx.meta("pe_resource_types", list[JSONScalar](kinds))
        ctx.meta("pe_resource_count", count)

    @staticmethod
    def _version(ctx: ArtifactContext, pe: pefile.PE) -> dict[str, str]:
        found: dict[str, str] = {}
        wanted = (
            "OriginalFilename",
            "InternalName",
            "CompanyName",
            "ProductName",
            "FileDescription",
            "FileVersion",
            "LegalCopyright",
        )
        for info_list in getattr(pe, "FileInfo", [])[:8]:
            for info in info_list if isinstance(info_list, list) else [info_list]:
                for table in getattr(info, "StringTable", [])[:8]:
                    for key, value in list(table.entries.items())[:64]:
                        k = _s(key)
                        if k in wanted and k not in found and _s(value):
                            found[k] = _s(value)
        for k, v in found.items():
            ctx.meta(f"pe_version_{k}", v)
        return found

    @staticmethod
    def _overlay(ctx: ArtifactContext, pe: pefile.PE) -> tuple[FileType, int] | None:
        try:
            start = pe.get_overlay_data_start_offset()
        except Exception:
            return None
        if start is None or start >= len(ctx.data):
            return None
        tail = ctx.data[start:]
        ctx.meta("pe_overlay_size", len(tail))
        if len(tail) < 512:
            return None
        kind = identify(tail, "")
        if kind not in OVERLAY_PAYLOADS:
            return None
        ctx.child("overlay", tail)
        return kind, len(tail)


ELF_MACHINES = {
    3: "x86",
    8: "MIPS",
    20: "PowerPC",
    21: "PowerPC64",
    40: "ARM",
    62: "x86-64",
    183: "AArch64",
    243: "RISC-V",
}
ELF_TYPES = {1: "relocatable", 2: "executable", 3: "shared object", 4: "core"}


class ELFAnalyzer:
    name = "elf"
    types: frozenset[FileType] | None = frozenset({FileType.ELF})

    def analyze(self, ctx: ArtifactContext) -> None:
        data = ctx.data
        if len(data) < 20 or data[4] not in (1, 2) or data[5] not in (1, 2):
            ctx.error("parse", "truncated or invalid ELF header")
            return
        endian = "<" if data[5] == 1 else ">"
        e_type, e_machine = struct.unpack(endian + "HH", data[16:20])
        bits = 32 if data[4] == 1 else 64
        kind = ELF_TYPES.get(e_type, str(e_type))
        machine = ELF_MACHINES.get(e_machine, str(e_machine))
        ctx.meta("elf_class", bits)
        ctx.meta("elf_type", kind)
        ctx.meta("elf_machine", machine)
        ctx.finding("elf.executable", f"ELF{bits} {kind} for {machine}")


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [PEAnalyzer(), ELFAnalyzer()]
