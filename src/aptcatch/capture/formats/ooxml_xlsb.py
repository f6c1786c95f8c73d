"""Minimal BIFF12 (.xlsb) reader: records, sheet bundles, defined names, formula cells → formula text.

Hand-written because no maintained Python library decodes BIFF12 formulas: pyxlsb reads cell values
only, oletools/olevba's XLM support (plugin_biff) is BIFF8-only, and XLMMacroDeobfuscator pulls in a
whole emulator. Only what triage needs is decoded — the record stream ([MS-XLSB] 2.1.4), BrtBundleSh,
BrtName, BrtSupBook and the formula cells BrtFmlaString/Num/Bool/Error with their parsed-expression
tokens (Ptg) turned back into infix text, so function names (EXEC, CALL, REGISTER, FORMULA.FILL …) and
string literals can be read. An unknown token ends the decoding of that one formula.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

MAX_RECORDS = 2_000_000
MAX_CELLS = 200_000

BRT_ROW_HDR = 0x00
BRT_CELL_ST = 0x06
BRT_FMLA_STRING = 0x08
BRT_FMLA_NUM = 0x09
BRT_FMLA_BOOL = 0x0A
BRT_FMLA_ERROR = 0x0B
BRT_NAME = 0x27
BRT_BUNDLE_SH = 0x9C
BRT_SUP_BOOK = 0x168

# Function ids from [MS-XLS] 2.5.198.17 Ftab and 2.5.198.16 Cetab (0x8000 | command id); only the ones
# worth reading in a macro, the rest print as FUNC_0x....
FUNCTIONS: dict[int, tuple[str, int]] = {
    0x0000: ("COUNT", -1), 0x0001: ("IF", -1), 0x0003: ("ISERROR", 1), 0x0004: ("SUM", -1),
    0x0006: ("MIN", -1), 0x0007: ("MAX", -1), 0x0008: ("ROW", -1), 0x0009: ("COLUMN", -1),
    0x0018: ("ABS", 1), 0x0019: ("INT", 1), 0x001B: ("ROUND", 2), 0x001E: ("REPT", 2),
    0x001F: ("MID", 3), 0x0020: ("LEN", 1), 0x0021: ("VALUE", 1), 0x0022: ("TRUE", 0),
    0x0023: ("FALSE", 0), 0x0024: ("AND", -1), 0x0025: ("OR", -1), 0x0026: ("NOT", 1),
    0x0027: ("MOD", 2), 0x0030: ("TEXT", 2), 0x0035: ("GOTO", 1), 0x0036: ("HALT", -1),
    0x0037: ("RETURN", -1), 0x0043: ("DAY", 1), 0x004A: ("NOW", 0), 0x0052: ("SEARCH", -1),
    0x0054: ("ERROR", -1), 0x0057: ("ECHO", -1), 0x0058: ("SET.NAME", -1), 0x0059: ("CALLER", 0),
    0x005D: ("DOCUMENTS", -1), 0x006A: ("GET.FORMULA", 1), 0x006B: ("GET.NAME", -1),
    0x006C: ("SET.VALUE", 2), 0x006E: ("EXEC", -1), 0x006F: ("CHAR", 1), 0x0070: ("LOWER", 1),
    0x0071: ("UPPER", 1), 0x0073: ("LEFT", -1), 0x0074: ("RIGHT", -1), 0x0076: ("TRIM", 1),
    0x0078: ("SUBSTITUTE", -1), 0x0079: ("CODE", 1), 0x007B: ("DIRECTORY", -1), 0x007C: ("FIND", -1),
    0x0080: ("ISNUMBER", 1), 0x0084: ("FOPEN", -1), 0x0085: ("FCLOSE", 1), 0x0089: ("FWRITELN", 2),
    0x008A: ("FWRITE", 2), 0x0094: ("INDIRECT", -1), 0x0095: ("REGISTER", -1), 0x0096: ("CALL", -1),
    0x00A6: ("FILES", -1), 0x00AB: ("FOR", -1), 0x00AC: ("WHILE", 1), 0x00AE: ("NEXT", 0),
    0x00B2: ("EXECUTE", -1), 0x00B9: ("GET.CELL", -1), 0x00BA: ("GET.WORKSPACE", 1),
    0x00BB: ("GET.WINDOW", -1), 0x00BC: ("GET.DOCUMENT", -1), 0x00DF: ("ELSE", 0),
    0x00E0: ("ELSE.IF", 1), 0x00E1: ("END.IF", 0), 0x00E2: ("FOR.CELL", -1), 0x00FF: ("", -1),
    0x0101: ("EVALUATE", 1), 0x010B: ("REGISTER.ID", -1), 0x0150: ("CONCATENATE", -1),
    0x8001: ("OPEN", -1), 0x8006: ("FILE.DELETE", -1), 0x8010: ("CLOSE", -1), 0x8011: ("RUN", -1),
    0x803D: ("DEFINE.NAME", -1), 0x805D: ("HIDE", 0), 0x805E: ("UNHIDE", -1), 0x8060: ("FORMULA", -1),
    0x8061: ("FORMULA.FILL", -1), 0x8062: ("FORMULA.ARRAY", -1), 0x806D: ("SELECT", -1),
    0x8076: ("ALERT", -1), 0x8083: ("SEND.KEYS", -1), 0x8094: ("ON.TIME", -1), 0x8095: ("WAIT", -1),
    0x80AD: ("APP.MAXIMIZE", 0), 0x817F: ("WORKBOOK.HIDE", -1), 0x8180: ("WORKBOOK.UNHIDE", -1),
}  # fmt: skip

_BINOPS = {
    0x03: "+", 0x04: "-", 0x05: "*", 0x06: "/", 0x07: "^", 0x08: "&", 0x09: "<", 0x0A: "<=",
    0x0B: "=", 0x0C: ">=", 0x0D: ">", 0x0E: "<>", 0x0F: " ", 0x10: ",", 0x11: ":",
}  # fmt: skip
_ERRORS = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?", 0x24: "#NUM!"}


class Biff12Error(ValueError):
    pass


def records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(record type, payload) for each BIFF12 record; stops quietly at a truncated tail."""
    pos, n, end = 0, 0, len(data)
    while pos < end and n < MAX_RECORDS:
        n += 1
        b = data[pos]
        pos += 1
        rtype = b & 0x7F
        if b & 0x80:
            if pos >= end:
                return
            rtype |= (data[pos] & 0x7F) << 7
            pos += 1
        size, shift = 0, 0
        for _ in range(4):
            if pos >= end:
                return
            b = data[pos]
            pos += 1
            size |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if pos + size > end:
            return
        yield rtype, data[pos : pos + size]
        pos += size


