"""ZIP and the tar/gzip/bzip2/xz family: members become children, read in memory within the limits.

ZIP goes through pyzipper (plain, ZipCrypto and WinZip AES); encrypted members are tried with the
item's password candidates (e-mail hints first, then the configured and default lists). A zip whose
central directory is broken is streamed through libarchive from its local headers instead. The
single-stream compressors (gzip/bzip2/xz) yield one child; a tar inside is then a child of its own.
RAR, 7z, ISO and CAB live in sibling modules.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from typing import IO, TYPE_CHECKING, Any, cast

import pyzipper

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext, MetaValue
from aptcatch.capture.formats.archive_common import Members, iso_time, read_libarchive
from aptcatch.capture.limits import LimitExceeded
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

MAX_ZIP_ENTRIES = 100_000
_ZIP_METHODS = {0: "stored", 8: "deflate", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 99: "aes"}
_WRONG_PASSWORD = (
    RuntimeError,
    zlib.error,
    zipfile.BadZipFile,
    ValueError,
    lzma.LZMAError,
    OSError,
    EOFError,
)


class ZipAnalyzer:
    name = "zip"
    types: frozenset[FileType] | None = frozenset({FileType.ZIP})

    def analyze(self, ctx: ArtifactContext) -> None:
        try:
            zf = pyzipper.AESZipFile(io.BytesIO(ctx.data))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            ctx.error("parse", f"zip directory unreadable ({exc}); streaming local headers")
            members = Members(ctx, "zip")
            try:
                read_libarchive(ctx, members, "zip")
            except Exception as exc2:  # libarchive raises its own ArchiveError on damaged input
                ctx.error("parse", f"libarchive: {exc2}"[:300])
            members.finish()
            return
        with zf:
            _read_zip(ctx, zf)


def _read_zip(ctx: ArtifactContext, zf: pyzipper.AESZipFile) -> None:
    members = Members(ctx, "zip")
    if zf.comment:
        comment = zf.comment.decode("utf-8", "replace")
        ctx.meta("comment", comment)
        ctx.indicators_from_text(comment, "archive_comment")
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        ctx.error("limit", f"{len(infos)} zip entries: only the first {MAX_ZIP_ENTRIES} are looked at")
        infos = infos[:MAX_ZIP_ENTRIES]
    good_pw: str | None = None
    for info in infos:
        if info.is_dir():
            continue
        name = info.filename
        members.note(name)
        if members.full:
            continue
        encrypted = bool(info.flag_bits & 1)
        meta: dict[str, MetaValue] = {
            "archive_member": name,
            "size": info.file_size,
            "compressed_size": info.compress_size,
            "mtime": _zip_time(info.date_time),
            "method": _ZIP_METHODS.get(info.compress_type, str(info.compress_type)),
            "encrypted": encrypted,
            "comment": info.comment.decode("utf-8", "replace") or None if info.comment else None,
        }
        try:
            ctx.check_ratio(name, info.compress_size, info.file_size)
            if info.file_size > ctx.limits.max_child_size:
                raise LimitExceeded(f"declared size {info.file_size} is over the child size limit")
            data: bytes | None
            if not encrypted:
                data = _read_one(ctx, zf, info, None)
            else:
                data, good_pw = _read_encrypted(ctx, zf, info, good_pw)
                if data is None:
                    members.encrypted(name)
                    continue
                members.used_password(good_pw or "")
        except LimitExceeded as exc:
            members.bomb(name, exc)
            continue
        except NotImplementedError as exc:
            ctx.error("unsupported", f"{name!r}: {exc}")
            continue
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, lzma.LZMAError, RuntimeError) as exc:
            ctx.error("parse", f"{name!r}: {exc}"[:300])
            continue
        members.emit(name, data, meta)
    members.finish()


def _read_one(
    ctx: ArtifactContext, zf: pyzipper.AESZipFile, info: zipfile.ZipInfo, pwd: bytes | None
) -> bytes:
    with zf.open(info, pwd=pwd) as fh:
        return ctx.read_member(fh)


def _read_encrypted(
    ctx: ArtifactContext, zf: pyzipper.AESZipFile, info: zipfile.ZipInfo, good: str | None
) -> tuple[bytes | None, str | None]:
    candidates = ctx.passwords
    if good is not None:
        candidates = [good, *(p for p in candidates if p != good)]
    for pw in candidates:
        for raw in _pw_bytes(pw):
            try:
                return _read_one(ctx, zf, info, raw), pw
            except LimitExceeded:
                raise
            except NotImplementedError:
                raise
            except _WRONG_PASSWORD:
                continue
    return None, good


def _pw_bytes(pw: str) -> list[bytes]:
    out = [pw.encode("utf-8")]
    for enc in ("cp1252", "cp866", "gbk"):  # old zip tools use the OEM/ANSI code page
        try:
            b = pw.encode(enc)
        except UnicodeEncodeError:
            continue
        if b not in out:
            out.append(b)
    return out


def _zip_time(dt: tuple[int, int, int, int, int, int]) -> str | None:
    try:
        y, mo, d, h, mi, s = dt
        return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}"
    except (TypeError, ValueError):
        return None


# -- tar and single-stream compressors -----------------------------------------------------------------


class TarAnalyzer:
    name = "tar"
    types: frozenset[FileType] | None = frozenset({FileType.TAR})

    def analyze(self, ctx: ArtifactContext) -> None:
        members = Members(ctx, "tar")
        try:
            tf = tarfile.open(fileobj=io.BytesIO(ctx.data), mode="r:")  # noqa: SIM115 - closed by `with tf` below
        except (tarfile.TarError, OSError, EOFError) as exc:
            ctx.error("parse", f"tar: {exc}"[:300])
            return
        seen = 0
        try:
            with tf:
                while True:
                    try:
                        m = tf.next()
                    except tarfile.TarError as exc:
                        ctx.error("parse", f"tar: {exc}"[:300])
                        break
                    if m is None:
                        break
                    seen += 1
                    if seen > MAX_ZIP_ENTRIES:
                        ctx.error("limit", f"over {MAX_ZIP_ENTRIES} tar entries: stopped")
                        break
                    cast(Any, tf).members = []  # do not keep every header: a tar of headers is a cheap bomb
                    if m.isdir():
                        continue
                    members.note(m.name)
                    if members.full:
                        continue
                    meta: dict[str, MetaValue] = {
                        "archive_member": m.name,
                        "size": m.size,
                        "mtime": iso_time(m.mtime),
                        "link_target": m.linkname or None,
                    }
                    if not m.isfile():
                        continue
                    fh = tf.extractfile(m)
                    if fh is None:
                        continue
                    try:
                        data = ctx.read_member(fh)
                    except LimitExceeded as exc:
                        members.bomb(m.name, exc)
                        continue
                    members.emit(m.name, data, meta)
        finally:
            members.finish()


def _gzip_header(data: bytes) -> tuple[str | None, int | None]:
    """Original file name and mtime from a gzip member header (RFC 1952)."""
    if len(data) < 10:
        return None, None
    flags = data[3]
    mtime = int.from_bytes(data[4:8], "little") or None
    pos = 10
    if flags & 4:
        if len(data) < pos + 2:
            return None, mtime
        pos += 2 + int.from_bytes(data[pos : pos + 2], "little")
    if flags & 8:
        end = data.find(b"\x00", pos, pos + 1024)
        if end > pos:
            return data[pos:end].decode("latin-1"), mtime
    return None, mtime


def _strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    low = name.lower()
    for s in suffixes:
        if low.endswith(s) and len(name) > len(s):
            stem = name[: -len(s)]
            return stem + ".tar" if s.startswith(".t") and s != ".tar" else stem
    return name + ".out"


class StreamAnalyzer:
    """gzip, bzip2 and xz: one compressed stream, one child."""

    name = "compressed-stream"
    types: frozenset[FileType] | None = frozenset({FileType.GZIP, FileType.BZIP2, FileType.XZ})

    def analyze(self, ctx: ArtifactContext) -> None:
        data = ctx.data
        fh: IO[bytes]
        meta: dict[str, MetaValue] = {"compressed_size": len(data)}
        if ctx.type is FileType.GZIP:
            orig, mtime = _gzip_header(data)
            name = orig or _strip_suffix(ctx.name, (".tgz", ".gz", ".gzip"))
            meta["mtime"] = iso_time(mtime)
            if len(data) >= 18:  # ISIZE: uncompressed size mod 2**32 of the last member
                isize = int.from_bytes(data[-4:], "little")
                meta["declared_size"] = isize
                try:
                    ctx.check_ratio(name, len(data), isize)
                except LimitExceeded as exc:
                    bomb = Members(ctx, "gzip")
                    bomb.note(name)
                    bomb.bomb(name, exc)
                    bomb.finish()
                    return
            fh = cast(IO[bytes], gzip.GzipFile(fileobj=io.BytesIO(data)))
        elif ctx.type is FileType.BZIP2:
            name = _strip_suffix(ctx.name, (".tbz2", ".tbz", ".bz2", ".bzip2"))
            fh = cast(IO[bytes], bz2.BZ2File(io.BytesIO(data)))
        else:
            name = _strip_suffix(ctx.name, (".txz", ".xz"))
            fh = cast(IO[bytes], lzma.LZMAFile(io.BytesIO(data)))  # noqa: SIM115 - `with fh` below
        members = Members(ctx, ctx.type.value)
        members.note(name)
        try:
            with fh:
                out = ctx.read_member(fh)
        except LimitExceeded as exc:
            members.bomb(name, exc)
            members.finish()
            return
        except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as exc:
            ctx.error("parse", f"{ctx.type.value}: {exc}"[:300])
            members.finish()
            return
        meta["size"] = len(out)
        members.emit(name, out, meta)
        members.finish()


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [ZipAnalyzer(), TarAnalyzer(), StreamAnalyzer()]
