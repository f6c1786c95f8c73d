"""VBA macros in Office binary files and in vbaProject.bin children, read with oletools' olevba.

olevba (``VBA_Parser`` on the bytes, never on a path) extracts the module sources and runs its keyword
scanner with its cheap decoders (hex/Base64/Dridex strings); VBA string expressions are folded by
``vba_fold`` (olevba's pyparsing de-obfuscation is far too slow, see there); ``vba_rules`` turns source +
decoded strings into behaviour findings, and the combination "automatic trigger + execution/download"
is what makes a macro high. VBA stomping: olevba only compares p-code with source for files on disk, so
the p-code is disassembled here in memory with pcodedmp's ``processProject`` on the same parser and
olevba's own comparison is then run on that output. Excel 4.0 macros in .xls go to ``ole_xlm``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from oletools import olevba

from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.formats import ole_xlm, vba_fold, vba_rules
from aptcatch.capture.formats.ole_objects import meta_list
from aptcatch.capture.limits import AnalyzerTimeout, LimitExceeded
from aptcatch.capture.types import FileType

if TYPE_CHECKING:
    from aptcatch.capture.analyzer import Analyzer
    from aptcatch.capture.engine import ScanConfig

MAX_MODULES = 200
MAX_PCODE_SOURCE = 2 * 1024 * 1024  # skip the p-code disassembly for bigger projects (time)
EXCERPT = 300
_DECODED_TYPES = ("Hex String", "Base64 String", "Dridex string", "VBA string")

logging.getLogger("olevba").setLevel(logging.CRITICAL)


class _PcodeArgs:
    disasmOnly = True  # noqa: N815 - attribute names pcodedmp reads
    verbose = False


def _pcode(parser: Any) -> str:
    """Disassemble the p-code of the parser's VBA projects in memory (pcodedmp writes to a stream)."""
    from pcodedmp import pcodedmp  # type: ignore[import-untyped]

    out = io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        pcodedmp.processProject(parser, _PcodeArgs, output_file=out)
    return out.getvalue()


def _stomped(parser: Any, source_size: int) -> bool | None:
    """olevba's p-code/source comparison, fed with an in-memory disassembly. None: not checked."""
    if source_size > MAX_PCODE_SOURCE:
        return None
    try:
        parser.pcodedmp_output = _pcode(parser)
    except (AnalyzerTimeout, LimitExceeded):
        raise
    except Exception:
        return None
    if not parser.pcodedmp_output.strip():
        return None
    on_disk = parser.file_on_disk
    parser.file_on_disk = True  # the guard only protects pcodedmp's file read, done above in memory
    parser.vba_stomping_detected = None  # analyze_macros caches "not checked" as False
    try:
        return bool(parser.detect_vba_stomping())
    except (AnalyzerTimeout, LimitExceeded):
        raise
    except Exception:
        return None
    finally:
        parser.file_on_disk = on_disk


def _modules(ctx: ArtifactContext, parser: Any) -> list[tuple[str, str]]:
    mods: list[tuple[str, str]] = []
    for _subfile, stream_path, vba_filename, code in parser.extract_macros():
        if len(mods) >= MAX_MODULES:
            ctx.error("limit", f"more than {MAX_MODULES} VBA modules: the rest are not analysed")
            break
        if not isinstance(code, str):
            code = bytes(code).decode("latin-1", "replace")
        mods.append((str(vba_filename or stream_path), code))
    return mods


def _printable(s: str) -> bool:
    return len(s) >= 6 and sum(1 for c in s if " " <= c < "\x7f" or c in "\r\n\t") >= 0.9 * len(s)


def _meaningful(code: str) -> bool:
    """False for modules holding nothing but Attribute/Option lines (every document has some)."""
    for line in code.splitlines():
        s = line.strip()
        if s and not s.lower().startswith(("attribute ", "option ")):
            return True
    return False


