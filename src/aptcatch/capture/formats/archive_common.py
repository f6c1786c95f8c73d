"""Shared pieces of the archive and e-mail analysers: file-name risk rules, the per-archive member
bookkeeping (counts, names, findings decided once every member was seen) and libarchive streaming.

Member names stay strings: nothing here touches the file system.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aptcatch.capture.context import ArtifactContext, MetaValue
from aptcatch.capture.limits import LimitExceeded

RTLO = "\u202e"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


EXECUTABLE_EXT = _words("exe scr pif com cpl dll msi msp msc sys drv ocx gadget application appref-ms jar")
SCRIPT_EXT = _words("js jse vbs vbe wsf wsh wsc hta bat cmd ps1 psm1 psd1 sct vb ws reg inf")
SHORTCUT_EXT = frozenset(
    ["lnk", "url", "website", "settingcontent-ms", "library-ms", "searchconnector-ms", "scf", "iqy", "slk"]
)
IMAGE_EXT = frozenset(["iso", "img", "vhd", "vhdx", "udf"])
RISKY_DOC_EXT = frozenset(["one", "onepkg", "chm", "xll", "xlam", "docm", "xlsm", "pptm", "dotm", "xltm"])
DOCUMENT_EXT = _words(
    "doc docx docm dot dotx dotm xls xlsx xlsm xlsb xlt xltx pptx ppt pptm pps ppsx rtf pdf txt csv "
    "odt ods odp hwp hwpx jpg jpeg png gif bmp htm html mht xml wps et dps"
)
ARCHIVE_EXT = frozenset(
    ["zip", "rar", "7z", "tar", "gz", "tgz", "bz2", "xz", "cab", "arj", "ace", "lzh", "r00"]
)

RUNS_CODE_EXT = EXECUTABLE_EXT | SCRIPT_EXT | SHORTCUT_EXT
RISKY_ATTACHMENT_EXT = RUNS_CODE_EXT | IMAGE_EXT | RISKY_DOC_EXT

MAX_LISTED_MEMBERS = 200
MAX_REFUSALS = 50


def ext_of(name: str) -> str:
    base = posixpath.basename(name.replace("\\", "/")).rstrip(" .")
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def double_extension(name: str) -> bool:
    """``report.pdf.exe``, ``cv.docx   .lnk``: a document extension followed by one that runs code."""
    base = posixpath.basename(name.replace("\\", "/")).strip()
    parts = [p.strip().lower() for p in base.split(".")]
    if len(parts) < 3 or not parts[0]:
        return False
    return parts[-1] in RUNS_CODE_EXT and parts[-2] in DOCUMENT_EXT


def has_rtlo(name: str) -> bool:
    return RTLO in name


def traversal(name: str) -> bool:
    n = name.replace("\\", "/")
    return n.startswith("/") or (len(n) > 1 and n[1] == ":") or ".." in n.split("/")


def iso_time(ts: float | int | None) -> str | None:
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


@dataclass
class Members:
    """Member bookkeeping for one archive: emits children and decides the name-based findings."""

    ctx: ArtifactContext
    kind: str
    names: list[str] = field(default_factory=list)
    emitted: int = 0
    refused: int = 0
    encrypted_failed: list[str] = field(default_factory=list)
    bombs: int = 0
    stopped: bool = False

    def note(self, name: str) -> None:
        """Record a file member's name (whether or not it can be extracted)."""
        self.names.append(name)
        if traversal(name):
            self.ctx.finding("archive.path_traversal", f"{self.kind} member {name!r}")

    @property
    def full(self) -> bool:
        """True once the member count limit or repeated refusals say to stop reading."""
        if self.stopped:
            return True
        if self.emitted >= self.ctx.limits.max_children:
            self.ctx.error(
                "limit", f"more than {self.ctx.limits.max_children} members: the rest are not analysed"
            )
            self.stopped = True
        elif self.refused >= MAX_REFUSALS:
            self.ctx.error("limit", f"{self.refused} members refused by limits: stopped reading")
            self.stopped = True
        return self.stopped

    def emit(self, name: str, data: bytes, meta: dict[str, MetaValue]) -> bool:
        ok = self.ctx.child(name, data, metadata={k: v for k, v in meta.items() if v is not None})
        if ok:
            self.emitted += 1
        else:
            self.refused += 1
        return ok

    def bomb(self, name: str, exc: LimitExceeded) -> None:
        self.bombs += 1
        self.ctx.error("limit", f"{name!r}: {exc}")
        self.ctx.finding("archive.bomb", f"{self.kind} member {name!r}: {exc}")

    def encrypted(self, name: str) -> None:
        self.encrypted_failed.append(name)

    def used_password(self, password: str) -> None:
        self.ctx.finding("archive.encrypted_opened", f"{self.kind} opened with a known password")
        hints = self.ctx.metadata.get("password_hints")
        if isinstance(hints, list) and password in hints:
            self.ctx.finding("archive.password_from_email", f"password {password!r} came from the e-mail")

    def finish(self) -> None:
        ctx = self.ctx
        ctx.meta("member_count", len(self.names))
        if self.names:
            ctx.meta("members", list(self.names[:MAX_LISTED_MEMBERS]))
        if self.encrypted_failed:
            n = len(self.encrypted_failed)
            ctx.error("encrypted", f"{n} encrypted member(s) not opened, e.g. {self.encrypted_failed[0]!r}")
            ctx.finding("archive.encrypted", f"{n} encrypted {self.kind} member(s), no known password")
        name_findings(ctx, self.names, "archive")
        if lnk_or_script_only(self.names):
            ctx.finding(
                "archive.lnk_or_script_only",
                f"{self.kind} members: " + ", ".join(repr(n) for n in self.names[:5]),
            )


