"""Bounded decoders for script payloads: Script Encoder (#@~^), PowerShell -EncodedCommand, base64 blobs,
character-code chains.

Why hand-written: no maintained PyPI package decodes the Microsoft Script Encoder format (the known
decoders are stand-alone scripts), and the format is small: a header ``#@~^`` + 6 base64 characters of
length + ``==``, the body, a 6-character checksum + ``==^#~@``. Five ``@x`` escapes stand for CR, LF, ``<``,
``>`` and ``@``; every other printable ASCII character (and TAB) is substituted through one of three
alphabets, the alphabet chosen by a fixed 64-step cycle over the position of the ASCII characters. The
substitution rows below are the published screnc tables (a fact of the format, not derivable), written
here as one hex string. Everything else here is plain stdlib base64/regex work with hard caps on input
size, number of matches and output size, so a hostile script can never make a decoder loop or grow.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

MAX_DECODE_INPUT = 4 * 1024 * 1024
"""Largest text any decoder looks at (characters)."""
MAX_BLOBS = 24
"""Most base64 blobs decoded per script."""
MAX_BLOB_BYTES = 8 * 1024 * 1024
"""Largest decoded base64 blob kept."""

# --- Microsoft Script Encoder --------------------------------------------------------------------------

# Rows for byte values 32..127, three decoded alternatives per row (hex, 6 digits per row).
_SCRENC_ROWS = (
    "2e2d32477530"
    "7a522156602942715b6a5e382f4933265c3d496258417d3a3429353236655b2039767c5c727a56437f73"
    "386b6639634e703345452b6b68686271515"
    "94f667809765e62317d44644a23546d7543714a4c417e3a604a4c415e7e53"
    "404c407745424a2c27612a485d74722227754b37316f44374e794d3b59524c2f22506f5467266a2a72477d6a6474392d"
    "547b202b3f7f2d382e2c774c30675d6e537e6b476c66346f357879255d742130436423264d5a76525b25636c243f482b"
    "7b5528787023296941282e34734c0959212a3324447f4e3f6d507755093b5356557c73693a35615f6163654b50465867"
    "583b5131574969224f6c6d465a4d6848257c2728365c46703d4a6e24327a79412f373d5f605f4b514f5a20422c366557"
)
_SCRENC_TAB = "576e7b"  # row for byte 9 (TAB)
_SCRENC_CYCLE = "0120121221210212021200122102122100212120200120210212001220012021"
_SCRENC_ESCAPES = {"&": "\n", "#": "\r", "*": ">", "!": "<", "$": "@"}
_SCRENC_BLOCK = re.compile(r"#@~\^[A-Za-z0-9+/]{6}==(.*?)[A-Za-z0-9+/]{6}==\^#~@", re.S)


def _screnc_table() -> dict[int, tuple[str, str, str]]:
    raw = bytes.fromhex(_SCRENC_ROWS)
    table: dict[int, tuple[str, str, str]] = {}
    for i in range(96):
        row = raw[i * 3 : i * 3 + 3]
        table[32 + i] = (chr(row[0]), chr(row[1]), chr(row[2]))
    tab = bytes.fromhex(_SCRENC_TAB)
    table[9] = (chr(tab[0]), chr(tab[1]), chr(tab[2]))
    return table


_SCRENC = _screnc_table()


def _screnc_body(body: str) -> str:
    out: list[str] = []
    pos = -1
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "@" and i + 1 < n and body[i + 1] in _SCRENC_ESCAPES:
            ch = _SCRENC_ESCAPES[body[i + 1]]
            i += 1
        i += 1
        code = ord(ch)
        if code < 128:
            pos += 1
        if (code == 9 or 31 < code < 128) and ch not in "<>@":
            ch = _SCRENC[code][int(_SCRENC_CYCLE[pos % 64])]
        out.append(ch)
    return "".join(out)


def decode_screnc(text: str, limit: int = 16) -> list[str]:
    """Decode every ``#@~^…^#~@`` block (at most ``limit``) in ``text``."""
    return [
        _screnc_body(m.group(1))
        for _, m in zip(range(limit), _SCRENC_BLOCK.finditer(text[:MAX_DECODE_INPUT]), strict=False)
    ]