def analyze_vba(ctx: ArtifactContext, parser: Any) -> None:
    """VBA findings for an opened ``VBA_Parser`` (also used on decrypted children by the engine)."""
    mods = _modules(ctx, parser)
    real = [(n, c) for n, c in mods if _meaningful(c)]
    ctx.meta("vba_modules", meta_list([f"{n} ({len(c)} chars)" for n, c in mods]))
    if not real:
        return
    source = "\n".join(c for _, c in real)
    excerpt = next((c for _, c in real if vba_rules.autoexec_triggers(c)), real[0][1])
    ctx.meta("vba_excerpt", re.sub(r"\s+", " ", excerpt)[:EXCERPT])
    ctx.finding("vba.present", f"{len(real)} module(s), {len(source)} characters")

    # first pass on the plain source (cheap), so that a timeout in the slow steps below keeps it
    seen: set[str] = set()
    _record(ctx, vba_rules.classify(source), [], seen)
    # pcodedmp misreads the identifier table of PowerPoint projects: no p-code comparison there
    ppt = {FileType.OLE_PPT, FileType.OOXML_POWERPOINT}
    stomped = None if ctx.type in ppt or ctx.parent_type in ppt else _stomped(parser, len(source))
    if stomped:
        ctx.finding("vba.stomping", "keywords of the compiled p-code are missing from the VBA source")
    ctx.meta("vba_stomping_checked", stomped is not None)

    results = parser.analyze_macros(show_decoded_strings=True, deobfuscate=False) or []
    decoded_results = [(t, str(k)) for t, k, _ in results if t in _DECODED_TYPES and _printable(str(k))]
    folded = [s for s in vba_fold.folded_strings(source) if _printable(s)]
    decoded_results.extend(("VBA string", s) for s in folded)
    types = Counter(t for t, _ in decoded_results)
    decoded = [k for _, k in decoded_results]
    revealed = vba_fold.fold(source) if folded else ""
    olevba_auto = [str(k) for t, k, _ in results if t == "AutoExec"]
    _record(ctx, vba_rules.classify(source, [*decoded, revealed], dict(types)), olevba_auto, seen)

    forms = list(parser.extract_form_strings())[:50] if parser.ole_file is not None else []
    if forms:
        ctx.meta("vba_form_strings", meta_list([f"{s}: {v[:100]}" for s, _, v in forms], 20))
    if decoded:
        ctx.meta("vba_decoded_strings", meta_list([d[:200] for d in decoded], 20))
    text = "\n".join([source, revealed, *decoded, *(v for _, _, v in forms)])
    ctx.indicators_from_text(vba_rules.simplify(text)[: vba_rules.MAX_TEXT], "vba")


def _record(
    ctx: ArtifactContext, verdict: vba_rules.VbaVerdict, olevba_auto: list[str], seen: set[str]
) -> None:
    """Findings of one classification pass; ids already recorded by an earlier pass are skipped."""

    def once(fid: str, detail: str) -> None:
        if fid not in seen:
            seen.add(fid)
            ctx.finding(fid, detail)

    triggers = verdict.autoexec or [k for k in olevba_auto if vba_rules.is_trigger_name(k)]
    if triggers:
        ctx.meta("vba_autoexec", meta_list(triggers, 20))
        kinds = [
            "ActiveX event" if not vba_rules.is_document_event(t) else "document event" for t in triggers
        ]
        once("vba.autoexec", "; ".join(f"{t} ({k})" for t, k in zip(triggers[:5], kinds, strict=False)))
    for fid, evidence in verdict.hits.items():
        once(fid, " | ".join(evidence)[:400])
    if verdict.declares:
        ctx.meta("vba_declares", meta_list(verdict.declares, 30))
    if verdict.obfuscation:
        once("vba.obfuscation", "; ".join(verdict.obfuscation))
    executes = verdict.executes
    if triggers and executes:
        what = ", ".join(fid.removeprefix("vba.") for fid in executes)
        once("vba.autoexec_exec", f"{triggers[0]} → {what}: {verdict.hits[executes[0]][0][:200]}")


class VbaAnalyzer:
    name = "vba"
    types: frozenset[FileType] | None = frozenset(
        {FileType.OLE_DOC, FileType.OLE_XLS, FileType.OLE_PPT, FileType.OLE_VBA_PROJECT, FileType.OLE_OTHER}
    )

    def analyze(self, ctx: ArtifactContext) -> None:
        try:
            parser = olevba.VBA_Parser(filename=ctx.name, data=ctx.data)
        except (AnalyzerTimeout, LimitExceeded):
            raise
        except Exception as exc:
            if ctx.type is FileType.OLE_VBA_PROJECT:
                ctx.error("parse", f"olevba could not open the VBA project: {exc}")
            return
        try:
            ole_xlm.analyze(ctx, parser)  # also settles olevba's XLM state before the VBA scan
            parser.xlm_macros = []  # keep plugin_biff's record dump out of the VBA keyword scan
            try:
                has_vba = bool(parser.detect_vba_macros())
            except (AnalyzerTimeout, LimitExceeded):
                raise
            except Exception as exc:
                ctx.error("parse", f"VBA detection failed: {exc}")
                return
            if not has_vba:
                if ctx.type is FileType.OLE_VBA_PROJECT:
                    ctx.error("parse", "vbaProject.bin holds no readable VBA project")
                return
            try:
                analyze_vba(ctx, parser)
            except (AnalyzerTimeout, LimitExceeded):
                raise
            except Exception as exc:  # damaged dir/module streams: say so, keep what was recorded
                ctx.finding("vba.parse_failed", str(exc)[:200])
                ctx.error("parse", f"VBA project could not be read: {exc}")
        finally:
            with contextlib.suppress(Exception):
                parser.close()


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [VbaAnalyzer()]