def wide_string(buf: bytes, off: int) -> tuple[str | None, int]:
    """XLWideString / XLNullableWideString at ``off``: (text or None, next offset)."""
    if off + 4 > len(buf):
        raise Biff12Error("truncated string length")
    (cch,) = struct.unpack_from("<I", buf, off)
    off += 4
    if cch == 0xFFFFFFFF:
        return None, off
    if cch > 32767 or off + 2 * cch > len(buf):
        raise Biff12Error("bad string length")
    return buf[off : off + 2 * cch].decode("utf-16-le", "replace"), off + 2 * cch


@dataclass(frozen=True)
class SheetEntry:
    name: str
    rel_id: str
    state: str  # visible | hidden | veryHidden


def workbook_entries(data: bytes) -> tuple[list[SheetEntry], list[str]]:
    """Sheets (BrtBundleSh) and defined-name strings (BrtName) of ``xl/workbook.bin``."""
    sheets: list[SheetEntry] = []
    names: list[str] = []
    for rtype, rec in records(data):
        try:
            if rtype == BRT_BUNDLE_SH and len(rec) >= 12:
                hs = struct.unpack_from("<I", rec, 0)[0]
                rel, off = wide_string(rec, 8)
                name, _ = wide_string(rec, off)
                state = {0: "visible", 1: "hidden", 2: "veryHidden"}.get(hs, f"state{hs}")
                sheets.append(SheetEntry(name or "", rel or "", state))
            elif rtype == BRT_NAME and len(rec) >= 13:
                name, _ = wide_string(rec, 9)
                if name:
                    names.append(name)
        except Biff12Error:
            continue
    return sheets, names