def name_findings(ctx: ArtifactContext, names: Iterable[str], family: str) -> None:
    """Double extension / RTLO findings over member or attachment names (family: archive|email)."""
    for n in names:
        if double_extension(n):
            fid = "archive.double_extension" if family == "archive" else "email.double_extension_attachment"
            ctx.finding(fid, repr(n))
        if has_rtlo(n):
            fid = "archive.rtlo_name" if family == "archive" else "email.rtlo_attachment_name"
            ctx.finding(fid, repr(n))


def lnk_or_script_only(names: list[str]) -> bool:
    """No real document, and what is there is a shortcut/script, or a program dressed as a document."""
    files = [n for n in names if not n.endswith("/")]
    if not files or len(files) > 20:
        return False
    exts = [ext_of(n) for n in files]
    if any(e in DOCUMENT_EXT for e in exts):
        return False
    if any(e in SCRIPT_EXT | {"lnk", "scf", "settingcontent-ms"} for e in exts):
        return True
    return any(e in {"scr", "pif", "com"} or double_extension(n) for n, e in zip(files, exts, strict=True))


def read_libarchive(
    ctx: ArtifactContext, members: Members, format_name: str = "all", passphrase: str | None = None
) -> None:
    """Stream every member through libarchive (CAB, ISO fallback, truncated archives)."""
    import libarchive  # imported here: only the formats that need it pay for it

    total_declared = 0
    with libarchive.memory_reader(ctx.data, format_name=format_name, passphrase=passphrase) as arc:
        for entry in arc:
            if members.full:
                break
            name = str(entry.pathname or "")
            if entry.isdir:
                continue
            members.note(name)
            size = int(entry.size or 0)
            total_declared += size
            meta: dict[str, MetaValue] = {
                "archive_member": name,
                "size": size,
                "mtime": iso_time(entry.mtime),
                "encrypted": bool(getattr(entry, "is_encrypted", False)) or None,
            }
            if entry.issym or entry.islnk:
                meta["link_target"] = str(entry.linkpath or "")
                continue
            try:
                ctx.check_ratio(name, len(ctx.data), total_declared)
                data = _read_blocks(ctx, entry.get_blocks())
            except LimitExceeded as exc:
                members.bomb(name, exc)
                continue
            members.emit(name, data, meta)


def _read_blocks(ctx: ArtifactContext, blocks: Iterable[bytes]) -> bytes:
    budget = min(ctx.limits.max_child_size, ctx.limits.max_total_bytes)
    parts: list[bytes] = []
    total = 0
    for block in blocks:
        total += len(block)
        if total > budget:
            raise LimitExceeded(f"decompressed size exceeds {budget} bytes")
        parts.append(bytes(block))
    return b"".join(parts)


def encrypted_archive(data: bytes) -> bool:
    """Cheap probe: does this zip/rar/7z hold encrypted members or headers? (list only, no extraction)"""
    import io
    import zipfile

    try:
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return any(i.flag_bits & 1 for i in zf.infolist()[:1000])
        if data.startswith(b"Rar!\x1a\x07"):
            import rarfile

            with rarfile.RarFile(io.BytesIO(data)) as rf:
                return bool(rf.needs_password())
        if data.startswith(b"7z\xbc\xaf\x27\x1c"):
            import py7zr

            try:
                with py7zr.SevenZipFile(io.BytesIO(data)) as sz:
                    return bool(sz.needs_password())
            except py7zr.exceptions.PasswordRequired:
                return True
    except Exception:
        return False
    return False
