"""Alias resolution: merge source entries into one identity only when the sources link them.

Hand-written union-find with guards; the rules are the point of this module:

* links, strongest first: ATT&CK ``revoked-by``; a shared ATT&CK id (G1002 in ATT&CK, the
  ``mitre-intrusion-set`` and ``tidal-groups`` galaxies); a shared name (primary name or synonym) —
  pairs sharing more names are tried first;
* a name is *ambiguous* when one source gives it to two of its own (active) entries; ambiguous names
  and names under three characters link nothing;
* guard: an identity never holds two active entries of the same source, nor two different active
  ATT&CK ids. A noisy synonym (360's "摩诃草 - APT-C-09" lists "VICEROY TIGER", which is Donot, and
  "Patchwork") therefore joins one identity and the other merge is refused and reported.

Some sources keep more than one entry for one actor: Microsoft's galaxy has both STRONTIUM and its
2023 name Forest Blizzard (which lists "STRONTIUM"), the threat-actor galaxy has APT29 and UNC2452
(which ATT&CK lists as an APT29 alias). For *groups*, the one-entry-per-source guard gives way in
exactly two cases, each reported in ``merged``:

* **the source says so, and another source agrees**: entry A lists the primary name of B, an entry
  of the same source, as a synonym, *and* an entry of another source lists both primary names
  (Forest Blizzard names STRONTIUM; the threat-actor galaxy's APT28 names both). A declaration alone
  is not enough — the threat-actor galaxy's Lazarus Group lists STARDUST CHOLLIMA, which ATT&CK
  gives to APT38;
* **ATT&CK names it**: after the name pass, an entry still outside the identity of the one ATT&CK
  group whose names include its primary name (UNC2452, an alias of G0016) joins that identity; a
  name ATT&CK gives to two groups (Thrip) names neither.

Software keeps the strict guard: malpedia keeps one entry per platform and family names collide
(malpedia's Android "LokiBot" is not ATT&CK's Windows Lokibot; its "Aurora" ransomware is not
Hydraq), so a second entry of one source is never let in by name. The ATT&CK-id guard always
holds. ``similar`` relations in MISP galaxies are not treated as identity: vendors use them for
overlaps.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from aptcatch.knowledge.models import Entity, EntityKind, Entry, Fact, Link, Name
from aptcatch.knowledge.vocab import norm_name, split_names

# Bumped whenever the rules below change what identities a set of entries resolves to: a store
# resolved by another version re-resolves its stored entries when it is opened (no re-import needed).
# 2: a source's second entry for one group may join it (declared and agreed, or named by ATT&CK).
RESOLVER_VERSION = 2

_ATTACK_ID = re.compile(r"^[GSC]\d{4}$")
_ATTACK_SOURCE = "MITRE ATT&CK"
# Lower number = preferred source for the canonical name and the identity id.
_PRIORITY = (
    "MITRE ATT&CK",
    "MISP galaxy mitre-intrusion-set",
    "MISP galaxy threat-actor",
    "MISP galaxy tidal",
    "MISP galaxy microsoft-activity-group",
    "MISP galaxy 360net",
    "MISP galaxy malpedia",
    "MISP galaxy tool",
    "MISP galaxy rat",
    "MISP galaxy backdoor",
)


def source_rank(source: str) -> int:
    for i, prefix in enumerate(_PRIORITY):
        if source.startswith(prefix):
            return i
    return len(_PRIORITY)


@dataclass
class Resolution:
    entities: list[Entity]
    refused: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # merges past the one-entry-per-source guard


class _UnionFind:
    def __init__(self, entries: list[Entry]) -> None:
        self.parent = list(range(len(entries)))
        self.sources: list[set[str]] = [{e.source} if e.active else set() for e in entries]
        self.ids: list[set[str]] = [
            {x for x in e.external_ids() if _ATTACK_ID.match(x)} if e.active else set() for e in entries
        ]

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def conflict(self, a: int, b: int, allow_source: str = "") -> str:
        """Why a and b may not share an identity ("" when they may); ``allow_source`` may repeat."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ""
        same = (self.sources[ra] & self.sources[rb]) - {allow_source}
        if same:
            return f"both hold an entry of {sorted(same)[0]}"
        if self.ids[ra] and self.ids[rb] and self.ids[ra] != self.ids[rb]:
            return f"different ATT&CK ids {sorted(self.ids[ra])} vs {sorted(self.ids[rb])}"
        return ""

    def union(self, a: int, b: int, force: bool = False, allow_source: str = "") -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if not force and self.conflict(a, b, allow_source):
            return False
        self.parent[rb] = ra
        self.sources[ra] |= self.sources[rb]
        self.ids[ra] |= self.ids[rb]
        return True


