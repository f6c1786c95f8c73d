"""Typed, frozen records of the knowledge base.

Two layers:

* :class:`Entry` is what one source says about one thing (an ATT&CK intrusion set, one MISP galaxy
  cluster, ...): facts only, never prose. Entries are what importers produce, what the offline snapshot
  holds and what the store keeps per source, so re-importing a source replaces exactly its entries.
* :class:`Group`, :class:`Software`, :class:`Campaign`, :class:`Technique` are the merged identities
  the resolver derives from entries; every name, fact and link on them carries the :class:`Claim` of
  the entry it came from, so two sources that disagree are both kept.

Indicators (:class:`Indicator`) come from feeds and carry :class:`IndicatorClaim` links to groups,
campaigns or malware by the name or id the feed used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EntityKind = Literal["group", "software", "campaign", "technique"]
ENTITY_KINDS: tuple[EntityKind, ...] = ("group", "software", "campaign", "technique")

IndicatorType = Literal[
    "domain",
    "ipv4",
    "ipv6",
    "cidr",
    "url",
    "md5",
    "sha1",
    "sha256",
    "file_name",
    "pdb_path",
    "mutex",
    "user_agent",
]
INDICATOR_TYPES: tuple[IndicatorType, ...] = (
    "domain",
    "ipv4",
    "ipv6",
    "cidr",
    "url",
    "md5",
    "sha1",
    "sha256",
    "file_name",
    "pdb_path",
    "mutex",
    "user_agent",
)


@dataclass(frozen=True, slots=True)
class Claim:
    """Provenance of one fact: who says it, where (URL or citation name), when, how sure."""

    source: str
    reference: str = ""
    date: str = ""
    confidence: str = ""

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


@dataclass(frozen=True, slots=True)
class Name:
    """A name of an entity as one source gives it (``primary`` when it is that source's main name)."""

    value: str
    claim: Claim
    primary: bool = False


@dataclass(frozen=True, slots=True)
class Fact:
    """One attribute value (country, target sector, first seen, external id, tactic ...).

    ``value`` is normalised (ISO 3166 alpha-2 country, sector slug, ISO date); ``raw`` is what the
    source wrote when it differs.
    """

    attr: str
    value: str
    claim: Claim
    raw: str = ""


@dataclass(frozen=True, slots=True)
class Link:
    """A relationship to another entity (``uses``, ``attributed-to``, ``revoked-by`` ...)."""

    rel: str
    target: str
    claim: Claim
    target_name: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """What one source says about one thing. ``key`` is unique within the source.

    ``links`` point at other entries by key (``target``) — a STIX id, a galaxy uuid or an ATT&CK id
    such as ``G1002`` (resolved against every source's external ids).
    """

    source: str
    key: str
    kind: EntityKind
    name: str
    aliases: tuple[Name, ...] = ()
    facts: tuple[Fact, ...] = ()
    links: tuple[Link, ...] = ()
    claim: Claim = field(default_factory=lambda: Claim(""))
    active: bool = True

    def external_ids(self) -> tuple[str, ...]:
        return tuple(f.value for f in self.facts if f.attr == "external_id")

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "key": self.key,
            "kind": self.kind,
            "name": self.name,
            "active": self.active,
            "claim": self.claim.to_dict(),
            "aliases": [[n.value, n.claim.to_dict()] for n in self.aliases],
            "facts": [[f.attr, f.value, f.raw, f.claim.to_dict()] for f in self.facts],
            "links": [[lk.rel, lk.target, lk.target_name, lk.claim.to_dict()] for lk in self.links],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entry:
        def c(x: dict[str, str]) -> Claim:
            return Claim(**x) if x else Claim(d["source"])

        return cls(
            source=d["source"],
            key=d["key"],
            kind=d["kind"],
            name=d["name"],
            active=bool(d.get("active", True)),
            claim=c(d.get("claim") or {}),
            aliases=tuple(Name(v, c(cl)) for v, cl in d.get("aliases", ())),
            facts=tuple(Fact(a, v, c(cl), raw) for a, v, raw, cl in d.get("facts", ())),
            links=tuple(Link(r, t, c(cl), tn) for r, t, tn, cl in d.get("links", ())),
        )


@dataclass(frozen=True, slots=True)
class Entity:
    """A merged identity (group, software, campaign or technique) with every claim about it."""

    id: str
    kind: EntityKind
    name: str
    active: bool
    names: tuple[Name, ...] = ()
    facts: tuple[Fact, ...] = ()
    links: tuple[Link, ...] = ()
    members: tuple[tuple[str, str], ...] = ()  # (source, key) of the entries merged into it

    def values(self, attr: str) -> tuple[Fact, ...]:
        return tuple(f for f in self.facts if f.attr == attr)

    def links_of(self, rel: str) -> tuple[Link, ...]:
        return tuple(lk for lk in self.links if lk.rel == rel)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "active": self.active,
            "names": [{"name": n.value, "primary": n.primary, **n.claim.to_dict()} for n in self.names],
            "facts": [
                {"attr": f.attr, "value": f.value, **({"raw": f.raw} if f.raw else {}), **f.claim.to_dict()}
                for f in self.facts
            ],
            "links": [
                {"rel": lk.rel, "target": lk.target, "target_name": lk.target_name, **lk.claim.to_dict()}
                for lk in self.links
            ],
            "members": [list(m) for m in self.members],
        }


# The named kinds of the issue are the same record; aliases keep call sites readable.
Group = Entity
Software = Entity
Campaign = Entity
Technique = Entity


@dataclass(frozen=True, slots=True)
class IndicatorClaim:
    """A feed's statement about an indicator: what it indicates (group/campaign/malware) and context."""

    claim: Claim
    target_kind: str = ""  # "group", "campaign", "software" or "" (no attribution given)
    target: str = ""  # the name or id the feed used
    comment: str = ""
    first_seen: str = ""
    last_seen: str = ""


@dataclass(frozen=True, slots=True)
class Indicator:
    type: IndicatorType
    value: str
    claims: tuple[IndicatorClaim, ...] = ()

    def first_seen(self) -> str:
        return min((c.first_seen for c in self.claims if c.first_seen), default="")

    def last_seen(self) -> str:
        return max(
            (c.last_seen or c.first_seen for c in self.claims if c.last_seen or c.first_seen), default=""
        )


@dataclass(frozen=True, slots=True)
class Hit:
    """One knowledge-base indicator matched by a looked-up value, and how it matched."""

    query: str
    match: str  # "exact", "parent-domain", "cidr", "url-host"
    indicator: Indicator
    resolved: tuple[tuple[str, str], ...] = ()  # (entity id, entity name) per claim target that resolved

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "match": self.match,
            "type": self.indicator.type,
            "value": self.indicator.value,
            "first_seen": self.indicator.first_seen(),
            "last_seen": self.indicator.last_seen(),
            "claims": [
                {
                    **c.claim.to_dict(),
                    **{
                        k: v
                        for k, v in (
                            ("target_kind", c.target_kind),
                            ("target", c.target),
                            ("comment", c.comment),
                            ("first_seen", c.first_seen),
                            ("last_seen", c.last_seen),
                        )
                        if v
                    },
                }
                for c in self.indicator.claims
            ],
            "resolved": [{"id": i, "name": n} for i, n in self.resolved],
        }
