"""RTF samples: embedded Equation Editor objects (plain and obfuscated) and a benign twin.

The embedded object has the *structure* of CVE-2017-11882 / CVE-2018-0802 lures: an OLE1
``EmbeddedObject`` (class ``Equation.3``) whose native data is a compound file with the
Equation Editor CLSID and an ``Equation Native`` stream holding an MTEF FONT record with an
over-long name. The name is only letters 'A'; there is no shellcode and no return address
pointing anywhere meaningful.
"""

from __future__ import annotations

import random
import struct
import zlib

from samplegen.cfb import Storage, build_cfb, clsid_bytes

EQUATION_CLSID = "{0002CE02-0000-0000-C000-000000000046}"


def _lpstr(text: str) -> bytes:
    """LengthPrefixedAnsiString: u32 length including the NUL, then the bytes and NUL."""
    raw = text.encode("latin-1") + b"\x00"
    return struct.pack("<I", len(raw)) + raw


def equation_native(font_name_length: int = 48) -> bytes:
    """``Equation Native`` stream: EQNOLEFILEHDR + MTEF v3 with a long FONT name (all 'A')."""
    mtef = bytes([3, 1, 1, 3, 0x0A])  # MTEF version 3, Windows, Equation Editor 3.0a
    mtef += bytes([0x0A])  # FULL/SIZE record, harmless
    mtef += bytes([0x08, 0x5A, 0x5A]) + b"A" * font_name_length + b"\x00"  # FONT record
    mtef += b"\x00" * 4  # END records
    header = struct.pack("<HIHIIIII", 0x1C, 0x00020000, 0xC1A3, len(mtef), 0, 0, 0, 0)
    return header + mtef


def comp_obj(user_type: str, clipboard: str, prog_id: str, clsid: str) -> bytes:
    """``\\x01CompObj`` stream (MS-OLEDS 2.3.8), ANSI part plus the Unicode marker."""
    head = struct.pack("<II", 0xFFFE0001, 0x00000A03) + struct.pack("<I", 0xFFFFFFFF) + clsid_bytes(clsid)
    body = _lpstr(user_type) + _lpstr(clipboard) + _lpstr(prog_id)
    return head + body + struct.pack("<IIII", 0x71B239F4, 0, 0, 0)


def equation_object(font_name_length: int = 48) -> bytes:
    """A bare compound file that is an Equation Editor 3.0 object (root CLSID 0002CE02-...)."""
    root = Storage(clsid=clsid_bytes(EQUATION_CLSID))
    root.add("\x01Ole", struct.pack("<IIIII", 0x02000001, 0, 0, 0, 0))
    root.add("\x01CompObj", comp_obj("Microsoft Equation 3.0", "DS Equation", "Equation.3", EQUATION_CLSID))
    root.add("\x03ObjInfo", struct.pack("<HHH", 0, 0x0003, 0x0001))
    root.add("Equation Native", equation_native(font_name_length))
    return build_cfb(root)


def ole1_embedded(class_name: str, native: bytes) -> bytes:
    """OLE 1.0 EmbeddedObject (MS-OLEDS 2.2.5): ObjectHeader, NativeDataSize, NativeData."""
    header = struct.pack("<II", 0x00000501, 0x00000002) + _lpstr(class_name)
    header += struct.pack("<II", 0, 0)  # empty TopicName and ItemName
    return header + struct.pack("<I", len(native)) + native


def _hex_lines(data: bytes, width: int = 128) -> str:
    text = data.hex()
    return "\r\n".join(text[i : i + width] for i in range(0, len(text), width))


def _escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in "\\{}":
            out.append("\\" + ch)
        elif ord(ch) < 128:
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\u{code - 65536 if code > 32767 else code}?")
    return "".join(out)


_HEAD = (
    "{\\rtf1\\ansi\\ansicpg1252\\deff0\\deflang1033{\\fonttbl{\\f0\\fswiss\\fcharset0 Arial;}}\r\n"
    "{\\*\\generator Riched20 10.0.17763}\\viewkind4\\uc1\r\n"
)


def _body(paragraphs: list[str]) -> str:
    return "".join(f"\\pard\\sa200\\f0\\fs22 {_escape(p)}\\par\r\n" for p in paragraphs)


def equation_rtf(paragraphs: list[str]) -> bytes:
    """Text plus ``{\\object\\objemb{\\*\\objclass Equation.3}...{\\*\\objdata <hex>}}``."""
    objdata = ole1_embedded("Equation.3", equation_object())
    obj = (
        "{\\object\\objemb\\objupdate{\\*\\objclass Equation.3}\\objw380\\objh260"
        "{\\*\\objdata\r\n" + _hex_lines(objdata) + "\r\n}{\\result{\\pict\\wmetafile8\\picw380\\pich260"
        "\\picwgoal380\\pichgoal260 0100090000030000000000000000}}}"
    )
    return (_HEAD + _body(paragraphs) + "\\pard " + obj + "\\par\r\n}\r\n").encode("ascii")


def obfuscated_equation_rtf(paragraphs: list[str], seed: int = 11882) -> bytes:
    """The same object as :func:`equation_rtf`, written the way exploit builders hide it.

    * the header carries unusual control words and an ignorable junk destination;
    * empty unknown destinations (``{\\*\\xyz123}``) and unknown control words are sprinkled
      *inside* the hex of ``\\objdata``, and the nibbles are split by spaces, tabs and CR/LF
      (Word skips all of these, so the object bytes are unchanged);
    * the class name is written ``EqUATion.3``; ``\\objupdate`` is repeated;
    * the object group is nested in extra anonymous groups and the document's closing brace is
      missing (Word tolerates both).
    """
    rnd = random.Random(seed)
    objdata = ole1_embedded("EqUATion.3", equation_object()).hex()
    pieces: list[str] = []
    i = 0
    while i < len(objdata):
        step = rnd.randint(1, 9)
        pieces.append(objdata[i : i + step])
        i += step
        roll = rnd.random()
        if roll < 0.12:
            pieces.append("{\\*\\xyz" + str(rnd.randint(0, 999)) + "}")
        elif roll < 0.20:
            pieces.append("\\" + "".join(rnd.choice("bcfghjkmpqvwz") for _ in range(rnd.randint(3, 8))) + " ")
        elif roll < 0.45:
            pieces.append(rnd.choice([" ", "\t", "\r\n", "\n", "  \r\n "]))
    junk_head = (
        "{\\rtf1\\adeflang1025\\ansi\\ansicpg1252\\uc1\\adeff31507\\deff0\\stshfdbch31505"
        "{\\fonttbl{\\f0\\fswiss\\fcharset0 Arial;}}"
    )
    return (
        junk_head
        + "\r\n{\\*\\aptcatchjunk fake}\\viewkind4\\uc1\r\n"
        + _body(paragraphs)
        + "{{\\pard {\\object\\objemb\\objupdate\\objupdate\\objw2180\\objh300{\\*\\objclass EqUATion.3}"
        + "{\\*\\objdata \r\n"
        + "".join(pieces)
        + "\r\n}}}}\\par\r\n"
    ).encode("ascii")


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    """A small grey PNG (for the benign picture RTF)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes([0x99] * width) for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def picture_rtf(paragraphs: list[str]) -> bytes:
    """Text plus an inline ``\\pict\\pngblip`` picture, no OLE object."""
    pict = "{\\pict\\pngblip\\picw8\\pich8\\picwgoal240\\pichgoal240\r\n" + _hex_lines(tiny_png()) + "\r\n}"
    return (_HEAD + _body(paragraphs) + "\\pard " + pict + "\\par\r\n}\r\n").encode("ascii")
