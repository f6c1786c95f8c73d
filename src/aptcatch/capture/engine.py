"""The scan engine: identify → analyse → extract children → recurse, then assemble one ItemResult.

Each submitted item is analysed breadth-first; every analyser call runs under a time limit, and any
exception it raises becomes an error on that artifact only. Identical content met twice in one item is
analysed once (the second node points at the first), which also defuses nested-archive bombs.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aptcatch import __version__
from aptcatch.capture import catalog, chain, lure, verdict
from aptcatch.capture.analyzer import Analyzer, Registry
from aptcatch.capture.context import ArtifactContext, ItemState, Node, RawIndicator
from aptcatch.capture.identify import identify
from aptcatch.capture.indicators import is_allowlisted
from aptcatch.capture.limits import AnalyzerTimeout, LimitExceeded, Limits, deadline
from aptcatch.capture.types import FileType
from aptcatch.model.scan import (
    CVE,
    Artifact,
    ArtifactError,
    Finding,
    Indicator,
    ItemResult,
    ScanReport,
    TechniqueRef,
)


@dataclass(frozen=True)
class ScanConfig:
    limits: Limits = field(default_factory=Limits)
    yara_dirs: tuple[Path, ...] = ()
    """Extra YARA rule folders, compiled beside the project's own rules."""
    builtin_yara: bool = True
    passwords: tuple[str, ...] = ()
    """Extra passwords to try on encrypted archives and documents."""


class Scanner:
    """Scans files or bytes. Holds only compiled, read-only resources; all run state is per item."""

    def __init__(self, config: ScanConfig | None = None, analyzers: Iterable[Analyzer] | None = None) -> None:
        self.config = config or ScanConfig()
        if analyzers is None:
            from aptcatch.capture.formats import default_analyzers

            analyzers = default_analyzers(self.config)
        self.registry = Registry(analyzers)
        catalog.findings()  # validate the catalogue once, up front

    # -- entry points ----------------------------------------------------------------------------
    def scan_file(self, path: str | os.PathLike[str]) -> ItemResult:
        p = Path(path)
        started = time.perf_counter()
        try:
            size = p.stat().st_size
            if size > self.config.limits.max_file_size:
                return unreadable_result(
                    p,
                    f"{p}: {size} bytes is over the {self.config.limits.max_file_size}-byte file limit; "
                    "not analysed",
                    size,
                    started,
                    kind="limit",
                )
            data = p.read_bytes()
        except OSError as exc:
            return unreadable_result(p, f"{p}: cannot read: {exc.strerror or exc}", 0, started)
        return self.scan_bytes(data, name=p.name, path=str(p), started=started)

    def scan_bytes(
        self, data: bytes, name: str = "sample", path: str | None = None, started: float | None = None
    ) -> ItemResult:
        started = time.perf_counter() if started is None else started
        state = ItemState(limits=self.config.limits)
        state.add_passwords(self.config.passwords)
        root = Node("0", name, data, 0, None)
        queue: deque[Node] = deque([root])
        while queue:
            node = queue.popleft()
            first = state.seen.get(node.sha256)
            if first is not None and node.data:
                node.duplicate_of = first
                node.type = identify(node.data, node.name)
                continue
            state.seen.setdefault(node.sha256, node.id)
            self._analyze(node, state)
            queue.extend(node.children)
        chain.annotate(root, state)
        return self._assemble(root, state, path or name, started)

    # -- internals -------------------------------------------------------------------------------
    def _analyze(self, node: Node, state: ItemState) -> None:
        if node.type_hint is not None:
            node.type = node.type_hint
            if node.type_hint in (FileType.UNKNOWN, FileType.TEXT):
                node.type = identify(node.data, node.name)
        else:
            node.type = identify(node.data, node.name)
        timeout = state.limits.analyzer_timeout
        for analyzer in self.registry.for_type(node.type):
            ctx = ArtifactContext(node, state, analyzer.name)
            try:
                with deadline(timeout):
                    analyzer.analyze(ctx)
            except AnalyzerTimeout as exc:
                ctx.error("timeout", str(exc))
            except LimitExceeded as exc:
                ctx.error("limit", str(exc))
            except MemoryError:
                ctx.error("memory", "ran out of memory; artifact skipped")
            except RecursionError:
                ctx.error("parse", "structure nested too deeply")
            except Exception as exc:
                ctx.error("parse", f"{type(exc).__name__}: {exc}"[:500])

    def _assemble(self, root: Node, state: ItemState, path: str, started: float) -> ItemResult:
        nodes: dict[str, Node] = {}

        def freeze(node: Node) -> Artifact:
            nodes[node.id] = node
            meta = dict(node.metadata)
            if node.duplicate_of:
                meta["duplicate_of"] = node.duplicate_of
            return Artifact(
                id=node.id,
                name=node.name,
                type=node.type.value,
                sha256=node.sha256,
                md5=node.md5,
                size=len(node.data),
                depth=node.depth,
                metadata=meta,
                children=tuple(freeze(c) for c in node.children),
                errors=tuple(node.errors),
            )

        tree = freeze(root)
        findings: list[Finding] = []
        for raw in state.findings:
            d = catalog.finding(raw.id)
            findings.append(
                Finding(
                    id=d.id,
                    title=d.title,
                    severity=d.severity,
                    weight=d.weight,
                    techniques=d.techniques,
                    cves=d.cves,
                    artifact=raw.artifact,
                    artifact_path=nodes[raw.artifact].path if raw.artifact in nodes else raw.artifact,
                    detail=raw.detail,
                    source=raw.source,
                )
            )
        findings.sort(key=lambda f: (-f.weight, f.artifact, f.id))
        score, level, reasons = verdict.decide(findings)
        names = catalog.techniques()
        tech_arts: dict[str, list[str]] = {}
        for f in findings:
            for t in f.techniques:
                arts = tech_arts.setdefault(t, [])
                if f.artifact not in arts:
                    arts.append(f.artifact)
        techniques = tuple(sorted(tech_arts))
        cve_defs = catalog.cves()
        cve_arts: dict[str, list[str]] = {}
        for f in findings:
            for c in f.cves:
                arts = cve_arts.setdefault(c, [])
                if f.artifact not in arts:
                    arts.append(f.artifact)
        cves = tuple(
            CVE(
                id=c,
                title=cve_defs[c].title,
                product=cve_defs[c].product,
                fix=cve_defs[c].fix,
                reference=cve_defs[c].reference,
                artifacts=tuple(a),
            )
            for c, a in sorted(cve_arts.items())
        )
        return ItemResult(
            path=path,
            sha256=root.sha256,
            size=len(root.data),
            type=root.type.value,
            verdict=level,
            score=score,
            reasons=reasons,
            techniques=techniques,
            technique_refs=tuple(
                TechniqueRef(id=t, name=names.get(t, t), artifacts=tuple(tech_arts[t])) for t in techniques
            ),
            findings=tuple(findings),
            indicators=_indicators(state.indicators),
            cves=cves,
            lure=lure.analyze(state),
            artifact=tree,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )


