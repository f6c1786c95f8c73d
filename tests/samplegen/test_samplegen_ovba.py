"""MS-OVBA compression, encryption, dir stream and the generated VBA projects (olevba)."""

from __future__ import annotations

import io
import random
import struct
import zipfile

import pytest

from samplegen import build, ovba
from samplegen.cfb import read_cfb

_RND = random.Random(7)
CASES = [
    b"",
    b"a",
    b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa",
    b"abc" * 5000,
    _RND.randbytes(4096),  # incompressible full chunk: stored raw
    _RND.randbytes(9000) + b"x" * 300,
    build.LURE_MACRO.encode("cp936") * 4,
]


@pytest.mark.parametrize("data", CASES, ids=lambda d: f"len{len(d)}")
@pytest.mark.parametrize("copy_tokens", [True, False])
def test_compress_roundtrip(data: bytes, copy_tokens: bool) -> None:
    if not copy_tokens and len(data) % ovba.CHUNK_SIZE > 3640:
        pytest.skip("a literal-only short final chunk would overflow; not a case the writer meets")
    packed = ovba.compress(data, use_copy_tokens=copy_tokens)
    assert packed[0] == 1
    assert ovba.decompress(packed) == data


def test_copy_tokens_really_compress() -> None:
    text = build.LURE_MACRO.encode("cp936") * 3
    with_tokens = ovba.compress(text)
    literal = ovba.compress(text, use_copy_tokens=False)
    assert len(with_tokens) < len(text) // 2 < len(literal)
    # a chunk with copy tokens has at least one flag bit set
    assert any(b & 1 for b in with_tokens[3:40])


def test_oletools_decompressor_agrees() -> None:
    olevba = pytest.importorskip("oletools.olevba")
    for data in CASES:
        for tokens in (True, False):
            if not tokens and len(data) % ovba.CHUNK_SIZE > 3640:
                continue
            packed = ovba.compress(data, use_copy_tokens=tokens)
            assert bytes(olevba.decompress_stream(bytearray(packed))) == data


def test_decompress_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="0x01"):
        ovba.decompress(b"\x02abc")
    with pytest.raises(ValueError, match="signature"):
        ovba.decompress(b"\x01\x00\x00")


def test_encryption_matches_a_real_cmg_value() -> None:
    # CMG of a real, unprotected project with this ID (seed 0x17, data = 4 zero bytes).
    project_id = "{9E76F5A0-DAC8-4521-BCEF-644697F88708}"
    assert ovba.encrypt_data(project_id, b"\x00" * 4, seed=0x17) == "1715EF1A11262C2A2C2A2C2A2C2A"
    for seed in range(0, 256, 37):
        assert ovba.decrypt_data(ovba.encrypt_data(project_id, b"\xff\x00x", seed=seed)) == b"\xff\x00x"


def _records(dir_stream: bytes) -> list[int]:
    ids = []
    pos = 0
    while pos < len(dir_stream):
        rid, size = struct.unpack_from("<HI", dir_stream, pos)
        ids.append(rid)
        if rid == 0x0009:  # PROJECTVERSION: Reserved=4 but 6 bytes of data
            size = 6
        elif rid in (0x0021, 0x0022, 0x002B, 0x0010):
            size = 0  # these carry a Reserved u32 (already skipped) instead of a size
        pos += 6 + size
    assert pos == len(dir_stream)
    return ids


def test_dir_stream_records_in_spec_order() -> None:
    modules = [
        ovba.document_module("ThisWorkbook", build.WORKBOOK_CLSID, "Sub A()\nEnd Sub\n"),
        ovba.standard_module("Module1", "Sub B()\nEnd Sub\n"),
    ]
    ids = _records(ovba.build_dir_stream("VBAProject", modules, 936))
    head = [0x01, 0x02, 0x14, 0x03, 0x04, 0x05, 0x40, 0x06, 0x3D, 0x07, 0x08, 0x09, 0x0C, 0x3C]
    assert ids[: len(head)] == head
    module = [0x19, 0x47, 0x1A, 0x32, 0x1C, 0x48, 0x31, 0x1E, 0x2C]
    start = ids.index(0x0F)
    assert ids[start : start + 2] == [0x0F, 0x13]
    assert ids[start + 2 : start + 2 + len(module)] == module
    assert ids[start + 2 + len(module) : start + 4 + len(module)] == [0x22, 0x2B]
    assert ids[-3:] == [0x21, 0x2B, 0x10]


