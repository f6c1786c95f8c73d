"""E-mail extraction (EML, MSG): headers, bodies, password hints, attachment findings. Inputs are built
in memory with the standard library; the corpus tests read ../shared/data."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
import pyzipper

from aptcatch.capture.context import ArtifactContext, ItemState, Node
from aptcatch.capture.engine import ScanConfig, Scanner
from aptcatch.capture.formats import archive, archive_7z, archive_iso, archive_rar, email, msg
from aptcatch.capture.formats.email_checks import html_to_text, password_candidates
from aptcatch.capture.limits import Limits
from aptcatch.model.scan import ItemResult

LNK = b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F" + b"\x00" * 60


def scanner(**kw: object) -> Scanner:
    cfg = ScanConfig(**kw)  # type: ignore[arg-type]
    mods = (archive, archive_7z, archive_iso, archive_rar, email, msg)
    return Scanner(cfg, analyzers=[a for m in mods for a in m.analyzers(cfg)])


def ids(r: ItemResult) -> set[str]:
    return {f.id for f in r.findings}


def encrypted_zip(members: dict[str, bytes], password: str) -> bytes:
    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(password.encode())
        for n, d in members.items():
            zf.writestr(n, d)
    return buf.getvalue()


def lure(
    body: str,
    attachments: dict[str, bytes] | None = None,
    html: str | None = None,
    subject: str = "关于2024年度工作会议的通知",
    sender: str = '"Ministry of Foreign Affairs" <mofa.office@163.com>',
    reply_to: str | None = "press@mofa-gov.net",
) -> bytes:
    m = EmailMessage(policy=SMTP)
    m["Received"] = "from [45.77.10.20] (unknown [45.77.10.20]) by mx.victim.example with ESMTP id 1"
    m["Received"] = "from mail.relay.example (mail.relay.example [10.0.0.5]) by mx2.victim.example"
    m["Authentication-Results"] = "mx.victim.example; spf=fail smtp.mailfrom=163.com; dkim=none"
    m["From"] = sender
    m["To"] = "Li Wei <li.wei@victim.example>, ops@victim.example"
    m["Cc"] = "boss@victim.example"
    if reply_to:
        m["Reply-To"] = reply_to
    m["Return-Path"] = "<bounce@mailer.example>"
    m["Subject"] = subject
    m["Date"] = "Tue, 05 Mar 2024 09:12:44 +0800"
    m["Message-ID"] = "<abc123@mofa-gov.net>"
    m["X-Mailer"] = "Foxmail 7.2.25.228[cn]"
    m.set_content(body, charset="utf-8", cte="base64")
    if html is not None:
        m.add_alternative(html, subtype="html", charset="utf-8")
    for name, data in (attachments or {}).items():
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return m.as_bytes()


def test_headers_bodies_and_meta() -> None:
    r = scanner().scan_bytes(
        lure("您好，附件是会议材料。\nhttp://45.77.10.20/files/agenda.rar"), name="m.eml"
    )
    a = r.artifact
    assert a.type == "eml"
    assert a.metadata["subject"] == "关于2024年度工作会议的通知"
    assert a.metadata["from"] == "Ministry of Foreign Affairs <mofa.office@163.com>"
    assert a.metadata["to"] == ["li.wei@victim.example", "ops@victim.example"]
    assert a.metadata["received_hops"] == 2 and a.metadata["originating_ip"] == "45.77.10.20"
    assert a.metadata["auth_spf"] == "fail" and a.metadata["x_mailer"].startswith("Foxmail")
    assert r.lure.subject == "关于2024年度工作会议的通知"
    assert "li.wei@victim.example" in r.lure.recipients
    values = {(i.type.value, i.value) for i in r.indicators}
    assert ("email", "mofa.office@163.com") in values and ("ipv4", "45.77.10.20") in values
    assert ("url", "http://45.77.10.20/files/agenda.rar") in values
    found = ids(r)
    assert {"email.reply_to_mismatch", "email.return_path_mismatch", "email.auth_failure"} <= found
    assert {"email.official_name_free_mail", "email.ip_url", "email.download_link"} <= found


def test_password_in_body_opens_attachment() -> None:
    z = encrypted_zip({"会议通知.docx.lnk": LNK}, "Mfa#2024")
    data = lure("请查收附件。\n解压密码：Mfa#2024，谢谢。", {"会议通知.zip": z})
    r = scanner().scan_bytes(data, name="m.eml")
    assert r.artifact.metadata["password_hints"][0] == "Mfa#2024"  # type: ignore[index]
    (att,) = r.artifact.children
    assert att.name == "会议通知.zip" and att.type == "zip"
    assert [c.name for c in att.children] == ["会议通知.docx.lnk"]
    assert att.children[0].type == "lnk"
    found = ids(r)
    assert {"email.encrypted_attachment_password_in_body", "archive.password_from_email"} <= found
    assert {"archive.double_extension", "archive.lnk_or_script_only"} <= found
    assert r.verdict == "malicious"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The password is: infected123.", "infected123"),
        ("Password for the archive: 'Summit 2024'", "Summit 2024"),
        ("解压密码：abc123，请查收", "abc123"),
        ("密码是 778899", "778899"),
        ("Пароль: Qwerty!7", "Qwerty!7"),
        ("pw 2468", "2468"),
        ("Kennwort = Geheim99", "Geheim99"),
        ("비밀번호: 5566", "5566"),
        ('use password "x y z" to open', "x y z"),
    ],
)
def test_password_candidates(text: str, expected: str) -> None:
    assert expected in password_candidates(text)


def test_password_candidates_ignore_plain_prose() -> None:
    assert password_candidates("Your document is password protected.") == []


def test_attachment_name_findings_and_smuggling() -> None:
    html = (
        "<html><body><p>Dear colleague,</p><a href='https://docs-share.top/view'>open</a><script>"
        "var b = new Blob([Uint8Array.from(atob(p), c => c.charCodeAt(0))]);"
        "a.download = 'Agenda.iso';</script></body></html>"
    )
    data = lure(
        "see attached",
        {"Agenda.pdf.exe": b"MZ" + b"\x00" * 100, "Agenda\u202efdp.scr": b"x", "notes.iso": b"y"},
        html=html,
        sender="IT Support <it@victim.example>",
        reply_to=None,
    )
    r = scanner().scan_bytes(data, name="m.eml")
    found = ids(r)
    assert {"email.double_extension_attachment", "email.rtlo_attachment_name"} <= found
    assert {"email.risky_attachment_name", "email.html_smuggling"} <= found
    assert "email.reply_to_mismatch" not in found and "email.official_name_free_mail" not in found
    assert any(i.value == "https://docs-share.top/view" for i in r.indicators)
    assert len(r.artifact.children) == 3


def test_display_name_spoof_and_nested_message() -> None:
    inner = lure("inner body", sender="a@b.example", reply_to=None)
    m = EmailMessage()
    m["From"] = '"ceo@victim.example" <ceo.victim@gmail.com>'
    m["To"] = "x@victim.example"
    m["Subject"] = "=?utf-8?b?0KHRgNC+0YfQvdC+?="
    m["Message-ID"] = "<1@x>"
    m.set_content("fyi")
    m.add_attachment(inner, maintype="message", subtype="rfc822")
    r = scanner().scan_bytes(m.as_bytes(), name="fwd.eml")
    assert r.artifact.metadata["subject"] == "Срочно"
    assert "email.display_name_spoof" in ids(r)
    kids = r.artifact.children
    assert len(kids) == 1 and kids[0].type == "eml"


def test_html_to_text() -> None:
    text, links = html_to_text(
        "<style>x{}</style><p>Hello&nbsp;<b>world</b></p><a href='http://e.test/a'>x</a>"
    )
    assert "Hello" in text and "world" in text and "x{}" not in text
    assert links == ["http://e.test/a"]


def test_garbage_does_not_crash() -> None:
    for blob in (b"From: a\nSubject: \xff\xfe=?bad?Q?x?=\nContent-Type: multipart/mixed\n\n--", b"\x00" * 50):
        node = Node("0", "x.eml", blob, 0, None)
        ctx = ArtifactContext(node, ItemState(limits=Limits()), "email")
        email.EmlAnalyzer().analyze(ctx)


@pytest.mark.corpus
def test_strelka_emails(shared_data: Path) -> None:
    base = shared_data / "strelka-fixtures"
    sc = scanner()
    emls = sorted(base.glob("test*.eml"))
    assert len(emls) >= 10
    for p in emls:
        r = sc.scan_file(p)
        assert r.verdict != "malicious", p.name
        node = Node("0", p.name, p.read_bytes(), 0, None)  # forced through the EML analyser too
        email.EmlAnalyzer().analyze(ArtifactContext(node, ItemState(limits=Limits()), "email"))
    r = sc.scan_file(base / "test.eml")
    assert [c.name for c in r.artifact.children] == ["image001.jpg", "test.doc"]
    r = sc.scan_file(base / "test_email_encoded_headers.eml")
    assert r.artifact.metadata["subject"] == "予業通知 - Delivery Notification"
    assert "hans.mueller@corp.example" in r.artifact.metadata["to"]  # type: ignore[operator]


@pytest.mark.corpus
def test_outlook_msgs(shared_data: Path) -> None:
    msgs = sorted((shared_data / "benign-office").glob("*.msg"))
    assert msgs
    sc = scanner()
    for p in msgs:
        r = sc.scan_file(p)
        assert r.artifact.type == "msg", p.name
        assert r.verdict != "malicious", p.name
    r = sc.scan_file(shared_data / "benign-office" / "hsmf__attachment_msg_pdf.msg")
    assert r.artifact.metadata["subject"] == "test email"
    assert sorted(c.type for c in r.artifact.children) == ["msg", "pdf"]
