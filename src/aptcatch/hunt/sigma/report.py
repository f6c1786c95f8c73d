"""Sigma hits as ECS-style alerts, the Sigma part of the hunt summary, and its terminal view."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from aptcatch.hunt.output import EVENT_COLUMNS, event_rows
from aptcatch.hunt.readers.base import ReadResult
from aptcatch.hunt.sigma.correlate import CorrelationHit
from aptcatch.hunt.sigma.evaluate import SigmaRun
from aptcatch.hunt.sigma.plan import GATE
from aptcatch.hunt.sigma.rules import RuleSet

# Sigma levels on ECS's 0-100 event.severity scale (the bands Elastic uses for its risk scores).
SEVERITY = {"informational": 1, "low": 21, "medium": 47, "high": 73, "critical": 99, "unknown": 0}


def alerts(
    ruleset: RuleSet,
    run: SigmaRun,
    corr_hits: Sequence[CorrelationHit],
    results: Sequence[ReadResult],
) -> list[dict[str, Any]]:
    """One alert per (event, rule) for rules that generate alerts, one per correlation window."""
    rules = ruleset.rules
    shown = [h for h in run.hits if rules[h.rule].generate]
    wanted: dict[int, set[int]] = defaultdict(set)
    for h in shown:
        wanted[h.file_id].add(h.row)
    for c in corr_hits:
        for f, r in c.events[:1]:
            wanted[f].add(r)
    rows = event_rows(results, wanted)
    techniques = {i: list(rules[i].techniques) for i in {h.rule for h in shown}}
    paths = {i: str(results[i].path) for i in wanted}
    out: list[dict[str, Any]] = []
    for h in sorted(shown, key=lambda h: (h.file_id, h.row, h.rule)):
        rule, row = rules[h.rule], rows[(h.file_id, h.row)]
        out.append(
            {
                **{k: row[k] for k in EVENT_COLUMNS},
                "event.kind": "alert",
                "event.severity": SEVERITY.get(rule.level, 0),
                "rule.id": rule.id,
                "rule.name": rule.title,
                "rule.ruleset": "sigma",
                "rule.reference": rule.path,
                "sigma.level": rule.level,
                "sigma.logsource": rule.logsource,
                "threat.framework": "MITRE ATT&CK",
                "threat.technique.id": techniques[h.rule].copy(),
                "event.original": row["event.original"],
                "log.file.path": paths[h.file_id],
            }
        )
    for c in corr_hits:
        corr = ruleset.correlations[c.correlation]
        first = rows[c.events[0]]
        out.append(
            {
                "@timestamp": c.start,
                "host.name": first["host.name"],
                "event.dataset": first["event.dataset"],
                "event.code": first["event.code"],
                "event.kind": "alert",
                "event.severity": SEVERITY.get(corr.level, 0),
                "event.start": c.start,
                "event.end": c.end,
                "rule.id": corr.id,
                "rule.name": corr.title,
                "rule.ruleset": "sigma-correlation",
                "rule.reference": corr.path,
                "sigma.level": corr.level,
                "sigma.correlation": {
                    "type": corr.type,
                    "group": {k: v for k, v in c.group},
                    "count": c.count,
                    "condition": f"{corr.op} {corr.count}",
                    "timespan_seconds": corr.timespan,
                    "events": len(c.events),
                },
                "threat.framework": "MITRE ATT&CK",
                "threat.technique.id": list(corr.techniques),
                "event.original": first["event.original"],
                "log.file.path": str(results[c.events[0][0]].path),
            }
        )
    return out


def summary(ruleset: RuleSet, run: SigmaRun, sigma_alerts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-rule counts, hosts, what did not convert (with reasons) and which rules were blind."""
    per_rule: Counter[str] = Counter(a["rule.id"] for a in sigma_alerts)
    names = {a["rule.id"]: a["rule.name"] for a in sigma_alerts}
    hosts: dict[str, set[str]] = defaultdict(set)
    for a in sigma_alerts:
        if a["host.name"]:
            hosts[a["rule.id"]].add(a["host.name"])
    rules = ruleset.rules
    # A rule gated on a dataset these logs do not have (another product's logs) is not applicable here,
    # rather than blind: leave it out of both counts.
    foreign = {i for i, fields in run.blind.items() if GATE in fields}
    return {
        "rules_loaded": len(rules),
        "correlations_loaded": len(ruleset.correlations),
        "rules_applied": len(run.applied - foreign),
        "rules_fired": len(per_rule),
        "detections": len(sigma_alerts),
        "per_rule": [
            {"id": rid, "name": names[rid], "alerts": n, "hosts": sorted(hosts[rid])}
            for rid, n in per_rule.most_common()
        ],
        "not_converted": [{"file": f.path, "rule": f.rule, "reason": f.reason} for f in ruleset.failures],
        "missing_fields": [
            {"id": rules[i].id, "name": rules[i].title, "fields": sorted(fields)}
            for i, fields in sorted(run.blind.items())
            if i not in foreign
        ],
        "compiled_from_cache": ruleset.from_cache,
    }


def techniques(sigma_alerts: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({t for a in sigma_alerts for t in a["threat.technique.id"]})


def render(doc: dict[str, Any], console: Console) -> None:
    console.print(
        f"[bold]sigma[/]: {doc['rules_loaded']} rules ({doc['correlations_loaded']} correlations), "
        f"{doc['rules_applied']} applied to these logs, {doc['rules_fired']} fired, "
        f"[bold]{doc['detections']} detections[/]"
    )
    if doc["not_converted"]:
        console.print(f"  [yellow]{len(doc['not_converted'])} rules not converted[/]:")
        for f in doc["not_converted"][:10]:
            console.print(f"    {f['file']} {f['rule']}: {f['reason'][:160]}", highlight=False)
        if len(doc["not_converted"]) > 10:
            console.print("    … (all of them in the JSON summary)")
    if doc["missing_fields"]:
        console.print(
            f"  [yellow]{len(doc['missing_fields'])} rules read fields these logs never have[/] "
            "(they cannot match here; listed in the summary)"
        )
    if doc["per_rule"]:
        table = Table("rule", "alerts", "hosts")
        for r in doc["per_rule"][:40]:
            table.add_row(r["name"], str(r["alerts"]), ", ".join(r["hosts"][:5]))
        console.print(table)
