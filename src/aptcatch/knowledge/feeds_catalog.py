"""Importing the staged corpus (``../shared/data``) in one go: ATT&CK, every galaxy, every IOC list.

Used by the snapshot script, the import benchmark and the corpus tests. IOC repositories keep one
folder per actor or campaign (``bitter/``, ``turla/``, ``oceanlotus/``); when a folder name resolves
to exactly one known group, that group is the feed's stated attribution and indicators are linked to
it (the claim's comment says "attributed by feed folder"). Files that are not indicator lists (YARA,
Snort rules, word lists, READMEs) are skipped and listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aptcatch.knowledge.errors import FeedError
from aptcatch.knowledge.importers import read_feed, reference_batches
from aptcatch.knowledge.models import Indicator, IndicatorClaim
from aptcatch.knowledge.store import KnowledgeStore

_FEED_SUFFIXES = {".json", ".csv", ".txt", ""}
_NOT_FEEDS = {
    "reports.json",
    "readme.txt",
    "keywords.txt",
    "license",
    "readme.md",
    "nouns.txt",
    "adjectives.txt",
}


@dataclass
class StagedReport:
    reference_files: int = 0
    feed_files: int = 0
    indicators: int = 0
    skipped: list[str] = field(default_factory=list)


def import_staged(
    store: KnowledgeStore, data: Path, log: Callable[[str], None] = lambda m: None
) -> StagedReport:
    report = StagedReport()
    ref_paths = [
        data / "attack" / "enterprise-attack.json",
        *sorted((data / "misp-galaxy" / "clusters").glob("*.json")),
    ]
    batches = reference_batches([p for p in ref_paths if p.is_file()])
    store.replace_sources(batches)
    report.reference_files = len(batches)
    log(f"reference: {len(batches)} files")
    for path in sorted((data / "iocs").rglob("*")):
        if not path.is_file() or path.suffix.lower() not in _FEED_SUFFIXES or path.name.lower() in _NOT_FEEDS:
            continue
        target = _folder_group(store, path, data / "iocs")
        try:
            _, source, items = read_feed(path)
        except FeedError as exc:
            report.skipped.append(str(exc))
            continue
        if target:
            items = [_attribute(i, target) for i in items]
        store.add_indicators(source, str(path), items)
        report.feed_files += 1
        report.indicators += len(items)
    log(f"feeds: {report.feed_files} files, {report.indicators} indicators, {len(report.skipped)} skipped")
    return report


def _folder_group(store: KnowledgeStore, path: Path, root: Path) -> str:
    rel = path.relative_to(root).parts
    if len(rel) < 3:
        return ""
    folder = rel[1]
    found = [e for e in store.find(folder.replace("_", " "), "group") if e.active]
    return found[0].name if len(found) == 1 else ""


def _attribute(i: Indicator, group: str) -> Indicator:
    claims = tuple(
        c
        if c.target
        else IndicatorClaim(
            c.claim,
            "group",
            group,
            (c.comment + "; " if c.comment else "") + "attributed by feed folder",
            c.first_seen,
            c.last_seen,
        )
        for c in i.claims
    )
    return Indicator(i.type, i.value, claims)
