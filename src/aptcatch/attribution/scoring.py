"""Evidence → ranked groups with calibrated probabilities, the reasons for and against, and "unknown".

The model is naive Bayes over presence features, written so that what decides is *specificity*, not
how much the knowledge base happens to say about a group:

* For group *g* and an evidence item *f* of kind *k* (technique, software, indicator; sector, country
  and activity period as weaker context)::

      P(f | g) = ρ_g          if f is in g's profile          ρ_g = (m_k / (m_k + n_g)) ** γ
               = κ · ρ_g      if only partly (a parent, sub- or sibling technique)
               = κ_s · ρ_g    if g has the technique only through its software (κ_s = 0: a miss)
               = ε · b(f)     otherwise                      b(f) = (df(f) + 1) / (N_k + 2)
               = P(f | unknown)   if g's profile records nothing of kind k

  n_g is the size of g's profile of that kind and m_k the mean size: a group known for 300 techniques
  explains any one of them less well than a group known for 20 (``ρ_g``), so large profiles do not win
  for being large — the failure of plain overlap, which ranks the best-documented groups first for
  almost anything. df(f) is the number of groups with f: an item half the groups share barely moves
  the ranking, an exact indicator or a malware family only one group uses moves it by ``log N``.
  Indicators are not size-normalised (``ρ = ½``) and count against every group they are not tied
  to, whether or not the feeds know other indicators of it: they are identities, not samples of
  behaviour.
* **unknown** ("a group not in the knowledge base") is a group drawn from the population, whose
  profile we do not know: it has *f* with f's frequency among the groups, ``b(f)``, at the average
  coverage ``ρ̄_k`` (the mean ``ρ_g``), and otherwise misses it like any group:
  ``P(f | unknown) = b(f) · (ρ̄_k + (1 − b(f)) · ε)``. A group that records nothing of the kind counts
  as unknown for it. A case whose items no single group explains together is better explained by
  unknown, which is what the open-set benchmark checks.
* Techniques count at ``technique_weight`` (they come in bundles, so they are not independent
  evidence), context items (sector, country, period) at ``context_weight``; items no source knows about
  weigh the same for every hypothesis and are listed in ``evidence_ignored`` instead.
* Posterior: prior (``unknown_prior`` for unknown, the rest shared equally) × likelihood^(1/T),
  normalised, so the groups and unknown sum to 1. ``ε``, ``κ``, ``κ_s``, ``γ``, the technique weight, T
  and the prior are fitted by cross-validation over the benchmark campaigns
  (:mod:`aptcatch.attribution.calibration`).

Each contribution reported is the item's log-likelihood ratio against unknown, ``log P(f|g) −
log P(f|unknown)``: positive is evidence for g, negative against, and it names the claims it used.
Scoring walks the posting lists of the evidence's features only (a few thousand additions), so a case
costs a few milliseconds over the whole knowledge base.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from aptcatch.attribution.calibration import DEFAULT, Model
from aptcatch.attribution.features import Item
from aptcatch.attribution.profiles import Profiles

INDICATOR_RHO = 0.5
PERIOD_MARGIN_DAYS = 365
PERIOD_RHO = 1.0


@dataclass(frozen=True)
class Match:
    """How one item relates to the groups: who has it fully, who partly, who may know of its kind."""

    item: Item
    direct: frozenset[str]
    partial: frozenset[str]  # a parent, sub- or sibling technique
    indirect: frozenset[str]  # the technique only through the group's software
    knows: frozenset[str]
    base: float  # b(f)


@dataclass
class Scores:
    """Log-likelihoods of every candidate group and of unknown for one evidence set."""

    groups: list[str]
    loglik: list[float]
    unknown: float
    matches: list[Match]
    unknown_terms: list[float]  # log P(item | unknown), per match


def item_weight(item: Item, model: Model) -> float:
    """The share of an item's log-likelihood that counts: context and techniques are discounted."""
    if item.context:
        return model.context_weight
    return model.technique_weight if item.feature == "technique" else 1.0


