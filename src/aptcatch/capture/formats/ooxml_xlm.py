"""Excel 4.0 (XLM) macro sheets in xlsm/xltm (XML) and xlsb (BIFF12), plus workbook-level context.

oletools' XLM support reads BIFF8 (.xls) only, so OOXML macro sheets (ZLoader 2020 xlsm/xlsb) are read
here: sheet state and Auto_Open names from ``workbook.xml``/``workbook.bin``, formulas from
``xl/macrosheets/*.xml`` and ``*.bin`` (BIFF12 decoding in ``ooxml_xlsb``), then the formula text is
judged (EXEC, CALL/REGISTER, URLDownloadToFile, CHAR() obfuscation, self-modifying FORMULA.FILL).
The same judgement serves SYLK and Excel 2003 XML formulas.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import ooxml_xlsb
from aptcatch.capture.formats.ooxml_dde import scan_formulas
from aptcatch.capture.formats.ooxml_rels import Rel
from aptcatch.capture.formats.ooxml_xml import Package, attr, iter_local, local, meta_list

MAX_FORMULA_TEXT = 2 * 1024 * 1024
_FUNC = re.compile(r"(?<![\w.])([A-Z][A-Z0-9]*(?:\.[A-Z0-9]+)*)\s*\(", re.I)
_CHAR_RUN = re.compile(r"(?i)CHAR\(\s*\d{1,5}\s*\)(?:\s*&\s*CHAR\(\s*\d{1,5}\s*\))*")
_AUTO_OPEN = re.compile(r"(?i)^(_xlnm\.)?auto_(open|activate|close)")


@dataclass
class SheetInfo:
    name: str
    state: str
    part: str
    macro: bool


@dataclass
class XlmReport:
    """What the workbook level tells about its macro sheets."""

    sheets: list[SheetInfo] = field(default_factory=list)
    auto_names: list[str] = field(default_factory=list)


def _is_macro_rel(rel: Rel | None) -> bool:
    if rel is None:
        return False
    t = rel.type.lower()
    return "macrosheet" in t or "macrosheets/" in rel.target.lower()


def workbook(ctx: ArtifactContext, pkg: Package, rels: list[Rel]) -> XlmReport:
    """Sheets with their state and Auto_Open names, from xl/workbook.xml or xl/workbook.bin."""
    rep = XlmReport()
    wb_rels = {r.rid: r for r in rels if r.source.lower() in ("xl/workbook.xml", "xl/workbook.bin")}
    if pkg.has("xl/workbook.bin"):
        data = pkg.read("xl/workbook.bin")
        if data:
            sheets, names = ooxml_xlsb.workbook_entries(data)
            for s in sheets:
                rel = wb_rels.get(s.rel_id)
                rep.sheets.append(
                    SheetInfo(s.name, s.state, rel.resolved() if rel else "", _is_macro_rel(rel))
                )
            rep.auto_names = [n for n in names if _AUTO_OPEN.match(n)]
    else:
        root = pkg.xml("xl/workbook.xml")
        if root is not None:
            for el in iter_local(root, "sheet"):
                rid = attr(el, "id") or ""
                rel = wb_rels.get(rid)
                state = el.get("state") or "visible"
                rep.sheets.append(
                    SheetInfo(el.get("name") or "", state, rel.resolved() if rel else "", _is_macro_rel(rel))
                )
            for el in iter_local(root, "definedName"):
                name = el.get("name") or ""
                if _AUTO_OPEN.match(name):
                    rep.auto_names.append(f"{name} → {(el.text or '').strip()}"[:200])
    return rep


def macrosheet_formulas_xml(pkg: Package, part: str) -> list[tuple[str, str]]:
    """(cell, formula text) and string values of a SpreadsheetML macro sheet."""
    root = pkg.xml(part)
    out: list[tuple[str, str]] = []
    if root is None:
        return out
    for c in iter_local(root, "c"):
        ref = c.get("r") or "?"
        for child in c:
            name = local(child.tag)
            if name == "f" and child.text:
                out.append((ref, "=" + child.text))
            elif name == "v" and c.get("t") in ("str", "inlineStr") and child.text:
                out.append((ref, child.text))
            elif name == "is":
                out.append((ref, "".join(child.itertext())))
        if len(out) >= ooxml_xlsb.MAX_CELLS:
            break
    return out


def macrosheet_formulas_bin(pkg: Package, part: str) -> list[tuple[str, str]]:
    data = pkg.read(part)
    if not data:
        return []
    out: list[tuple[str, str]] = []
    for cell in ooxml_xlsb.sheet_cells(data):
        if cell.formula:
            out.append((cell.ref, cell.formula))
        if cell.value:
            out.append((cell.ref, cell.value))
    return out


def fold_chars(text: str) -> str:
    """CHAR(104)&CHAR(116) → "ht": runs of constant CHAR() calls become quoted literals."""

    def run(m: re.Match[str]) -> str:
        codes = (int(n) for n in re.findall(r"\d+", m.group(0)))
        return '"' + "".join(chr(c) if 31 < c < 0x110000 else " " for c in codes) + '"'

    return _CHAR_RUN.sub(run, text).replace('"&"', "")


def judge(ctx: ArtifactContext, formulas: Iterable[tuple[str, str]], where: str) -> set[str]:
    """Findings for XLM formula text; returns the function names seen (upper case)."""
    funcs: dict[str, str] = {}
    texts: list[str] = []
    size = 0
    n_char = n_formulas = 0
    for ref, text in formulas:
        if size > MAX_FORMULA_TEXT:
            break
        size += len(text)
        texts.append(text)
        if text.startswith("="):
            n_formulas += 1
        for m in _FUNC.finditer(text):
            funcs.setdefault(m.group(1).upper(), f"{ref}: {text[:300]}")
        n_char += len(re.findall(r"(?i)\bCHAR\(", text))
    blob = "\n".join(texts)
    names = set(funcs)
    low = blob.lower()
    if "EXEC" in names or "SHELL" in names:
        ctx.finding("xlm.exec", f"{where} {funcs.get('EXEC') or funcs.get('SHELL')}")
    api = names & {"CALL", "REGISTER", "REGISTER.ID"}
    if api:
        ctx.finding("xlm.native_api", f"{where} {funcs[sorted(api)[0]]}")
    if "urldownloadtofile" in low:
        dl = re.search(r"(?i).{0,80}urldownloadtofile.{0,200}", blob)
        ctx.finding("xlm.download", f"{where} {dl.group(0) if dl else 'URLDownloadToFile'}")
    if (n_char >= 10 and n_char * 2 >= max(n_formulas, 1)) or n_char >= 50:
        ctx.finding("xlm.char_obfuscation", f"{where}: {n_char} CHAR() calls in {n_formulas} formulas")
    env = names & {"GET.WORKSPACE", "GET.WINDOW", "GET.DOCUMENT"}
    if env:
        ctx.finding("xlm.environment_checks", f"{where}: {', '.join(sorted(env))}")
    if names & {"FORMULA", "FORMULA.FILL", "FORMULA.ARRAY", "SET.VALUE"} and names & {"RUN", "GOTO"}:
        ctx.finding(
            "xlm.self_modifying", f"{where}: {', '.join(sorted(names & {'FORMULA', 'FORMULA.FILL'}))}"
        )
    scan_formulas(ctx, blob, where)
    readable = fold_chars(blob)
    ctx.indicators_from_text(readable[:MAX_FORMULA_TEXT], f"XLM formulas in {where}")
    return names


def analyze(ctx: ArtifactContext, pkg: Package, rels: list[Rel]) -> None:
    """Macro sheets of an OOXML workbook."""
    rep = workbook(ctx, pkg, rels)
    macro_parts = {s.part.lower(): s for s in rep.sheets if s.macro and s.part}
    for info in pkg.infos:  # macro sheets the workbook does not list still count
        low = info.filename.lower()
        if (
            re.match(r"^xl/(macrosheets|intlmacrosheets)/[^/]+\.(xml|bin)$", low)
            and "binaryindex" not in low
            and low not in macro_parts
        ):
            macro_parts[low] = SheetInfo(info.filename, "unlisted", info.filename, True)
    hidden = [s for s in macro_parts.values() if s.state in ("hidden", "veryHidden")]
    if macro_parts:
        ctx.meta("xlm_macrosheets", meta_list(s.name or s.part for s in macro_parts.values()))
        for s in hidden:
            ctx.finding("xlm.hidden_sheet", f"macro sheet {s.name!r} is {s.state}")
    if rep.auto_names:
        ctx.meta("xlm_auto_open", meta_list(rep.auto_names, 20))
        detail = "; ".join(rep.auto_names[:5])
        ctx.finding("xlm.auto_open", detail)
        if hidden:
            ctx.finding("xlm.hidden_auto_open", f"{detail}; hidden: {', '.join(s.name for s in hidden)}")
    shown: list[str] = []
    for part, s in macro_parts.items():
        zi = pkg.info(part)
        if zi is None:
            continue
        if part.endswith(".bin"):
            formulas = macrosheet_formulas_bin(pkg, zi.filename)
        else:
            formulas = macrosheet_formulas_xml(pkg, zi.filename)
        shown.extend(f"{s.name or part}!{r} {t[:200]}" for r, t in formulas[: 20 - len(shown)])
        judge(ctx, formulas, f"macro sheet {s.name or part}")
    if shown:
        ctx.meta("xlm_formulas", meta_list(shown))
    if macro_parts and (shown or rep.auto_names or hidden):  # an empty visible macro sheet runs nothing
        desc = ", ".join(f"{s.name or s.part} ({s.state})" for s in macro_parts.values())
        ctx.finding("xlm.macrosheet", desc)
