"""RFC 5322/MIME e-mail (EML) with the standard-library ``email`` package.

Parsed with ``policy.default``; any header the modern policy chokes on is read raw and decoded with
``email.header`` instead, and a message the default parser cannot read at all is parsed with
``compat32``. The MIME tree is walked by hand (bounded part count and depth) so that nested
``message/rfc822`` mails become children instead of being flattened into the parent.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import mimetypes
import quopri
import re
from email import policy as email_policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses
from typing import TYPE_CHECKING

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats.email_checks import Attachment, MailView, analyze_view
from aptcatch.capture.types import FileType
from aptcatch.model.scan import IndicatorType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

MAX_PARTS = 1000
MAX_MIME_DEPTH = 30
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
_AUTH = re.compile(r"(?i)\b(spf|dkim|dmarc|arc|compauth)\s*=\s*([a-z]+)")


def _fix_surrogates(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def decode_words(raw: str) -> str:
    """Unfold a raw header value and decode RFC 2047 encoded words; never raises."""
    raw = re.sub(r"\r?\n[ \t]+", " ", raw).strip()
    try:
        text = str(make_header(decode_header(raw)))
    except Exception:  # unknown charsets, broken encoded words
        text = raw
    return _fix_surrogates(text)


def raw_headers(msg: Message, name: str) -> list[str]:
    lname = name.lower()
    out: list[str] = []
    for key, value in msg.raw_items():
        if key.lower() == lname:
            out.append(value if isinstance(value, str) else str(value))
    return out


def header(msg: Message, name: str) -> str:
    values = raw_headers(msg, name)
    return decode_words(values[0]) if values else ""


def addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs: the modern header parser first, then the raw value."""
    raws = [re.sub(r"\r?\n[ \t]+", " ", v) for v in raw_headers(msg, name)]
    out: list[tuple[str, str]] = []
    if msg.policy is not email_policy.compat32:
        try:
            for h in msg.get_all(name) or []:
                for a in getattr(h, "addresses", ()):
                    out.append((_fix_surrogates(a.display_name), _fix_surrogates(a.addr_spec)))
        except Exception:
            out = []
        out = [(d, a) for d, a in out if a and a != "<>"]
        if out:
            return out[:500]
    try:
        pairs = getaddresses(raws)
    except Exception:
        pairs = []
    for disp, addr in pairs:
        if addr or disp:
            out.append((decode_words(disp), _fix_surrogates(addr.strip())))
    if not out and raws:  # unparseable: keep whatever looks like an address
        for raw in raws:
            for m in re.finditer(r"[\w.+%-]{1,64}@[\w-]+(?:\.[\w-]+)+", raw):
                out.append(("", m.group(0)))
    return out[:500]


def parse_message(data: bytes) -> tuple[Message, str]:
    try:
        return BytesParser(policy=email_policy.default).parsebytes(data), "default"
    except Exception:
        return BytesParser(policy=email_policy.compat32).parsebytes(data), "compat32"


def _filename(part: Message) -> str:
    name: str | None
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        try:
            name = part.get_param("name", header="content-type")  # type: ignore[assignment]
        except Exception:
            name = None
        if isinstance(name, tuple):
            name = name[2]
    return decode_words(str(name)) if name else ""


def _text(part: Message, payload: bytes) -> str:
    charset = "utf-8"
    try:
        charset = part.get_content_charset() or "utf-8"
        return payload.decode(charset, "replace")
    except (LookupError, ValueError):
        return payload.decode("utf-8", "replace") if charset.lower() != "utf-8" else payload.decode("latin-1")


def _message_bytes(sub: Message) -> bytes:
    for pol in (None, email_policy.compat32):
        try:
            return sub.as_bytes(policy=pol) if pol is not None else sub.as_bytes()
        except Exception:
            continue
    return b""


_ENCODED = ("base64", "quoted-printable")


def _encoded_message(sub: Message, cte: str) -> bytes:
    """A message/rfc822 part sent base64/QP-encoded (not allowed, but seen): decode the inner text."""
    text = sub.get_payload()
    if not isinstance(text, str):
        return _message_bytes(sub)
    raw = text.encode("ascii", "ignore")
    try:
        return base64.b64decode(raw) if cte == "base64" else quopri.decodestring(raw)
    except (binascii.Error, ValueError):
        return raw


