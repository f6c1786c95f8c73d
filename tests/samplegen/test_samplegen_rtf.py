"""Equation Editor RTF lures, the bare equation object and the benign picture RTF."""

from __future__ import annotations

import re
import struct

import pytest

from samplegen import build, rtf
from samplegen.cfb import read_cfb

EQUATION_CLSID = "0002CE02-0000-0000-C000-000000000046"


def _objdata_hex(text: bytes) -> bytes:
    """Word's view of \\objdata: drop empty ignorable groups, control words and whitespace."""
    start = text.index(b"\\objdata") + len(b"\\objdata")
    depth, pos = 1, start
    while depth:
        depth += {ord("{"): 1, ord("}"): -1}.get(text[pos], 0)
        pos += 1
    body = text[start : pos - 1]
    body = re.sub(rb"\{\\\*\\[a-z]+-?\d*\}", b"", body)
    body = re.sub(rb"\\[a-z]+-?\d* ?", b"", body)
    return re.sub(rb"\s+", b"", body)


def _parse_ole1(data: bytes) -> tuple[str, bytes]:
    version, fmt, name_len = struct.unpack_from("<III", data)
    assert (version, fmt) == (0x501, 2)
    name = data[12 : 12 + name_len - 1].decode("ascii")
    pos = 12 + name_len
    topic, item = struct.unpack_from("<II", data, pos)
    assert (topic, item) == (0, 0)
    (size,) = struct.unpack_from("<I", data, pos + 8)
    native = data[pos + 12 : pos + 12 + size]
    assert len(native) == size
    return name, native


def _check_equation_cfb(native: bytes) -> None:
    streams = read_cfb(native)
    assert set(streams) == {"\x01Ole", "\x01CompObj", "\x03ObjInfo", "Equation Native"}
    eq = streams["Equation Native"]
    hdr_size, version, _cf, size = struct.unpack_from("<HIHI", eq)
    assert (hdr_size, version) == (0x1C, 0x00020000)
    mtef = eq[hdr_size:]
    assert len(mtef) == size
    assert mtef[:5] == bytes([3, 1, 1, 3, 0x0A])
    font = mtef.index(b"\x08\x5a\x5a")
    name = mtef[font + 3 : mtef.index(b"\x00", font + 3)]
    assert name == b"A" * len(name)
    assert len(name) > 40  # longer than the 40-byte buffer the CVE-2017-11882 lures overflow
    assert b"Equation.3" in streams["\x01CompObj"]


@pytest.mark.parametrize(
    ("name", "class_name"),
    [("equation-editor.rtf", "Equation.3"), ("equation-editor-obfuscated.rtf", "EqUATion.3")],
)
def test_object_bytes_decode(name: str, class_name: str) -> None:
    data = build.build_bytes(name)
    assert data.startswith(b"{\\rtf1")
    ole1 = bytes.fromhex(_objdata_hex(data).decode("ascii"))
    got_class, native = _parse_ole1(ole1)
    assert got_class == class_name
    assert native == rtf.equation_object()
    _check_equation_cfb(native)


def test_obfuscated_variant_defeats_naive_matching() -> None:
    data = build.build_bytes("equation-editor-obfuscated.rtf")
    assert b"\\objclass Equation.3" not in data
    assert b"{\\*\\xyz" in data
    hex_run = re.search(rb"\\objdata\s*([0-9a-fA-F]{200,})", data)
    assert hex_run is None, "the hex must be interrupted by junk"
    assert data.count(b"{") - data.count(b"}") == 1, "the document's closing brace is missing"


def test_rtfobj_finds_equation_object() -> None:
    rtfobj = pytest.importorskip("oletools.rtfobj")
    for name in ("equation-editor.rtf", "equation-editor-obfuscated.rtf"):
        parser = rtfobj.RtfObjParser(build.build_bytes(name))
        parser.parse()
        (obj,) = parser.objects
        assert obj.is_ole
        assert obj.format_id == 2
        assert obj.class_name.rstrip(b"\x00").lower() == b"equation.3"
        assert obj.clsid == EQUATION_CLSID
        assert "CVE-2017-11882" in obj.clsid_desc
        assert obj.oledata == rtf.equation_object()


def test_benign_rtf_has_no_object() -> None:
    data = build.build_bytes("benign-equation.rtf")
    assert b"\\object" not in data
    assert b"\\objdata" not in data
    assert b"\\pngblip" in data
    rtfobj = pytest.importorskip("oletools.rtfobj")
    parser = rtfobj.RtfObjParser(data)
    parser.parse()
    assert parser.objects == []


def test_bare_equation_object() -> None:
    data = build.build_bytes("equation-object.bin")
    _check_equation_cfb(data)
    olefile = pytest.importorskip("olefile")
    ole = olefile.OleFileIO(data, raise_defects=olefile.DEFECT_UNSURE)
    assert ole.root.clsid == EQUATION_CLSID
    assert ole.exists("Equation Native")
    assert ole.parsing_issues == []


def test_png_is_valid() -> None:
    png = rtf.tiny_png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.endswith(b"IEND\xaeB`\x82")
