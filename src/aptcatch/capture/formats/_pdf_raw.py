"""Tolerant PDF object scanner over raw bytes: the second source of the PDF analyser.

Why a hand-written scanner beside pypdf: malicious PDFs are often deliberately malformed (broken or
missing xref tables, wrong /Length values, objects that no trailer reaches, incremental updates that
hide an earlier object, names obfuscated as ``/J#61vaScript``). pypdf (even with ``strict=False``)
either refuses such files or silently normalises them, so it cannot tell us that obfuscation was used
nor see orphan objects. This module walks every ``N G obj … endobj`` it finds in the bytes (and the
objects packed inside ``/ObjStm`` streams), keeping each object's dictionary text and its decoded
stream. All decoding is bounded: per-stream and total decompressed bytes, object counts and string
lengths are capped, so a decompression bomb costs at most the budget.
"""

from __future__ import annotations

import base64
import re
import zlib
from dataclasses import dataclass, field

MAX_OBJECTS = 20_000
MAX_OBJSTM = 200
MAX_STREAM_OUT = 32 * 1024 * 1024
MAX_TOTAL_OUT = 64 * 1024 * 1024
MAX_STRING = 1024 * 1024

SENSITIVE = frozenset(
    {
        b"JavaScript",
        b"JS",
        b"OpenAction",
        b"AA",
        b"Launch",
        b"EmbeddedFile",
        b"EmbeddedFiles",
        b"URI",
        b"SubmitForm",
        b"GoToR",
        b"GoToE",
        b"ImportData",
        b"RichMedia",
        b"XFA",
        b"AcroForm",
        b"ObjStm",
        b"Encrypt",
        b"FileAttachment",
        b"Filter",
        b"FlateDecode",
        b"Type",
        b"Action",
        b"S",
    }
)

_OBJ = re.compile(rb"(?<![0-9])(\d{1,10})[ \t\r\n\f\x00]+(\d{1,5})[ \t\r\n\f\x00]+obj\b")
_ENDOBJ = re.compile(rb"\bendobj\b")
_STREAM = re.compile(rb"\bstream(?:\r\n|\n|\r)")
_ENDSTREAM = re.compile(rb"\r?\n?endstream\b")
_NAME = re.compile(rb"/([^\s/<>\[\]()%{}]*)")
_HEXCHR = re.compile(rb"#([0-9A-Fa-f]{2})")


class BudgetSpent(Exception):
    """The total decompression budget of one document is used up."""


@dataclass
class RawObject:
    num: int
    gen: int
    dict_text: bytes
    """The object's text before any stream, with #xx name escapes decoded."""
    stream_raw: bytes | None = None
    in_objstm: bool = False
    _decoded: bytes | None = None
    decode_error: str | None = None


@dataclass
class RawScan:
    objects: dict[tuple[int, int], RawObject] = field(default_factory=dict)
    obfuscated: set[str] = field(default_factory=set)
    objstm_count: int = 0
    truncated: bool = False
    errors: list[str] = field(default_factory=list)
    decoded_total: int = 0

    def get(self, num: int, gen: int = 0) -> RawObject | None:
        obj = self.objects.get((num, gen))
        if obj is None and gen != 0:
            obj = self.objects.get((num, 0))
        return obj

    def stream(self, obj: RawObject) -> bytes | None:
        """The decoded stream of ``obj`` (None when it has none or it cannot be decoded)."""
        if obj.stream_raw is None:
            return None
        if obj._decoded is None and obj.decode_error is None:
            try:
                obj._decoded = decode_stream(obj.dict_text, obj.stream_raw, self)
            except BudgetSpent:
                raise
            except Exception as exc:  # a broken filter chain: record, keep scanning
                obj.decode_error = f"{type(exc).__name__}: {exc}"[:200]
        return obj._decoded


def decode_name(raw: bytes) -> bytes:
    return _HEXCHR.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def _normalise_names(text: bytes, obfuscated: set[str]) -> bytes:
    def sub(m: re.Match[bytes]) -> bytes:
        raw = m.group(1)
        if b"#" not in raw:
            return m.group(0)
        name = decode_name(raw)
        if name in SENSITIVE:
            obfuscated.add("/" + raw.decode("latin-1"))
        return b"/" + name

    return _NAME.sub(sub, text)


