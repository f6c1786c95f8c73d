"""Equation Editor 3.0 objects (EQNEDT32.EXE): CVE-2017-11882, CVE-2018-0802, CVE-2018-0798.

Handles compound files that are Equation objects (root CLSID {0002CE02-…} or an "Equation Native"
stream; opened with olefile) and raw "Equation Native" stream bytes (``FileType.MTEF``, as the OLE and
RTF analysers hand them over). The stream is an ``EQNOLEFILEHDR`` followed by MTEF v2/v3 records.

Why hand-written: no maintained Python library parses MTEF, and the checks need the exact byte layout
the vulnerable program reads: a FONT record's NUL-terminated name is copied into a small stack buffer
(overflowing at 0x24/0x28 bytes: CVE-2017-11882, whose return address sits 0x2C bytes in; the longer
CVE-2018-0802 variant reaches a deeper frame), and a MATRIX record's row/column counts size a copy of
partition bits into a fixed buffer (CVE-2018-0798). The walk is bounded by the data and a record cap.

Equation Editor was removed from Office in January 2018 and has no legitimate modern use, so every
such object in a lure is reported high even when no overflow is recognised.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import olefile

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.types import FileType
from aptcatch.model.scan import JSONScalar

if TYPE_CHECKING:
    from aptcatch.capture.analyzer import Analyzer
    from aptcatch.capture.engine import ScanConfig

MAX_RECORDS = 100_000
NORMAL_FONT_NAME = 0x20  # longest face name Equation Editor writes (LOGFONT lfFaceName is 32 bytes)
RET_11882 = 0x2C  # name bytes that reach the saved return address in the CVE-2017-11882 frame
LONG_0802 = 0x80  # names this long reach the deeper CVE-2018-0802 frame
MATRIX_MAX = 30  # the editor's matrix dialog tops out far below this

RECORD_NAMES = {
    0: "END", 1: "LINE", 2: "CHAR", 3: "TMPL", 4: "PILE", 5: "MATRIX", 6: "EMBELL", 7: "RULER",
    8: "FONT", 9: "SIZE", 10: "FULL", 11: "SUB", 12: "SUB2", 13: "SYM", 14: "SUBSYM",
}  # fmt: skip
_STRINGS = re.compile(rb"[\x20-\x7e]{6,}")
_SUSPICIOUS = re.compile(
    r"(?i)cmd(\.exe)?\s*/[ck]|powershell|mshta|regsvr32|rundll32|certutil|bitsadmin|wscript|cscript|"
    r"%te?mp%|%appdata%|\\temp\\|https?://|\.exe\b|\.dll\b|\.hta\b|\.sct\b|winexec|urldownloadtofile|"
    r"loadlibrary|getprocaddress"
)


@dataclass
class FontRecord:
    offset: int
    tface: int
    style: int
    name: bytes
    terminated: bool


@dataclass
class MtefInfo:
    header: dict[str, int] = field(default_factory=dict)
    mtef_offset: int = 0
    version: int = 0
    platform: int = 0
    product: int = 0
    product_version: int = 0
    product_subversion: int = 0
    records: int = 0
    record_types: dict[str, int] = field(default_factory=dict)
    fonts: list[FontRecord] = field(default_factory=list)
    matrices: list[tuple[int, int, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _nudge(data: bytes, pos: int, opts: int) -> int:
    if opts & 0x8:
        if data[pos : pos + 2] == b"\x80\x80":
            return pos + 6
        return pos + 2
    return pos


def parse_equation_native(data: bytes) -> MtefInfo:
    """Parse EQNOLEFILEHDR (if present) and walk the MTEF records within bounds."""
    info = MtefInfo()
    end = len(data)
    pos = 0
    if len(data) >= 0x1C and data[0] == 0x1C and data[1] == 0:
        cb_hdr, version, cf, cb_object = struct.unpack_from("<HIHI", data, 0)
        info.header = {"cbHdr": cb_hdr, "version": version, "cf": cf, "cbObject": cb_object}
        pos = cb_hdr
        if cb_object and cb_hdr + cb_object < end:
            end = cb_hdr + cb_object
        elif cb_hdr + cb_object > end:
            info.problems.append(f"cbObject {cb_object} runs past the {len(data) - cb_hdr} bytes present")
    elif data[:1] not in (b"\x02", b"\x03"):
        info.problems.append("neither an EQNOLEFILEHDR nor an MTEF header")
        return info
    info.mtef_offset = pos
    if pos + 5 > len(data):
        info.problems.append("truncated before the MTEF header")
        return info
    info.version, info.platform, info.product, info.product_version, info.product_subversion = data[
        pos : pos + 5
    ]
    if info.version not in (2, 3):
        info.problems.append(f"MTEF version {info.version} (Equation Editor 3.0 reads versions 2 and 3)")
        return info
    _walk(data, pos + 5, end, info)
    return info


def _walk(data: bytes, pos: int, end: int, info: MtefInfo) -> None:
    while pos < end and info.records < MAX_RECORDS:
        tag = data[pos]
        rtype, opts = tag & 0x0F, tag >> 4
        name = RECORD_NAMES.get(rtype)
        if name is None:
            info.problems.append(f"unknown record tag {tag:#04x} at {pos:#x}")
            return
        info.records += 1
        info.record_types[name] = info.record_types.get(name, 0) + 1
        start = pos
        pos += 1
        if rtype == 8:  # FONT: tface, style, NUL-terminated name
            nul = data.find(b"\x00", pos + 2, end)
            stop = end if nul < 0 else nul
            if len(info.fonts) < 64:
                name_bytes = data[pos + 2 : stop]
                info.fonts.append(
                    FontRecord(
                        start,
                        data[pos] if pos < end else 0,
                        data[pos + 1] if pos + 1 < end else 0,
                        name_bytes,
                        nul >= 0,
                    )
                )
            pos = stop + 1
        elif rtype in (1, 4):  # LINE / PILE
            pos = _nudge(data, pos, opts)
            if rtype == 4:
                pos += 2
            if rtype == 1 and opts & 0x4:
                pos += 1
            if opts & 0x2 and pos < end:  # inline RULER
                pos += 1 + 3 * data[pos]
        elif rtype == 2 or rtype == 3:  # CHAR: typeface, 16-bit character
            pos = _nudge(data, pos, opts) + 3
        elif rtype == 5:  # MATRIX: valign, h_just, v_just, rows, cols, partitions
            pos = _nudge(data, pos, opts)
            if pos + 5 > end:
                info.problems.append(f"MATRIX record truncated at {start:#x}")
                return
            rows, cols = data[pos + 3], data[pos + 4]
            if len(info.matrices) < 64:
                info.matrices.append((start, rows, cols))
            pos += 5 + ((rows + 1) * 2 + 7) // 8 + ((cols + 1) * 2 + 7) // 8
        elif rtype == 6:  # EMBELL
            pos = _nudge(data, pos, opts) + 1
        elif rtype == 7:  # RULER
            pos += 1 + 3 * (data[pos] if pos < end else 0)
        elif rtype == 9:  # SIZE
            lsize = data[pos] if pos < end else 0
            pos += 3 if lsize == 101 else 4 if lsize == 100 else 2
    if pos > end and info.records:
        info.problems.append(f"last record runs {pos - end} bytes past the end of the MTEF data")


@dataclass
class Verdict:
    finding: str
    detail: str


def classify(info: MtefInfo) -> list[Verdict]:
    out: list[Verdict] = []
    for f in info.fonts:
        n = len(f.name)
        if n <= NORMAL_FONT_NAME and f.terminated:
            continue
        what = f"FONT record at {f.offset:#x}: {n}-byte face name" + (
            "" if f.terminated else " (unterminated)"
        )
        if n >= LONG_0802:
            out.append(Verdict("equation.font_overflow_0802", what))
        elif n >= RET_11882:
            out.append(Verdict("equation.font_overflow_11882", what))
        else:
            out.append(Verdict("equation.malformed_mtef", what + " overflows the face-name buffer"))
    for off, rows, cols in info.matrices:
        if rows > MATRIX_MAX or cols > MATRIX_MAX:
            out.append(Verdict("equation.matrix_overflow_0798", f"MATRIX record at {off:#x}: {rows}×{cols}"))
    if not out and info.problems:
        out.append(Verdict("equation.malformed_mtef", "; ".join(info.problems)[:300]))
    return out


def payload_strings(data: bytes, cap: int = 40) -> list[str]:
    out: list[str] = []
    for m in _STRINGS.finditer(data[: 1 << 20]):
        s = m.group().decode("ascii").strip()
        if s and s not in out:
            out.append(s[:300])
            if len(out) >= cap:
                break
    return out


class EquationAnalyzer:
    name = "equation"
    types: frozenset[FileType] | None = frozenset({FileType.OLE_EQUATION, FileType.MTEF})

    def analyze(self, ctx: ArtifactContext) -> None:
        if ctx.type is FileType.MTEF:
            ctx.finding("equation.object", "raw Equation Native (MTEF) data")
            self._native(ctx, ctx.data)
            return
        ctx.finding("equation.object", "compound file with the Equation Editor 3.0 class")
        native = self._from_cfb(ctx)
        if native is None:
            at = ctx.data.find(b"\x1c\x00\x00\x00\x02\x00")
            if at < 0:
                return
            native = ctx.data[at:]
        self._native(ctx, native)

    @staticmethod
    def _from_cfb(ctx: ArtifactContext) -> bytes | None:
        try:
            ole = olefile.OleFileIO(io.BytesIO(ctx.data))
        except Exception as exc:
            ctx.error("parse", f"compound file unreadable: {exc}"[:300])
            return None
        try:
            streams = ["/".join(p) for p in ole.listdir(streams=True, storages=False)]
            ctx.meta("ole_streams", list[JSONScalar](streams[:50]))
            if ole.root is not None and ole.root.clsid:
                ctx.meta("ole_root_clsid", ole.root.clsid)
            for wanted in ("equation native", "\x01ole10native"):
                for s in streams:
                    if s.lower().rsplit("/", 1)[-1] == wanted:
                        size = ole.get_size(s)
                        if size > ctx.limits.max_child_size:
                            ctx.error("limit", f"stream {s!r} is {size} bytes")
                            return None
                        with ole.openstream(s) as fh:
                            raw = bytes(fh.read())
                        if wanted == "\x01ole10native" and len(raw) > 4:
                            raw = raw[4:]
                        return raw
            ctx.error("parse", "no 'Equation Native' stream in the Equation object")
            return None
        except Exception as exc:
            ctx.error("parse", f"compound file unreadable: {exc}"[:300])
            return None
        finally:
            ole.close()

    def _native(self, ctx: ArtifactContext, native: bytes) -> None:
        info = parse_equation_native(native)
        for key, value in info.header.items():
            ctx.meta(f"eqn_{key}", value)
        if info.version:
            ctx.meta("mtef_version", info.version)
            ctx.meta(
                "mtef_platform",
                "Windows" if info.platform == 1 else "Macintosh" if info.platform == 0 else info.platform,
            )
            ctx.meta("mtef_product", info.product)
            ctx.meta("mtef_product_version", f"{info.product_version}.{info.product_subversion}")
        ctx.meta("mtef_records", info.records)
        if info.record_types:
            types: list[JSONScalar] = [f"{k}={v}" for k, v in sorted(info.record_types.items())]
            ctx.meta("mtef_record_types", types)
        if info.fonts:
            lengths: list[JSONScalar] = [len(f.name) for f in info.fonts[:20]]
            ctx.meta("mtef_font_name_lengths", lengths)
        if info.matrices:
            sizes: list[JSONScalar] = [f"{r}x{c}" for _, r, c in info.matrices[:20]]
            ctx.meta("mtef_matrices", sizes)
        if info.problems:
            ctx.meta("mtef_problems", list[JSONScalar](info.problems[:10]))
        for v in classify(info):
            ctx.finding(v.finding, v.detail)
        overflow = b"\x00".join(f.name for f in info.fonts if len(f.name) > NORMAL_FONT_NAME)
        strings = payload_strings(overflow + b"\x00" + native[info.mtef_offset :])
        if strings:
            ctx.meta("equation_strings", list[JSONScalar](strings[:20]))
            text = "\n".join(strings)
            ctx.indicators_from_text(text, "Equation Editor payload")
            hits = [s for s in strings if _SUSPICIOUS.search(s)]
            if hits:
                ctx.finding("equation.payload_strings", "; ".join(hits[:5]))


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [EquationAnalyzer()]
