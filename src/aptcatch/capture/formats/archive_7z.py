"""7z through py7zr, in memory, with password candidates for encrypted data or headers.

py7zr decodes whole folders into writer objects, so nothing is read before the declared sizes passed
the size, total and ratio checks; the writer objects themselves stop at the byte budget too, so that a
header that lies about sizes cannot make them grow past it.
"""

from __future__ import annotations

import io
import lzma
import zlib
from typing import TYPE_CHECKING

import py7zr
from py7zr.io import Py7zIO, WriterFactory

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext, MetaValue
from aptcatch.capture.formats.archive_common import Members
from aptcatch.capture.limits import LimitExceeded
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

_ERRORS = (py7zr.exceptions.ArchiveError, lzma.LZMAError, zlib.error, OSError, EOFError, ValueError, KeyError)
_FAIL_DECRYPT = (*_ERRORS, py7zr.exceptions.PasswordRequired)


class _BoundedWriter(Py7zIO):
    def __init__(self, factory: _BoundedFactory) -> None:
        self._factory = factory
        self._buf = io.BytesIO()

    def write(self, s: bytes | bytearray) -> int:
        self._factory.total += len(s)
        if self._buf.tell() + len(s) > self._factory.per_member or self._factory.total > self._factory.budget:
            raise LimitExceeded("7z member decompresses past the byte budget")
        return self._buf.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self._buf.getvalue()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._buf.tell()

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self._buf.tell()


class _BoundedFactory(WriterFactory):
    def __init__(self, per_member: int, budget: int) -> None:
        self.per_member = per_member
        self.budget = budget
        self.total = 0
        self.products: dict[str, _BoundedWriter] = {}

    def create(self, filename: str) -> Py7zIO:
        w = _BoundedWriter(self)
        self.products[filename] = w
        return w


def _open(data: bytes, password: str | None) -> py7zr.SevenZipFile:
    return py7zr.SevenZipFile(io.BytesIO(data), mode="r", password=password)


class SevenZipAnalyzer:
    name = "7z"
    types: frozenset[FileType] | None = frozenset({FileType.SEVENZIP})

    def analyze(self, ctx: ArtifactContext) -> None:
        members = Members(ctx, "7z")
        try:
            self._analyze(ctx, members)
        finally:
            members.finish()

    def _analyze(self, ctx: ArtifactContext, members: Members) -> None:
        header_pw: str | None = None
        sz: py7zr.SevenZipFile | None = None
        try:
            sz = _open(ctx.data, None)
        except py7zr.exceptions.PasswordRequired:
            for pw in ctx.passwords:
                try:
                    sz = _open(ctx.data, pw)
                except _FAIL_DECRYPT:
                    continue
                header_pw = pw
                break
            if sz is None:
                ctx.error("encrypted", "7z headers are encrypted and no known password opens them")
                ctx.finding("archive.encrypted", "7z with encrypted headers (member names hidden)")
                return
            ctx.meta("encrypted_headers", True)
        except _ERRORS as exc:
            ctx.error("parse", f"7z: {type(exc).__name__}: {exc}"[:300])
            return
        if sz is None:
            return
        with sz:
            infos = [i for i in sz.list() if not i.is_directory]
            encrypted = bool(sz.needs_password())
        ctx.meta("encrypted", encrypted)
        targets: list[str] = []
        metas: dict[str, dict[str, MetaValue]] = {}
        declared_total = 0
        lim = ctx.limits
        for info in infos:
            name = str(info.filename)
            members.note(name)
            if len(targets) >= lim.max_children:
                continue
            size = int(info.uncompressed or 0)
            meta: dict[str, MetaValue] = {
                "archive_member": name,
                "size": size,
                "compressed_size": int(info.compressed) if info.compressed is not None else None,
                "mtime": info.creationtime.isoformat() if info.creationtime else None,
                "encrypted": encrypted,
            }
            try:
                if size > lim.max_child_size:
                    raise LimitExceeded(f"declared size {size} is over the child size limit")
                if info.compressed:
                    ctx.check_ratio(name, int(info.compressed), size)
                ctx.check_ratio(name, len(ctx.data), declared_total + size)
                if declared_total + size > lim.max_total_bytes:
                    raise LimitExceeded("declared sizes exceed the item extraction budget")
            except LimitExceeded as exc:
                members.bomb(name, exc)
                continue
            declared_total += size
            targets.append(name)
            metas[name] = meta
        if len(infos) > lim.max_children:
            ctx.error("limit", f"more than {lim.max_children} members: the rest are not analysed")
        if not targets:
            return
        candidates: list[str | None] = [header_pw] if header_pw or not encrypted else list(ctx.passwords)
        budget = min(lim.max_total_bytes, max(declared_total, 1) + 1024)
        for cand in candidates:
            factory = _BoundedFactory(lim.max_child_size, budget)
            try:
                with _open(ctx.data, cand) as sz2:
                    sz2.extract(targets=targets, factory=factory)
            except LimitExceeded as exc:
                members.bomb(targets[0] if len(targets) == 1 else "(solid block)", exc)
                return
            except _FAIL_DECRYPT as exc:
                if encrypted and not header_pw:
                    continue
                ctx.error("parse", f"7z data: {type(exc).__name__}: {exc}"[:300])
                factory.products.clear()
            if encrypted and cand is not None:
                members.used_password(cand)
            for name in targets:
                w = factory.products.get(name)
                if w is not None:
                    members.emit(name, w.read(), metas[name])
            return
        for name in targets:
            members.encrypted(name)


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [SevenZipAnalyzer()]