def read_literal(buf: bytes, pos: int) -> tuple[bytes, int]:
    """Parse a PDF literal string starting at ``buf[pos] == '('``; return (value, end position)."""
    out = bytearray()
    depth = 0
    i = pos
    n = len(buf)
    while i < n and len(out) < MAX_STRING:
        c = buf[i]
        if c == 0x28:  # (
            depth += 1
            if depth > 1:
                out.append(c)
        elif c == 0x29:  # )
            depth -= 1
            if depth == 0:
                return bytes(out), i + 1
            out.append(c)
        elif c == 0x5C and i + 1 < n:  # backslash
            i += 1
            e = buf[i]
            esc = {0x6E: 10, 0x72: 13, 0x74: 9, 0x62: 8, 0x66: 12}
            if e in esc:
                out.append(esc[e])
            elif 0x30 <= e <= 0x37:
                j = i
                while j < n and j < i + 3 and 0x30 <= buf[j] <= 0x37:
                    j += 1
                out.append(int(buf[i:j], 8) & 0xFF)
                i = j - 1
            elif e in (0x0D, 0x0A):  # line continuation
                if e == 0x0D and i + 1 < n and buf[i + 1] == 0x0A:
                    i += 1
            else:
                out.append(e)
        else:
            out.append(c)
        i += 1
    return bytes(out), i


def read_hexstring(buf: bytes, pos: int) -> tuple[bytes, int]:
    end = buf.find(b">", pos + 1)
    if end < 0:
        end = len(buf)
    digits = re.sub(rb"[^0-9A-Fa-f]", b"", buf[pos + 1 : end])
    if len(digits) % 2:
        digits += b"0"
    return bytes.fromhex(digits.decode("ascii")), end + 1


def pdf_text(value: bytes) -> str:
    """Decode a PDF text string (UTF-16BE with BOM, UTF-8 with BOM, else PDFDocEncoding≈latin-1)."""
    if value.startswith(b"\xfe\xff"):
        return value[2:].decode("utf-16-be", "replace")
    if value.startswith(b"\xef\xbb\xbf"):
        return value[3:].decode("utf-8", "replace")
    return value.decode("latin-1")


_VALUE = re.compile(rb"\s*(?:(\()|(<(?!<))|(\d+)\s+(\d+)\s+R\b|(<<))")


def read_value(text: bytes, key: bytes) -> list[tuple[str, bytes | tuple[int, int]]]:
    """Every value of ``/key`` in ``text``: ("str", bytes) | ("ref", (num, gen)) | ("dict", bytes)."""
    out: list[tuple[str, bytes | tuple[int, int]]] = []
    for m in re.finditer(rb"/" + re.escape(key) + rb"(?![^\s/<>\[\]()%{}])", text):
        v = _VALUE.match(text, m.end())
        if v is None:
            continue
        if v.group(1):
            s, _ = read_literal(text, v.start(1))
            out.append(("str", s))
        elif v.group(2):
            s, _ = read_hexstring(text, v.start(2))
            out.append(("str", s))
        elif v.group(3):
            out.append(("ref", (int(v.group(3)), int(v.group(4)))))
        elif v.group(5):
            out.append(("dict", _balanced_dict(text, v.start(5))))
        if len(out) >= 64:
            break
    return out


def _balanced_dict(text: bytes, pos: int) -> bytes:
    depth = 0
    i = pos
    while i < len(text) - 1:
        pair = text[i : i + 2]
        if pair == b"<<":
            depth += 1
            i += 2
            continue
        if pair == b">>":
            depth -= 1
            i += 2
            if depth == 0:
                return text[pos:i]
            continue
        if text[i] == 0x28:
            _, i = read_literal(text, i)
            continue
        i += 1
    return text[pos:]


# -- stream decoding ---------------------------------------------------------------------------------
def _filters(dict_text: bytes) -> list[bytes]:
    m = re.search(rb"/Filter\s*(\[[^\]]*\]|/[A-Za-z0-9]+)", dict_text)
    if not m:
        return []
    return [n.group(1) for n in _NAME.finditer(m.group(1))]


def _take(scan: RawScan, size: int) -> None:
    scan.decoded_total += size
    if scan.decoded_total > MAX_TOTAL_OUT:
        raise BudgetSpent(f"PDF decoded-stream budget of {MAX_TOTAL_OUT} bytes spent")


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj(zlib.MAX_WBITS | 32) if data[:1] == b"\x78" else zlib.decompressobj(-15)
    try:
        out = d.decompress(data, MAX_STREAM_OUT + 1)
    except zlib.error:
        # tolerate truncated or trailing-garbage deflate data: salvage what decompresses
        d = zlib.decompressobj()
        out = b""
        for i in range(0, min(len(data), MAX_STREAM_OUT), 256):
            try:
                out += d.decompress(data[i : i + 256], MAX_STREAM_OUT + 1 - len(out))
            except zlib.error:
                break
    if len(out) > MAX_STREAM_OUT:
        raise ValueError(f"stream inflates past {MAX_STREAM_OUT} bytes (bomb?)")
    return out


