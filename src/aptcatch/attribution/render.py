"""Attribution in the terminal (rich) and as JSON.

The terminal view: a ranked bar chart of the candidates' probabilities with the "unknown / not in the
knowledge base" share, then for the top candidates the strongest evidence for and against (each fact
with its source), and public claims that disagree shown side by side. Indicators are defanged here;
the JSON document (:func:`attribution_document`) keeps raw values.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from aptcatch.capture.indicators import defang_text as capture_defang_text
from aptcatch.knowledge.indicators import defang, refang
from aptcatch.model.attribution import AttributionResult, Candidate, Conflict, Contribution, SourceRef

__all__ = ["attribution_document", "bar", "defang_text", "format_source", "render_attribution"]

BAR_WIDTH = 32
_EIGHTHS = " ▏▎▍▌▋▊▉"
_CITATION = re.compile(r"\s*<[^>]*>\s*")


def attribution_document(result: AttributionResult) -> dict[str, Any]:
    """The JSON form (``aptcatch.attribution/1``): raw values, every field."""
    return result.model_dump(mode="json", by_alias=True)


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``width`` cells for ``fraction`` in [0, 1], in eighths of a cell."""
    f = min(max(fraction, 0.0), 1.0)
    eighths = round(f * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[part] if part else "")
    return text.ljust(width)


def format_source(ref: SourceRef, max_citations: int = 2) -> str:
    """``source — citation, citation (date)``: citation names without their URLs."""
    text = ref.source
    if ref.reference:
        if ref.reference.startswith(("http://", "https://")):
            cites = [ref.reference]
        else:
            cites = [_CITATION.sub("", c).strip() for c in ref.reference.split(" | ")]
            cites = [c for c in cites if c]
        shown = ", ".join(cites[:max_citations]) + (
            f" +{len(cites) - max_citations}" if len(cites) > max_citations else ""
        )
        if shown:
            text += f" — {shown}"
    if ref.date:
        text += f" ({ref.date})"
    return text


def _value(c: Contribution) -> str:
    return defang(refang(c.value)) if c.kind == "indicator" else defang_text(c.value)


def defang_text(text: str) -> str:
    """Defang every URL, IP address, domain and e-mail inside free text (file names stay as they are)."""
    return capture_defang_text(text)


def _name(c: Candidate) -> Text:
    t = Text(c.name, style="bold")
    if c.attack_id:
        t.append(f" {c.attack_id}", style="cyan")
    return t


def _chart(result: AttributionResult, top: int) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 1))
    table.add_column("#", justify="right", style="dim")
    table.add_column("candidate", no_wrap=True, max_width=40)
    table.add_column("bar", no_wrap=True)
    table.add_column("p", justify="right")
    ranked: list[tuple[str, Text, float, str]] = [
        (str(i), _name(c), c.probability, "green" if i == 1 else "blue")
        for i, c in enumerate(result.candidates[:top], 1)
    ]
    ranked.append(
        ("?", Text("unknown / not in the knowledge base", style="italic"), result.unknown, "magenta")
    )
    ranked.sort(key=lambda r: -r[2])
    for rank, name, p, colour in ranked:
        table.add_row(rank, name, Text(bar(p), style=colour), f"{p:6.1%}")
    rest = len(result.candidates) - top
    if rest > 0:
        share = sum(c.probability for c in result.candidates[top:])
        table.add_row("", Text(f"{rest} more candidate(s)", style="dim"), "", f"{share:6.1%}")
    return table


