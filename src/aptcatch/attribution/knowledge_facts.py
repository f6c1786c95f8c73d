"""Every statement the knowledge base makes about a group, flattened once per process.

Attribution needs, per group, "which techniques, software, indicators, victims and dates, and which
claims say so". The store answers per entity; this module reads it once (about half a second for the
whole snapshot) into :class:`Assertion` records: one per (group, kind, value, chain of claims). A fact
that reaches a group through another entity keeps the whole chain — "APT29 uses T1195.002" via the
SolarWinds campaign rests on the campaign's ``attributed-to`` claim *and* its ``uses`` claim — so a
filter that removes either removes the fact (see :mod:`aptcatch.attribution.profiles`).

Paths followed (``via`` names the entities in between):

* group → technique / software (ATT&CK ``uses``); software → group (galaxy ``used-by``);
* campaign → group (``attributed-to``), then the campaign's techniques, software and indicators;
* the group's software → technique (ATT&CK ``uses``): *indirect* techniques, weaker evidence;
* indicator claims naming a group, or a campaign attributed to one (names resolved through aliases);
  indicator claims naming only software make that software observed (:attr:`GroupFacts.indicator_software`);
* group facts: suspected country (``country``, ``sponsor``), ``target_sector``, ``target_country``,
  ``first_seen`` / ``last_seen``, and the campaigns' dates as activity.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from aptcatch.knowledge import indicators as ind
from aptcatch.knowledge.models import Claim, Entity, EntityKind, Link
from aptcatch.knowledge.store import KnowledgeStore
from aptcatch.knowledge.vocab import norm_name

KINDS = ("technique", "software", "indicator", "sector", "country", "origin", "language", "theme", "period")


@dataclass(frozen=True, slots=True)
class Assertion:
    """One statement "group uses/targets/is-from value", resting on every claim of ``chain``."""

    group: str
    kind: str  # technique (T-id) | software (entity id) | indicator (match key) | sector | country |
    # origin (suspected country) | language | theme | period (ISO date of recorded activity)
    value: str
    chain: tuple[Claim, ...]
    via: tuple[str, ...] = ()  # campaign / software entity ids the statement goes through
    indirect: bool = False  # a technique known only through the group's software


@dataclass(frozen=True, slots=True)
class GroupInfo:
    id: str
    name: str
    aliases: tuple[str, ...]
    attack_id: str | None
    claim: Claim  # the claim of the group's own (first) entry: when its source first recorded it


@dataclass(frozen=True, slots=True)
class CampaignInfo:
    """A campaign as the sources record it: the benchmark's cases, the profiles' indirect facts."""

    id: str
    name: str
    attack_id: str | None
    attributed: tuple[tuple[str, Claim], ...]  # (group id, claim)
    uses: tuple[tuple[str, str, Claim], ...]  # (technique | software, T-id | software id, claim)
    first_seen: str = ""


@dataclass
class GroupFacts:
    """The flattened knowledge: groups, assertions, and the vocabularies evidence is resolved against."""

    groups: dict[str, GroupInfo]
    assertions: list[Assertion]
    technique_names: dict[str, str]  # T-id -> name
    technique_ids: dict[str, str]  # every T-id a technique had (revoked ones too) -> current T-id
    software_names: dict[str, str]  # software entity id -> name
    software_ids: dict[str, str]  # software entity id -> ATT&CK S-id
    software_type: dict[str, str]  # software entity id -> malware | tool
    software_by_name: dict[str, tuple[str, ...]]  # norm_name / S-id -> software entity ids
    entity_names: dict[str, str]  # every entity id -> name (campaigns and software for explanations)
    campaigns: dict[str, CampaignInfo] = field(default_factory=dict)
    indicator_software: dict[str, list[tuple[str, Claim]]] = field(default_factory=dict)
    generation: tuple[int, ...] = ()


def _attack_id(e: Entity, prefix: str) -> str | None:
    """The current ATT&CK id: facts come in member order, the active ATT&CK entry first."""
    return next((f.value for f in e.values("external_id") if f.value.startswith(prefix)), None)


def load_facts(store: KnowledgeStore) -> GroupFacts:
    """Read the store once into :class:`GroupFacts`."""
    groups = {g.id: g for g in store.entities("group") if g.active}
    software = {s.id: s for s in store.entities("software") if s.active}
    campaigns = {c.id: c for c in store.entities("campaign") if c.active}
    techniques = {t.id: t for t in store.entities("technique") if t.active}
    tid = {eid: x for eid, t in techniques.items() if (x := _attack_id(t, "T"))}
    facts = GroupFacts(
        groups={},
        assertions=[],
        technique_names={tid[eid]: t.name for eid, t in techniques.items() if eid in tid},
        technique_ids={
            f.value: tid[eid]
            for eid, t in techniques.items()
            if eid in tid
            for f in t.values("external_id")
            if f.value.startswith("T")
        },
        software_names={eid: s.name for eid, s in software.items()},
        software_ids={eid: x for eid, s in software.items() if (x := _attack_id(s, "S"))},
        software_type={},
        software_by_name={},
        entity_names={
            **{e.id: e.name for e in campaigns.values()},
            **{e.id: e.name for e in software.values()},
        },
    )
    by_name: dict[str, set[str]] = defaultdict(set)
    for eid, s in software.items():
        types = [f.value for f in s.values("software_type")]
        facts.software_type[eid] = "tool" if types and types[0] == "tool" else "malware"
        for n in (s.name, *(n.value for n in s.names)):
            if key := norm_name(n):
                by_name[key].add(eid)
        if eid in facts.software_ids:
            by_name[facts.software_ids[eid].lower()].add(eid)
    facts.software_by_name = {k: tuple(sorted(v)) for k, v in by_name.items()}
    out = facts.assertions
    for g in groups.values():
        aliases = tuple(dict.fromkeys(n.value for n in g.names if n.value != g.name))
        first = g.names[0].claim if g.names else Claim("")
        facts.groups[g.id] = GroupInfo(g.id, g.name, aliases, _attack_id(g, "G"), first)
        for lk in g.links_of("uses"):
            _uses(out, g.id, lk, (lk.claim,), (), tid, software)
        for f in g.facts:
            kind = {"country": "origin", "sponsor": "origin", "target_sector": "sector"}.get(f.attr)
            kind = kind or {"target_country": "country", "first_seen": "period", "last_seen": "period"}.get(
                f.attr
            )
            if kind:
                out.append(Assertion(g.id, kind, f.value, (f.claim,)))
    # software -> group (galaxy used-by)
    for s in software.values():
        for lk in s.links_of("used-by"):
            if lk.target in groups:
                out.append(Assertion(lk.target, "software", s.id, (lk.claim,)))
    # campaigns attributed to a group
    campaign_groups: dict[str, list[tuple[str, Claim]]] = defaultdict(list)
    for c in campaigns.values():
        uses = tuple(
            ("technique", tid[lk.target], lk.claim) if lk.target in tid else ("software", lk.target, lk.claim)
            for lk in c.links_of("uses")
            if lk.target in tid or lk.target in software
        )
        attributed = tuple((lk.target, lk.claim) for lk in c.links_of("attributed-to") if lk.target in groups)
        start = min((f.value for f in c.values("first_seen")), default="")
        facts.campaigns[c.id] = CampaignInfo(c.id, c.name, _attack_id(c, "C"), attributed, uses, start)
        for att in c.links_of("attributed-to"):
            if att.target not in groups:
                continue
            campaign_groups[c.id].append((att.target, att.claim))
            for lk in c.links_of("uses"):
                _uses(out, att.target, lk, (att.claim, lk.claim), (c.id,), tid, software)
            for f in c.facts:
                if f.attr in ("first_seen", "last_seen"):
                    out.append(Assertion(att.target, "period", f.value, (att.claim, f.claim), (c.id,)))
    # techniques through the group's software
    soft_tech: dict[str, list[tuple[str, Claim]]] = defaultdict(list)
    for s in software.values():
        for lk in s.links_of("uses"):
            if lk.target in tid:
                soft_tech[s.id].append((tid[lk.target], lk.claim))
    for a in list(out):
        if a.kind == "software":
            for t, claim in soft_tech.get(a.value, ()):
                out.append(Assertion(a.group, "technique", t, (*a.chain, claim), (*a.via, a.value), True))
    _indicators(store, facts, campaign_groups)
    return facts


def _uses(
    out: list[Assertion],
    group: str,
    lk: Link,
    chain: tuple[Claim, ...],
    via: tuple[str, ...],
    tid: dict[str, str],
    software: dict[str, Entity],
) -> None:
    if lk.target in tid:
        out.append(Assertion(group, "technique", tid[lk.target], chain, via))
    elif lk.target in software:
        out.append(Assertion(group, "software", lk.target, chain, via))


def _indicators(
    store: KnowledgeStore, facts: GroupFacts, campaign_groups: dict[str, list[tuple[str, Claim]]]
) -> None:
    """Indicator claims naming a group or a campaign (through the aliases), or only software."""
    resolved: dict[tuple[str, str], str | None] = {}
    kinds: dict[str, EntityKind] = {"group": "group", "campaign": "campaign", "software": "software"}

    def resolve(kind: str, target: str) -> str | None:
        if (kind, target) not in resolved:
            ents = store.find(target, kinds[kind]) if kind in kinds else []
            ents = ents or store.find(target)
            resolved[(kind, target)] = ents[0].id if ents else None
        return resolved[(kind, target)]

    for it in store.all_indicators():
        key = ind.match_key(it.type, it.value)
        for c in it.claims:
            if not c.target:
                continue
            dated = Claim(c.claim.source, c.claim.reference, c.first_seen or c.claim.date, c.claim.confidence)
            eid = resolve(c.target_kind, c.target)
            if eid is None:
                continue
            if eid in facts.groups:
                facts.assertions.append(Assertion(eid, "indicator", key, (dated,)))
            elif eid in campaign_groups:
                for gid, att in campaign_groups[eid]:
                    facts.assertions.append(Assertion(gid, "indicator", key, (att, dated), (eid,)))
            elif eid in facts.software_names:
                facts.indicator_software.setdefault(key, []).append((eid, dated))