# --- base64 and PowerShell -EncodedCommand ----------------------------------------------------------------

_B64_CHARS = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_PS_ENC = re.compile(r"(?i)(?:^|[\s\"'(])[-/\u2013\u2014](e[a-z]{0,13})\s+[\"']?([A-Za-z0-9+/]{16,}={0,2})")
_BLOB = re.compile(r"(?<![A-Za-z0-9+/])([A-Za-z0-9+/]{120,}={0,2})(?![A-Za-z0-9+/=])")
_DATA_URI_BEFORE = re.compile(
    r"(?i)data:(image|font|application/(font|x-font)|audio|video)[^,;]{0,60};base64,$"
)


def b64decode_loose(text: str, cap: int = MAX_BLOB_BYTES) -> bytes | None:
    """Decode base64 that may lack padding; ``None`` when it is not base64. Input capped to ``cap``."""
    clean = re.sub(r"\s+", "", text[: cap * 4 // 3 + 8])
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    clean += "=" * (-len(clean) % 4)
    try:
        return base64.b64decode(clean, validate=True)
    except (binascii.Error, ValueError):
        return None


def _printable_ratio(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for c in text if c.isprintable() or c in "\r\n\t")
    return good / len(text)


def decode_utf16_command(raw: bytes) -> str | None:
    """PowerShell encoded commands are UTF-16LE; accept UTF-8 too when it reads as text."""
    for enc in ("utf-16-le", "utf-8"):
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if len(text) >= 4 and _printable_ratio(text) > 0.9:
            return text
    return None


def powershell_encoded_commands(text: str, limit: int = 8) -> list[str]:
    """Decoded text of every ``-e``/``-enc``/``-EncodedCommand``/``-ec`` argument in ``text``."""
    out: list[str] = []
    for m in _PS_ENC.finditer(text[:MAX_DECODE_INPUT]):
        switch = m.group(1).lower()
        if switch != "ec" and not "encodedcommand".startswith(switch):
            continue
        raw = b64decode_loose(m.group(2), 1024 * 1024)
        decoded = decode_utf16_command(raw) if raw else None
        if decoded:
            out.append(decoded)
            if len(out) >= limit:
                break
    return out


def base64_blobs(text: str) -> Iterator[tuple[str, bytes]]:
    """(encoded head, decoded bytes) of long base64 runs that are not inline images or fonts."""
    found = 0
    for m in _BLOB.finditer(text[:MAX_DECODE_INPUT]):
        if _DATA_URI_BEFORE.search(text[max(0, m.start() - 80) : m.start()]):
            continue
        blob = m.group(1)
        if blob.isalpha() or blob.isdigit() or len(set(blob)) < 16:
            continue  # long identifiers, digit runs, repeated padding
        raw = b64decode_loose(blob)
        if raw is None or len(raw) < 64:
            continue
        yield blob[:40], raw
        found += 1
        if found >= MAX_BLOBS:
            return


# --- character codes --------------------------------------------------------------------------------------

_FROMCHARCODE = re.compile(
    r"(?i)fromCharCode\s*\(\s*((?:0x[0-9a-f]+|\d+)(?:\s*,\s*(?:0x[0-9a-f]+|\d+)){3,})\s*\)"
)
_CHR_CHAIN = re.compile(r"(?i)(?:chrw?\s*\(\s*(?:&h[0-9a-f]+|\d+)\s*\)\s*[&+]?\s*(?:_\s*)?){4,}")
_CHR_ONE = re.compile(r"(?i)chrw?\s*\(\s*(&h[0-9a-f]+|\d+)\s*\)")
_PS_CHARS = re.compile(r"(?i)\[char\]\s*(0x[0-9a-f]+|\d+)")


def _num(token: str) -> int:
    t = token.strip().lower()
    if t.startswith(("0x", "&h")):
        return int(t[2:], 16)
    return int(t)


def _chars(codes: Iterator[int]) -> str:
    out = []
    for c in codes:
        if 0 < c < 0x110000:
            out.append(chr(c))
    return "".join(out)


def decode_charcodes(text: str, limit: int = 64) -> list[str]:
    """Strings spelled out as ``String.fromCharCode(…)``, ``Chr(…)&Chr(…)`` chains or ``[char]N`` runs."""
    text = text[:MAX_DECODE_INPUT]
    out: list[str] = []
    for m in _FROMCHARCODE.finditer(text):
        out.append(_chars(_num(t) for t in m.group(1).split(",")))
        if len(out) >= limit:
            return out
    for m in _CHR_CHAIN.finditer(text):
        out.append(_chars(_num(t) for t in _CHR_ONE.findall(m.group(0))))
        if len(out) >= limit:
            return out
    ps = [_num(t) for t in _PS_CHARS.findall(text)[:4096]]
    if len(ps) >= 8:
        out.append(_chars(iter(ps)))
    return out


def count_chr_calls(text: str) -> int:
    return len(_CHR_ONE.findall(text[:MAX_DECODE_INPUT]))


# --- hex strings and batch variable noise -----------------------------------------------------------------

_HEX_SPACED = re.compile(r"(?i)(?<![0-9a-f])((?:[0-9a-f]{2}[ ,:-]){15,}[0-9a-f]{2})(?![0-9a-f])")
_HEX_RUN = re.compile(r"(?i)(?<![0-9a-z])((?:[0-9a-f]{2}){40,})(?![0-9a-z])")
_BAT_SET = re.compile(r"(?im)^\s*set\s+\"?([^=\"\r\n%]{1,64})=")
_BAT_VAR = re.compile(r"%([^%\r\n\d~*][^%\r\n]{0,8})%")
_KNOWN_ENV = frozenset(
    (
        "tmp",
        "temp",
        "appdata",
        "localappdata",
        "programdata",
        "public",
        "userprofile",
        "username",
        "computername",
        "windir",
        "systemroot",
        "comspec",
        "path",
        "pathext",
        "random",
        "date",
        "time",
        "cd",
        "errorlevel",
        "homedrive",
        "homepath",
        "systemdrive",
        "allusersprofile",
        "programfiles",
        "commonprogramfiles",
        "os",
        "processor_architecture",
        "userdomain",
        "logonserver",
    )
)


def decode_hex_strings(text: str, limit: int = 16) -> list[str]:
    """Printable text hidden as hex byte strings (``'0d 0a 40 65 …'`` or long contiguous hex runs)."""
    out: list[str] = []
    text = text[:MAX_DECODE_INPUT]
    for pattern in (_HEX_SPACED, _HEX_RUN):
        for m in pattern.finditer(text):
            digits = re.sub(r"[^0-9a-fA-F]", "", m.group(1))[: 2 * 1024 * 1024]
            try:
                raw = bytes.fromhex(digits)
            except ValueError:
                continue
            decoded = decode_utf16_command(raw) if raw.count(0) > len(raw) // 3 else None
            if decoded is None:
                candidate = raw.decode("latin-1")
                decoded = candidate if _printable_ratio(candidate) > 0.95 else None
            if decoded and len(decoded.strip()) >= 12:
                out.append(decoded)
                if len(out) >= limit:
                    return out
    return out


def strip_batch_noise(text: str) -> tuple[str, int]:
    """Remove ``%x%`` references to variables the batch file never sets (they expand to nothing).

    Returns the cleaned text and how many references were removed; obfuscators insert hundreds.
    """
    text = text[:MAX_DECODE_INPUT]
    defined = {m.group(1).strip().lower() for m in _BAT_SET.finditer(text)}
    removed = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal removed
        name = m.group(1).strip().lower()
        if name in defined or name in _KNOWN_ENV or ":" in name:
            return m.group(0)
        removed += 1
        return ""

    cleaned = _BAT_VAR.sub(repl, text)
    return cleaned, removed
