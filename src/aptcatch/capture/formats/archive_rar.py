"""RAR (v4/v5): rarfile reads the headers (also header-encrypted archives, with the password candidates);
libarchive decompresses unencrypted members in memory.

Encrypted member data needs a decryption backend that rarfile drives: ``7zz`` when 7-Zip was built with
its RAR codec (Debian's ``7zip`` is not; ``7zip-rar`` in non-free adds it), otherwise ``unar`` (Debian
main, installed by scripts/bootstrap.sh). rarfile's temporary files are kept in a private folder that is
removed in ``finally``. Without either tool, encrypted members are reported as not opened.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from functools import cache
from typing import TYPE_CHECKING

import rarfile

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext, MetaValue
from aptcatch.capture.formats.archive_common import Members, iso_time
from aptcatch.capture.limits import LimitExceeded
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

MAX_RAR_ENTRIES = 100_000


@cache
def rar_tool() -> bool:
    """True when a tool that decrypts RAR members is available (7zz with the RAR codec, or unar)."""
    if _sevenzip_has_rar():
        return True
    if shutil.which(rarfile.UNAR_TOOL) is None:
        return False
    try:
        rarfile.tool_setup(unrar=False, unar=True, bsdtar=False, sevenzip=False, sevenzip2=False, force=True)
    except rarfile.RarCannotExec:
        return False
    return True


def _sevenzip_has_rar() -> bool:
    exe = shutil.which(rarfile.SEVENZIP2_TOOL)
    if exe is None:
        return False
    try:
        out = subprocess.run(
            [exe, "i"], capture_output=True, timeout=10, check=False, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    if b" Rar" not in out and b"Rar5" not in out:
        return False
    try:
        rarfile.tool_setup(unrar=False, unar=False, bsdtar=False, sevenzip=False, sevenzip2=True, force=True)
    except rarfile.RarCannotExec:
        return False
    return True


class RarAnalyzer:
    name = "rar"
    types: frozenset[FileType] | None = frozenset({FileType.RAR})

    def analyze(self, ctx: ArtifactContext) -> None:
        members = Members(ctx, "rar")
        try:
            rf = rarfile.RarFile(io.BytesIO(ctx.data))
        except (rarfile.Error, OSError, EOFError) as exc:
            ctx.error("parse", f"rar: {type(exc).__name__}: {exc}"[:300])
            return
        try:
            self._read(ctx, rf, members)
        finally:
            rf.close()
            members.finish()

    def _read(self, ctx: ArtifactContext, rf: rarfile.RarFile, members: Members) -> None:
        header_pw: str | None = None
        if rf.needs_password() and not rf.infolist():  # -hp: even the names are encrypted
            for pw in ctx.passwords:
                try:
                    rf.setpassword(pw)
                except (rarfile.Error, ValueError):
                    continue
                if rf.infolist():
                    header_pw = pw
                    members.used_password(pw)
                    ctx.meta("encrypted_headers", True)
                    break
            else:
                ctx.error("encrypted", "rar headers are encrypted and no known password opens them")
                ctx.finding("archive.encrypted", "rar with encrypted headers (member names hidden)")
                return
        if rf.comment:
            ctx.meta("comment", str(rf.comment))
            ctx.indicators_from_text(str(rf.comment), "archive_comment")
        infos = [i for i in rf.infolist()[:MAX_RAR_ENTRIES] if not i.is_dir()]
        plain: dict[str, dict[str, MetaValue]] = {}
        for info in infos:
            name = str(info.filename)
            members.note(name)
            meta: dict[str, MetaValue] = {
                "archive_member": name,
                "size": int(info.file_size or 0),
                "compressed_size": int(info.compress_size or 0),
                "mtime": info.mtime.isoformat() if info.mtime else iso_time(None),
                "encrypted": bool(info.needs_password()),
                "comment": str(info.comment) if getattr(info, "comment", None) else None,
            }
            try:
                ctx.check_ratio(name, int(info.compress_size or 0), int(info.file_size or 0))
                if int(info.file_size or 0) > ctx.limits.max_child_size:
                    raise LimitExceeded(f"declared size {info.file_size} is over the child size limit")
            except LimitExceeded as exc:
                members.bomb(name, exc)
                continue
            if info.needs_password() or header_pw is not None:
                self._encrypted(ctx, rf, info, meta, members, header_pw)
            else:
                plain[name] = meta
        if plain:
            self._libarchive(ctx, plain, members)

    def _encrypted(
        self,
        ctx: ArtifactContext,
        rf: rarfile.RarFile,
        info: rarfile.RarInfo,
        meta: dict[str, MetaValue],
        members: Members,
        header_pw: str | None,
    ) -> None:
        name = str(info.filename)
        if members.full:
            return
        if not rar_tool():
            members.encrypted(name)
            ctx.error("unsupported", f"{name!r}: no RAR decryption backend (7zz lacks the RAR codec)")
            return
        tmp = tempfile.mkdtemp(prefix="aptcatch-rar-")
        old = rarfile.HACK_TMP_DIR
        rarfile.HACK_TMP_DIR = tmp
        try:
            candidates = [header_pw] if header_pw else ctx.passwords
            for pw in candidates:
                try:
                    with rf.open(info, pwd=pw) as fh:
                        data = ctx.read_member(fh)
                except LimitExceeded as exc:
                    members.bomb(name, exc)
                    return
                except (rarfile.Error, OSError, EOFError):
                    continue
                if header_pw is None:
                    members.used_password(pw)
                members.emit(name, data, meta)
                return
            members.encrypted(name)
        finally:
            rarfile.HACK_TMP_DIR = old
            shutil.rmtree(tmp, ignore_errors=True)

    def _libarchive(
        self, ctx: ArtifactContext, plain: dict[str, dict[str, MetaValue]], members: Members
    ) -> None:
        import libarchive

        budget = min(ctx.limits.max_child_size, ctx.limits.max_total_bytes)
        try:
            with libarchive.memory_reader(
                ctx.data, format_name="rar5" if _is_rar5(ctx.data) else "rar"
            ) as arc:
                for entry in arc:
                    name = str(entry.pathname or "")
                    meta = plain.get(name)
                    if meta is None or entry.isdir:
                        continue
                    if members.full:
                        break
                    parts: list[bytes] = []
                    total = 0
                    try:
                        for block in entry.get_blocks():
                            total += len(block)
                            if total > budget:
                                raise LimitExceeded(f"decompressed size exceeds {budget} bytes")
                            parts.append(bytes(block))
                    except LimitExceeded as exc:
                        members.bomb(name, exc)
                        continue
                    members.emit(name, b"".join(parts), meta)
        except libarchive.ArchiveError as exc:
            ctx.error("parse", f"rar data: {exc}"[:300])


def _is_rar5(data: bytes) -> bool:
    return data.startswith(b"Rar!\x1a\x07\x01\x00")


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [RarAnalyzer()]