def sup_books(data: bytes) -> list[tuple[int, list[str]]]:
    """(sbt, strings) of BrtSupBook records: sbt 0 = external workbook, 1 = DDE, 2 = OLE link."""
    out: list[tuple[int, list[str]]] = []
    for rtype, rec in records(data):
        if rtype != BRT_SUP_BOOK or len(rec) < 2:
            continue
        sbt = struct.unpack_from("<H", rec, 0)[0]
        strs: list[str] = []
        off = 2
        for _ in range(2):
            try:
                s, off = wide_string(rec, off)
            except Biff12Error:
                break
            strs.append(s or "")
        out.append((sbt, strs))
    return out


def col_name(col: int) -> str:
    out = ""
    col += 1
    while col > 0:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def _ref(row: int, colfield: int) -> str:
    col = colfield & 0x3FFF
    return f"{'' if colfield & 0x8000 else '$'}{col_name(col)}{'' if colfield & 0x4000 else '$'}{row + 1}"


def decode_formula(rgce: bytes) -> str:
    """Infix text of a BIFF12 parsed expression; partial (with '…') when a token is not understood."""
    stack: list[str] = []
    pos, end = 0, len(rgce)
    while pos < end:
        ptg = rgce[pos]
        pos += 1
        base = ptg & 0x1F if ptg >= 0x20 else ptg
        try:
            if 0x03 <= ptg <= 0x11:
                b = stack.pop()
                a = stack.pop()
                stack.append(f"{a}{_BINOPS[ptg]}{b}")
            elif ptg in (0x12, 0x13):
                stack.append(("+" if ptg == 0x12 else "-") + stack.pop())
            elif ptg == 0x14:
                stack.append(stack.pop() + "%")
            elif ptg == 0x15:
                stack.append(f"({stack.pop()})")
            elif ptg == 0x16:
                stack.append("")
            elif ptg == 0x17:
                (cch,) = struct.unpack_from("<H", rgce, pos)
                s = rgce[pos + 2 : pos + 2 + 2 * cch].decode("utf-16-le", "replace")
                pos += 2 + 2 * cch
                stack.append('"' + s.replace('"', '""') + '"')
            elif ptg == 0x19:
                kind = rgce[pos]
                (w,) = struct.unpack_from("<H", rgce, pos + 1)
                pos += 3
                if kind & 0x04:
                    pos += 2 * (w + 1)
                elif kind & 0x10:
                    stack.append(f"SUM({stack.pop()})")
            elif ptg == 0x1C:
                stack.append(_ERRORS.get(rgce[pos], "#ERR"))
                pos += 1
            elif ptg == 0x1D:
                stack.append("TRUE" if rgce[pos] else "FALSE")
                pos += 1
            elif ptg == 0x1E:
                stack.append(str(struct.unpack_from("<H", rgce, pos)[0]))
                pos += 2
            elif ptg == 0x1F:
                v = struct.unpack_from("<d", rgce, pos)[0]
                stack.append(str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v))
                pos += 8
            elif ptg == 0x01:
                pos += 4
                stack.append("<shared formula>")
            elif base == 0x01 and ptg >= 0x20:  # PtgFunc: fixed arity
                (fid,) = struct.unpack_from("<H", rgce, pos)
                pos += 2
                fname, arity = FUNCTIONS.get(fid, (f"FUNC_{fid:#x}", 1))
                arity = max(arity, 0) if arity >= 0 else 1
                args = [stack.pop() for _ in range(arity)][::-1]
                stack.append(f"{fname}({','.join(args)})")
            elif base == 0x02 and ptg >= 0x20:  # PtgFuncVar
                argc = rgce[pos] & 0x7F
                (tab,) = struct.unpack_from("<H", rgce, pos + 1)
                pos += 3
                args = [stack.pop() for _ in range(argc)][::-1]
                fname = FUNCTIONS.get(tab, (f"FUNC_{tab:#x}", -1))[0]
                if tab == 0x00FF and args:  # user-defined / registered function: name is arg 0
                    fname, args = args[0], args[1:]
                stack.append(f"{fname}({','.join(args)})")
            elif base == 0x03 and ptg >= 0x20:  # PtgName
                (idx,) = struct.unpack_from("<I", rgce, pos)
                pos += 4
                stack.append(f"NAME#{idx}")
            elif base in (0x04, 0x0A, 0x0C) and ptg >= 0x20:  # PtgRef / RefErr / RefN
                row, colf = struct.unpack_from("<IH", rgce, pos)
                pos += 6
                stack.append("#REF!" if base == 0x0A else _ref(row, colf))
            elif base in (0x05, 0x0B, 0x0D) and ptg >= 0x20:  # PtgArea / AreaErr / AreaN
                r1, r2, c1, c2 = struct.unpack_from("<IIHH", rgce, pos)
                pos += 12
                stack.append("#REF!" if base == 0x0B else f"{_ref(r1, c1)}:{_ref(r2, c2)}")
            elif base in (0x06, 0x07, 0x08) and ptg >= 0x20:  # PtgMemArea/Err/NoMem: subexpr follows
                pos += 6
            elif base == 0x09 and ptg >= 0x20:  # PtgMemFunc
                pos += 2
            elif base == 0x19 and ptg >= 0x20:  # PtgNameX
                _, idx = struct.unpack_from("<HI", rgce, pos)
                pos += 6
                stack.append(f"NAMEX#{idx}")
            elif base in (0x1A, 0x1C) and ptg >= 0x20:  # PtgRef3d / RefErr3d
                _, row, colf = struct.unpack_from("<HIH", rgce, pos)
                pos += 8
                stack.append("#REF!" if base == 0x1C else "'sheet'!" + _ref(row, colf))
            elif base in (0x1B, 0x1D) and ptg >= 0x20:  # PtgArea3d / AreaErr3d
                _, r1, r2, c1, c2 = struct.unpack_from("<HIIHH", rgce, pos)
                pos += 14
                stack.append("#REF!" if base == 0x1D else f"'sheet'!{_ref(r1, c1)}:{_ref(r2, c2)}")
            else:
                stack.append("…")
                break
        except (IndexError, struct.error):
            stack.append("…")
            break
    return "=" + "".join(stack) if len(stack) <= 1 else "=" + " ".join(stack)