def resolve(entries: list[Entry]) -> Resolution:
    """Merge entries of every kind into entities; links are rewritten to entity ids."""
    out = Resolution([])
    by_kind: dict[EntityKind, list[Entry]] = defaultdict(list)
    for e in entries:
        by_kind[e.kind].append(e)
    member_of: dict[str, str] = {}  # entry key / external id -> entity id
    grouped: list[tuple[EntityKind, list[Entry]]] = []
    for kind, items in by_kind.items():
        items.sort(key=lambda e: (source_rank(e.source), e.source, e.key))
        for comp in _components(items, out):
            grouped.append((kind, comp))
    drafts: list[tuple[EntityKind, str, list[Entry]]] = []
    for kind, comp in grouped:
        eid = _entity_id(kind, comp)
        drafts.append((kind, eid, comp))
        for e in comp:
            member_of[e.key] = eid
            for x in e.external_ids():
                member_of.setdefault(x, eid)
    names_of = {eid: _canonical(comp) for _, eid, comp in drafts}
    for kind, eid, comp in drafts:
        out.entities.append(_merge(kind, eid, comp, member_of, names_of))
    return out


def _all_names(e: Entry) -> set[str]:
    return {
        n for n in (norm_name(x) for x in (e.name, *split_names(e.name), *(a.value for a in e.aliases))) if n
    }


def _primary_names(e: Entry) -> set[str]:
    return {n for n in (norm_name(x) for x in (e.name, *split_names(e.name))) if len(n) >= 3}


def _components(items: list[Entry], out: Resolution) -> list[list[Entry]]:
    uf = _UnionFind(items)
    refused: list[tuple[int, int, str]] = []
    index = {e.key: i for i, e in enumerate(items)}
    # 1. revoked-by: the revoked entry's names resolve to its successor.
    for i, e in enumerate(items):
        for lk in e.links:
            if lk.rel == "revoked-by" and lk.target in index:
                uf.union(index[lk.target], i, force=True)
    # 2. shared ATT&CK ids.
    by_id: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(items):
        for x in e.external_ids():
            if _ATTACK_ID.match(x):
                by_id[x].append(i)
    for x, members in sorted(by_id.items()):
        for j in members[1:]:
            if not uf.union(members[0], j):
                refused.append(
                    (members[0], j, f"{x}: {_who(items[j])} not merged into {_who(items[members[0]])}")
                )
    kind = items[0].kind if items else "technique"
    if kind != "technique":
        # 3. (groups) one source's two entries for one actor, when another source agrees.
        if kind == "group":
            _declared_pairs(items, uf, out, refused)
        # 4. shared names.
        _name_pass(items, uf, out, refused)
        # 5. (groups) entries ATT&CK names, still outside its group's identity.
        if kind == "group":
            _attack_named(items, uf, out, refused)
    out.refused += [why for i, j, why in refused if uf.find(i) != uf.find(j)]
    return _collect(items, uf)


def _declared_pairs(
    items: list[Entry], uf: _UnionFind, out: Resolution, refused: list[tuple[int, int, str]]
) -> None:
    """Union A and B of one source when A lists B's primary name and another source names both."""
    active = [i for i, e in enumerate(items) if e.active]
    names = {i: _all_names(items[i]) for i in active}
    holders: dict[str, list[int]] = defaultdict(list)  # name -> active entries (any source) naming it
    primary_of: dict[tuple[str, str], list[int]] = defaultdict(list)  # (source, primary) -> entries
    for i in active:
        for n in names[i]:
            holders[n].append(i)
        primary_of[(items[i].source, norm_name(items[i].name))].append(i)
    for a in active:
        ea = items[a]
        own = norm_name(ea.name)
        for n in sorted(names[a] - {own}):
            bs = primary_of.get((ea.source, n), [])
            if len(n) < 3 or len(bs) != 1 or uf.find(bs[0]) == uf.find(a):
                continue
            b = bs[0]
            witnesses = sorted(
                _who(items[w]) for w in set(holders[own]) & set(holders[n]) if items[w].source != ea.source
            )
            if not witnesses:
                continue
            why = uf.conflict(a, b, allow_source=ea.source)
            if why:
                refused.append((a, b, f"{_who(items[b])} = {_who(ea)} as the source lists: refused ({why})"))
            else:
                uf.union(a, b, allow_source=ea.source)
                out.merged.append(
                    f"{_who(items[b])} = {_who(ea)}: the source lists {items[b].name!r} as a synonym, "
                    f"and {witnesses[0]} names both"
                )


