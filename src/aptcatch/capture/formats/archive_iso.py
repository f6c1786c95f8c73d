"""Disk images (ISO9660 with Joliet/Rock Ridge, UDF bridge) through pycdlib, libarchive when pycdlib
refuses the image; CAB (also OneNote ``.onepkg`` packages) through libarchive.

Images are mailed because Windows does not carry the Mark-of-the-Web over to the files inside
(T1553.005); that is raised when the image holds something that runs code or was itself delivered
inside a mail or archive.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
from typing import TYPE_CHECKING, Any

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext, MetaValue
from aptcatch.capture.formats.archive_common import (
    IMAGE_EXT,
    RUNS_CODE_EXT,
    Members,
    ext_of,
    read_libarchive,
)
from aptcatch.capture.limits import LimitExceeded
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

MAX_WALK = 20_000
_CARRIERS = frozenset({FileType.EML, FileType.MSG, FileType.ZIP, FileType.RAR, FileType.SEVENZIP})


def _facade(iso: pycdlib.PyCdlib) -> tuple[str, str]:
    if iso.has_udf():
        return "udf", "udf_path"
    if iso.has_joliet():
        return "joliet", "joliet_path"
    if iso.has_rock_ridge():
        return "rock-ridge", "rr_path"
    return "iso9660", "iso_path"


def _record_time(rec: Any) -> str | None:
    d: Any = getattr(rec, "date", None)
    if d is None:
        return None
    try:
        return (
            f"{1900 + d.years_since_1900:04d}-{d.month:02d}-{d.day_of_month:02d}T"
            f"{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        )
    except (AttributeError, TypeError, ValueError):
        return None


class IsoAnalyzer:
    name = "iso"
    types: frozenset[FileType] | None = frozenset({FileType.ISO})

    def analyze(self, ctx: ArtifactContext) -> None:
        members = Members(ctx, "iso")
        iso = pycdlib.PyCdlib()
        try:
            iso.open_fp(io.BytesIO(ctx.data))
        except (PyCdlibException, OSError, ValueError, IndexError, KeyError) as exc:
            ctx.error("parse", f"pycdlib: {exc}; reading with libarchive"[:300])
            try:
                read_libarchive(ctx, members, "iso9660")
            except Exception as exc2:  # libarchive.ArchiveError and friends
                ctx.error("parse", f"libarchive: {exc2}"[:300])
            self._finish(ctx, members)
            return
        try:
            self._walk(ctx, iso, members)
        finally:
            with contextlib.suppress(PyCdlibException):
                iso.close()
            self._finish(ctx, members)

    def _walk(self, ctx: ArtifactContext, iso: pycdlib.PyCdlib, members: Members) -> None:
        facade, key = _facade(iso)
        ctx.meta("filesystem", facade)
        pvd = getattr(iso, "pvd", None)
        if pvd is not None:
            for attr, meta_key in (
                ("volume_identifier", "volume_id"),
                ("application_identifier", "application"),
            ):
                raw = getattr(pvd, attr, b"")
                text = getattr(raw, "text", raw)
                if isinstance(text, bytes) and text.strip(b" \x00"):
                    ctx.meta(meta_key, text.strip(b" \x00").decode("latin-1"))
        walked = 0
        for dirname, _dirs, files in iso.walk(**{key: "/"}):
            for fname in files:
                walked += 1
                if walked > MAX_WALK:
                    ctx.error("limit", f"over {MAX_WALK} image entries: stopped")
                    return
                path = posixpath.join(dirname, fname)
                name = path.lstrip("/")
                members.note(name)
                if members.full:
                    continue
                meta: dict[str, MetaValue] = {"archive_member": name}
                try:
                    rec = iso.get_record(**{key: path})
                    meta["size"] = int(rec.get_data_length())
                    meta["mtime"] = _record_time(rec)
                    if int(rec.get_data_length()) > ctx.limits.max_child_size:
                        raise LimitExceeded(f"declared size {rec.get_data_length()} is over the child limit")
                    with iso.open_file_from_iso(**{key: path}) as fh:
                        data = ctx.read_member(fh)
                except LimitExceeded as exc:
                    members.bomb(name, exc)
                    continue
                except (PyCdlibException, OSError, ValueError) as exc:
                    ctx.error("parse", f"{name!r}: {exc}"[:300])
                    continue
                members.emit(name, data, meta)

    def _finish(self, ctx: ArtifactContext, members: Members) -> None:
        members.finish()
        runs = [n for n in members.names if ext_of(n) in RUNS_CODE_EXT | IMAGE_EXT | {"dll"}]
        if runs:
            ctx.finding("archive.disk_image_delivery", "image holds " + ", ".join(repr(n) for n in runs[:5]))
        elif ctx.parent_type in _CARRIERS:
            ctx.finding("archive.disk_image_delivery", f"disk image delivered inside {ctx.parent_type}")


class CabAnalyzer:
    name = "cab"
    types: frozenset[FileType] | None = frozenset({FileType.CAB})

    def analyze(self, ctx: ArtifactContext) -> None:
        members = Members(ctx, "cab")
        try:
            read_libarchive(ctx, members, "cab")
        except LimitExceeded:
            raise
        except Exception as exc:  # libarchive.ArchiveError on damaged cabinets
            ctx.error("parse", f"cab: {exc}"[:300])
        finally:
            members.finish()


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [IsoAnalyzer(), CabAnalyzer()]
