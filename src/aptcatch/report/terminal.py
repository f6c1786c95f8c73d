"""Terminal view of a scan report (rich). Reads only the result model; indicators are shown defanged."""

from __future__ import annotations

from collections import Counter

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from aptcatch.capture.indicators import defang, defang_text
from aptcatch.model.scan import Artifact, Finding, ItemResult, ScanReport

VERDICT_STYLE = {"clean": "bold green", "suspicious": "bold yellow", "malicious": "bold white on red"}
SEVERITY_STYLE = {"info": "dim", "low": "cyan", "medium": "yellow", "high": "red", "critical": "bold red"}


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _finding_line(f: Finding) -> Text:
    t = Text()
    t.append(f"[{f.severity}] ", style=SEVERITY_STYLE[f.severity])
    t.append(f.title)
    if f.detail:
        t.append(f" — {defang_text(f.detail)}", style="dim")
    if f.techniques:
        t.append("  " + " ".join(f.techniques), style="magenta")
    if f.cves:
        t.append("  " + " ".join(f.cves), style="bold red")
    return t


def _chain(item: ItemResult, show_info: bool) -> Tree:
    by_artifact: dict[str, list[Finding]] = {}
    for f in item.findings:
        if show_info or f.severity != "info":
            by_artifact.setdefault(f.artifact, []).append(f)

    def label(a: Artifact) -> Text:
        t = Text()
        t.append(f"{a.type} ", style="bold blue")
        t.append(a.name)
        t.append(f"  {_size(a.size)}", style="dim")
        if "duplicate_of" in a.metadata:
            t.append(f"  (same content as {a.metadata['duplicate_of']})", style="dim")
        return t

    def add(node: Tree, a: Artifact) -> None:
        for f in by_artifact.get(a.id, []):
            node.add(_finding_line(f))
        for e in a.errors:
            node.add(Text(f"! {e.kind}: {e.message} ({e.analyzer})", style="bright_black"))
        for c in a.children:
            add(node.add(label(c)), c)

    root = Tree(label(item.artifact), guide_style="dim")
    add(root, item.artifact)
    return root


def _indicator_table(item: ItemResult, limit: int) -> Table:
    t = Table(title="Indicators to block (defanged)", title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("type", style="cyan", no_wrap=True)
    t.add_column("value", overflow="fold")
    t.add_column("seen in", style="dim")
    shown = 0
    for ind in item.indicators:
        if ind.type.value in ("file_path", "registry_key", "file_name") and shown >= limit // 2:
            continue
        t.add_row(ind.type.value, escape(defang(ind.value, ind.type)), ind.context)
        shown += 1
        if shown >= limit:
            break
    if len(item.indicators) > shown:
        t.caption = f"{len(item.indicators) - shown} more in the JSON output (--json)"
    return t


def _technique_table(item: ItemResult) -> Table:
    t = Table(title="ATT&CK techniques", title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("id", style="magenta", no_wrap=True)
    t.add_column("technique")
    t.add_column("step (artifact)", style="dim")
    names = {}
    art_names = _artifact_names(item.artifact)
    for ref in item.technique_refs:
        names[ref.id] = ref.name
        t.add_row(ref.id, ref.name, ", ".join(art_names.get(a, a) for a in ref.artifacts[:3]))
    return t


def _artifact_names(a: Artifact) -> dict[str, str]:
    out = {a.id: a.name}
    for c in a.children:
        out.update(_artifact_names(c))
    return out


def _cve_table(item: ItemResult) -> Table:
    t = Table(
        title="Exploited vulnerabilities — patch", title_justify="left", show_edge=False, pad_edge=False
    )
    t.add_column("CVE", style="bold red", no_wrap=True)
    t.add_column("affected product")
    t.add_column("fix")
    for c in item.cves:
        t.add_row(c.id, c.product, c.fix)
    return t


def _lure(item: ItemResult) -> Text:
    lure = item.lure
    t = Text()
    t.append("Lure: ", style="bold")
    if lure.subject:
        t.append(f"subject “{defang_text(lure.subject)}”\n      ")
    if lure.language:
        langs = ", ".join(
            f"{k} {v:.0%}" for k, v in sorted(lure.languages.items(), key=lambda kv: -kv[1])[:3]
        )
        t.append(f"language {lure.language}" + (f" ({langs})" if langs else ""))
    else:
        t.append("language unknown (no visible text)", style="dim")
    if lure.themes:
        t.append("\n      themes: ")
        t.append(
            "; ".join(
                f"{th.theme} ({', '.join(th.terms[:4])})" if th.terms else th.theme for th in lure.themes[:4]
            )
        )
    if lure.sectors:
        t.append("\n      likely targeted sectors: ")
        parts = []
        for s in lure.sectors:
            why = lure.sector_reasons.get(s, [])
            parts.append(f"{s}" + (f" — {why[0]}" if why else ""))
        t.append("; ".join(parts))
    return t


def render_item(item: ItemResult, console: Console, verbose: bool = False, max_indicators: int = 25) -> None:
    head = Text()
    head.append(f" {item.verdict.upper()} ", style=VERDICT_STYLE[item.verdict])
    head.append(f"  score {item.score}/100   ", style="bold")
    head.append(f"{item.type}, {_size(item.size)}, sha256 {item.sha256}", style="dim")
    parts: list[object] = [head]
    if item.errors:
        parts.append(Text("\n".join(item.errors), style="red"))
    if item.reasons:
        strongest = ", ".join(item.reasons[:6])
        parts.append(Text(f"why: {strongest}", style="dim"))
    parts.append(Text("Delivery chain", style="bold"))
    parts.append(_chain(item, show_info=verbose))
    if item.technique_refs:
        parts.append(_technique_table(item))
    if item.indicators:
        parts.append(_indicator_table(item, max_indicators if not verbose else 10_000))
    if item.cves:
        parts.append(_cve_table(item))
    parts.append(_lure(item))
    console.print(Panel(Group(*parts), title=escape(item.path), title_align="left", border_style="dim"))  # type: ignore[arg-type]


def render(report: ScanReport, console: Console, verbose: bool = False, only_flagged: bool = False) -> None:
    for item in report.items:
        if only_flagged and item.verdict == "clean" and not item.errors:
            continue
        render_item(item, console, verbose=verbose)
    if len(report.items) > 1:
        counts = Counter(i.verdict for i in report.items)
        errors = sum(1 for i in report.items if i.errors)
        line = Text(f"{len(report.items)} items: ")
        for v in ("malicious", "suspicious", "clean"):
            line.append(f" {counts.get(v, 0)} {v} ", style=VERDICT_STYLE[v] if counts.get(v) else "dim")
        if errors:
            line.append(f"  {errors} not analysed", style="red")
        console.print(line)
