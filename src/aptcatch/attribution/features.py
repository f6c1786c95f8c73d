"""Evidence → the profile features it can match, and what the knowledge base cannot use.

Each evidence item becomes one :class:`Item`: the feature kind it is compared on (technique, software,
indicator, sector, country, period), the feature values that count as a direct match, and those that
count as a partial one (a sibling or parent technique). Items no source knows about — a technique id
that is well formed but not in ATT&CK, software no source names, an indicator no feed lists, an
artifact kind the knowledge base keeps nothing about — go to ``ignored`` with the reason: they would
weigh the same for every hypothesis, so they are not scored, but the analyst sees them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from aptcatch.attribution.profiles import Profiles
from aptcatch.knowledge import indicators as ind
from aptcatch.knowledge import vocab
from aptcatch.model.evidence import Evidence

_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
# Artifact kinds the feeds store as indicators (the rest — macro keys, imphashes ... — no source keeps).
_ARTIFACT_AS_INDICATOR = {"pdb_path", "mutex", "user_agent", "file_name"}
CONTEXT_KINDS = ("sector", "country", "period", "language", "theme")


@dataclass(frozen=True)
class Item:
    kind: str  # what the evidence called it: technique | software | indicator | artifact | sector | ...
    value: str  # as given (for display)
    feature: str  # profile kind compared on: technique | software | indicator | sector | country | period
    keys: tuple[str, ...]  # feature values that match directly
    label: str = ""  # human name (technique name, software name)

    @property
    def context(self) -> bool:
        return self.feature in CONTEXT_KINDS


def resolve(evidence: Evidence, profiles: Profiles) -> tuple[list[Item], list[str]]:
    """The scorable items of ``evidence`` and the ignored ones (``"kind value: why"``)."""
    facts = profiles.facts
    items: list[Item] = []
    ignored: list[str] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()

    def add(item: Item) -> None:
        key = (item.feature, item.keys)
        if key not in seen:
            seen.add(key)
            items.append(item)

    for raw in evidence.techniques:
        t = facts.technique_ids.get(raw.strip().upper(), "")
        if not _TECHNIQUE.match(t) or t not in facts.technique_names:
            ignored.append(f"technique {raw}: not an ATT&CK Enterprise technique in the knowledge base")
        else:
            add(Item("technique", t, "technique", (t,), facts.technique_names[t]))
    for raw in evidence.software:
        ids = facts.software_by_name.get(raw.strip().lower()) or facts.software_by_name.get(
            vocab.norm_name(raw)
        )
        if not ids:
            ignored.append(f"software {raw}: no source in the knowledge base names it")
        else:
            add(Item("software", raw, "software", ids, facts.software_names[ids[0]]))
    observables: list[tuple[str, str, str]] = [("indicator", i.type, i.value) for i in evidence.indicators]
    for a in evidence.artifacts:
        if a.type in _ARTIFACT_AS_INDICATOR:
            observables.append(("artifact", a.type, a.value))
        else:
            ignored.append(f"artifact {a.type} {a.value}: the knowledge base keeps no {a.type} values")
    for kind, itype, value in observables:
        keys = [k for _, k in ind.query_keys(value)]
        if itype in ("file_name", "pdb_path"):
            keys.append(f"{itype}:{value.lower()}")
        hits = tuple(k for k in dict.fromkeys(keys) if ("indicator", k) in profiles.postings)
        soft = tuple(sorted({s for k in keys for s, _ in facts.indicator_software.get(k, ())}))
        if hits:
            add(Item(kind, f"{itype}:{value}", "indicator", hits))
        if soft:
            add(Item(kind, f"{itype}:{value}", "software", soft, facts.software_names[soft[0]]))
        if not hits and not soft:
            ignored.append(f"{kind} {itype}:{value}: no feed in the knowledge base lists it")
    for raw in evidence.target.sectors:
        slug = vocab.normalize_sector(raw) or raw.strip().lower()
        _context(add, ignored, profiles, "sector", raw, slug)
    for raw in evidence.target.countries:
        cc = vocab.normalize_country(raw) or raw.strip().upper()
        _context(add, ignored, profiles, "country", raw, cc)
    if evidence.lure.language:
        _context(add, ignored, profiles, "language", evidence.lure.language, evidence.lure.language.lower())
    for theme in evidence.lure.themes:
        _context(add, ignored, profiles, "theme", theme, theme.lower())
    if evidence.first_seen is not None:
        add(Item("period", evidence.first_seen.isoformat(), "period", (evidence.first_seen.isoformat(),)))
    return items, ignored


def _context(
    add: Callable[[Item], None], ignored: list[str], profiles: Profiles, kind: str, raw: str, value: str
) -> None:
    if (kind, value) in profiles.postings:
        add(Item(kind, raw, kind, (value,)))
    elif kind not in profiles.kinds:
        ignored.append(f"{kind} {raw}: no source in the knowledge base records {kind}s of groups")
    else:
        ignored.append(f"{kind} {raw}: no group in the knowledge base is recorded with it")
