"""DDE: Word field codes (DDE/DDEAUTO, QUOTE-obfuscated) and DDE formulas (``app|'topic'!item``).

``oletools.msodde`` knows these tricks but opens its input by file path (and, for OOXML, re-opens the
zip itself), while the house rules forbid writing a sample to disk. So the field walk is redone here on
already-parsed XML: fields are rebuilt from ``w:fldChar`` begin/separate/end runs (their ``w:instrText``
may be split over many runs and nested fields), plus ``w:fldSimple w:instr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats.ooxml_xml import attr, local

MAX_FIELDS = 20_000
_LAUNCHERS = re.compile(
    r"(?i)\b(cmd|command|powershell|pwsh|mshta|wscript|cscript|rundll32|regsvr32|certutil|bitsadmin|"
    r"msiexec|msbuild|schtasks|conhost|forfiles|wmic|bash|explorer|hh|curl|ftp|msdt|installutil)(\.exe)?\b"
)
_DDE_FIELD = re.compile(r"(?is)^\s*(DDEAUTO|DDE)\b\s*(.*)$")
_QUOTE_FIELD = re.compile(r"(?is)^\s*QUOTE\s+([\d\s]+)$")
DDE_FORMULA = re.compile(r"(?i)([A-Za-z0-9_.\\:%~-]{1,128})\s*\|\s*'([^'\r\n]{0,4000})'\s*!\s*['\"]?([\w$]*)")
_DDE_FUNC = re.compile(r"(?i)\bDDE(?:AUTO)?\s*\(\s*\"([^\"]{0,256})\"\s*[;,]\s*\"([^\"]{0,4000})\"")


@dataclass
class _Field:
    instr: list[str] = field(default_factory=list)
    result: list[str] = field(default_factory=list)
    in_result: bool = False


def _field_value(instr: str, result: str) -> str:
    """What a nested field contributes to its parent's instruction (QUOTE 68 68 69 → 'DDE')."""
    m = _QUOTE_FIELD.match(instr)
    if m:
        try:
            return "".join(chr(int(n)) for n in m.group(1).split() if int(n) < 0x110000)
        except ValueError:
            return result
    return result


def word_fields(root: ET.Element) -> list[str]:
    """Every field instruction of a WordprocessingML part, nested fields resolved into their parents."""
    out: list[str] = []
    stack: list[_Field] = []
    for el in root.iter():
        name = local(el.tag)
        if name == "fldChar":
            kind = (attr(el, "fldCharType") or "").lower()
            if kind == "begin":
                stack.append(_Field())
            elif kind == "separate" and stack:
                stack[-1].in_result = True
            elif kind == "end" and stack:
                f = stack.pop()
                instr = "".join(f.instr)
                out.append(instr)
                if stack and not stack[-1].in_result:
                    stack[-1].instr.append(_field_value(instr, "".join(f.result)))
        elif name in ("instrText", "delInstrText"):
            if stack and not stack[-1].in_result:
                stack[-1].instr.append(el.text or "")
        elif name == "t" and stack and stack[-1].in_result:
            stack[-1].result.append(el.text or "")
        elif name == "fldSimple":
            simple = attr(el, "instr")
            if simple:
                out.append(simple)
        if len(out) >= MAX_FIELDS:
            break
    out.extend("".join(f.instr) for f in stack)  # unterminated fields still count
    return out


def _unescape_field(text: str) -> str:
    return text.replace("\\\\", "\\").replace('\\"', '"')


def dde_from_field(instr: str) -> tuple[str, str] | None:
    """(keyword, command line) for a DDE/DDEAUTO field instruction, else None."""
    m = _DDE_FIELD.match(instr)
    if not m:
        return None
    rest = _unescape_field(m.group(2)).strip()
    rest = re.sub(r"\s\\[a-z](\s|$)", " ", rest)  # field switches \p \h \t
    args = re.findall(r'"([^"]*)"|(\S+)', rest)
    parts = [a or b for a, b in args]
    return m.group(1).upper(), " ".join(p for p in parts if p).strip()


def report(ctx: ArtifactContext, kind: str, command: str, where: str) -> None:
    """Record one DDE command: dde.command when it starts an interpreter, dde.link otherwise."""
    command = command.strip()
    detail = f"{where}: {kind} {command}"[:500]
    if _LAUNCHERS.search(command):
        ctx.finding("dde.command", detail)
    else:
        ctx.finding("dde.link", detail)
    if command:
        ctx.indicators_from_text(command, f"DDE command in {where}")


def analyze_word_part(ctx: ArtifactContext, root: ET.Element, part: str) -> list[str]:
    """Report DDE fields of one Word part; returns all field instructions (for callers' use)."""
    instrs = word_fields(root)
    for instr in instrs:
        dde = dde_from_field(instr)
        if dde:
            report(ctx, dde[0], dde[1], part)
        elif re.match(r"(?i)\s*(INCLUDETEXT|INCLUDEPICTURE|IMPORT|LINK)\b", instr):
            ctx.indicators_from_text(_unescape_field(instr), f"field code in {part}")
        elif re.match(r"(?i)\s*HYPERLINK\b", instr):
            from aptcatch.capture.formats.ooxml_rels import check_schemes

            check_schemes(ctx, instr, part)
    return instrs


def scan_formulas(ctx: ArtifactContext, text: str, where: str) -> int:
    """DDE formulas (=cmd|'/c calc'!A0, DDE("cmd";"/c ...")) in cell text; returns how many."""
    n = 0
    for m in DDE_FORMULA.finditer(text):
        app, topic = m.group(1), m.group(2)
        if re.fullmatch(r"[A-Za-z]{1,3}\d{0,7}", app) and not _LAUNCHERS.search(app + " " + topic):
            continue  # a cell name followed by a pipe in ordinary text is not DDE
        report(ctx, "DDE formula", f"{app} {topic}", where)
        n += 1
        if n >= 100:
            break
    for m in _DDE_FUNC.finditer(text):
        report(ctx, "DDE()", f"{m.group(1)} {m.group(2)}", where)
        n += 1
        if n >= 100:
            break
    return n