def _contributions(
    title: str, items: tuple[Contribution, ...], limit: int, style: str, wide: bool = True
) -> Table:
    """One row per evidence item; on narrow consoles the sources go under the reason, not beside it."""
    table = Table(title=title, title_justify="left", title_style=style, expand=True, show_lines=not wide)
    table.add_column("weight", justify="right", no_wrap=True)
    table.add_column("evidence", overflow="fold", ratio=2, min_width=14)
    table.add_column("why" if wide else "why · source", overflow="fold", ratio=3)
    if wide:
        table.add_column("source", overflow="fold", ratio=3, style="dim")
    for c in sorted(items, key=lambda c: -abs(c.weight))[:limit]:
        sources = "\n".join(format_source(s) for s in c.sources[:3])
        if len(c.sources) > 3:
            sources += f"\n+{len(c.sources) - 3} more"
        what = Text(c.kind + "\n", style="dim")
        what.append(_value(c))
        why = Text(defang_text(c.explanation))
        if wide:
            table.add_row(Text(f"{c.weight:+.2f}"), what, why, Text(sources or "—"))
        else:
            if sources:
                why.append("\n" + sources, style="dim")
            table.add_row(Text(f"{c.weight:+.2f}"), what, why)
    return table


def _conflicts(conflicts: tuple[Conflict, ...]) -> Table:
    width = max(len(c.claims) for c in conflicts)
    table = Table(title="conflicting public claims", title_justify="left", title_style="yellow", expand=True)
    table.add_column("about", overflow="fold")
    for n in range(width):
        table.add_column(f"claim {n + 1}", overflow="fold")
    for c in conflicts:
        cells: list[Text] = []
        for n in range(width):
            cell = Text(c.claims[n] if n < len(c.claims) else "")
            if n < len(c.claims) and n < len(c.sources):
                cell.append("\n" + format_source(c.sources[n]), style="dim")
            cells.append(cell)
        table.add_row(Text(defang_text(c.about)), *cells)
    return table


def _candidate_panel(rank: int, c: Candidate, limit: int, wide: bool) -> Panel:
    parts: list[Any] = []
    head = Text()
    if c.aliases:
        head.append("aka " + ", ".join(c.aliases[:8]) + (" …" if len(c.aliases) > 8 else ""), style="dim")
    if c.country:
        head.append(f"   country: {c.country}", style="dim")
    if head:
        parts.append(head)
    if c.evidence:
        parts.append(_contributions("for", c.evidence, limit, "green", wide))
    else:
        parts.append(Text("no evidence item speaks for this candidate", style="dim"))
    if c.against:
        parts.append(_contributions("against", c.against, limit, "red", wide))
    if c.conflicts:
        parts.append(_conflicts(c.conflicts))
    title = Text(f"#{rank} ")
    title.append_text(_name(c))
    title.append(f"  {c.probability:.1%}")
    return Panel(Group(*parts), title=title, title_align="left")


def render_attribution(
    result: AttributionResult,
    console: Console,
    *,
    top: int = 10,
    explain: int = 3,
    reasons: int = 6,
    title: str | None = None,
) -> None:
    """Print the terminal view: chart of ``top`` candidates, reasons for the first ``explain``."""
    console.print(Text(title or "Attribution", style="bold underline"))
    meta = [f"{result.evidence_used} evidence item(s) used", f"{result.duration_ms:.1f} ms"]
    active = {k: v for k, v in result.filters.items() if v}
    if active:
        meta.append(
            "filters: "
            + "; ".join(f"{k}={', '.join(v) if isinstance(v, list) else v}" for k, v in active.items())
        )
    console.print(Text(" · ".join(meta), style="dim"))
    if not result.candidates:
        console.print(Text("No known group is supported by this evidence.", style="yellow"))
    console.print(_chart(result, top))
    if result.unknown >= max((c.probability for c in result.candidates), default=0.0):
        console.print(
            Text(
                "The evidence fits no group of the knowledge base better than an unknown one.",
                style="magenta",
            )
        )
    for rank, c in enumerate(result.candidates[:explain], 1):
        console.print(_candidate_panel(rank, c, reasons, console.width >= 120))
    if result.evidence_ignored:
        console.print(Text("not used:", style="dim"))
        for why in result.evidence_ignored[:20]:
            console.print(Text(f"  {defang_text(why)}", style="dim"))
        if len(result.evidence_ignored) > 20:
            console.print(Text(f"  … and {len(result.evidence_ignored) - 20} more", style="dim"))
