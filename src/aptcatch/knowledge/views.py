"""Terminal views of the intel documents: every value is shown with its source and reference."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aptcatch.knowledge.indicators import defang
from aptcatch.knowledge.models import Entity


def _src(d: dict[str, Any]) -> str:
    ref = d.get("reference", "")
    extra = f" — {ref[:90]}" if ref else ""
    date = f" ({d['date']})" if d.get("date") else ""
    conf = f" [confidence {d['confidence']}]" if d.get("confidence") else ""
    return escape(f"{d.get('source', '?')}{date}{conf}{extra}")


def show_group(console: Console, doc: dict[str, Any]) -> None:
    state = "" if doc["active"] else " [red](revoked/deprecated)[/]"
    console.print(f"[bold]{escape(doc['name'])}[/]  {doc['id']}{state}")
    t = Table("name", "source", title="Names", title_justify="left", show_edge=False)
    for n in doc["names"]:
        t.add_row(escape(n["name"]) + (" *" if n.get("primary") else ""), _src(n))
    console.print(t)
    by_attr: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in doc["facts"]:
        by_attr[f["attr"]].append(f)
    labels = [
        ("external_id", "ATT&CK id"),
        ("country", "suspected country"),
        ("sponsor", "suspected sponsor"),
        ("target_sector", "target sectors"),
        ("target_country", "target countries"),
        ("first_seen", "first seen"),
        ("last_seen", "last seen"),
    ]
    t = Table("attribute", "value", "source", title="Facts", title_justify="left", show_edge=False)
    for attr, label in labels:
        grouped: dict[str, list[str]] = defaultdict(list)
        for f in by_attr.get(attr, ()):
            raw = f" ({f['raw']})" if f.get("raw") and f["raw"] != f["value"] else ""
            grouped[_src(f)].append(escape(f["value"] + raw))
        for src, vals in grouped.items():
            t.add_row(label, ", ".join(sorted(set(vals))), src)
    console.print(t)
    for d in doc["disagreements"]:
        side = "  |  ".join(f"{v}: {', '.join(s)}" for v, s in d["values"].items())
        console.print(f"[yellow]sources disagree on {d['attr']}:[/] {escape(side)}")
    for key, title in (("software", "Software"), ("campaigns", "Campaigns"), ("techniques", "Techniques")):
        rows = doc.get(key) or []
        if not rows:
            continue
        t = Table(
            "name", "rel", "source", title=f"{title} ({len(rows)})", title_justify="left", show_edge=False
        )
        for r in sorted(rows, key=lambda r: (r.get("first_seen", ""), r["name"])):
            span = f" {r.get('first_seen', '')}..{r.get('last_seen', '')}" if r.get("first_seen") else ""
            t.add_row(escape(r["name"] + span), r["rel"], _src(r))
        console.print(t)
    console.print(f"[dim]merged from {len(doc['members'])} source entries[/]")


def group_row(g: Entity, country: str | None, sector: str | None) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "aliases": sorted({n.value for n in g.names} - {g.name})[:12],
        "country": sorted({f"{f.value} ({f.claim.source})" for f in g.values("country")}),
        "sectors": sorted({f.value for f in g.values("target_sector")}),
        "matched_by": sorted(
            {
                f.claim.source
                for f in g.facts
                if (country and f.attr in ("country", "sponsor") and f.value == country.upper())
                or (sector and f.attr == "target_sector" and f.value == sector.lower())
            }
        ),
    }


def groups_table(console: Console, rows: list[dict[str, Any]]) -> None:
    t = Table("group", "aliases", "country (source)", "sectors", "matched by", show_edge=False)
    for r in rows:
        t.add_row(
            escape(r["name"]),
            escape(", ".join(r["aliases"][:5])),
            escape("; ".join(r["country"])),
            ", ".join(r["sectors"][:6]),
            escape(", ".join(r["matched_by"])),
        )
    console.print(t)
    console.print(f"[dim]{len(rows)} groups[/]")


def lookup_view(console: Console, results: dict[str, list[dict[str, Any]]]) -> None:
    for value, hits in results.items():
        if not hits:
            console.print(f"{escape(defang(value))}: [dim]not known[/]")
            continue
        for h in hits:
            owners = ", ".join(r["name"] for r in h["resolved"]) or "no group stated"
            console.print(
                f"{escape(defang(value))}: {h['match']} match on {h['type']} "
                f"{escape(defang(h['value']))} → [bold]{escape(owners)}[/]"
            )
            for c in h["claims"][:8]:
                said = f"{c.get('target_kind', '')} {c.get('target', '')}".strip() or "listed"
                note = f" — {c['comment']}" if c.get("comment") else ""
                console.print(f"    {escape(said)}: {_src(c)}{escape(note[:100])}")
            if len(h["claims"]) > 8:
                console.print(f"    [dim]… {len(h['claims']) - 8} more claims (--json for all)[/]")


def timeline_view(console: Console, name: str, events: list[dict[str, str]]) -> None:
    t = Table(
        "date", "event", "source", title=f"Timeline of {escape(name)}", title_justify="left", show_edge=False
    )
    for e in events:
        t.add_row(e["date"], escape(e["what"]), _src(e))
    console.print(t)


def rank_view(console: Console, year: int, measure: str, rows: list[dict[str, Any]]) -> None:
    t = Table(
        "#",
        "group",
        "score",
        "campaigns",
        "indicators",
        title=f"Most active groups in {year}",
        title_justify="left",
        show_edge=False,
    )
    for i, r in enumerate(rows, 1):
        t.add_row(
            str(i),
            escape(r["name"]),
            str(r["score"]),
            escape(", ".join(r["campaigns"][:3])),
            str(r["indicators"]),
        )
    console.print(t)
    console.print(f"[dim]{escape(measure)}[/]")
