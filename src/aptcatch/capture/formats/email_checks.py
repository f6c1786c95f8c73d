"""What EML and MSG share once parsed: a ``MailView`` of headers, bodies and attachments, and the
checks run on it (sender identity, links, HTML smuggling, password hints, attachment names).

Password hints are collected from subject and bodies and handed to ``ctx.add_passwords`` before the
attachments are queued, so that the archive analysers (which run after the mail) can try them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from aptcatch.capture.context import ArtifactContext, MetaValue
from aptcatch.capture.formats.archive_common import (
    ARCHIVE_EXT,
    RISKY_ATTACHMENT_EXT,
    _words,
    encrypted_archive,
    ext_of,
    name_findings,
)
from aptcatch.capture.indicators import extract_indicators
from aptcatch.model.scan import IndicatorType


@dataclass
class Attachment:
    name: str
    data: bytes
    content_type: str = ""
    meta: dict[str, MetaValue] = field(default_factory=dict)


@dataclass
class MailView:
    subject: str = ""
    from_name: str = ""
    from_addr: str = ""
    reply_to: list[str] = field(default_factory=list)
    return_path: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


# -- HTML -----------------------------------------------------------------------------------------------


class _Visible(HTMLParser):
    """Visible text and link targets of an HTML body (scripts and styles dropped)."""

    _SKIP = frozenset({"script", "style", "head", "title", "noscript"})
    _BREAK = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "td"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        if tag in self._BREAK:
            self.parts.append("\n")
        for key, value in attrs:
            if value and key in ("href", "src", "action", "background", "data") and len(self.links) < 2000:
                self.links.append(value.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, list[str]]:
    p = _Visible()
    try:
        p.feed(html)
        p.close()
    except (AssertionError, ValueError):  # HTMLParser on hostile markup
        pass
    text = re.sub(r"[ \t\r\f\v\u00a0]+", " ", "".join(p.parts))
    text = re.sub(r"\n\s*\n+", "\n\n", text)
    return text.strip(), p.links


# -- passwords ------------------------------------------------------------------------------------------

_PW_WORDS = (
    r"passwords?|passwd|pass\s?code|pwd|pw|p/w|kennwort|passwort|mot\s+de\s+passe|contrase[ñn]a|senha|"
    r"parola|hasło|haslo|heslo|wachtwoord|lösenord|şifre|sifre|kata\s+sandi|mật\s+khẩu|пароль|парола|"
    r"лозинка|解压密码|解壓密碼|解压码|密码|密碼|口令|暗号|パスワード|비밀번호|암호|رمز\s*(?:ال)?عبور|"
    r"كلمة\s*(?:ال)?(?:مرور|سر)|رمز"
)
_QUOTES = "\"'“”‘’«»「」『』【】`"
_Q = re.escape(_QUOTES)
_EXPLICIT = re.compile(
    rf"(?i)(?<![\w])(?:{_PW_WORDS})(?:[^\n:：=]{{0,40}}?)\s*[:：=]\s*"
    rf"(?:[{_Q}]([^{_Q}\n]{{1,64}})[{_Q}]|(\S{{1,64}}))"
)
_VERBAL = re.compile(
    rf"(?i)(?<![\w])(?:{_PW_WORDS})(?:\s+(?:is|est|ist|es|é|это|for\s+\S+\s+is)|\s*(?:是|为|為))\s*"
    rf"(?:[{_Q}]([^{_Q}\n]{{1,64}})[{_Q}]|(\S{{1,64}}))"
)
_BARE = re.compile(
    rf"(?i)(?<![\w])(?:{_PW_WORDS})\s*[(（]?\s*(?:[{_Q}]([^{_Q}\n]{{1,64}})[{_Q}]|([^\s,，。(（]{{1,32}}))"
)
_QUOTED = re.compile(rf"[{_Q}]([^{_Q}\n]{{1,64}})[{_Q}]")
_STOP = _words(
    "protected is the for of to and please required attached attachment archive file files zip rar "
    "will be you your we our it this that with in on a an as by reset change expired expires policy "
    "manager protect protection encrypted below above following same usual"
)
_TRAIL = ".,;:!?。，；、)]}）】»>"


def _clean(token: str) -> list[str]:
    token = token.strip().strip(_QUOTES)
    out: list[str] = []
    first = re.split(r"[，。；、,;]", token)[0].rstrip(_TRAIL).strip()
    if first.lower() in _STOP:
        return out
    for cand in (first, token.rstrip(_TRAIL), token):
        cand = cand.strip()
        if 1 <= len(cand) <= 64 and cand.lower() not in _STOP and cand not in out:
            out.append(cand)
    return out


def password_candidates(text: str) -> list[str]:
    """Candidate archive passwords announced in a subject or body ("password: X", "密码：X" ...)."""
    out: list[str] = []

    def add(values: list[str]) -> None:
        for v in values:
            if v not in out and len(out) < 32:
                out.append(v)

    text = text[:200_000]
    for rx in (_EXPLICIT, _VERBAL, _BARE):
        for m in rx.finditer(text):
            add(_clean(m.group(1) or m.group(2) or ""))
    for m in re.finditer(rf"(?i)(?<![\w])(?:{_PW_WORDS})", text):
        window = text[m.end() : m.end() + 80]
        for q in _QUOTED.finditer(window):
            add(_clean(q.group(1)))
    return out


# -- sender checks ------------------------------------------------------------------------------------

FREE_MAIL = _words(
    "gmail.com googlemail.com yahoo.com yahoo.co.jp yahoo.co.uk ymail.com hotmail.com outlook.com "
    "live.com msn.com aol.com gmx.com gmx.de gmx.net web.de mail.com mail.ru inbox.ru list.ru bk.ru "
    "yandex.ru yandex.com ya.ru rambler.ru ukr.net protonmail.com proton.me pm.me tutanota.com "
    "tutanota.de tuta.io zoho.com icloud.com me.com qq.com foxmail.com 163.com 126.com yeah.net "
    "sina.com sina.cn sohu.com aliyun.com 139.com naver.com daum.net hanmail.net kakao.com "
    "rediffmail.com yopmail.com mailfence.com cock.li onionmail.org seznam.cz o2.pl wp.pl interia.pl "
    "abv.bg"
)
_OFFICIAL = re.compile(
    r"(?i)\b(ministry|minister|embassy|consulate|government|gov\b|parliament|senate|president|presidential|"
    r"administration|department|agency|council|commission|committee|military|army|navy|defen[cs]e|police|"
    r"court|prosecutor|customs|tax|treasury|central\s+bank|bank|united\s+nations|un\s|nato|osce|"
    r"secretariat|office\s+of|university|institute|mfa|mofa|mod\b)"
    r"|министерств|посольств|правительств|администрац|外交部|国防部|國防部|公安部|商务部|财政部|教育部|"
    r"国务院|委员会|委員會|政府|大使馆|大使館|领事馆|办公厅|辦公廳|人民银行|外務省|防衛省|大使館|"
    r"대사관|외교부|정부|국방부|통일부"
)
_GOVLIKE_LABEL = re.compile(r"(?i)(^|[-.])(gov|govt|mil|mofa|mfa|mod|embassy|ministry|minfin|mid)([-.]|\d|$)")
_REAL_GOV = re.compile(
    r"(?i)\.(gov|mil|gouv|gob|go|govt|gc)(\.[a-z]{2})?$|\.gov\.[a-z]{2}$|(^|\.)gov\.[a-z]{2}$"
)


def domain_of(addr: str) -> str:
    return addr.rsplit("@", 1)[-1].strip().strip(">").lower() if "@" in addr else ""


def _org(domain: str) -> str:
    """Crude registrable domain: last two labels, three for 2-letter second levels under a ccTLD."""
    labels = [x for x in domain.split(".") if x]
    if (
        len(labels) >= 3
        and len(labels[-1]) == 2
        and labels[-2] in {"co", "com", "gov", "org", "net", "ac", "edu"}
    ):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def sender_checks(ctx: ArtifactContext, view: MailView) -> None:
    frm = view.from_addr.lower()
    fdom = domain_of(frm)
    if re.fullmatch(r"[^@\s<>]{1,64}@[a-z0-9.-]+\.[a-z]{2,24}", frm):
        ctx.indicator(IndicatorType.EMAIL, frm, "email_from")
    for rt in view.reply_to:
        rdom = domain_of(rt)
        if rdom and fdom and _org(rdom) != _org(fdom):
            ctx.finding("email.reply_to_mismatch", f"From {frm!r}, Reply-To {rt.lower()!r}")
            ctx.indicator(IndicatorType.EMAIL, rt.lower(), "email_reply_to")
    pdom = domain_of(view.return_path)
    if pdom and fdom and _org(pdom) != _org(fdom):
        ctx.finding("email.return_path_mismatch", f"From {fdom!r}, Return-Path {pdom!r}")
        ctx.indicator(IndicatorType.EMAIL, view.return_path.lower().strip("<>"), "email_return_path")
    name = view.from_name
    for itype, value in extract_indicators(name):
        if itype is IndicatorType.EMAIL and value.lower() != frm:
            ctx.finding("email.display_name_spoof", f"display name {name!r} but address {frm!r}")
            break
    if fdom and (_OFFICIAL.search(name) or _OFFICIAL.search(frm.split("@")[0])):
        if fdom in FREE_MAIL:
            ctx.finding("email.official_name_free_mail", f"{name!r} <{frm}> uses free mail")
        elif _GOVLIKE_LABEL.search(fdom) and not _REAL_GOV.search(fdom):
            ctx.finding("email.official_name_free_mail", f"{name!r} <{frm}>: government-like domain {fdom!r}")


# -- bodies, links, attachments -----------------------------------------------------------------------

_DOWNLOAD_EXT = frozenset(
    RISKY_ATTACHMENT_EXT | ARCHIVE_EXT | {"doc", "docx", "xls", "xlsx", "pdf", "rtf", "apk"}
)
_SMUGGLE = (
    re.compile(r"msSaveOrOpenBlob|msSaveBlob", re.I),
    re.compile(r"\batob\s*\(", re.I),
    re.compile(r"new\s+Blob\s*\(", re.I),
    re.compile(r"\.download\s*=|\bdownload\s*=\s*[\"']?[\w.]|createObjectURL", re.I),
)


def link_checks(ctx: ArtifactContext, urls: list[str]) -> None:
    for url in urls[:500]:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").strip("[]")
        except ValueError:
            continue
        if parts.scheme.lower() not in ("http", "https", "ftp"):
            continue
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None and not ip.is_loopback:
            ctx.finding("email.ip_url", url[:200])
        if ext_of(parts.path) in _DOWNLOAD_EXT:
            ctx.finding("email.download_link", url[:200])


def smuggling_check(ctx: ArtifactContext, html: str) -> None:
    hits = [rx.pattern.split("\\")[0] for rx in _SMUGGLE if rx.search(html)]
    if _SMUGGLE[0].search(html) or (len(hits) >= 3 and _SMUGGLE[1].search(html) and _SMUGGLE[2].search(html)):
        ctx.finding("email.html_smuggling", "HTML body builds a file: " + ", ".join(hits))


def analyze_view(ctx: ArtifactContext, view: MailView) -> None:
    """Everything after parsing: metadata, lure text, indicators, findings, passwords, then children."""
    recipients = [*view.to, *view.cc]
    sender = f"{view.from_name} <{view.from_addr}>" if view.from_name else view.from_addr
    ctx.meta("subject", view.subject)
    ctx.meta("from", sender)
    if view.to:
        ctx.meta("to", list(view.to[:100]))
    if view.cc:
        ctx.meta("cc", list(view.cc[:100]))
    if view.reply_to:
        ctx.meta("reply_to", list(view.reply_to[:10]))
    if view.return_path:
        ctx.meta("return_path", view.return_path)
    ctx.email_headers(view.subject or None, sender or None, recipients)
    if view.subject:
        ctx.text(view.subject, "email_subject")
    sender_checks(ctx, view)

    texts: list[str] = [view.subject]
    links: list[str] = []
    for body in view.plain:
        ctx.text(body, "email_body")
        ctx.indicators_from_text(body, "email_body")
        texts.append(body)
        links.extend(v for t, v in extract_indicators(body) if t is IndicatorType.URL)
    for html in view.html:
        visible, hrefs = html_to_text(html)
        if not view.plain:
            ctx.text(visible, "email_body")
        texts.append(visible)
        ctx.indicators_from_text(visible, "email_body")
        ctx.indicators_from_text("\n".join(hrefs), "email_body")
        links.extend(h for h in hrefs if re.match(r"(?i)(https?|ftp)://", h))
        links.extend(v for t, v in extract_indicators(visible) if t is IndicatorType.URL)
        smuggling_check(ctx, html)
    link_checks(ctx, links)

    hints: list[str] = []
    for t in texts:
        for c in password_candidates(t):
            if c not in hints:
                hints.append(c)
    if hints:
        ctx.meta("password_hints", list(hints))
        ctx.add_passwords(hints)

    names = [a.name for a in view.attachments]
    name_findings(ctx, names, "email")
    for a in view.attachments:
        ext = ext_of(a.name)
        if ext in RISKY_ATTACHMENT_EXT:
            ctx.finding("email.risky_attachment_name", repr(a.name))
        if (
            hints
            and (ext in ARCHIVE_EXT or a.data[:2] in (b"PK", b"Ra", b"7z"))
            and encrypted_archive(a.data)
        ):
            ctx.finding(
                "email.encrypted_attachment_password_in_body",
                f"{a.name!r} is encrypted; candidates from the text: {', '.join(hints[:5])}",
            )
    ctx.meta("attachments", [a.name for a in view.attachments[:200]])
    for a in view.attachments:
        meta: dict[str, MetaValue] = {"attachment": a.name, **a.meta}
        if a.content_type:
            meta["content_type"] = a.content_type
        if hints:
            meta["password_hints"] = list(hints)
        ctx.child(a.name, a.data, metadata=meta)