@dataclass(frozen=True)
class Cell:
    ref: str
    formula: str | None
    value: str | None


def sheet_cells(data: bytes) -> list[Cell]:
    """Formula cells and string cells of a BIFF12 (macro)sheet part."""
    out: list[Cell] = []
    row = 0
    for rtype, rec in records(data):
        if len(out) >= MAX_CELLS:
            break
        if rtype == BRT_ROW_HDR and len(rec) >= 4:
            row = struct.unpack_from("<I", rec, 0)[0]
            continue
        if rtype not in (BRT_FMLA_STRING, BRT_FMLA_NUM, BRT_FMLA_BOOL, BRT_FMLA_ERROR, BRT_CELL_ST):
            continue
        if len(rec) < 8:
            continue
        col = struct.unpack_from("<I", rec, 0)[0] & 0x3FFF
        ref = f"{col_name(col)}{row + 1}"
        off = 8
        value: str | None = None
        try:
            if rtype in (BRT_FMLA_STRING, BRT_CELL_ST):
                value, off = wide_string(rec, off)
                if rtype == BRT_CELL_ST:
                    out.append(Cell(ref, None, value))
                    continue
            elif rtype == BRT_FMLA_NUM:
                off += 8
            else:
                off += 1
            off += 2  # grbitFlags
            (cce,) = struct.unpack_from("<I", rec, off)
            off += 4
            if cce > len(rec) - off:
                continue
            out.append(Cell(ref, decode_formula(rec[off : off + cce]), value))
        except (Biff12Error, struct.error):
            continue
    return out
