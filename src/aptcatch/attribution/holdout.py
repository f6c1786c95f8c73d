"""Benchmark cases and their leak-free hold-out filters, read from the installed knowledge base.

A case is a campaign the sources attribute to a group. Its evidence is what the source records the
campaign used; before scoring, everything that came from the campaign leaves the knowledge base:

* every statement about or through the campaign (its ``uses`` and ``attributed-to`` relationships,
  its dates, the indicators feeds tie to it) — ``Filters.drop_entities``;
* every other relationship whose citations are *only* the campaign's reports — the citation names
  (ATT&CK ``external_references[].source_name``) of all the campaign's relationships, and the report
  URLs any source cites for the campaign, are struck (``Filters.drop_citations``): a relationship
  with no citation left goes. This rule is applied to every claim of every source (ATT&CK group,
  software and campaign relationships; a galaxy ``used-by`` or group fact whose reference is one of
  those URLs), a superset of "group relationships";
* and, by the profiles' copy rule, uncited restatements of the facts so removed (Tidal's
  MITRE-sourced clusters restate ATT&CK's ``uses`` relationships without references).

Without the second and third steps the true group keeps the campaign's techniques through its own
relationships, which cite the same reports: leakage (the TF-IDF baseline reads 0.38 top-1 then).
The open-set variant also drops the true groups entirely.
"""

from __future__ import annotations

from dataclasses import dataclass

from aptcatch.attribution.knowledge_facts import CampaignInfo, GroupFacts
from aptcatch.attribution.profiles import Filters, citation_name, citation_url, citations
from aptcatch.model.evidence import Evidence

ATTACK_PREFIX = "MITRE ATT&CK"
TIDAL_PREFIX = "MISP galaxy tidal-campaigns"


@dataclass(frozen=True)
class Case:
    name: str  # campaign name and ATT&CK id
    campaign: str  # entity id
    truth: frozenset[str]  # group entity ids the source attributes it to
    evidence: Evidence
    citations: frozenset[str]  # citation names of the campaign's ATT&CK relationships

    def filters(self, base: Filters, *, open_set: bool = False, leaky: bool = False) -> Filters:
        """``base`` plus this case's hold-out (``leaky``: only the campaign itself, for the baseline)."""
        drop = {self.campaign, *(self.truth if open_set else ())}
        return Filters(
            exclude_sources=base.exclude_sources,
            as_of=base.as_of,
            drop_entities=base.drop_entities | frozenset(drop),
            drop_citations=base.drop_citations | (frozenset() if leaky else self.citations),
        )


def _campaign_citations(c: CampaignInfo) -> frozenset[str]:
    """The campaign's reports: ATT&CK citation names, and the report URLs any source cites for it."""
    claims = [cl for _, cl in c.attributed] + [cl for _, _, cl in c.uses]
    names = {citation_name(x) for cl in claims if cl.source.startswith(ATTACK_PREFIX) for x in citations(cl)}
    urls = {u for cl in claims for x in citations(cl) if (u := citation_url(x))}
    return frozenset(names | urls)


def _label(facts: GroupFacts, c: CampaignInfo) -> str:
    return f"{c.name} ({c.attack_id})" if c.attack_id and c.attack_id != c.name else c.name


def attack_cases(facts: GroupFacts, *, with_date: bool = True) -> list[Case]:
    """ATT&CK campaigns attributed to an active group; evidence = their ATT&CK techniques and software,
    and (``with_date``) the date the campaign started, as an analyst knows when an incident began."""
    out = []
    for c in sorted(facts.campaigns.values(), key=lambda c: c.attack_id or c.name):
        truth = frozenset(g for g, cl in c.attributed if cl.source.startswith(ATTACK_PREFIX))
        if not truth:
            continue
        techniques = sorted(
            {v for k, v, cl in c.uses if k == "technique" and cl.source.startswith(ATTACK_PREFIX)}
        )
        software = sorted(
            {
                facts.software_ids.get(v) or facts.software_names[v]
                for k, v, cl in c.uses
                if k == "software" and cl.source.startswith(ATTACK_PREFIX)
            }
        )
        first = c.first_seen[:10] or None
        ev = Evidence.model_validate(
            {
                "techniques": techniques,
                "software": software,
                "first_seen": first if with_date else None,
                "source": f"campaign {c.name}",
            }
        )
        out.append(Case(_label(facts, c), c.id, truth, ev, _campaign_citations(c)))
    return out


def tidal_cases(facts: GroupFacts) -> list[Case]:
    """Tidal campaigns that name their group; evidence = the software they name and their start date.

    Tidal's galaxy gives a campaign's group and software only as links in its description (techniques
    not at all), so its cases carry less evidence than ATT&CK's. Cases with nothing to score are kept
    and count as misses.
    """
    out = []
    for c in sorted(facts.campaigns.values(), key=lambda c: c.attack_id or c.name):
        truth = frozenset(g for g, cl in c.attributed if cl.source.startswith(TIDAL_PREFIX))
        if not truth:
            continue
        software = sorted(
            {
                facts.software_ids.get(v) or facts.software_names[v]
                for k, v, cl in c.uses
                if k == "software" and cl.source.startswith(TIDAL_PREFIX)
            }
        )
        first = c.first_seen[:10] or None
        ev = Evidence.model_validate(
            {"software": software, "first_seen": first, "source": f"campaign {c.name}"}
        )
        out.append(Case(_label(facts, c), c.id, truth, ev, _campaign_citations(c)))
    return out
