"""Documents the CLI prints: group profile, timeline and yearly ranking, all with provenance."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from aptcatch.knowledge.models import Entity
from aptcatch.knowledge.sqlite_store import SqliteStore

RANK_MEASURE = (
    "score = 10 x campaigns active during the year (a campaign attributed to the group whose "
    "first_seen..last_seen span, per ATT&CK or Tidal, overlaps the year) + 1 x distinct indicators "
    "that feeds link to the group and date in the year (first seen, last seen or event date). "
    "It measures documented activity, which follows reporting: a quiet year may only be an unreported one."
)


def profile(store: SqliteStore, g: Entity) -> dict[str, Any]:
    """Everything known about a group, each value with its claims; disagreements listed."""
    doc = g.to_dict()
    links: dict[str, list[dict[str, str]]] = defaultdict(list)
    for lk in g.links:
        target = store.entity(lk.target)
        kind = target.kind if target else "unknown"
        links[kind].append({"id": lk.target, "name": lk.target_name, "rel": lk.rel, **lk.claim.to_dict()})
    for rel, other, direction in store.linked_to(g.id):
        if direction == "in" and (src := store.entity(other)) is not None:
            for lk in src.links:
                if lk.target == g.id:
                    entry = {"id": src.id, "name": src.name, "rel": f"{rel} (inverse)", **lk.claim.to_dict()}
                    if src.kind == "campaign":
                        entry["first_seen"] = next((f.value for f in src.values("first_seen")), "")
                        entry["last_seen"] = next((f.value for f in src.values("last_seen")), "")
                    links[src.kind].append(entry)
    doc["techniques"] = links.get("technique", [])
    doc["software"] = links.get("software", [])
    doc["campaigns"] = links.get("campaign", [])
    doc["disagreements"] = disagreements(g)
    return doc


def disagreements(g: Entity) -> list[dict[str, Any]]:
    """Single-valued attributes (origin country, sponsor) where sources give different values."""
    out = []
    for attr in ("country", "sponsor"):
        by_value: dict[str, set[str]] = defaultdict(set)
        for f in g.values(attr):
            by_value[f.value].add(f.claim.source)
        if len(by_value) > 1:
            out.append({"attr": attr, "values": {v: sorted(s) for v, s in sorted(by_value.items())}})
    return out


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_REPORT_DATE = re.compile(
    r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+((?:19|20)\d\d)\b"
)


def report_month(reference: str) -> str:
    """'YYYY-MM' from an ATT&CK-style citation name ("Cisco Talos Bitter Bangladesh May 2022"), or ''."""
    found = _REPORT_DATE.findall(reference.split(" <", 1)[0])
    if not found:
        return ""
    month, year = found[-1]
    return f"{year}-{_MONTHS[month[:3].lower()]:02d}"


def timeline(store: SqliteStore, g: Entity) -> list[dict[str, str]]:
    events: list[dict[str, str]] = []
    for f in g.facts:
        if f.attr in ("first_seen", "last_seen"):
            events.append({"date": f.value, "what": f"group {f.attr.replace('_', ' ')}", **f.claim.to_dict()})
    for rel, other, direction in store.linked_to(g.id):
        camp = store.entity(other) if direction == "in" and rel == "attributed-to" else None
        if camp is None:
            continue
        for f in camp.facts:
            if f.attr in ("first_seen", "last_seen"):
                label = "starts" if f.attr == "first_seen" else "ends"
                events.append({"date": f.value, "what": f"campaign {camp.name} {label}", **f.claim.to_dict()})
    # documented activity: the group's own relationships, dated by the report they cite (ATT&CK citation
    # names end in "Mon YYYY") or else by when the source recorded them; one event per report
    documented: dict[tuple[str, str, str], list[str]] = {}
    for lk in g.links:
        if lk.rel not in ("uses", "attributed-to"):
            continue
        report = report_month(lk.claim.reference)
        date = report or (f"{lk.claim.date[:10]} (recorded)" if lk.claim.date else "")
        if date:
            key = (date, lk.claim.source, lk.claim.reference)
            documented.setdefault(key, []).append(lk.target_name or lk.target)
    for (date, source, ref), targets in documented.items():
        uniq = sorted(set(targets))
        shown = ", ".join(uniq[:4]) + (" …" if len(uniq) > 4 else "")
        what = f"report: {len(uniq)} technique/software use(s): {shown}"
        events.append({"date": date, "what": what, "source": source, "reference": ref})
    names = sorted({n.value for n in g.names})
    per_event: Counter[tuple[str, str, str]] = Counter()
    for it in store.indicators_of(names):
        for c in it.claims:
            date = c.first_seen or c.claim.date
            if date:
                per_event[(date[:10], c.claim.source, c.claim.reference)] += 1
    for (date, source, ref), n in per_event.items():
        events.append(
            {"date": date, "what": f"{n} indicator(s) reported", "source": source, "reference": ref}
        )
    return sorted(events, key=lambda e: (e["date"], e["what"]))


def rank(store: SqliteStore, year: int) -> list[dict[str, Any]]:
    y = str(year)
    scores: dict[str, dict[str, Any]] = {}

    def row(gid: str, name: str) -> dict[str, Any]:
        return scores.setdefault(gid, {"id": gid, "name": name, "campaigns": [], "indicators": 0, "score": 0})

    for camp in store.entities("campaign"):
        first = min((f.value[:4] for f in camp.values("first_seen")), default="")
        last = max((f.value[:4] for f in camp.values("last_seen")), default=first)
        if not first or not (first <= y <= (last or first)):
            continue
        for lk in camp.links_of("attributed-to"):
            row(lk.target, lk.target_name)["campaigns"].append(camp.name)
    cache: dict[str, tuple[str, str] | None] = {}
    seen: set[tuple[str, int]] = set()
    sql = (
        "SELECT indicator_id, target FROM indicator_claims WHERE target != '' AND "
        "(substr(first_seen, 1, 4) = ? OR substr(last_seen, 1, 4) = ? "
        "OR (first_seen = '' AND substr(date, 1, 4) = ?))"
    )
    for iid, target in store.db.execute(sql, (y, y, y)):
        if target not in cache:
            found = [e for e in store.find(target, "group")]
            cache[target] = (found[0].id, found[0].name) if found else None
        hit = cache[target]
        if hit and (hit[0], iid) not in seen:
            seen.add((hit[0], iid))
            row(*hit)["indicators"] += 1
    for r in scores.values():
        r["campaigns"] = sorted(set(r["campaigns"]))
        r["score"] = 10 * len(r["campaigns"]) + r["indicators"]
    return sorted(scores.values(), key=lambda r: (-r["score"], r["name"]))