def walk(msg: Message, view: MailView, ctx: ArtifactContext) -> None:
    count = 0
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        count += 1
        if count > MAX_PARTS:
            ctx.error("limit", f"more than {MAX_PARTS} MIME parts: the rest are not read")
            return
        try:
            ctype = part.get_content_type()
        except Exception:
            ctype = "application/octet-stream"
        if part.is_multipart():
            subs = part.get_payload()
            if not isinstance(subs, list):
                continue
            if ctype.startswith("message/") and part is not msg:
                cte = str(part.get("content-transfer-encoding", "")).strip().lower()
                for sub in subs[:10]:
                    if isinstance(sub, Message):
                        blob = _encoded_message(sub, cte) if cte in _ENCODED else _message_bytes(sub)
                        subj = header(sub, "subject")[:80] or _filename(part) or "message"
                        name = subj if subj.lower().endswith((".eml", ".msg")) else f"{subj}.eml"
                        view.attachments.append(Attachment(name, blob, ctype))
                continue
            if depth >= MAX_MIME_DEPTH:
                ctx.error("limit", f"MIME nesting deeper than {MAX_MIME_DEPTH}")
                continue
            stack.extend((s, depth + 1) for s in reversed(subs) if isinstance(s, Message))
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception as exc:
            ctx.error("parse", f"MIME part {ctype}: {exc}"[:300])
            continue
        if not isinstance(payload, bytes):
            payload = b""
        name = _filename(part)
        try:
            disposition = part.get_content_disposition()
        except Exception:
            disposition = None
        if name or disposition == "attachment" or ctype == "application/ms-tnef":
            if not name:
                ext = (
                    "dat" if ctype == "application/ms-tnef" else (mimetypes.guess_extension(ctype) or ".bin")
                )
                name = "winmail.dat" if ctype == "application/ms-tnef" else f"attachment-{count}{ext}"
            view.attachments.append(Attachment(name, payload, ctype))
        elif ctype == "text/plain":
            view.plain.append(_text(part, payload))
        elif ctype == "text/html":
            view.html.append(_text(part, payload))
        elif part.get_content_maintype() == "application" and payload:
            view.attachments.append(
                Attachment(f"attachment-{count}{mimetypes.guess_extension(ctype) or '.bin'}", payload, ctype)
            )


def transport_facts(ctx: ArtifactContext, msg: Message) -> None:
    """Received chain, originating IPs, authentication results, mailer and ids → meta/indicators."""
    received = [decode_words(r) for r in raw_headers(msg, "received")]
    ctx.meta("received_hops", len(received))
    ips: list[str] = []
    for hop in received[:100]:
        from_part = re.split(r"(?i)\bby\b", hop, maxsplit=1)[0]
        for m in _IPV4.finditer(from_part):
            try:
                ip = ipaddress.ip_address(m.group(1))
            except ValueError:
                continue
            if ip.is_global and m.group(1) not in ips:
                ips.append(m.group(1))
    for xo in ("x-originating-ip", "x-sender-ip", "x-real-ip"):
        for m in _IPV4.finditer(header(msg, xo)):
            try:
                if ipaddress.ip_address(m.group(1)).is_global and m.group(1) not in ips:
                    ips.append(m.group(1))
            except ValueError:
                continue
    if ips:
        ctx.meta("received_ips", list(ips[:50]))
        ctx.meta("originating_ip", ips[-1])
        for ip_s in ips[:50]:
            ctx.indicator(IndicatorType.IPV4, ip_s, "email_received")
    for key, meta_key in (
        ("date", "date"),
        ("message-id", "message_id"),
        ("x-mailer", "x_mailer"),
        ("user-agent", "user_agent"),
        ("x-originating-ip", "x_originating_ip"),
        ("thread-index", "thread_index"),
        ("content-language", "content_language"),
        ("received-spf", "received_spf"),
    ):
        value = header(msg, key)
        if value:
            ctx.meta(meta_key, value)
    results: dict[str, str] = {}
    for raw in (
        raw_headers(msg, "authentication-results")[:10] + raw_headers(msg, "arc-authentication-results")[:5]
    ):
        for m in _AUTH.finditer(decode_words(raw)):
            results.setdefault(m.group(1).lower(), m.group(2).lower())
    spf = header(msg, "received-spf").split(" ", 1)[0].lower()
    if spf and "spf" not in results:
        results["spf"] = spf
    for mech, result in results.items():
        ctx.meta(f"auth_{mech}", result)
    failed = [
        f"{m}={r}" for m, r in results.items() if r in ("fail", "softfail") and m in ("spf", "dkim", "dmarc")
    ]
    if failed:
        ctx.finding("email.auth_failure", ", ".join(failed))


def view_from_message(msg: Message, ctx: ArtifactContext) -> MailView:
    view = MailView(subject=header(msg, "subject"))
    frm = addresses(msg, "from") or addresses(msg, "sender")
    if frm:
        view.from_name, view.from_addr = frm[0]
    view.reply_to = [a for _, a in addresses(msg, "reply-to") if a]
    rp = addresses(msg, "return-path")
    view.return_path = rp[0][1] if rp else ""
    view.to = [a for _, a in addresses(msg, "to") if "@" in a]
    view.cc = [a for _, a in addresses(msg, "cc") if "@" in a]
    walk(msg, view, ctx)
    return view


class EmlAnalyzer:
    name = "email"
    types: frozenset[FileType] | None = frozenset({FileType.EML})

    def analyze(self, ctx: ArtifactContext) -> None:
        msg, used = parse_message(ctx.data)
        if used != "default":
            ctx.meta("parser", used)
        if msg.defects:
            ctx.meta("mime_defects", [type(d).__name__ for d in msg.defects[:20]])
        view = view_from_message(msg, ctx)
        transport_facts(ctx, msg)
        analyze_view(ctx, view)


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [EmlAnalyzer()]