def rho(profiles: Profiles, kind: str, gid: str, exponent: float = 1.0) -> float:
    """P(a given feature of g's profile shows in one case): smaller for larger profiles."""
    return rho_table(profiles, kind, exponent).get(gid, INDICATOR_RHO)


def rho_table(profiles: Profiles, kind: str, exponent: float) -> dict[str, float]:
    """``(m / (m + n_g)) ** exponent`` for every group with features of ``kind`` (cached on profiles)."""
    key = ("rho", kind, exponent)
    got = profiles.cache.get(key)
    if not isinstance(got, dict):
        m = profiles.mean_size.get(kind, 1.0) or 1.0
        sizes = profiles.sizes.get(kind, {})
        if kind == "indicator":  # identities, not samples of behaviour: no size normalisation
            got = dict.fromkeys(sizes, INDICATOR_RHO)
        elif kind == "period":  # a date inside the group's documented activity: not sized either
            got = dict.fromkeys(profiles.groups, PERIOD_RHO)
        else:
            got = {g: (m / (m + n)) ** exponent for g, n in sizes.items()}
        profiles.cache[key] = got
    return got


def coverage(profiles: Profiles, kind: str, exponent: float) -> float:
    """The mean of ρ_g over the groups with features of ``kind``: how well an average profile covers."""
    key = ("coverage", kind, exponent)
    got = profiles.cache.get(key)
    if not isinstance(got, float):
        table = rho_table(profiles, kind, exponent)
        got = sum(table.values()) / len(table) if table else INDICATOR_RHO
        profiles.cache[key] = got
    return got


def _windows(profiles: Profiles) -> list[tuple[str, int, int]]:
    """(group, first day − margin, last day + margin) as ordinals, for groups with dated activity."""
    got = profiles.cache.get("windows")
    if not isinstance(got, list):
        got = [
            (
                gid,
                date.fromisoformat(prof.first_seen[:10]).toordinal() - PERIOD_MARGIN_DAYS,
                date.fromisoformat(prof.last_seen[:10]).toordinal() + PERIOD_MARGIN_DAYS,
            )
            for gid, prof in profiles.groups.items()
            if prof.first_seen
        ]
        profiles.cache["windows"] = got
    return got


def _period_groups(profiles: Profiles, day: str) -> tuple[frozenset[str], frozenset[str]]:
    """(groups active around ``day``, groups with any recorded activity period)."""
    d = date.fromisoformat(day[:10]).toordinal()
    windows = _windows(profiles)
    known = profiles.cache.get("dated")
    if not isinstance(known, frozenset):
        known = profiles.cache["dated"] = frozenset(g for g, _, _ in windows)
    return frozenset(g for g, lo, hi in windows if lo <= d <= hi), known


def match_items(items: Sequence[Item], profiles: Profiles) -> list[Match]:
    """Who has each item fully, who partly, who knows anything of its kind; its background rate."""
    out = []
    for it in items:
        if it.feature == "period":
            direct, knows = _period_groups(profiles, it.keys[0])
            partial: frozenset[str] = frozenset()
            indirect: frozenset[str] = frozenset()
        else:
            direct = frozenset(g for k in it.keys for g in profiles.postings.get((it.feature, k), ()))
            knows = profiles.knows.get(it.feature, frozenset())
            if it.feature == "indicator":
                # An indicator is close to an identity: one operator's. That no feed ties other groups'
                # indicators to the knowledge base does not make this one likelier theirs.
                knows = profiles.all_groups
            part: set[str] = set()
            if it.feature == "technique":
                t = it.keys[0]
                part.update(profiles.parent_postings.get(t.split(".", 1)[0], ()))  # siblings / subs
                if "." in t:
                    part.update(profiles.postings.get(("technique", t.split(".", 1)[0]), ()))
            partial = frozenset(part) - direct
            soft = profiles.indirect_postings.get(it.keys[0], ()) if it.feature == "technique" else ()
            indirect = frozenset(soft) - direct - partial
        base = (len(direct) + 0.5 * len(partial) + 1.0) / (max(len(knows), 1) + 2.0)
        out.append(Match(it, direct, partial, indirect, knows, min(base, 1.0)))
    return out


