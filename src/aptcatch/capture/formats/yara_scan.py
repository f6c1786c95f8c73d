"""YARA-X over every artifact: the project's own exploit-structure rules plus user rule folders.

Rule files are compiled once per process, each file in its own namespace, so one broken or clashing
file is skipped (and reported) without losing the rest. The globals THOR/LOKI rule sets expect
(``filename``, ``filepath``, ``extension``, ``filetype``, ``owner``) are defined and set per artifact.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import yara_x

from aptcatch.capture import catalog
from aptcatch.capture.context import ArtifactContext
from aptcatch.capture.types import FileType
from aptcatch.model.scan import JSONScalar

if TYPE_CHECKING:
    from aptcatch.capture.analyzer import Analyzer
    from aptcatch.capture.engine import ScanConfig

log = logging.getLogger(__name__)

GLOBALS = ("filename", "filepath", "extension", "filetype", "owner")
RULE_SUFFIXES = (".yar", ".yara")
_META_KEYS = (
    "family",
    "malware",
    "malware_family",
    "actor",
    "threat_actor",
    "apt",
    "author",
    "reference",
    "description",
    "score",
    "severity",
)


@dataclass
class CompiledRules:
    rules: yara_x.Rules | None
    files: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _sources(config: ScanConfig) -> list[tuple[str, str, str]]:
    """(namespace, origin, text) for every rule file to compile."""
    out: list[tuple[str, str, str]] = []
    if config.builtin_yara:
        folder = resources.files("aptcatch.rules").joinpath("yara")
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name.endswith(RULE_SUFFIXES):
                out.append(("aptcatch", f"aptcatch:{entry.name}", entry.read_text(encoding="utf-8")))
    for d in config.yara_dirs:
        base = Path(d)
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.suffix in RULE_SUFFIXES)
        for p in files:
            ns = re.sub(r"\W", "_", p.stem) or "rules"
            try:
                out.append((ns, str(p), p.read_text(encoding="utf-8", errors="replace")))
            except OSError as exc:
                log.warning("YARA rules %s unreadable: %s", p, exc)
    return out


def compile_rules(config: ScanConfig) -> CompiledRules:
    result = CompiledRules(rules=None)
    compiler = yara_x.Compiler()
    for g in GLOBALS:
        compiler.define_global(g, "")
    added = 0
    for ns, origin, text in _sources(config):
        compiler.new_namespace(ns)
        try:
            compiler.add_source(text, origin=origin)
        except yara_x.CompileError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "compile error"
            result.skipped[origin] = first
            log.warning("YARA rules %s skipped: %s", origin, first)
            continue
        result.files.append(origin)
        added += 1
    if added:
        result.rules = compiler.build()
    return result


def _meta(rule: yara_x.Rule) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in rule.metadata:
        if key.lower() in _META_KEYS or key == "finding":
            # yara-x hands back bytes for meta strings with escape sequences
            out[key.lower()] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return out


def _third_party_finding(meta: dict[str, str]) -> str:
    sev = meta.get("severity", "").lower()
    try:
        score = int(float(meta.get("score", "")))
    except ValueError:
        score = -1
    if score >= 70 or sev in ("high", "critical"):
        return "yara.rule_high"
    if score >= 40 or sev == "medium":
        return "yara.rule_medium"
    return "yara.rule_low"


class YaraAnalyzer:
    name = "yara"
    types: frozenset[FileType] | None = None

    def __init__(self, compiled: CompiledRules, timeout: int = 10) -> None:
        self.compiled = compiled
        self.timeout = timeout

    def analyze(self, ctx: ArtifactContext) -> None:
        if self.compiled.rules is None or not ctx.data:
            return
        # A yara_x.Scanner must be dropped on the thread that made it; one per call (~20 µs) keeps it
        # out of any object graph the garbage collector might free from another thread.
        scanner = yara_x.Scanner(self.compiled.rules)
        scanner.set_timeout(self.timeout)
        name = ctx.name
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        for g, v in (
            ("filename", name),
            ("filepath", ctx.path),
            ("extension", ext),
            ("filetype", ctx.type.value),
        ):
            scanner.set_global(g, v)
        try:
            results = scanner.scan(ctx.data)
        except yara_x.TimeoutError:
            ctx.error("timeout", "YARA scan timed out")
            return
        matches: list[JSONScalar] = []
        known = catalog.findings()
        for rule in results.matching_rules:
            meta = _meta(rule)
            label = f"{rule.namespace}.{rule.identifier}"
            matches.append(label)
            fid = meta.get("finding", "")
            if rule.namespace != "aptcatch" or fid not in known:
                fid = _third_party_finding(meta)
            extras = [
                f"{k}={meta[k]}" for k in ("family", "malware", "actor", "threat_actor", "apt") if k in meta
            ]
            detail = label + (f" ({', '.join(extras)})" if extras else "")
            if "description" in meta:
                detail += f": {meta['description']}"
            ctx.finding(fid, detail, source=f"yara:{rule.namespace}")
        if matches:
            ctx.meta("yara", matches[:50])


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [YaraAnalyzer(compile_rules(config))]
