"""ATT&CK Navigator layer (layer format 4.5, enterprise-attack, ATT&CK 18): observed vs. a group profile.

Three kinds of technique, each with its own score, colour and legend entry:

* observed and in the top candidate's profile (score 3, green),
* observed only — not known for that group (score 2, orange),
* in the profile only — known for the group, not observed (score 1, light blue).

Hand-written: the layer is a small JSON document (spec: mitre-attack/attack-navigator
``layers/spec/v4.5/layerformat.md``); no maintained Python library writes 4.5 layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from aptcatch.attribution.evidence_io import TECHNIQUE_RE
from aptcatch.knowledge.models import Claim
from aptcatch.knowledge.store import KnowledgeStore
from aptcatch.model.attribution import AttributionResult

__all__ = [
    "ATTACK_VERSION",
    "LAYER_VERSION",
    "NAVIGATOR_VERSION",
    "claim_allowed",
    "layer_for_result",
    "navigator_layer",
    "profile_techniques",
]

LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "5.2.0"
ATTACK_VERSION = "18"
DOMAIN = "enterprise-attack"

BOTH = (3, "#31a354", "observed, in the candidate's profile")
OBSERVED = (2, "#fd8d3c", "observed, not in the candidate's profile")
PROFILE = (1, "#9ecae1", "in the candidate's profile, not observed")


def claim_allowed(claim: Claim, exclude_sources: Sequence[str] = (), as_of: date | None = None) -> bool:
    """Whether a claim survives the analyst's filters, read as the engine's profiles read them:
    ``exclude_sources`` are case-insensitive substrings of the source name or of a citation (a claim
    keeps standing while one of its citations does not match); ``as_of`` keeps only claims dated on or
    before it."""
    if as_of is not None and (not claim.date or claim.date[:10] > as_of.isoformat()):
        return False
    pats = [p.strip().casefold() for p in exclude_sources if p.strip()]
    if any(p in claim.source.casefold() for p in pats):
        return False
    cites = [c.strip() for c in claim.reference.split(" | ") if c.strip()]
    return not cites or any(not any(p in c.casefold() for p in pats) for c in cites)


def profile_techniques(
    store: KnowledgeStore,
    entity_id: str,
    *,
    exclude_sources: Sequence[str] = (),
    as_of: date | None = None,
) -> set[str]:
    """ATT&CK ids of the techniques the knowledge base says the group uses (claims filtered)."""
    group = store.entity(entity_id)
    if group is None:
        return set()
    out: set[str] = set()
    for link in group.links_of("uses"):
        if not link.target.startswith("attack-pattern--") or not claim_allowed(
            link.claim, exclude_sources, as_of
        ):
            continue
        tech = store.entity(link.target)
        if tech is None:
            continue
        ids = [f.value for f in tech.values("external_id") if TECHNIQUE_RE.fullmatch(f.value)]
        if ids:
            out.add(ids[0])
    return out


def _entry(tid: str, kind: tuple[int, str, str], comment: str) -> dict[str, Any]:
    score, colour, _ = kind
    return {"techniqueID": tid, "score": score, "color": colour, "comment": comment, "enabled": True}


def navigator_layer(
    observed: Iterable[str],
    profile: Iterable[str] = (),
    *,
    candidate: str | None = None,
    probability: float | None = None,
    name: str | None = None,
    description: str | None = None,
    metadata: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The layer document (a JSON-ready dict)."""
    seen = sorted({t for t in observed if TECHNIQUE_RE.fullmatch(t)})
    known = sorted({t for t in profile if TECHNIQUE_RE.fullmatch(t)})
    who = candidate or "no candidate"
    techniques: list[dict[str, Any]] = []
    for tid in seen:
        if tid in known:
            techniques.append(_entry(tid, BOTH, f"observed; {who} is known to use it"))
        else:
            techniques.append(_entry(tid, OBSERVED, f"observed; not in the profile of {who}"))
    for tid in known:
        if tid not in seen:
            techniques.append(_entry(tid, PROFILE, f"{who} is known to use it; not observed"))
    overlap = sum(1 for t in seen if t in known)
    meta: list[dict[str, Any]] = [
        {"name": "observed techniques", "value": str(len(seen))},
        {"name": "profile techniques", "value": str(len(known))},
        {"name": "overlap", "value": str(overlap)},
    ]
    if candidate:
        meta.insert(0, {"name": "top candidate", "value": candidate})
    if probability is not None:
        meta.insert(1, {"name": "probability", "value": f"{probability:.3f}"})
    meta += [{"name": k, "value": v} for k, v in metadata]
    return {
        "name": name
        or (f"aptcatch: observed vs. {candidate}" if candidate else "aptcatch: observed techniques"),
        "versions": {"attack": ATTACK_VERSION, "navigator": NAVIGATOR_VERSION, "layer": LAYER_VERSION},
        "domain": DOMAIN,
        "description": description
        or (
            f"Techniques observed in the evidence against the ATT&CK profile of {who} "
            f"({overlap} of {len(seen)} observed are in the profile)."
        ),
        "sorting": 3,
        "layout": {
            "layout": "side",
            "showID": True,
            "showName": True,
            "showAggregateScores": False,
            "countUnscored": False,
            "aggregateFunction": "max",
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": [PROFILE[1], OBSERVED[1], BOTH[1]], "minValue": 1, "maxValue": 3},
        "legendItems": [{"label": label, "color": colour} for _, colour, label in (BOTH, OBSERVED, PROFILE)],
        "showTacticRowBackground": False,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
        "metadata": meta,
    }


def layer_for_result(
    result: AttributionResult,
    observed: Iterable[str],
    store: KnowledgeStore | None,
    *,
    profile: Iterable[str] | None = None,
    exclude_sources: Sequence[str] = (),
    as_of: date | None = None,
) -> dict[str, Any]:
    """The layer for an attribution: observed techniques against the top candidate's profile.

    ``profile`` is the top candidate's techniques when the caller has them (the engine's profiles);
    else they are read from ``store`` under the same filters.
    """
    top = result.candidates[0] if result.candidates else None
    if top is None:
        profile = ()
    elif profile is None:
        profile = (
            profile_techniques(store, top.id, exclude_sources=exclude_sources, as_of=as_of)
            if store is not None
            else ()
        )
    label = None
    if top is not None:
        label = top.name + (f" ({top.attack_id})" if top.attack_id else "")
    return navigator_layer(
        observed,
        profile,
        candidate=label,
        probability=top.probability if top is not None else None,
        metadata=[("unknown share", f"{result.unknown:.3f}")],
    )