def candidates_for(matches: Sequence[Match], profiles: Profiles) -> list[str]:
    """Groups with behavioural knowledge when the evidence has behaviour, else every profiled group.

    A group the knowledge base knows only by name and victims cannot be told apart from an unknown one
    on techniques or software; it stays in the "unknown" share for such evidence.
    """
    if any(not m.item.context for m in matches):
        k = profiles.knows
        return sorted(
            k.get("technique", frozenset()) | k.get("software", frozenset()) | k.get("indicator", frozenset())
        )
    return sorted(profiles.groups)


def score(items: Sequence[Item], profiles: Profiles, model: Model = DEFAULT) -> Scores:
    """Log-likelihood of every candidate group and of unknown (see the module docstring)."""
    matches = match_items(items, profiles)
    cands = candidates_for(matches, profiles)
    log_eps, log_kappa = math.log(model.miss), math.log(model.partial)
    log_indirect = math.log(model.indirect) if model.indirect > 0 else None
    ll: dict[str, float] = dict.fromkeys(cands, 0.0)
    cand_set = frozenset(cands)
    unknown_terms = []
    # (miss - unknown) summed per "knows" set: items of one kind share it, so each group is visited once
    per_knows: dict[int, tuple[frozenset[str], list[float]]] = {}
    for m in matches:
        w = item_weight(m.item, model)
        miss = w * (log_eps + math.log(m.base))
        # P(f | unknown): what P(f | g) is expected to be for a group drawn from the population — it
        # has f with f's frequency b(f), at the average coverage; else it misses f like any group
        u = w * math.log(
            m.base * (coverage(profiles, m.item.feature, model.size_exponent) + (1 - m.base) * model.miss)
        )
        hits: list[tuple[str, float]] = []
        table = rho_table(profiles, m.item.feature, model.size_exponent)
        levels = [(m.direct, 0.0), (m.partial, log_kappa)]
        if log_indirect is not None:
            levels.append((m.indirect, log_indirect))
        for group_set, factor in levels:
            for g in group_set:
                if g in cand_set:
                    r = math.log(table.get(g, INDICATOR_RHO)) + factor
                    hits.append((g, w * r - miss))
        unknown_terms.append(u)
        # Every group starts at the unknown term (a group whose profile records nothing of this kind
        # is, for this item, a group we do not know); the others miss or match.
        per_knows.setdefault(id(m.knows), (m.knows, []))[1].append(miss - u)
        for g, delta in hits:
            ll[g] += delta
    for knows, deltas in per_knows.values():
        total = sum(deltas)
        for g in knows:
            if g in ll:
                ll[g] += total
    total_unknown = sum(unknown_terms)
    return Scores(cands, [ll[g] + total_unknown for g in cands], total_unknown, matches, unknown_terms)


def item_term(profiles: Profiles, m: Match, gid: str, model: Model, unknown_term: float) -> tuple[str, float]:
    """(status, w·log P(item | gid)): status is direct, partial, indirect, miss or no-knowledge."""
    w = item_weight(m.item, model)
    if gid in m.direct:
        return "direct", w * math.log(rho(profiles, m.item.feature, gid, model.size_exponent))
    if gid in m.partial:
        return "partial", w * math.log(
            model.partial * rho(profiles, m.item.feature, gid, model.size_exponent)
        )
    if gid in m.indirect and model.indirect > 0:
        return "indirect", w * math.log(
            model.indirect * rho(profiles, m.item.feature, gid, model.size_exponent)
        )
    if gid in m.knows:
        return "miss", w * math.log(model.miss * m.base)
    return "no-knowledge", unknown_term
