"""PE analyser on a handwritten 1 KiB PE32 (one .text section of RET bytes, imports, RSDS debug record)."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.model.scan import Artifact, ItemResult

PDB = r"D:\Work\Loader\Release\stage2_loader.pdb"
GUID = bytes.fromhex("00112233445566778899aabbccddeeff")


def _section_data(imports: list[str]) -> bytes:
    sec = bytearray(b"\xc3" * 0x10 + b"\x00" * 0x1F0)
    # debug directory at RVA 0x1010 -> CodeView RSDS record at RVA 0x1040 (file offset 0x240)
    cv = b"RSDS" + GUID + struct.pack("<I", 3) + PDB.encode() + b"\x00"
    sec[0x10 : 0x10 + 28] = struct.pack("<IIHHIIII", 0, 0x5F000000, 0, 0, 2, len(cv), 0x1040, 0x240)
    sec[0x40 : 0x40 + len(cv)] = cv
    if imports:
        # descriptor at RVA 0x1100, ILT 0x1140, IAT 0x1160, DLL name 0x1180, hint/names from 0x11A0
        sec[0x100:0x114] = struct.pack("<IIIII", 0x1140, 0, 0, 0x1180, 0x1160)
        thunks = b"".join(struct.pack("<I", 0x11A0 + 0x20 * i) for i in range(len(imports))) + b"\x00" * 4
        sec[0x140 : 0x140 + len(thunks)] = thunks
        sec[0x160 : 0x160 + len(thunks)] = thunks
        sec[0x180:0x18D] = b"kernel32.dll\x00"
        for i, name in enumerate(imports):
            entry = b"\x00\x00" + name.encode() + b"\x00"
            sec[0x1A0 + 0x20 * i : 0x1A0 + 0x20 * i + len(entry)] = entry
    return bytes(sec)


def make_pe(imports: list[str] | None = None, dll: bool = False, timestamp: int = 0x5F000000) -> bytes:
    imports = imports or []
    dos = b"MZ" + b"\x00" * 0x3A + struct.pack("<I", 0x40)
    chars = 0x0102 | (0x2000 if dll else 0)
    file_header = struct.pack("<HHIIIHH", 0x14C, 1, timestamp, 0, 0, 0xE0, chars)
    dirs = [(0, 0)] * 16
    if imports:
        dirs[1] = (0x1100, 40)
    dirs[6] = (0x1010, 28)
    optional = struct.pack(
        "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
        0x10B, 14, 0, 0x200, 0, 0, 0x1000, 0x1000, 0, 0x400000, 0x1000, 0x200,
        6, 0, 0, 0, 6, 0, 0, 0x2000, 0x200, 0, 3, 0, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
    )  # fmt: skip
    optional += b"".join(struct.pack("<II", rva, size) for rva, size in dirs)
    assert len(optional) == 0xE0
    section = struct.pack("<8sIIIIIIHHI", b".text", 0x200, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020)
    headers = dos + b"PE\x00\x00" + file_header + optional + section
    return headers.ljust(0x200, b"\x00") + _section_data(imports)


def ids(r: ItemResult) -> set[str]:
    return {f.id for f in r.findings}


def test_pe_fields_pdb_and_injection_imports() -> None:
    pe = make_pe(["VirtualAllocEx", "WriteProcessMemory", "CreateRemoteThread"])
    r = Scanner().scan_bytes(pe, name="update.exe")
    assert r.type == "pe"
    meta = r.artifact.metadata
    assert meta["pe_machine"] == "I386" and meta["pe_kind"] == "exe" and meta["pe_subsystem"] == "WINDOWS_CUI"
    assert meta["pe_pdb_path"] == PDB
    assert meta["pe_pdb_guid"] == "33221100-5544-7766-8899-AABBCCDDEEFF"
    assert meta["pe_pdb_age"] == 3
    assert meta["pe_signature_blob"] is False
    assert meta["pe_import_dlls"] == ["kernel32.dll"]
    assert isinstance(meta["pe_imphash"], str) and len(meta["pe_imphash"]) == 32
    assert meta["pe_compile_time"] == "2020-07-04T04:05:20Z"
    assert {"pe.executable", "pe.injection_api", "pe.unsigned"} <= ids(r)
    assert any(i.type.value == "pdb_path" and i.value == PDB for i in r.indicators)
    assert "T1055" in r.techniques
    assert r.verdict in ("suspicious", "malicious")


def test_timestamp_notes_and_zero_imports() -> None:
    r = Scanner().scan_bytes(make_pe(timestamp=0x2A425E19), name="a.exe")
    assert "Delphi" in str(r.artifact.metadata["pe_timestamp_note"])
    r = Scanner().scan_bytes(make_pe(timestamp=0), name="a.exe")
    assert "zero" in str(r.artifact.metadata["pe_timestamp_note"])


def test_overlay_with_archive_becomes_child() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hello " * 200)
    r = Scanner().scan_bytes(make_pe() + buf.getvalue(), name="setup.exe")
    assert "pe.overlay_payload" in ids(r)
    assert [c.type for c in r.artifact.children] == ["zip"]


def test_malformed_pe_is_an_error_not_a_crash() -> None:
    broken = make_pe()[:0x150]
    r = Scanner().scan_bytes(broken, name="broken.exe")
    assert r.artifact.type == "pe"
    assert r.artifact.errors or "pe.executable" in ids(r)


def test_elf_is_identified_lightly() -> None:
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + struct.pack("<HH", 2, 62) + b"\x00" * 100
    r = Scanner().scan_bytes(elf, name="x")
    assert r.type == "elf"
    assert ids(r) >= {"elf.executable"}
    assert r.artifact.metadata["elf_machine"] == "x86-64"


@pytest.mark.corpus
def test_version_info_from_real_dotnet_exe(shared_data: Path) -> None:
    r = Scanner().scan_file(shared_data / "strelka-fixtures" / "test.onepkg")
    pes = []

    def walk(a: Artifact) -> None:
        if a.type == "pe":
            pes.append(a)
        for c in a.children:
            walk(c)

    walk(r.artifact)
    if not pes:
        pytest.skip("OneNote package extraction did not yield the PE")
    meta = pes[0].metadata
    assert meta["pe_dotnet"] is True and meta["pe_machine"] == "AMD64"
    assert meta["pe_version_OriginalFilename"] == "HelloWorld.exe"
