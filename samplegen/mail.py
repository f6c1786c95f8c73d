"""RFC 5322 / MIME lure e-mails, built with :mod:`email` from the standard library.

Boundaries, dates and Message-IDs are fixed so the output is reproducible. Received headers use
reserved names (``.test``/``.example``) and TEST-NET addresses only.

Attachment names can be written two ways, as real mailers do: RFC 2231 (``filename*=utf-8''...``,
what standards-minded clients write) or RFC 2047 encoded words inside the quoted parameter
(``filename="=?GB18030?B?...?="``, what Foxmail and many webmail front ends write; not standard,
but every mail client and Python's ``email`` decode it).
"""

from __future__ import annotations

import base64
import email.policy
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import encoders
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr
from typing import Literal, cast

_POLICY = email.policy.compat32.clone(linesep="\r\n", max_line_length=78)


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    mime: str = "application/octet-stream"


@dataclass(frozen=True)
class Mail:
    subject: str
    sender: str
    to: str
    text: str
    html: str | None = None
    attachments: Sequence[Attachment] = field(default_factory=list)
    date: str = "Thu, 23 Jan 2020 09:12:44 +0800"
    message_id: str = "<20200123091244.4f1c@mail.example>"
    received: Sequence[str] = field(default_factory=list)
    reply_to: str | None = None
    mailer: str = "Foxmail 7.2.15.80[cn]"
    charset: str = "utf-8"
    filename_style: Literal["rfc2231", "rfc2047"] = "rfc2231"


def _address(value: str, charset: str) -> str:
    name, addr = parseaddr(value)
    return formataddr((name, addr), charset=charset) if name else addr


def _text_part(text: str, subtype: str, charset: str) -> MIMEText:
    part = MIMEText(text.replace("\n", "\r\n"), subtype, charset)
    del part["MIME-Version"]
    return part


def _attachment(att: Attachment, mail: Mail) -> MIMEBase:
    maintype, _, subtype = att.mime.partition("/")
    part = MIMEBase(maintype, subtype)
    del part["MIME-Version"]
    part.set_payload(att.data)
    encoders.encode_base64(part)
    if mail.filename_style == "rfc2047":
        encoded = base64.b64encode(att.filename.encode(mail.charset)).decode("ascii")
        word = f"=?{mail.charset.upper()}?B?{encoded}?="
        part.set_param("name", word)
        part.add_header("Content-Disposition", "attachment", filename=word)
    else:
        # compat32 writes a non-ASCII str parameter as RFC 2231 (utf-8''...)
        part.set_param("name", att.filename)
        part.add_header("Content-Disposition", "attachment", filename=att.filename)
    return part


def build_mail(mail: Mail, boundary_seed: str = "aptcatch") -> bytes:
    """Serialise ``mail`` to CRLF bytes (multipart/mixed when it has attachments)."""
    body: Message
    if mail.html is None:
        body = _text_part(mail.text, "plain", mail.charset)
    else:
        body = MIMEMultipart("alternative", boundary=f"----=_NextPart_{boundary_seed}_002_2020")
        del body["MIME-Version"]
        body.attach(_text_part(mail.text, "plain", mail.charset))
        body.attach(_text_part(mail.html, "html", mail.charset))
    msg: Message
    if mail.attachments:
        msg = MIMEMultipart("mixed", boundary=f"----=_NextPart_{boundary_seed}_001_2020")
        del msg["MIME-Version"]
        msg.attach(body)
        for att in mail.attachments:
            msg.attach(_attachment(att, mail))
    else:
        msg = body
    subject: str | Header = mail.subject if mail.subject.isascii() else Header(mail.subject, mail.charset)
    headers: list[tuple[str, str | Header]] = [("Received", hop) for hop in mail.received]
    headers += [("From", _address(mail.sender, mail.charset)), ("To", _address(mail.to, mail.charset))]
    if mail.reply_to:
        headers.append(("Reply-To", mail.reply_to))
    headers += [
        ("Subject", subject),
        ("Date", mail.date),
        ("Message-ID", mail.message_id),
        ("X-Mailer", mail.mailer),
        ("MIME-Version", "1.0"),
    ]
    # Top-level headers go first, in the order a mail server would show them.
    existing = msg.items()
    for key in list(dict.fromkeys(k for k, _ in existing)):
        del msg[key]
    for key, value in [*headers, *existing]:
        msg[key] = cast(str, value)  # compat32 folds and writes Header objects itself
    return msg.as_bytes(policy=_POLICY)
