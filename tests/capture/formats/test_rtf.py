"""RTF analyser: objects (plain and exploit-kit obfuscated), document checks, text, robustness, corpus."""

from __future__ import annotations

import io
import struct
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.capture.formats.rtf_deobf import parse_structure
from aptcatch.capture.formats.rtf_objects import parse_ole1
from aptcatch.capture.formats.rtf_text import extract_text
from aptcatch.model.scan import ItemResult

HEAD = b"{\\rtf1\\ansi\\ansicpg1252\\deff0\\deflang1033{\\fonttbl{\\f0\\fswiss\\fcharset0 Arial;}}\r\n"


# -- builders -------------------------------------------------------------------------------------------
def lpstr(s: bytes) -> bytes:
    return struct.pack("<I", len(s) + 1) + s + b"\x00"


def ole1(cls: bytes, native: bytes) -> bytes:
    return (
        struct.pack("<II", 0x0501, 2)
        + lpstr(cls)
        + struct.pack("<II", 0, 0)
        + struct.pack("<I", len(native))
        + native
    )


def mtef_native(name_len: int = 48) -> bytes:
    mtef = bytes([3, 1, 1, 3, 0x0A, 0x0A, 0x01, 0x08, 0x5A, 0x5A]) + b"A" * name_len + b"\x00\x00\x00"
    return struct.pack("<HIHIIIII", 0x1C, 0x00020000, 0xC1A3, len(mtef), 0, 0, 0, 0) + mtef


def rtf(
    objdata_text: bytes, cls: bytes = b"Equation.3", head: bytes = HEAD, body: bytes = b"Hello world"
) -> bytes:
    return (
        head + b"\\pard " + body + b"\\par\r\n{\\object\\objemb\\objupdate{\\*\\objclass " + cls + b"}"
        b"{\\*\\objdata " + objdata_text + b"}}\\par}\r\n"
    )


def hexlines(data: bytes) -> bytes:
    h = data.hex().encode()
    return b"\r\n".join(h[i : i + 128] for i in range(0, len(h), 128))


def findings(r: ItemResult) -> set[str]:
    return {f.id for f in r.findings}


EQ_OBJ = ole1(b"Equation.3", mtef_native())


# -- plain objects ------------------------------------------------------------------------------------
def test_plain_equation_object(scanner: Scanner) -> None:
    r = scanner.scan_bytes(rtf(hexlines(EQ_OBJ)), name="a.rtf")
    f = findings(r)
    assert {"rtf.equation_object", "equation.object", "equation.font_overflow_11882"} <= f
    assert "rtf.obfuscation" not in f
    assert r.verdict == "malicious"
    child = r.artifact.children[0]
    assert child.type == "mtef" and child.name.startswith("object_0 Equation.3")
    assert r.artifact.metadata["rtf_object_classes"] == ["Equation.3"]


def test_ole1_parser_tolerates_random_version_and_truncation() -> None:
    raw = struct.pack("<II", 0xDEADBEEF, 2) + lpstr(b"Package") + struct.pack("<III", 0, 0, 1000) + b"xyz"
    o = parse_ole1(raw)
    assert o is not None and o.class_name == "Package" and o.native == b"xyz" and o.truncated
    assert parse_ole1(b"\x01\x05\x00\x00\x09\x00\x00\x00") is None


