"""Excel 4.0 (XLM) macro sheets in BIFF8/BIFF5 workbooks (.xls/.xlt), via olevba's plugin_biff.

olevba's ``detect_xlm_macros()`` runs oledump's plugin_biff over the Workbook/Book stream and returns
text lines: BOUNDSHEET records (sheet type and visibility), LABEL records (built-in names such as
Auto_Open) and a CSV dump ``sheet,cell,formula,value``. ``parse_biff_lines`` turns those lines into
sheets/auto-open names/formulas (pure, tested), and the formula judgement is the one the OOXML
analyser uses (``ooxml_xlm.judge``), so XLM scores the same in .xls, .xlsm and .xlsb.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import Any

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import ooxml_xlm
from aptcatch.capture.formats.ole_objects import meta_list
from aptcatch.capture.limits import AnalyzerTimeout, LimitExceeded

MAX_FORMULAS = 20_000
_SHEET = re.compile(
    r"BOUNDSHEET\b.*?-\s*(Excel 4\.0 macro sheet|[\w ]+?sheet[\w ]*?),\s*([\w ]+?)\s+-\s+(.*)$"
)
_AUTO = re.compile(r"(?i)built-in-name\s+\d+\s+(auto_(?:open|close|activate|deactivate))")


@dataclass
class BiffMacros:
    macro_sheets: list[tuple[str, str]] = field(default_factory=list)
    """(name, visibility) of Excel 4.0 macro sheets."""
    auto_names: list[str] = field(default_factory=list)
    formulas: list[tuple[str, str]] = field(default_factory=list)
    """(sheet!cell, "=FORMULA")."""


def _clean(name: str) -> str:
    return name.replace("\x00", "").strip()


def parse_biff_lines(lines: list[str]) -> BiffMacros:
    """Macro sheets, auto-run names and formulas from plugin_biff's output lines."""
    out = BiffMacros()
    in_csv = False
    for line in lines:
        if line.startswith("Sheet,Reference,Formula,Value"):
            in_csv = True
            continue
        if in_csv and not re.match(r"^[0-9a-f]{4}\s+\d+\s", line):
            if len(out.formulas) >= MAX_FORMULAS:
                continue
            try:
                row = next(csv.reader([line]))
            except (AnalyzerTimeout, LimitExceeded):
                raise
            except Exception:
                continue
            if len(row) >= 3 and row[2]:
                formula = row[2] if row[2].startswith("=") else "=" + row[2]
                out.formulas.append((f"{_clean(row[0])}!{row[1]}", formula))
                if len(row) >= 4 and row[3] and row[3] != '""':
                    out.formulas.append((f"{_clean(row[0])}!{row[1]}", row[3]))
            continue
        in_csv = False
        m = _SHEET.search(line)
        if m and m.group(1).startswith("Excel 4.0 macro"):
            out.macro_sheets.append((_clean(m.group(3)), m.group(2).strip()))
            continue
        a = _AUTO.search(line)
        if a and a.group(1) not in out.auto_names:
            out.auto_names.append(a.group(1))
    return out


def analyze(ctx: ArtifactContext, parser: Any) -> None:
    """Findings for the XLM macro sheets of an opened ``VBA_Parser`` over an .xls."""
    try:
        found = bool(parser.detect_xlm_macros())
    except (AnalyzerTimeout, LimitExceeded):
        raise
    except Exception as exc:
        ctx.error("parse", f"Excel 4.0 macro detection failed: {exc}")
        return
    if not found:
        return
    info = parse_biff_lines([str(x) for x in parser.xlm_macros or []])
    if not info.macro_sheets:
        return
    ctx.meta("xlm_macrosheets", meta_list([f"{n} ({v})" for n, v in info.macro_sheets], 20))
    hidden = [(n, v) for n, v in info.macro_sheets if "hidden" in v.lower()]
    for n, v in hidden:
        ctx.finding("xlm.hidden_sheet", f"macro sheet {n!r} is {v}")
    if info.auto_names:
        ctx.meta("xlm_auto_open", meta_list(info.auto_names))
        ctx.finding("xlm.auto_open", ", ".join(info.auto_names))
        if hidden:
            ctx.finding("xlm.hidden_auto_open", f"{info.auto_names[0]}; hidden: {hidden[0][0]}")
    if info.formulas:
        ctx.meta("xlm_formulas", meta_list([f"{r} {t[:200]}" for r, t in info.formulas], 20))
        ooxml_xlm.judge(ctx, info.formulas, "Excel 4.0 macro sheet")
    ctx.finding("xlm.macrosheet", ", ".join(f"{n} ({v})" for n, v in info.macro_sheets[:10]))
