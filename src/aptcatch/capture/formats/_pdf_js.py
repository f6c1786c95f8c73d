"""Heuristics over PDF JavaScript and link geometry (helpers of the PDF analyser, no parsing)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_JS_SCAN = 2 * 1024 * 1024

EXPLOIT_APIS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("pdf.js_exploit_util_printf", re.compile(r"util\s*\.\s*printf\s*\("), "util.printf"),
    ("pdf.js_exploit_collab_geticon", re.compile(r"Collab\s*\.\s*getIcon\s*\(", re.I), "Collab.getIcon"),
    ("pdf.js_exploit_media_newplayer", re.compile(r"media\s*\.\s*newPlayer\s*\("), "media.newPlayer"),
    (
        "pdf.js_exploit_collab_collectemailinfo",
        re.compile(r"Collab\s*\.\s*collectEmailInfo\s*\(", re.I),
        "Collab.collectEmailInfo",
    ),
    (
        "pdf.js_exploit_api",
        re.compile(r"spell\s*\.\s*customDictionaryOpen\s*\("),
        "spell.customDictionaryOpen",
    ),
)
_UNESCAPE = re.compile(r"\bunescape\s*\(")
_PCT_U = re.compile(r"%u[0-9a-fA-F]{4}")
_SPRAY = re.compile(r"0x0c0c0c0c|%u0c0c|\\u0c0c|0x0a0a0a0a|%u0a0a|%u9090|\\x90\\x90", re.I)
_EVAL = re.compile(r"\beval\s*\(")
_FROMCHAR = re.compile(r"String\s*\.\s*fromCharCode\s*\(")
_CONCAT = re.compile(r"\+=\s*['\"]")
_LONGLIT = re.compile(r"['\"][^'\"\s]{1000,}['\"]")
_HEXESC = re.compile(r"\\x[0-9a-fA-F]{2}")
_LAUNCH_URL = re.compile(r"\blaunchURL\s*\(([^)]{0,500})")
_EXPORT = re.compile(r"\bexportDataObject\s*\(([^)]{0,300})")
_GETURL = re.compile(r"\bgetURL\s*\(([^)]{0,500})")


@dataclass
class JsVerdict:
    findings: list[tuple[str, str]]
    """(finding id, detail) pairs."""


def analyse_js(code: str) -> JsVerdict:
    """Name the suspicious constructs in one script body."""
    code = code[:MAX_JS_SCAN]
    out: list[tuple[str, str]] = []
    for fid, rx, label in EXPLOIT_APIS:
        if rx.search(code):
            out.append((fid, f"calls {label}"))
    pct_u = len(_PCT_U.findall(code))
    if (_UNESCAPE.search(code) and pct_u >= 8) or (_SPRAY.search(code) and pct_u + code.count("0x0c0c") >= 2):
        out.append(("pdf.js_shellcode", f"unescape/%u payload ({pct_u} %u sequences)"))
    signs: list[str] = []
    if _EVAL.search(code):
        signs.append("eval")
    n_fcc = len(_FROMCHAR.findall(code))
    if n_fcc:
        signs.append(f"String.fromCharCode x{n_fcc}")
    n_cat = len(_CONCAT.findall(code))
    if n_cat >= 10:
        signs.append(f"string building x{n_cat}")
    if _LONGLIT.search(code):
        signs.append("very long literal")
    if len(_HEXESC.findall(code)) >= 40:
        signs.append("hex escapes")
    if _UNESCAPE.search(code):
        signs.append("unescape")
    if len(signs) >= 2 or n_fcc >= 5 or n_cat >= 50:
        out.append(("pdf.js_obfuscated", ", ".join(signs)))
    for m in _LAUNCH_URL.finditer(code):
        out.append(("pdf.js_launch_url", f"app.launchURL({m.group(1)[:200]})"))
        break
    for m in _GETURL.finditer(code):
        out.append(("pdf.js_launch_url", f"getURL({m.group(1)[:200]})"))
        break
    for m in _EXPORT.finditer(code):
        out.append(("pdf.js_export_data_object", f"exportDataObject({m.group(1)[:200]})"))
        break
    return JsVerdict(out)


def url_host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def is_ip_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


_SHOWN_HOST = re.compile(r"(?i)\b(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,24})(?=[/:?#\s]|$)")


def _base(host: str) -> str:
    parts = host.split(".")
    return ".".join(parts[-2:]) if len(parts) >= 2 else host


def shown_host_mismatch(shown_text: str, target: str) -> str | None:
    """The host written in a link's visible text when it differs from the link's real target host."""
    m = _SHOWN_HOST.search(shown_text)
    if m is None:
        return None
    shown = m.group(1).lower()
    real = url_host(target)
    if not real or "." not in shown:
        return None
    if _base(shown) == _base(real):
        return None
    return shown


@dataclass
class Fragment:
    x: float
    y: float
    text: str


def text_in_rect(fragments: list[Fragment], rect: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = (
        min(rect[0], rect[2]),
        min(rect[1], rect[3]),
        max(rect[0], rect[2]),
        max(rect[1], rect[3]),
    )
    pad = 4.0
    return " ".join(
        f.text
        for f in fragments
        if x0 - pad <= f.x <= x1 + pad and y0 - pad <= f.y <= y1 + pad and f.text.strip()
    ).strip()