# -- obfuscation ----------------------------------------------------------------------------------------
def _junk(h: bytes) -> bytes:
    out = bytearray()
    for i in range(0, len(h), 6):
        out += h[i : i + 6]
        out += [b" \t", b"{\\*\\xyz12}", b"\\pard1234 ", b"\r\n", b"\\bin0 ", b"{\\*\\par1 }"][i // 6 % 6]
    return bytes(out)


def test_junk_inside_hex_is_skipped_like_word(scanner: Scanner) -> None:
    r = scanner.scan_bytes(rtf(_junk(EQ_OBJ.hex().encode())), name="b.rtf")
    f = findings(r)
    assert {"rtf.equation_object", "equation.font_overflow_11882", "rtf.obfuscation"} <= f
    detail = next(x.detail for x in r.findings if x.id == "rtf.obfuscation")
    assert "junk control words" in detail and "\\bin" in detail


def test_odd_rule_escape_drops_a_digit(scanner: Scanner) -> None:
    h = EQ_OBJ.hex().encode()
    # after an odd number of digits Word drops the last one together with \'hh
    text = b"".join(h[i : i + 4] + b"7\\'41" for i in range(0, len(h), 4))
    r = scanner.scan_bytes(rtf(text), name="c.rtf")
    assert {"rtf.equation_object", "equation.font_overflow_11882"} <= findings(r)


def test_nibble_adjacent_escape(scanner: Scanner) -> None:
    # 758a0e-style: every digit is followed by "f\'cc", and that "f" is what Word drops
    text = b"".join(bytes([c]) + b"f\\'cc" for c in EQ_OBJ.hex().encode())
    r = scanner.scan_bytes(rtf(text), name="d.rtf")
    f = findings(r)
    assert {"rtf.equation_object", "equation.font_overflow_11882", "rtf.obfuscation"} <= f


def test_garbled_class_header_and_overlong_objdata(scanner: Scanner) -> None:
    data = (
        b"{\\rtvpn\\ansi " + b"x\\par{\\object\\objemb{\\*\\objclass EqUaTion.3}"
        b"{\\*\\objdataxyzxyz " + hexlines(ole1(b"EqUaTion.3", mtef_native())) + b"}}}"
    )
    r = scanner.scan_bytes(data, name="e.rtf")
    f = findings(r)
    assert {"rtf.equation_object", "rtf.obfuscation"} <= f
    detail = next(x.detail for x in r.findings if x.id == "rtf.obfuscation")
    assert "non-standard header" in detail and "overlong" in detail and "garbled class" in detail


def test_equation_without_object_structure(scanner: Scanner) -> None:
    # no OLE1 header, unknown class: only the EQNOLEFILEHDR + MTEF survives in the hex
    r = scanner.scan_bytes(rtf(hexlines(b"\x00" * 7 + mtef_native()), cls=b"zz"), name="f.rtf")
    f = findings(r)
    assert "rtf.obfuscated_equation" in f and "equation.font_overflow_11882" in f


def test_samplegen_obfuscated_rtf(scanner: Scanner) -> None:
    gen = pytest.importorskip("samplegen.rtf")
    for data in (gen.equation_rtf(["Invoice"]), gen.obfuscated_equation_rtf(["Invoice"])):
        r = scanner.scan_bytes(data, name="g.rtf")
        assert {"rtf.equation_object", "equation.font_overflow_11882"} <= findings(r), findings(r)
        assert r.verdict == "malicious"
    assert not any(
        f.id.startswith(("rtf.", "equation.")) for f in scanner.scan_bytes(gen.picture_rtf(["Hi"])).findings
    )


# -- other object classes ------------------------------------------------------------------------------
def test_ole2link_url_moniker(scanner: Scanner) -> None:
    url = "http://198.51.100.9/doc.hta"
    moniker = uuid.UUID("79EAC9E0-BAF9-11CE-8C82-00AA004BA90B").bytes_le
    raw = (url + "\x00").encode("utf-16-le")
    native = b"\x01\x00\x00\x02" + b"\x00" * 16 + moniker + struct.pack("<I", len(raw)) + raw + b"\x00" * 24
    r = scanner.scan_bytes(rtf(hexlines(ole1(b"OLE2Link", native)), cls=b"Word.Document.8"), name="h.rtf")
    assert "rtf.ole2link" in findings(r)
    assert any(i.value == url for i in r.indicators)


def test_package_with_executable(scanner: Scanner) -> None:
    payload = b"MZ" + b"\x00" * 100
    pkg = (
        b"\x02\x00" + b"invoice.exe\x00" + b"C:\\Users\\a\\invoice.exe\x00" + struct.pack("<II", 0, 3)
        + b"C:\\Users\\a\\AppData\\Local\\Temp\\invoice.exe\x00" + struct.pack("<I", len(payload)) + payload
    )  # fmt: skip
    r = scanner.scan_bytes(rtf(hexlines(ole1(b"Package", pkg)), cls=b"Package"), name="i.rtf")
    f = findings(r)
    assert {"rtf.package_object", "rtf.package_executable"} <= f
    assert r.artifact.children[0].name == "invoice.exe"


def test_remote_template_fonts_and_pfragments(scanner: Scanner) -> None:
    fonts = b"".join(b"{\\f%d Arial;}" % i for i in range(5000))
    data = (
        b"{\\rtf1\\ansi{\\fonttbl" + fonts + b"}{\\*\\template http://203.0.113.5/t.dotm}"
        b"{\\shp{\\*\\shpinst{\\sp{\\sn pFragments}{\\sv 5;1;" + b"41" * 20000 + b"}}}}text}"
    )
    r = scanner.scan_bytes(data, name="j.rtf")
    f = findings(r)
    assert {"rtf.remote_template", "rtf.font_table_overflow", "rtf.pfragments"} <= f
    assert any(i.value == "http://203.0.113.5/t.dotm" for i in r.indicators)


# -- text and metadata ---------------------------------------------------------------------------------
def test_text_codepage_unicode_and_info() -> None:
    data = (
        b"{\\rtf1\\ansi\\ansicpg936\\deff0\\deflang1033\\deflangfe2052"
        b"{\\fonttbl{\\f0\\fnil\\fcharset134 SimSun;}}"
        b"{\\info{\\author Zhang San}{\\operator Li Si}{\\company ACME}"
        b"{\\creatim\\yr2019\\mo6\\dy3\\hr9\\min5}}"
        b"{\\*\\generator Msftedit}\\f0 \\'d6\\'d0\\'ce\\'c4 \\u25991?\\u20214? report\\par "
        b"{\\*\\objdata 0105}{\\pict 89504e47}Second line}"
    )
    t = extract_text(data)
    assert t.text == "中文 文件 report\nSecond line"
    assert t.codepage == 936 and t.deflang == 1033 and t.deflangfe == 2052
    assert t.info == {
        "author": "Zhang San",
        "last_saved_by": "Li Si",
        "company": "ACME",
        "created": "2019-06-03T09:05:00",
    }


def test_benign_text_rtf_is_clean(scanner: Scanner) -> None:
    data = HEAD + b"{\\info{\\title Quarterly}}\\pard Dear colleagues,\\par please find the agenda.\\par}"
    r = scanner.scan_bytes(data, name="k.rtf")
    assert r.verdict == "clean" and not findings(r) - {"chain.user_execution"}
    assert r.artifact.metadata["title"] == "Quarterly"


# -- robustness -----------------------------------------------------------------------------------------
def test_truncations_never_crash(scanner: Scanner) -> None:
    data = rtf(_junk(EQ_OBJ.hex().encode()))
    for cut in range(1, len(data), max(1, len(data) // 60)):
        r = scanner.scan_bytes(data[:cut], name="t.rtf")
        errs = [e for e in r.artifact.errors if e.analyzer in ("rtf", "equation")]
        assert all(e.message.startswith("oletools rtfobj failed") for e in errs), errs


def test_huge_hex_and_escapes_stay_fast() -> None:
    big = b"{\\rtf1{\\object{\\*\\objdata " + b"0f\\'cc" * 200_000 + b"41" * 1_000_000 + b"}}}"
    t = time.perf_counter()
    st = parse_structure(big)
    assert time.perf_counter() - t < 10
    assert len(st.objects) == 1 and st.objects[0].escapes == 200_000


def test_many_objects_capped(scanner: Scanner) -> None:
    data = HEAD + b"".join(b"{\\object{\\*\\objdata 0102}}" for _ in range(400)) + b"}"
    r = scanner.scan_bytes(data, name="m.rtf")
    assert any(e.kind == "limit" for e in r.artifact.errors)


# -- corpus ---------------------------------------------------------------------------------------------
EXPLOIT_FINDINGS = {
    "rtf.equation_object",
    "rtf.obfuscated_equation",
    "rtf.ole2link",
    "equation.font_overflow_11882",
}


def _read_zip(path: Path, pwd: bytes) -> bytes:
    import pyzipper

    with pyzipper.AESZipFile(path) as z:
        return bytes(z.read(z.namelist()[0], pwd=pwd))


@pytest.mark.corpus
def test_corpus_obfuscated_rtfs_are_malicious(shared_data: Path, scanner: Scanner) -> None:
    folder = shared_data / "maldocs-dev"
    paths = sorted((folder / "2018-08-RTF-Byte-Nibble-Obfuscation").glob("*.zip"))
    paths += sorted((folder / "2019-06-Frankenstein").glob("6b2c*.zip"))
    assert len(paths) == 11
    for p in paths:
        r = scanner.scan_bytes(_read_zip(p, b"infected"), name=p.stem[:12])
        f = findings(r)
        assert r.verdict == "malicious", (p.name, f)
        assert f & EXPLOIT_FINDINGS, (p.name, f)
        assert "rtf.obfuscation" in f, (p.name, f)


@pytest.mark.corpus
def test_corpus_oletools_rtfs(shared_data: Path, scanner: Scanner) -> None:
    base = shared_data / "oletools-testdata" / "tests" / "test-data"
    spec = scanner.scan_bytes((base / "msodde" / "RTF-Spec-1.7.rtf").read_bytes(), name="spec.rtf")
    assert not {f for f in findings(spec) if f.startswith(("rtf.", "equation."))}
    assert spec.artifact.metadata["author"] == "Microsoft Corporation"
    with zipfile.ZipFile(io.BytesIO((base / "rtfobj" / "issue_185.rtf.zip").read_bytes())) as z:
        data = z.read(z.namelist()[0], pwd=b"infected-test")
    r = scanner.scan_bytes(data, name="issue_185.rtf")
    assert r.artifact.metadata.get("rtf_objects")