def _lure_vba() -> bytes:
    return build.lure_vba_project()


def test_vba_project_streams() -> None:
    streams = read_cfb(_lure_vba())
    assert set(streams) == {
        "PROJECT",
        "PROJECTwm",
        "VBA/_VBA_PROJECT",
        "VBA/dir",
        "VBA/ThisWorkbook",
        "VBA/Sheet1",
    }
    assert streams["VBA/_VBA_PROJECT"] == bytes.fromhex("CC61FFFF000000")
    project = streams["PROJECT"].decode("cp936")
    assert "Document=ThisWorkbook/&H00000000" in project
    assert "[Host Extender Info]" in project
    assert "[Workspace]" in project
    for key in ("CMG", "DPB", "GC"):
        line = next(x for x in project.splitlines() if x.startswith(key + "="))
        ovba.decrypt_data(line.split('"')[1])
    assert streams["PROJECTwm"].endswith(b"\x00\x00")
    source = ovba.decompress(streams["VBA/ThisWorkbook"]).decode("cp936")
    assert source.startswith('Attribute VB_Name = "ThisWorkbook"\r\n')
    assert "Private Sub Workbook_Open()" in source


def _xlsm(name: str) -> bytes:
    if name == "lure":
        return build.lure_xlsm()
    return build.build_bytes("benign-macro.xlsm")


def test_olefile_reads_vba_project_without_defects() -> None:
    olefile = pytest.importorskip("olefile")
    for name in ("lure", "benign"):
        data = zipfile.ZipFile(io.BytesIO(_xlsm(name))).read("xl/vbaProject.bin")
        ole = olefile.OleFileIO(data, raise_defects=olefile.DEFECT_UNSURE)
        assert ole.parsing_issues == []
        assert ole.exists("VBA/dir")


def test_olevba_extracts_lure_macro_exactly() -> None:
    olevba = pytest.importorskip("oletools.olevba")
    parser = olevba.VBA_Parser("lure.xlsm", data=_xlsm("lure"), relaxed=False)
    assert parser.detect_vba_macros()
    macros = {stream: code for _f, stream, _n, code in parser.extract_macros()}
    expected = ovba.document_module("ThisWorkbook", build.WORKBOOK_CLSID, build.LURE_MACRO).source
    assert macros["VBA/ThisWorkbook"] == expected
    assert "VBA/Sheet1" in macros
    results = parser.analyze_macros()
    found = {(kind, keyword) for kind, keyword, _desc in results}
    assert ("AutoExec", "Workbook_Open") in found
    assert ("Suspicious", "Shell") in found
    assert ("Suspicious", "Chr") in found
    assert ("Suspicious", "Environ") in found
    parser.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_olevba_deobfuscates_the_hidden_command() -> None:
    olevba = pytest.importorskip("oletools.olevba")
    parser = olevba.VBA_Parser("lure.xlsm", data=_xlsm("lure"))
    results = parser.analyze_macros(deobfuscate=True)
    strings = "".join(keyword for kind, keyword, _ in results if kind == "VBA string")
    assert "regsvr32" in strings
    assert "http://update.example-cdn.test/ti.sct" in strings
    assert "Startup" in strings
    parser.close()


def test_benign_macro_has_no_autoexec_and_no_shell() -> None:
    olevba = pytest.importorskip("oletools.olevba")
    parser = olevba.VBA_Parser("benign.xlsm", data=_xlsm("benign"), relaxed=False)
    macros = {stream: code for _f, stream, _n, code in parser.extract_macros()}
    assert "Sub FormatTable()" in macros["VBA/Module1"]
    kinds = {(kind, keyword) for kind, keyword, _ in parser.analyze_macros()}
    assert not [k for k in kinds if k[0] in ("AutoExec", "IOC")]
    assert ("Suspicious", "Shell") not in kinds
    parser.close()