def unreadable_result(p: Path, message: str, size: int, started: float, kind: str = "parse") -> ItemResult:
    """The result for an input that could not be analysed at all (missing, unreadable, too large)."""
    digest = ""
    if size:
        h = hashlib.sha256()
        try:
            with p.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            digest = h.hexdigest()
        except OSError:
            digest = ""
    art = Artifact(
        id="0",
        name=p.name,
        type=FileType.UNKNOWN.value,
        sha256=digest,
        md5="",
        size=size,
        depth=0,
        errors=(ArtifactError(analyzer="engine", kind=kind, message=message),),  # type: ignore[arg-type]
    )
    return ItemResult(
        path=str(p),
        sha256=digest,
        size=size,
        type=FileType.UNKNOWN.value,
        verdict="clean",
        score=0,
        lure=lure.empty(),
        artifact=art,
        errors=(message,),
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def _indicators(raw: list[RawIndicator]) -> tuple[Indicator, ...]:
    out: dict[tuple[str, str], Indicator] = {}
    for r in raw:
        value = r.value.strip()
        if not value or is_allowlisted(r.type, value):
            continue
        key = (r.type.value, value.lower() if r.type.value != "url" else value)
        if key not in out:
            out[key] = Indicator(type=r.type, value=value, artifact=r.artifact, context=r.context)
    return tuple(sorted(out.values(), key=lambda i: (i.type.value, i.value)))


def report(items: Iterable[ItemResult]) -> ScanReport:
    return ScanReport(version=__version__, items=tuple(items))