def _name_pass(
    items: list[Entry], uf: _UnionFind, out: Resolution, refused: list[tuple[int, int, str]]
) -> None:
    """Shared names: primary = primary first, then primary = synonym, then synonym = synonym;
    within a tier, pairs sharing more names first."""
    owners: dict[str, list[int]] = defaultdict(list)
    primary: list[set[str]] = []
    for i, e in enumerate(items):
        primary.append({norm_name(x) for x in (e.name, *split_names(e.name))})
        for n in _all_names(e):
            if len(n) >= 3:
                owners[n].append(i)
    shared: dict[tuple[int, int], list[str]] = defaultdict(list)
    for n, members in sorted(owners.items()):
        roots_by_source: dict[str, set[int]] = defaultdict(set)
        for i in members:
            if items[i].active:
                roots_by_source[items[i].source].add(uf.find(i))
        if any(len(r) > 1 for r in roots_by_source.values()):
            out.ambiguous.append(
                f"{items[members[0]].kind} name {n!r}: given to several entries of one source"
            )
            continue
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                i, j = members[a], members[b]
                if items[i].source != items[j].source:
                    shared[(i, j)].append(n)

    def tier(pair: tuple[int, int], names: list[str]) -> int:
        pa, pb = (any(n in primary[k] for n in names) for k in pair)
        return 0 if pa and pb else 1 if pa or pb else 2

    order = sorted(shared.items(), key=lambda kv: (tier(*kv), -len(kv[1]), kv[0]))
    for (i, j), names in order:
        if uf.find(i) == uf.find(j):
            continue
        why = uf.conflict(i, j)
        if why:
            refused.append((i, j, f"{_who(items[j])} ~ {_who(items[i])} via {names}: refused ({why})"))
        else:
            uf.union(i, j)


def _attack_named(
    items: list[Entry], uf: _UnionFind, out: Resolution, refused: list[tuple[int, int, str]]
) -> None:
    """An entry whose primary name ATT&CK gives to exactly one of its groups joins that group's
    identity, even when the entry's source already has an entry there (the ATT&CK-id guard holds)."""
    attack_owner: dict[str, set[int]] = defaultdict(set)  # name -> ATT&CK entries giving it
    for i, e in enumerate(items):
        if e.active and e.source.startswith(_ATTACK_SOURCE):
            for n in _all_names(e):
                attack_owner[n].add(i)
    for x, e in enumerate(items):
        if not e.active or e.source.startswith(_ATTACK_SOURCE):
            continue
        named = sorted({g for n in _primary_names(e) for g in attack_owner.get(n, ())})
        if len(named) != 1 or uf.find(named[0]) == uf.find(x):
            continue
        g = named[0]
        said = next(r for r in (e.name, *split_names(e.name)) if norm_name(r) in attack_owner)
        why = uf.conflict(g, x, allow_source=e.source)
        if why:
            refused.append((g, x, f"{_who(e)} named {said!r} by {_who(items[g])}: refused ({why})"))
        else:
            uf.union(g, x, allow_source=e.source)
            out.merged.append(f"{_who(e)} joins {_who(items[g])}, which names {said!r}")


def _collect(items: list[Entry], uf: _UnionFind) -> list[list[Entry]]:
    comps: dict[int, list[Entry]] = defaultdict(list)
    for i, e in enumerate(items):
        comps[uf.find(i)].append(e)
    return [sorted(c, key=lambda e: (not e.active, source_rank(e.source), e.key)) for c in comps.values()]


def _who(e: Entry) -> str:
    return f"{e.name!r} ({e.source})"


_STIX_TYPE = {"group": "intrusion-set", "campaign": "campaign", "technique": "attack-pattern"}


def _entity_id(kind: EntityKind, comp: list[Entry]) -> str:
    head = comp[0]
    if "--" in head.key:
        return head.key
    if kind == "software":
        is_tool = any(f.value == "tool" for f in head.facts if f.attr == "software_type")
        return f"{'tool' if is_tool else 'malware'}--{head.key}"
    return f"{_STIX_TYPE[kind]}--{head.key}"


def _canonical(comp: list[Entry]) -> str:
    return comp[0].name


def _merge(
    kind: EntityKind, eid: str, comp: list[Entry], member_of: dict[str, str], names_of: dict[str, str]
) -> Entity:
    names: list[Name] = []
    seen: set[tuple[str, ...]] = set()
    for e in comp:
        for n in (Name(e.name, e.claim, True), *e.aliases):
            k: tuple[str, ...] = (n.value, n.claim.source)
            if k not in seen:
                seen.add(k)
                names.append(n)
    facts: list[Fact] = []
    fseen: set[tuple[str, ...]] = set()
    for e in comp:
        for f in e.facts:
            k = (f.attr, f.value, f.claim.source)
            if k not in fseen:
                fseen.add(k)
                facts.append(f)
    links: list[Link] = []
    lseen: set[tuple[str, ...]] = set()
    for e in comp:
        for lk in e.links:
            target = member_of.get(lk.target)
            if target is None or target == eid:
                continue
            k = (lk.rel, target, lk.claim.source)
            if k not in lseen:
                lseen.add(k)
                links.append(Link(lk.rel, target, lk.claim, names_of.get(target, lk.target_name)))
    return Entity(
        id=eid,
        kind=kind,
        name=_canonical(comp),
        active=any(e.active for e in comp),
        names=tuple(names),
        facts=tuple(facts),
        links=tuple(links),
        members=tuple((e.source, e.key) for e in comp),
    )
