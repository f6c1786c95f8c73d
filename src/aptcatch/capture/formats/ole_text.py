"""Visible text of Word/Excel/PowerPoint binary documents, for lure language and theme analysis.

Hand-written because no maintained pure-Python library extracts text from the binary formats (oletools
does not; antiword/catdoc are external programs). Each walker is small and bounded, reads only what it
needs and gives up quietly on anything unexpected (text is a nice-to-have, never a verdict):

- Word 97+ (MS-DOC): FIB → Clx in the 0Table/1Table stream → piece table → characters from the
  WordDocument stream (8-bit cp1252 pieces or UTF-16LE pieces); field codes are dropped.
- Excel BIFF8 (MS-XLS): the shared string table (SST record and its CONTINUE records, with strings that
  change width at record boundaries).
- PowerPoint (MS-PPT): TextCharsAtom (UTF-16LE) and TextBytesAtom (8-bit) records of the
  "PowerPoint Document" stream, containers entered in place.
"""

from __future__ import annotations

import re
import struct
from typing import Any

MAX_CHARS = 100_000
MAX_RECORDS = 200_000


class FormatProblem(ValueError):
    """The stream structure is inconsistent (what a fuzzed or tampered file looks like)."""


def _clean(text: str) -> str:
    text = re.sub(r"\x13[^\x13\x14\x15]*\x14", "", text)  # field code, keep the result
    text = re.sub(r"\x13[^\x13\x14\x15]*\x15", "", text)
    text = text.replace("\r", "\n").replace("\x07", "\t").replace("\x0b", "\n").replace("\x0c", "\n")
    text = re.sub(r"[\x00-\x08\x0e-\x1f\x15]", "", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def field_codes(raw: str) -> list[str]:
    """Field instructions (between the 0x13 begin and the 0x14 separator / 0x15 end marks) of raw
    Word text; a nested field's instruction is cut at the inner begin mark."""
    out: list[str] = []
    for m in re.finditer(r"\x13([^\x13\x14\x15]*)", raw):
        instr = m.group(1).strip()
        if instr:
            out.append(instr[:2000])
        if len(out) >= 1000:
            break
    return out


def doc_text(word: bytes, table0: bytes | None, table1: bytes | None) -> str:
    """Text of a Word 97+ document from its WordDocument and table streams ("" when not readable)."""
    return _clean(doc_raw(word, table0, table1))[:MAX_CHARS]


def doc_raw(word: bytes, table0: bytes | None, table1: bytes | None) -> str:
    """Characters of a Word 97+ document as stored, field marks included."""
    if len(word) < 0x1AA:
        raise FormatProblem(f"WordDocument stream of {len(word)} bytes is shorter than a Word 97 FIB")
    if struct.unpack_from("<H", word, 0)[0] != 0xA5EC:
        raise FormatProblem("WordDocument stream lacks the FIB signature 0xA5EC")
    flags = struct.unpack_from("<H", word, 0x0A)[0]
    if flags & 0x0100:  # fEncrypted
        return ""
    table = table1 if flags & 0x0200 else table0
    if not table:
        raise FormatProblem("the table stream named by the FIB is missing")
    fc_clx, lcb_clx = struct.unpack_from("<II", word, 0x1A2)
    if lcb_clx == 0 or fc_clx + lcb_clx > len(table):
        raise FormatProblem(
            f"piece table at {fc_clx}+{lcb_clx} lies outside the {len(table)}-byte table stream"
        )
    clx = table[fc_clx : fc_clx + lcb_clx]
    pos = 0
    while pos < len(clx) and clx[pos] == 0x01:  # Prc entries
        if pos + 3 > len(clx):
            return ""
        pos += 3 + struct.unpack_from("<h", clx, pos + 1)[0]
    if pos + 5 > len(clx) or clx[pos] != 0x02:
        return ""
    lcb = struct.unpack_from("<I", clx, pos + 1)[0]
    plc = clx[pos + 5 : pos + 5 + lcb]
    n = (len(plc) - 4) // 12
    if n <= 0:
        return ""
    cps = struct.unpack_from(f"<{n + 1}I", plc, 0)
    parts: list[str] = []
    total = 0
    for i in range(min(n, 100_000)):
        count = cps[i + 1] - cps[i]
        if count <= 0:
            continue
        fc = struct.unpack_from("<I", plc, 4 * (n + 1) + 8 * i + 2)[0]
        if fc & 0x40000000:
            start = (fc & 0x3FFFFFFF) // 2
            piece = word[start : start + count].decode("cp1252", "replace")
        else:
            piece = word[fc : fc + 2 * count].decode("utf-16-le", "replace")
        parts.append(piece)
        total += len(piece)
        if total >= MAX_CHARS:
            break
    return "".join(parts)


class _Chunks:
    """Reads across an SST record and its CONTINUE records."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.ci = 0
        self.pos = 0

    def _roll(self) -> bool:
        while self.ci < len(self.chunks) and self.pos >= len(self.chunks[self.ci]):
            self.ci += 1
            self.pos = 0
        return self.ci < len(self.chunks)

    def read(self, n: int) -> bytes:
        out = b""
        while len(out) < n and self._roll():
            c = self.chunks[self.ci]
            take = c[self.pos : self.pos + n - len(out)]
            self.pos += len(take)
            out += take
        if len(out) < n:
            raise EOFError
        return out

    def skip(self, n: int) -> None:
        self.read(n)

    def chars(self, count: int, high: bool) -> str:
        out: list[str] = []
        while count > 0:
            if self.ci >= len(self.chunks):
                raise EOFError
            c = self.chunks[self.ci]
            width = 2 if high else 1
            n = min(count, (len(c) - self.pos) // width)
            if n <= 0:  # boundary inside a string: the next record starts with a new flags byte
                self.ci += 1
                self.pos = 0
                if self.ci >= len(self.chunks) or not self.chunks[self.ci]:
                    raise EOFError
                high = bool(self.chunks[self.ci][0] & 1)
                self.pos = 1
                continue
            raw = c[self.pos : self.pos + n * width]
            self.pos += n * width
            out.append(raw.decode("utf-16-le" if high else "latin-1", "replace"))
            count -= n
        return "".join(out)


def _sst(chunks: list[bytes]) -> list[str]:
    r = _Chunks(chunks)
    strings: list[str] = []
    total = 0
    try:
        _cst, unique = struct.unpack("<II", r.read(8))
        for _ in range(min(unique, 1_000_000)):
            cch, flags = struct.unpack("<HB", r.read(3))
            runs = struct.unpack("<H", r.read(2))[0] if flags & 0x08 else 0
            ext = struct.unpack("<I", r.read(4))[0] if flags & 0x04 else 0
            s = r.chars(cch, bool(flags & 1))
            r.skip(4 * runs + ext)
            strings.append(s)
            total += len(s)
            if total >= MAX_CHARS:
                break
    except (EOFError, struct.error):
        pass
    return strings


def xls_text(workbook: bytes) -> str:
    """Shared strings of a BIFF8 workbook ("" for BIFF5, encrypted or unreadable ones)."""
    pos, n = 0, 0
    chunks: list[bytes] | None = None
    sst_done = False  # the walk goes on to the end: a record past the stream's end is reported
    while pos + 4 <= len(workbook) and n < MAX_RECORDS:
        rtype, rlen = struct.unpack_from("<HH", workbook, pos)
        if pos + 4 + rlen > len(workbook):
            raise FormatProblem(
                f"BIFF record 0x{rtype:04X} at {pos} runs past the end of the Workbook stream"
            )
        body = workbook[pos + 4 : pos + 4 + rlen]
        pos += 4 + rlen
        n += 1
        if rtype == 0x002F:  # FILEPASS: the rest is encrypted
            return ""
        if sst_done:
            continue
        if chunks is not None:
            if rtype == 0x003C:
                chunks.append(body)
                continue
            sst_done = True
            continue
        if rtype == 0x00FC:
            chunks = [body]
    if not chunks:
        return ""
    return "\n".join(s for s in _sst(chunks) if s.strip())[:MAX_CHARS]


def ppt_text(stream: bytes) -> str:
    """Slide text of a PowerPoint document stream."""
    parts: list[str] = []
    pos, n, total = 0, 0, 0
    while pos + 8 <= len(stream) and n < MAX_RECORDS and total < MAX_CHARS:
        ver_inst, rtype, rlen = struct.unpack_from("<HHI", stream, pos)
        n += 1
        if ver_inst & 0x0F == 0x0F:  # container: its children follow in place
            pos += 8
            continue
        if pos + 8 + rlen > len(stream):
            raise FormatProblem(f"PowerPoint record 0x{rtype:04X} at {pos} runs past the end of the stream")
        body = stream[pos + 8 : pos + 8 + rlen]
        pos += 8 + rlen
        if rtype == 0x0FA0:
            s = body.decode("utf-16-le", "replace")
        elif rtype == 0x0FA8:
            s = body.decode("latin-1", "replace")
        else:
            continue
        if s.startswith(("Click to edit Master", "Click to edit the outline")) or not s.strip():
            continue
        parts.append(s.replace("\r", "\n").replace("\x0b", "\n"))
        total += len(s)
    return "\n".join(parts)[:MAX_CHARS]


def extract(ole: Any) -> tuple[str, list[str]]:
    """Visible text of an opened compound file by format ("" when it is none of the three), and the
    Word field instructions (DDE, INCLUDETEXT, HYPERLINK ...)."""

    def stream(name: str) -> bytes | None:
        if not ole.exists(name):
            return None
        if ole.get_size(name) > 64 * 1024 * 1024:
            return None
        data: bytes = ole.openstream(name).read()
        return data

    word = stream("WordDocument")
    if word is not None:
        raw = doc_raw(word, stream("0Table"), stream("1Table"))
        return _clean(raw)[:MAX_CHARS], field_codes(raw)
    book = stream("Workbook")
    if book is not None:
        return xls_text(book), []
    ppt = stream("PowerPoint Document")
    if ppt is not None:
        return ppt_text(ppt), []
    return "", []
