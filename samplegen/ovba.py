"""MS-OVBA writer: CompressedContainer compression and ``vbaProject.bin`` builder.

Why hand-written: no maintained Python library *writes* VBA projects. oletools (olevba) and
olefile only read and decompress them, and there is no writer of MS-CFB + MS-OVBA in the
standard library or on PyPI that is kept up to date. The sample generator therefore builds
the project itself, following [MS-OVBA]:

* ``compress``/``decompress``: the CompressedContainer algorithm (2.4.1), with real copy
  tokens found by a bounded hash-chain search, raw chunks when compression does not pay;
* ``encrypt_data``: the reversible "data encryption" used by the CMG/DPB/GC lines (2.4.3);
* ``build_vba_project``: the PROJECT and PROJECTwm streams, ``VBA/_VBA_PROJECT`` (version
  0xFFFF, i.e. "recompile from source", as attackers' tools write), the compressed
  ``VBA/dir`` stream and one compressed module stream per module, in a compound file.

The VBA source in the samples is text only and is never run.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from samplegen.cfb import Storage, build_cfb

CHUNK_SIZE = 4096
MODULE_PROCEDURAL = 0x0021
MODULE_DOCUMENT = 0x0022

_STDOLE = (
    "stdole",
    "*\\G{00020430-0000-0000-C000-000000000046}#2.0#0#C:\\Windows\\System32\\stdole2.tlb#OLE Automation",
)
_OFFICE = (
    "Office",
    "*\\G{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}#2.0#0#C:\\Program Files\\Common Files\\Microsoft Shared"
    "\\OFFICE16\\MSO.DLL#Microsoft Office 16.0 Object Library",
)


# --------------------------------------------------------------------------- compression


def _bit_count(difference: int) -> int:
    """CopyToken help (2.4.1.3.19.1): bits used for the offset at this chunk position."""
    return max((difference - 1).bit_length(), 4)


def _compress_chunk(chunk: bytes, *, use_copy_tokens: bool = True) -> bytes:
    """Compress one <=4096-byte chunk into a CompressedChunk (header included)."""
    out = bytearray()
    pos = 0
    heads: dict[bytes, list[int]] = {}
    n = len(chunk)
    while pos < n:
        flag_index = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if pos >= n:
                break
            best_len, best_off = 0, 0
            if use_copy_tokens and pos > 0 and pos + 3 <= n:
                bits = _bit_count(pos)
                max_len = min((0xFFFF >> bits) + 3, n - pos)
                for cand in reversed(heads.get(chunk[pos : pos + 3], [])[-64:]):
                    length = 3
                    while length < max_len and chunk[cand + length] == chunk[pos + length]:
                        length += 1
                    if length > best_len:
                        best_len, best_off = length, pos - cand
                        if length == max_len:
                            break
            if best_len >= 3:
                bits = _bit_count(pos)
                token = ((best_off - 1) << (16 - bits)) | (best_len - 3)
                out += struct.pack("<H", token)
                flags |= 1 << bit
                step = best_len
            else:
                out.append(chunk[pos])
                step = 1
            for k in range(pos, pos + step):
                if k + 3 <= n:
                    heads.setdefault(chunk[k : k + 3], []).append(k)
            pos += step
        out[flag_index] = flags
    if len(out) > CHUNK_SIZE:
        # Raw chunk: exactly 4096 bytes of data follow, so only full chunks may be raw.
        if len(chunk) != CHUNK_SIZE:
            raise ValueError("a short final chunk cannot be stored raw")
        return struct.pack("<H", 0x3FFF) + chunk
    header = (len(out) + 2 - 3) | (0b011 << 12) | 0x8000
    return struct.pack("<H", header) + bytes(out)


def compress(data: bytes, *, use_copy_tokens: bool = True) -> bytes:
    """MS-OVBA CompressedContainer of ``data`` (signature byte 0x01, then chunks).

    ``use_copy_tokens=False`` emits literal-only compressed chunks (valid, but larger).
    """
    out = bytearray(b"\x01")
    for start in range(0, len(data), CHUNK_SIZE):
        out += _compress_chunk(data[start : start + CHUNK_SIZE], use_copy_tokens=use_copy_tokens)
    return bytes(out)


def decompress(container: bytes) -> bytes:
    """Inverse of :func:`compress` (2.4.1.3.1), strict: raises ``ValueError`` on bad input."""
    if not container or container[0] != 0x01:
        raise ValueError("CompressedContainer must start with 0x01")
    out = bytearray()
    pos = 1
    while pos < len(container):
        if pos + 2 > len(container):
            raise ValueError("truncated chunk header")
        (header,) = struct.unpack_from("<H", container, pos)
        size = (header & 0x0FFF) + 3
        if (header >> 12) & 0b111 != 0b011:
            raise ValueError("bad chunk signature")
        end = min(pos + size, len(container))
        pos += 2
        chunk_start = len(out)
        if not header & 0x8000:
            out += container[pos : pos + CHUNK_SIZE]
            pos += CHUNK_SIZE
            continue
        while pos < end:
            flags = container[pos]
            pos += 1
            for bit in range(8):
                if pos >= end:
                    break
                if not flags & (1 << bit):
                    out.append(container[pos])
                    pos += 1
                    continue
                (token,) = struct.unpack_from("<H", container, pos)
                pos += 2
                bits = _bit_count(len(out) - chunk_start)
                offset = (token >> (16 - bits)) + 1
                length = (token & (0xFFFF >> bits)) + 3
                src = len(out) - offset
                if src < chunk_start:
                    raise ValueError("copy token reaches before the chunk")
                for k in range(length):
                    out.append(out[src + k])
    return bytes(out)


# --------------------------------------------------------------------------- encryption


def encrypt_data(project_id: str, data: bytes, seed: int = 0x3D) -> str:
    """MS-OVBA 2.4.3.2 data encryption, as hex for the PROJECT stream's CMG/DPB/GC keys."""
    version = 2
    proj_key = sum(project_id.encode("ascii")) & 0xFF
    version_enc = seed ^ version
    proj_key_enc = seed ^ proj_key
    out = bytearray([seed, version_enc, proj_key_enc])
    unencrypted1, encrypted1, encrypted2 = proj_key, proj_key_enc, version_enc
    ignored = [seed] * ((seed & 6) // 2)
    for byte in [*ignored, *struct.pack("<I", len(data)), *data]:
        enc = byte ^ ((encrypted2 + unencrypted1) & 0xFF)
        out.append(enc)
        encrypted2, encrypted1, unencrypted1 = encrypted1, enc, byte
    return out.hex().upper()


def decrypt_data(hex_text: str) -> bytes:
    """Inverse of :func:`encrypt_data` (used by the tests)."""
    raw = bytes.fromhex(hex_text)
    seed, version_enc, proj_key_enc = raw[0], raw[1], raw[2]
    unencrypted1, encrypted1, encrypted2 = seed ^ proj_key_enc, proj_key_enc, version_enc
    plain = bytearray()
    for enc in raw[3:]:
        byte = enc ^ ((encrypted2 + unencrypted1) & 0xFF)
        plain.append(byte)
        encrypted2, encrypted1, unencrypted1 = encrypted1, enc, byte
    body = plain[(seed & 6) // 2 :]
    (length,) = struct.unpack_from("<I", body)
    if length != len(body) - 4:
        raise ValueError("encrypted length does not match")
    return bytes(body[4:])


# --------------------------------------------------------------------------- project


@dataclass(frozen=True)
class Module:
    """One VBA module: name, full source (``Attribute`` lines included) and kind."""

    name: str
    source: str
    kind: int = MODULE_PROCEDURAL

    @property
    def is_document(self) -> bool:
        return self.kind == MODULE_DOCUMENT


def document_module(name: str, base_clsid: str, body: str = "") -> Module:
    """A document module (ThisWorkbook, Sheet1, ThisDocument) with the usual attributes."""
    head = [
        f'Attribute VB_Name = "{name}"',
        f'Attribute VB_Base = "0{base_clsid}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = True",
        "Attribute VB_Exposed = True",
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = True",
    ]
    return Module(name, "\r\n".join(head) + "\r\n" + _crlf(body), MODULE_DOCUMENT)


def standard_module(name: str, body: str) -> Module:
    return Module(name, f'Attribute VB_Name = "{name}"\r\n' + _crlf(body), MODULE_PROCEDURAL)


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _rec(rid: int, payload: bytes) -> bytes:
    return struct.pack("<HI", rid, len(payload)) + payload


def _u16(text: str) -> bytes:
    return text.encode("utf-16-le")


def build_dir_stream(
    project_name: str,
    modules: Sequence[Module],
    codepage: int = 1252,
    references: Sequence[tuple[str, str]] = (_STDOLE, _OFFICE),
) -> bytes:
    """Uncompressed ``VBA/dir`` stream (2.3.4.2): information, references, modules."""
    enc = f"cp{codepage}"
    out = bytearray()
    out += _rec(0x0001, struct.pack("<I", 1))  # PROJECTSYSKIND: 32-bit Windows
    out += _rec(0x0002, struct.pack("<I", 0x0409))  # PROJECTLCID
    out += _rec(0x0014, struct.pack("<I", 0x0409))  # PROJECTLCIDINVOKE
    out += _rec(0x0003, struct.pack("<H", codepage))  # PROJECTCODEPAGE
    out += _rec(0x0004, project_name.encode(enc))  # PROJECTNAME
    out += _rec(0x0005, b"") + _rec(0x0040, b"")  # PROJECTDOCSTRING (+ unicode)
    out += _rec(0x0006, b"") + _rec(0x003D, b"")  # PROJECTHELPFILEPATH (1 and 2)
    out += _rec(0x0007, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
    out += _rec(0x0008, struct.pack("<I", 0))  # PROJECTLIBFLAGS
    # PROJECTVERSION: the "size" field is Reserved = 4 although 6 bytes follow.
    out += struct.pack("<HIIH", 0x0009, 4, 0x4E0A6D5B, 0x0011)
    out += _rec(0x000C, b"") + _rec(0x003C, b"")  # PROJECTCONSTANTS (+ unicode)
    for name, libid in references:
        out += _rec(0x0016, name.encode(enc)) + _rec(0x003E, _u16(name))  # REFERENCENAME
        raw = libid.encode(enc)
        body = struct.pack("<I", len(raw)) + raw + struct.pack("<IH", 0, 0)
        out += _rec(0x000D, body)  # REFERENCEREGISTERED
    out += _rec(0x000F, struct.pack("<H", len(modules)))  # PROJECTMODULES
    out += _rec(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for module in modules:
        out += _rec(0x0019, module.name.encode(enc))  # MODULENAME
        out += _rec(0x0047, _u16(module.name))  # MODULENAMEUNICODE
        out += _rec(0x001A, module.name.encode(enc)) + _rec(0x0032, _u16(module.name))  # MODULESTREAMNAME
        out += _rec(0x001C, b"") + _rec(0x0048, b"")  # MODULEDOCSTRING
        out += _rec(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: source starts the stream
        out += _rec(0x001E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        out += _rec(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        out += struct.pack("<HI", module.kind, 0)  # MODULETYPE
        out += struct.pack("<HI", 0x002B, 0)  # module terminator
    out += struct.pack("<HI", 0x0010, 0)  # dir terminator
    return bytes(out)


def build_project_stream(
    project_id: str, project_name: str, modules: Sequence[Module], host: str | None, codepage: int = 1252
) -> bytes:
    """Text PROJECT stream (2.3.1) in the project code page, CRLF line ends."""
    cmg = encrypt_data(project_id, struct.pack("<I", 0), seed=0x2F)
    dpb = encrypt_data(project_id, bytes([0x00]), seed=0x38)
    gc = encrypt_data(project_id, bytes([0xFF]), seed=0x51)
    lines = [f'ID="{project_id}"']
    for module in modules:
        if module.is_document:
            lines.append(f"Document={module.name}/&H00000000")
        else:
            lines.append(f"Module={module.name}")
    lines += [
        f'Name="{project_name}"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        f'CMG="{cmg}"',
        f'DPB="{dpb}"',
        f'GC="{gc}"',
        "",
        "[Host Extender Info]",
        "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000",
    ]
    if host:
        lines.append(f"&H00000002={host}")
    lines += ["", "[Workspace]"]
    lines += [f"{module.name}=0, 0, 0, 0, C" for module in modules]
    return ("\r\n".join(lines) + "\r\n").encode(f"cp{codepage}")


def build_projectwm(modules: Sequence[Module], codepage: int = 1252) -> bytes:
    """PROJECTwm stream (2.3.3): MBCS and UTF-16 name pairs, 0x0000 terminated."""
    out = bytearray()
    for module in modules:
        out += module.name.encode(f"cp{codepage}") + b"\x00" + _u16(module.name) + b"\x00\x00"
    return bytes(out + b"\x00\x00")


EXCEL_HOST: str | None = None  # Excel projects list only the VBE extender
WORD_HOST = "{000209F2-0000-0000-C000-000000000046};Word8.0;&H00000000"


def build_vba_project(
    modules: Sequence[Module],
    *,
    project_name: str = "VBAProject",
    project_id: str = "{5E2E6D45-3A2B-4C8B-9F1A-6B0C2D7E8F10}",
    codepage: int = 1252,
    host: str | None = EXCEL_HOST,
) -> bytes:
    """Return the bytes of a ``vbaProject.bin`` compound file holding ``modules``."""
    root = Storage()
    root.add("PROJECT", build_project_stream(project_id, project_name, modules, host, codepage))
    root.add("PROJECTwm", build_projectwm(modules, codepage))
    root.add("VBA/_VBA_PROJECT", struct.pack("<HHBH", 0x61CC, 0xFFFF, 0x00, 0x0000))
    root.add("VBA/dir", compress(build_dir_stream(project_name, modules, codepage)))
    for module in modules:
        root.add(f"VBA/{module.name}", compress(module.source.encode(f"cp{codepage}")))
    return build_cfb(root)
