"""``attribute(evidence, profiles)``: the ranked, explained :class:`AttributionResult` of one case.

The model itself — naive Bayes over presence features, weighted by specificity and normalised for
profile size, against an explicit "unknown" hypothesis — is described in
:mod:`aptcatch.attribution.scoring`; the reasons are built by :mod:`aptcatch.attribution.explain`.
"""

from __future__ import annotations

import time

from aptcatch.attribution.calibration import DEFAULT, Model, softmax_with_unknown
from aptcatch.attribution.explain import candidate
from aptcatch.attribution.features import resolve
from aptcatch.attribution.profiles import Profiles
from aptcatch.attribution.scoring import score
from aptcatch.model.attribution import AttributionResult
from aptcatch.model.evidence import Evidence


def attribute(
    evidence: Evidence,
    profiles: Profiles,
    *,
    top: int = 10,
    model: Model = DEFAULT,
) -> AttributionResult:
    """Rank the groups of ``profiles`` (and unknown) for ``evidence``; see the module docstring.

    The candidates shown (``top``) and ``unknown`` sum to 1: the small share of the groups ranked
    below ``top`` is spread over them in proportion.
    """
    t0 = time.perf_counter()
    items, ignored = resolve(evidence, profiles)
    if not items:
        return AttributionResult(
            unknown=1.0,
            evidence_ignored=tuple(ignored),
            filters=profiles.filters.describe(),
            duration_ms=(time.perf_counter() - t0) * 1000,
        )
    sc = score(items, profiles, model)
    probs, pu = softmax_with_unknown(sc.loglik, sc.unknown, model.temperature, model.unknown_prior)
    order = sorted(range(len(sc.groups)), key=lambda i: -sc.loglik[i])[:top]
    shown = sum(probs[i] for i in order) + pu
    cands = tuple(candidate(profiles, sc, sc.groups[i], probs[i] / shown, sc.loglik[i], model) for i in order)
    return AttributionResult(
        candidates=cands,
        unknown=pu / shown,
        evidence_used=len(items),
        evidence_ignored=tuple(ignored),
        filters=profiles.filters.describe(),
        duration_ms=(time.perf_counter() - t0) * 1000,
    )
