"""Text-based spreadsheet and web-archive formats: SYLK, CSV (DDE) and MHTML with ActiveMime parts.

- SYLK: ``C`` records carry formulas in their ``E`` field; ``O;…;E`` marks a macro sheet and ``NN``
  records define names such as Auto_Open — the XLM-in-SYLK technique.
- CSV: cells starting with ``=``, ``+``, ``-``, ``@`` can hold DDE formulas (``=cmd|' /c …'!A0``).
- MHTML (Word "single file web page", often renamed .doc): MIME parts are decoded with the standard
  ``email`` parser; ActiveMime (``editdata.mso``/``oledata.mso``) blobs are unpacked to their OLE data.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import Message
from typing import TYPE_CHECKING

from aptcatch.capture.analyzer import Analyzer
from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import ooxml_dde, ooxml_xlm
from aptcatch.capture.formats.ooxml_flat import child_blob
from aptcatch.capture.formats.ooxml_xml import meta_list
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig

MAX_LINES = 1_000_000
MAX_MIME_PARTS = 500


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8", "replace").lstrip("\ufeff")


def _slk_fields(line: str) -> list[str]:
    """SYLK fields split on ';' where ';;' is a literal semicolon."""
    return [f.replace("\0", ";") for f in line.replace(";;", "\0").split(";")]


class SylkAnalyzer:
    name = "sylk"
    types: frozenset[FileType] | None = frozenset({FileType.SLK})

    def analyze(self, ctx: ArtifactContext) -> None:
        formulas: list[tuple[str, str]] = []
        macro_sheet = False
        autos: list[str] = []
        row = col = "?"
        for n, line in enumerate(_decode(ctx.data).splitlines()):
            if n >= MAX_LINES:
                ctx.error("limit", f"more than {MAX_LINES} lines; the rest are ignored")
                break
            fields = _slk_fields(line)
            kind = fields[0]
            if kind == "O" and "E" in fields[1:]:
                macro_sheet = True
            elif kind == "NN":
                name = next((f[1:] for f in fields[1:] if f.startswith("N")), "")
                if re.match(r"(?i)^auto_(open|activate|close)", name):
                    target = next((f[1:] for f in fields[1:] if f.startswith("E")), "")
                    autos.append(f"{name} → {target}")
            elif kind == "C":
                for f in fields[1:]:
                    if f.startswith("Y"):
                        row = f[1:]
                    elif f.startswith("X"):
                        col = f[1:]
                    elif f.startswith("E"):
                        formulas.append((f"R{row}C{col}", "=" + f[1:]))
        if macro_sheet:
            ctx.finding("xlm.macrosheet", "SYLK file flagged as a macro sheet (O;E)")
        if autos:
            ctx.meta("xlm_auto_open", meta_list(autos, 20))
            ctx.finding("xlm.auto_open", "; ".join(autos[:5]))
        if formulas:
            ctx.meta("xlm_formulas", meta_list((f"{r} {t[:200]}" for r, t in formulas), 20))
            ooxml_xlm.judge(ctx, formulas, "SYLK")


class CsvAnalyzer:
    name = "csv-dde"
    types: frozenset[FileType] | None = frozenset({FileType.CSV})

    def analyze(self, ctx: ArtifactContext) -> None:
        text = _decode(ctx.data[: 64 * 1024 * 1024])
        if "|" in text or "DDE" in text.upper():
            ooxml_dde.scan_formulas(ctx, text, "CSV")
        cells = re.findall(r"(?m)(?:^|[,;\t])\s*\"?([=+\-@][A-Za-z][^\r\n,;\t]{0,2000})", text)
        funcs = [c for c in cells if re.search(r"(?i)\b(EXEC|CALL|REGISTER|HYPERLINK|WEBSERVICE)\s*\(", c)]
        if funcs:
            ooxml_xlm.judge(ctx, [("csv", f) for f in funcs[:1000]], "CSV")


class MhtAnalyzer:
    name = "mht"
    types: frozenset[FileType] | None = frozenset({FileType.MHT})

    def analyze(self, ctx: ArtifactContext) -> None:
        msg = email.message_from_bytes(ctx.data, policy=email.policy.compat32)
        n = 0
        for part in msg.walk():
            if part.is_multipart():
                continue
            n += 1
            if n > MAX_MIME_PARTS:
                ctx.error("limit", f"more than {MAX_MIME_PARTS} MIME parts; the rest are ignored")
                break
            self._part(ctx, part, n)

    def _part(self, ctx: ArtifactContext, part: Message, n: int) -> None:
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload:
            return
        location = str(part.get("Content-Location") or f"part{n}")
        ctype = part.get_content_type()
        if payload.startswith(b"ActiveMime") or location.lower().endswith(".mso"):
            child_blob(ctx, location.rsplit("/", 1)[-1] or location, payload)
        elif ctype == "text/html" and n <= 3:
            html = payload.decode(part.get_content_charset() or "utf-8", "replace")
            if "ms-msdt:" in html.lower():
                ctx.finding("ooxml.follina", f"{location}: ms-msdt: in MHTML part")
            body = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
            text = re.sub(r"(?s)<[^>]+>", " ", body)
            text = re.sub(r"&nbsp;", " ", text)
            text = re.sub(r"[ \t\r\f\v]+", " ", text)
            ctx.text(re.sub(r"\n\s*\n+", "\n", text).strip()[:100_000], "document")
            ctx.child(location.rsplit("/", 1)[-1] or f"part{n}.html", payload, type_hint=FileType.HTML)
        elif ctype not in ("text/css", "text/xml") and not ctype.startswith("image/"):
            ctx.child(location.rsplit("/", 1)[-1] or f"part{n}", payload)


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [SylkAnalyzer(), CsvAnalyzer(), MhtAnalyzer()]
