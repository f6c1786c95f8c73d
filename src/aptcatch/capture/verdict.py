"""Verdict over the whole delivery chain.

Score = 100 × (1 − Π(1 − wᵢ)) over the distinct findings of the item (each finding id counted once, at
its heaviest), a noisy-OR: independent signals reinforce each other, many weak ones add up slowly, and
no single informational finding can push an item over a threshold. Weights live with the finding
definitions (``data/findings/*.toml``). The thresholds are chosen against the corpora in
``benchmarks/scan_corpora.py`` (see BENCHMARKS.md for the distribution they were read from):

* ``suspicious`` from 30: at least one medium signal (e.g. auto-exec macro alone, an external link,
  an encrypted archive in an e-mail) — worth an analyst's look, common enough in benign mail to not block.
* ``malicious`` from 70: a high-confidence technique (exploit object, remote template, DDE command,
  auto-exec macro that runs a LOLBin or downloads) or two independent medium ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from aptcatch.model.scan import Finding, Verdict

SUSPICIOUS_AT = 30
MALICIOUS_AT = 70


def decide(findings: Sequence[Finding]) -> tuple[int, Verdict, tuple[str, ...]]:
    """Return (score 0..100, verdict, contributing finding ids strongest first)."""
    best: dict[str, float] = {}
    for f in findings:
        if f.weight > best.get(f.id, 0.0):
            best[f.id] = f.weight
    remaining = 1.0
    for w in best.values():
        remaining *= 1.0 - w
    score = round(100 * (1.0 - remaining))
    level: Verdict = "clean"
    if score >= MALICIOUS_AT:
        level = "malicious"
    elif score >= SUSPICIOUS_AT:
        level = "suspicious"
    reasons = tuple(fid for fid, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])))
    return score, level, reasons
