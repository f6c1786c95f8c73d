"""Outlook .msg (MS-OXMSG) through extract_msg, opened on the bytes in memory; nothing is saved.

The message's transport headers (when Outlook kept them) go through the same Received/authentication
analysis as an EML; bodies, attachments and embedded messages feed the shared ``MailView`` checks.
"""

from __future__ import annotations

import contextlib
import logging
from email.message import Message as EmailMessage
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

import extract_msg
from extract_msg.enums import AttachmentType, ErrorBehavior

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats.email import addresses, transport_facts
from aptcatch.capture.formats.email_checks import Attachment, MailView, analyze_view
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

MAX_ATTACHMENTS = 500
logging.getLogger("extract_msg").setLevel(logging.CRITICAL)


def _safe(obj: Any, attr: str) -> Any:
    try:
        return getattr(obj, attr)
    except Exception:
        return None


def _pairs(value: Any) -> list[tuple[str, str]]:
    if not value:
        return []
    try:
        return [(n, a) for n, a in getaddresses([str(value).replace("\r", " ").replace("\n", " ")]) if a or n]
    except Exception:
        return []


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _attachments(ctx: ArtifactContext, msg: Any, view: MailView) -> None:
    atts = _safe(msg, "attachments") or []
    for i, att in enumerate(atts):
        if i >= MAX_ATTACHMENTS:
            ctx.error("limit", f"more than {MAX_ATTACHMENTS} attachments: the rest are not read")
            break
        name = str(
            _safe(att, "longFilename") or _safe(att, "shortFilename") or _safe(att, "displayName") or ""
        )
        kind = _safe(att, "type")
        mime = str(_safe(att, "mimetype") or "")
        data = _safe(att, "data")
        if kind in (AttachmentType.MSG, AttachmentType.SIGNED_EMBEDDED) or hasattr(data, "exportBytes"):
            try:
                blob = data.exportBytes()
            except Exception as exc:
                ctx.error("parse", f"embedded message {name!r}: {exc}"[:300])
                continue
            subject = str(_safe(data, "subject") or "message")[:80]
            view.attachments.append(Attachment(name or f"{subject}.msg", blob, "application/vnd.ms-outlook"))
        elif isinstance(data, bytes):
            view.attachments.append(Attachment(name or f"attachment-{i}.bin", data, mime))
        elif kind == AttachmentType.WEB:
            url = str(_safe(att, "url") or "")
            if url:
                ctx.indicators_from_text(url, "email_attachment_link")
        else:
            ctx.error("unsupported", f"attachment {name!r} ({kind}) not extracted")


class MsgAnalyzer:
    name = "msg"
    types: frozenset[FileType] | None = frozenset({FileType.MSG})

    def analyze(self, ctx: ArtifactContext) -> None:
        try:
            msg = extract_msg.openMsg(
                ctx.data, delayAttachments=False, errorBehavior=ErrorBehavior.SUPPRESS_ALL, strict=False
            )
        except Exception as exc:  # extract_msg raises many kinds on damaged files
            ctx.error("parse", f"msg: {type(exc).__name__}: {exc}"[:300])
            return
        try:
            self._analyze(ctx, msg)
        finally:
            with contextlib.suppress(Exception):
                msg.close()

    def _analyze(self, ctx: ArtifactContext, msg: Any) -> None:
        view = MailView(subject=_text(_safe(msg, "subject")))
        ctx.meta("message_class", str(_safe(msg, "classType") or ""))
        headers = _safe(msg, "header")
        sender = _pairs(_safe(msg, "sender"))
        if sender:
            view.from_name, view.from_addr = sender[0]
        if isinstance(headers, EmailMessage):
            transport_facts(ctx, headers)
            view.reply_to = [a for _, a in addresses(headers, "reply-to") if a]
            rp = addresses(headers, "return-path")
            view.return_path = rp[0][1] if rp else ""
            if not view.from_addr:
                frm = addresses(headers, "from")
                if frm:
                    view.from_name, view.from_addr = frm[0]
        view.to = [a for _, a in _pairs(_safe(msg, "to")) if "@" in a]
        view.cc = [a for _, a in _pairs(_safe(msg, "cc")) if "@" in a]
        date = _safe(msg, "date")
        if date is not None:
            ctx.meta("date", str(date))
        body = _text(_safe(msg, "body"))
        if body.strip():
            view.plain.append(body)
        html = _text(_safe(msg, "htmlBody"))
        if html.strip():
            view.html.append(html)
        _attachments(ctx, msg, view)
        analyze_view(ctx, view)


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [MsgAnalyzer()]