def _ascii85(data: bytes) -> bytes:
    body = data.strip()
    if body.startswith(b"<~"):
        body = body[2:]
    end = body.find(b"~>")
    if end >= 0:
        body = body[:end]
    body = re.sub(rb"\s", b"", body)
    return base64.a85decode(body)


def _asciihex(data: bytes) -> bytes:
    end = data.find(b">")
    body = re.sub(rb"[^0-9A-Fa-f]", b"", data if end < 0 else data[:end])
    if len(body) % 2:
        body += b"0"
    return bytes.fromhex(body.decode("ascii"))


def decode_stream(dict_text: bytes, raw: bytes, scan: RawScan) -> bytes:
    data = raw
    for f in _filters(dict_text)[:5]:
        if f in (b"FlateDecode", b"Fl"):
            data = _inflate(data)
        elif f in (b"ASCIIHexDecode", b"AHx"):
            data = _asciihex(data)
        elif f in (b"ASCII85Decode", b"A85"):
            data = _ascii85(data)
        else:  # image codecs, LZW, crypt: leave the bytes as they are
            break
        _take(scan, len(data))
    return data


# -- the scan ----------------------------------------------------------------------------------------
def _split_object(body: bytes) -> tuple[bytes, bytes | None]:
    sm = _STREAM.search(body)
    if sm is None:
        return body, None
    dict_text = body[: sm.start()]
    rest = body[sm.end() :]
    em = None
    for found in _ENDSTREAM.finditer(rest):
        em = found  # the last endstream in this object body
    raw = rest[: em.start()] if em is not None else rest
    length = re.search(rb"/Length\s+(\d+)(?!\s+\d+\s+R)", dict_text)
    if length is not None:
        n = int(length.group(1))
        if 0 <= n <= len(rest) and (em is None or abs(n - len(raw)) <= 2):
            raw = rest[:n]
    return dict_text, raw


def scan(data: bytes) -> RawScan:
    """Collect every object in ``data`` (later definitions of the same id win, as in an update)."""
    result = RawScan()
    matches = _OBJ.finditer(data)
    pending = next(matches, None)
    count = 0
    while pending is not None:
        m = pending
        pending = next(matches, None)
        count += 1
        if count > MAX_OBJECTS:
            result.truncated = True
            result.errors.append(f"more than {MAX_OBJECTS} objects: the rest were not scanned")
            break
        end_m = _ENDOBJ.search(data, m.end())
        limit = pending.start() if pending is not None else len(data)
        end = end_m.start() if end_m is not None and end_m.start() <= limit else limit
        dict_text, raw = _split_object(data[m.end() : end])
        key = (int(m.group(1)), int(m.group(2)))
        result.objects[key] = RawObject(key[0], key[1], _normalise_names(dict_text, result.obfuscated), raw)
    _expand_objstms(result)
    return result


def _expand_objstms(result: RawScan) -> None:
    streams = [o for o in result.objects.values() if re.search(rb"/Type\s*/ObjStm\b", o.dict_text)]
    result.objstm_count = len(streams)
    for o in streams[:MAX_OBJSTM]:
        try:
            body = result.stream(o)
        except BudgetSpent as exc:
            result.errors.append(str(exc))
            return
        if not body:
            continue
        first_m = re.search(rb"/First\s+(\d+)", o.dict_text)
        n_m = re.search(rb"/N\s+(\d+)", o.dict_text)
        if first_m is None or n_m is None:
            continue
        first = int(first_m.group(1))
        nums = [int(x) for x in re.findall(rb"\d+", body[:first])][: 2 * min(int(n_m.group(1)), 10_000)]
        pairs = list(zip(nums[0::2], nums[1::2], strict=False))
        for i, (num, off) in enumerate(pairs):
            start = first + off
            end = first + pairs[i + 1][1] if i + 1 < len(pairs) else len(body)
            if not 0 <= start <= len(body):
                continue
            text = _normalise_names(body[start:end], result.obfuscated)
            if (num, 0) not in result.objects or result.objects[(num, 0)].in_objstm:
                result.objects[(num, 0)] = RawObject(num, 0, text, None, in_objstm=True)
            if len(result.objects) > MAX_OBJECTS:
                result.truncated = True
                return
