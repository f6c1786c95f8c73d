"""Hunt output: alerts (JSON lines, ECS-style names), summary, evidence document, terminal view."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from aptcatch.capture.indicators import defang
from aptcatch.hunt.ioc import RULES, IndicatorSet, Match
from aptcatch.hunt.readers import ReadResult
from aptcatch.knowledge.store import KnowledgeStore
from aptcatch.model.evidence import Evidence, EvidenceIndicator

_HASH_FIELDS = {"file.hash.md5": "md5", "file.hash.sha1": "sha1", "file.hash.sha256": "sha256"}


def provenance(
    matches: Sequence[Match], indicators: IndicatorSet, store: KnowledgeStore | None
) -> dict[tuple[str, str], dict[str, Any]]:
    """Sources, comments and group links of each distinct matched indicator (one store lookup)."""
    keys = sorted({(m.itype, m.value) for m in matches})
    hits = (
        store.lookup_many([v for t, v in keys if "knowledge" in indicators.entries[(t, v)].origins])
        if store
        else {}
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for itype, value in keys:
        entry = indicators.entries[(itype, value)]
        providers = sorted(o for o in entry.origins if o != "knowledge")
        comments, groups, claims = list(entry.comments), set[str](), list[dict[str, Any]]()
        for h in hits.get(value, []):
            if h.indicator.type != itype or h.indicator.value != value:
                continue
            d = h.to_dict()
            claims += d["claims"]
            groups.update(name for _, name in h.resolved)
            for c in h.indicator.claims:
                providers.append(c.claim.source)
                if c.comment and c.comment not in comments:
                    comments.append(c.comment)
                if c.target_kind == "group" and c.target and not h.resolved:
                    groups.add(c.target)
        out[(itype, value)] = {
            "providers": sorted(set(providers)),
            "comments": comments,
            "groups": sorted(groups),
            "claims": claims,
        }
    return out


EVENT_COLUMNS = ("@timestamp", "host.name", "event.dataset", "event.code")


def event_rows(
    results: Sequence[ReadResult], wanted: dict[int, set[int]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """The alert columns and ``event.original`` of the wanted (file, row) events, read once per file;
    files that are slices of one shared table (a batch's) are read together, with one ``take``."""
    out: dict[tuple[int, int], dict[str, Any]] = {}
    batches: dict[int, tuple[pa.Table, list[tuple[int, list[int], int]]]] = {}
    for file_id, ids in wanted.items():
        order = sorted(ids)
        shared = results[file_id].shared_table()
        if shared is None:
            picked = results[file_id].take(order, EVENT_COLUMNS)
            _fill(out, [(file_id, order)], picked, results[file_id].original(order))
            continue
        table, start = shared
        batches.setdefault(id(table), (table, []))[1].append((file_id, order, start))
    for table, members in batches.values():
        index = pa.array(np.concatenate([np.asarray(o, np.int64) + s for _, o, s in members]))
        picked = table.select([c for c in EVENT_COLUMNS if c in table.column_names]).take(index)
        texts = [results[f].shared_originals() for f, _, _ in members]
        first = texts[0]
        if first is not None and all(t is not None and t[0] is first[0] for t in texts):
            rows = np.concatenate(
                [np.asarray(o, np.int64) + t[1] for (_, o, _), t in zip(members, texts, strict=True) if t]
            )
            originals = [None if v is None else str(v) for v in first[0].take(pa.array(rows)).to_pylist()]
        else:
            originals = [v for f, o, _ in members for v in results[f].original(o)]
        _fill(out, [(f, o) for f, o, _ in members], picked, originals)
    return out


def _fill(
    out: dict[tuple[int, int], dict[str, Any]],
    files: list[tuple[int, list[int]]],
    picked: pa.Table,
    originals: Sequence[str | None],
) -> None:
    """``out[(file, row)]`` for the rows of ``files`` in order, from the rows of ``picked`` and
    ``originals`` in the same order."""
    count = sum(len(o) for _, o in files)
    columns = [
        picked.column(c).to_pylist() if c in picked.column_names else [None] * count for c in EVENT_COLUMNS
    ]
    keys = [(f, i) for f, order in files for i in order]
    for key, *values, raw in zip(keys, *columns, originals, strict=True):
        out[key] = {**dict(zip(EVENT_COLUMNS, values, strict=True)), "event.original": raw}


def alerts(
    matches: Sequence[Match], results: Sequence[ReadResult], context: dict[tuple[str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """One alert per matched (row, field, indicator); only the matched rows are taken from the tables."""
    wanted: dict[int, set[int]] = defaultdict(set)
    for m in matches:
        wanted[m.file_id].add(m.row_id)
    rows = event_rows(results, wanted)
    out = []
    for m in matches:
        row, ctx = rows[(m.file_id, m.row_id)], context[(m.itype, m.value)]
        out.append(
            {
                "@timestamp": row["@timestamp"],
                "host.name": row["host.name"],
                "event.dataset": row["event.dataset"],
                "event.code": row["event.code"],
                "rule.id": m.rule_id,
                "rule.name": RULES[m.rule_id],
                "threat.indicator.type": m.itype,
                "threat.indicator.value": m.value,
                "threat.indicator.provider": ctx["providers"],
                "threat.indicator.description": ctx["comments"],
                "threat.indicator.matched.field": m.field,
                "threat.indicator.matched.atomic": m.observed,
                "threat.indicator.matched.type": m.match,
                "threat.group.name": ctx["groups"],
                "event.original": row["event.original"],
                "log.file.path": str(results[m.file_id].path),
            }
        )
    return out


def summary(
    alert_docs: Sequence[dict[str, Any]], results: Sequence[ReadResult], indicators: IndicatorSet
) -> dict[str, Any]:
    per_indicator: Counter[tuple[str, str]] = Counter()
    hosts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for a in alert_docs:
        key = (a["threat.indicator.type"], a["threat.indicator.value"])
        per_indicator[key] += 1
        if a["host.name"]:
            hosts[key].add(a["host.name"])
    stamps = sorted(a["@timestamp"] for a in alert_docs if a["@timestamp"])
    groups = sorted({g for a in alert_docs for g in a["threat.group.name"]})
    return {
        "alerts": len(alert_docs),
        "per_rule": dict(sorted(Counter(a["rule.id"] for a in alert_docs).items())),
        "per_indicator": [
            {
                "type": t,
                "value": v,
                "alerts": n,
                "hosts": sorted(hosts[(t, v)]),
                "groups": sorted(
                    {
                        g
                        for a in alert_docs
                        if a["threat.indicator.value"] == v
                        for g in a["threat.group.name"]
                    }
                ),
            }
            for (t, v), n in per_indicator.most_common()
        ],
        "hosts_affected": sorted({a["host.name"] for a in alert_docs if a["host.name"]}),
        "groups": groups,
        "time_span": {"first": stamps[0], "last": stamps[-1]} if stamps else None,
        "indicators_swept": len(indicators),
        "indicators_not_swept": indicators.not_swept,
        "iocs_rejected": indicators.rejected,
        "files": [
            {
                "path": str(r.path),
                "format": r.format,
                "rows": r.rows,
                "bad_lines": r.bad_lines,
                "errors": r.errors,
            }
            for r in results
        ],
    }


def evidence(alert_docs: Sequence[dict[str, Any]]) -> Evidence:
    """The observed values that matched (the attribution looks them up again, parents and CIDRs included)."""
    seen: dict[tuple[str, str], str] = {}
    for a in alert_docs:
        observed, field = a["threat.indicator.matched.atomic"], a["threat.indicator.matched.field"]
        if a["rule.id"] == "ioc.hash":
            itype = _HASH_FIELDS.get(field, a["threat.indicator.type"])
            observed = observed.lower()
        elif a["rule.id"] == "ioc.ip":
            itype = "ipv4"
        elif a["rule.id"] == "ioc.url":
            itype = "url"
        else:
            itype, observed = "domain", observed.lower().rstrip(".")
        seen.setdefault((itype, observed), a["log.file.path"])
    first = min((a["@timestamp"][:10] for a in alert_docs if a["@timestamp"]), default=None)
    try:
        first_seen = date.fromisoformat(first) if first else None
    except ValueError:
        first_seen = None
    return Evidence(
        indicators=tuple(
            EvidenceIndicator.model_validate({"type": t, "value": v, "seen_in": p})
            for (t, v), p in sorted(seen.items())
        ),
        first_seen=first_seen,
        source="hunt",
    )


def render(doc: dict[str, Any], console: Console) -> None:
    """Terminal summary; indicators defanged."""
    files = doc["files"]
    console.print(
        f"[bold]hunt[/]: {sum(f['rows'] for f in files)} events in {len(files)} files, "
        f"{doc['indicators_swept']} indicators swept, [bold]{doc['alerts']} alerts[/]"
    )
    skipped = [f for f in files if f["format"] == "unknown" and not f["rows"]]
    if skipped:
        names = ", ".join(f["path"] for f in skipped[:5]) + (" …" if len(skipped) > 5 else "")
        console.print(
            f"  [yellow]{len(skipped)} files not in a log format[/] (skipped): {names}", highlight=False
        )
    bad = [f for f in files if (f["bad_lines"] or f["errors"]) and f not in skipped]
    for f in bad:
        why = f"; {f['errors'][0]}" if f["errors"] else ""
        console.print(
            f"  [yellow]{f['path']}[/] ({f['format']}): {f['bad_lines']} bad lines/records{why}",
            highlight=False,
        )
    for line in doc["iocs_rejected"][:10]:
        console.print(f"  [yellow]ignored IOC[/] {line}", highlight=False)
    if not doc["alerts"]:
        return
    if doc["time_span"]:
        console.print(f"time span: {doc['time_span']['first']} .. {doc['time_span']['last']}")
    console.print("per rule: " + ", ".join(f"{k} {v}" for k, v in doc["per_rule"].items()))
    console.print(f"hosts affected ({len(doc['hosts_affected'])}): " + ", ".join(doc["hosts_affected"][:20]))
    table = Table("indicator", "type", "alerts", "hosts", "groups")
    for i in doc["per_indicator"][:50]:
        shown = defang(i["value"], i["type"]) if i["type"] in ("domain", "ipv4", "url") else i["value"]
        if i["type"] == "cidr":
            shown = i["value"].replace(".", "[.]")
        table.add_row(shown, i["type"], str(i["alerts"]), str(len(i["hosts"])), ", ".join(i["groups"]) or "-")
    console.print(table)
