"""The reasons of one candidate: each evidence item's weight for and against it, with its sources.

A contribution's weight is the item's log-likelihood ratio between the group and unknown (natural log):
+2.3 means the item is ten times likelier if the group is behind the case than if some group outside
the knowledge base is. The sources are the claims of the facts used (for an indirect fact, the claim
stating the last link, and the entity it goes through in the explanation). Conflicts are public claims
that disagree about this candidate: an evidence indicator that feeds tie to other groups too, or
sources giving the group different countries of origin.
"""

from __future__ import annotations

from aptcatch.attribution.calibration import Model
from aptcatch.attribution.knowledge_facts import Assertion
from aptcatch.attribution.profiles import Profiles, citation_name, citations
from aptcatch.attribution.scoring import Match, Scores, item_term
from aptcatch.model.attribution import Candidate, Conflict, Contribution, SourceRef

MAX_FOR = 12
MAX_AGAINST = 5
MAX_SOURCES = 3


def source_ref(a: Assertion) -> SourceRef:
    c = a.chain[-1]
    cites = citations(c)
    names = [citation_name(x) if " <" in x else x for x in cites[:MAX_SOURCES]]
    ref = "; ".join(names) + (f" (+{len(cites) - MAX_SOURCES})" if len(cites) > MAX_SOURCES else "")
    return SourceRef(source=c.source, reference=ref or None, date=c.date or None)


def _refs(support: list[Assertion]) -> tuple[SourceRef, ...]:
    out: dict[tuple[str, str | None], SourceRef] = {}
    for a in support:
        r = source_ref(a)
        out.setdefault((r.source, r.reference), r)
    return tuple(out.values())[:MAX_SOURCES]


def _display(m: Match) -> str:
    it = m.item
    if it.feature == "indicator" or it.kind in ("indicator", "artifact"):
        return it.value  # raw in the result document; the terminal renderer defangs
    return f"{it.value} ({it.label})" if it.label and it.label != it.value else it.value


def _support(profiles: Profiles, gid: str, m: Match, status: str) -> list[Assertion]:
    prof = profiles.groups[gid]
    feat = m.item.feature
    out: list[Assertion] = []
    if status == "direct" and feat != "period":
        for k in m.item.keys:
            out += prof.features.get((feat, k), [])
    elif status == "direct":
        out += [a for (k, _), s in prof.features.items() if k == "period" for a in s]
    elif status == "indirect":
        out += prof.indirect.get(m.item.keys[0], [])
    elif status == "partial":
        t = m.item.keys[0]
        for related in prof.by_parent.get(t.split(".", 1)[0], ()):
            out += prof.features.get(("technique", related), [])
    return out


def _explain(profiles: Profiles, gid: str, m: Match, status: str, support: list[Assertion]) -> str:
    name = profiles.groups[gid].info.name
    others = len(m.direct - {gid})
    if status == "direct":
        via = [profiles.facts.entity_names.get(v, v) for a in support[:1] for v in a.via]
        how = f" (through {', '.join(via)})" if via else ""
        return f"{name} is recorded with it{how}; {others} other group(s) are"
    if status == "partial":
        return f"{name} is recorded with a related (parent or sub-) technique; {others} group(s) with it"
    if status == "indirect":
        via = sorted({profiles.facts.entity_names.get(v, v) for a in support for v in a.via[-1:]})
        return (
            f"{name} is recorded with it only through its software ({', '.join(via[:3])}); "
            f"{others} group(s) with it directly"
        )
    if status == "miss":
        return f"not in {name}'s profile; {len(m.direct)} group(s) are recorded with it"
    return f"the knowledge base records no {m.item.feature} of {name}"


def candidate(
    profiles: Profiles, sc: Scores, gid: str, probability: float, score: float, model: Model
) -> Candidate:
    prof = profiles.groups[gid]
    terms = []
    for m, unknown in zip(sc.matches, sc.unknown_terms, strict=True):
        status, term = item_term(profiles, m, gid, model, unknown)
        if status != "no-knowledge":  # weighs the same as for unknown: no reason either way
            terms.append((term - unknown, status, m))
    pro = sorted((t for t in terms if t[0] > 0), key=lambda t: -t[0])[:MAX_FOR]
    con = sorted((t for t in terms if t[0] <= 0), key=lambda t: t[0])[:MAX_AGAINST]

    def contribution(weight: float, status: str, m: Match) -> Contribution:
        support = _support(profiles, gid, m, status)
        return Contribution(
            kind=m.item.kind,
            value=_display(m),
            weight=round(weight, 3),
            explanation=_explain(profiles, gid, m, status, support),
            sources=_refs(support),
        )

    return Candidate(
        id=gid,
        name=prof.info.name,
        aliases=prof.info.aliases[:20],
        attack_id=prof.info.attack_id,
        country=prof.origin,
        probability=min(max(probability, 0.0), 1.0),
        score=round(score, 3),
        evidence=tuple(contribution(*t) for t in pro),
        against=tuple(contribution(*t) for t in con),
        conflicts=_conflicts(profiles, sc, gid),
    )


def _conflicts(profiles: Profiles, sc: Scores, gid: str) -> tuple[Conflict, ...]:
    out = []
    prof = profiles.groups[gid]
    for m in sc.matches:
        if m.item.feature == "indicator" and gid in m.direct and len(m.direct) > 1:
            claims, refs = [], []
            for other in sorted(m.direct, key=lambda g: g != gid):
                sup = _support(profiles, other, m, "direct")
                refs += [source_ref(a) for a in sup[:1]]
                claims.append(
                    f"{profiles.groups[other].info.name} ({sup[0].chain[-1].source if sup else '?'})"
                )
            out.append(Conflict(about=f"indicator {_display(m)}", claims=tuple(claims), sources=tuple(refs)))
    origins = {v: s for (k, v), s in prof.features.items() if k == "origin"}
    if len(origins) > 1:
        out.append(
            Conflict(
                about=f"country of origin of {prof.info.name}",
                claims=tuple(
                    f"{v} ({', '.join(sorted({a.chain[-1].source for a in s}))})" for v, s in origins.items()
                ),
                sources=tuple(source_ref(s[0]) for s in origins.values()),
            )
        )
    return tuple(out)
