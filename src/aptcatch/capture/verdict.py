"""Verdict over the whole delivery chain.

Score = 100 × (1 − Π(1 − wᵢ)) over the distinct finding *groups* of the item (each group counted once,
at its heaviest finding), a noisy-OR: independent signals reinforce each other, many weak ones add up
slowly, and no single informational finding can push an item over a threshold. A group gathers findings
that are facets of one observation (an embedded executable seen by the container analyser and by the PE
analyser; an Equation Editor object seen by class id, by YARA and by MTEF parsing), so that one fact is
not counted three times. Weights and groups live with the finding definitions (``data/findings/*.toml``).
The thresholds are chosen against the corpora in
``benchmarks/scan_corpora.py`` (see BENCHMARKS.md for the distribution they were read from):

* ``suspicious`` from 30: at least one medium signal (e.g. auto-exec macro alone, an external link,
  an encrypted archive in an e-mail) — worth an analyst's look, common enough in benign mail to not block.
* ``malicious`` from 70: a high-confidence technique (exploit object, remote template, DDE command,
  auto-exec macro that runs a LOLBin or downloads) or two independent medium ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from aptcatch.capture import catalog
from aptcatch.model.scan import Finding, Verdict

SUSPICIOUS_AT = 30
MALICIOUS_AT = 70


def decide(findings: Sequence[Finding]) -> tuple[int, Verdict, tuple[str, ...]]:
    """Return (score 0..100, verdict, contributing finding ids strongest first)."""
    best: dict[str, float] = {}
    by_group: dict[str, float] = {}
    for f in findings:
        if f.weight > best.get(f.id, 0.0):
            best[f.id] = f.weight
        group = catalog.finding(f.id).group
        if f.weight > by_group.get(group, 0.0):
            by_group[group] = f.weight
    remaining = 1.0
    for w in by_group.values():
        remaining *= 1.0 - w
    score = round(100 * (1.0 - remaining))
    level: Verdict = "clean"
    if score >= MALICIOUS_AT:
        level = "malicious"
    elif score >= SUSPICIOUS_AT:
        level = "suspicious"
    reasons = tuple(fid for fid, w in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])) if w > 0)
    return score, level, reasons
