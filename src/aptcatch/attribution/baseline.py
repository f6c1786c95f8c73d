"""The plain TF-IDF cosine baseline the benchmark prints beside the engine.

Each group is a binary vector over the techniques and software of its profile (direct only), weighted
by ``idf = log(N / df)``; the evidence is the same kind of vector; groups rank by cosine similarity.
No size normalisation beyond the cosine, no "unknown": what attribution by overlap usually is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from aptcatch.attribution.features import Item
from aptcatch.attribution.profiles import Profiles

_KINDS = ("technique", "software")


def tfidf_ranking(items: Sequence[Item], profiles: Profiles) -> list[str]:
    """Group ids by decreasing cosine similarity with the evidence (groups with no overlap left out)."""
    groups = sorted(g for k in _KINDS for g in profiles.knows.get(k, ()))
    n = max(len(set(groups)), 1)

    def idf(kind: str, value: str) -> float:
        return math.log(n / max(profiles.df((kind, value)), 1))

    norms: dict[str, float] = {}
    for gid in set(groups):
        feats = profiles.groups[gid].features
        norms[gid] = math.sqrt(sum(idf(k, v) ** 2 for k, v in feats if k in _KINDS)) or 1.0
    dots: dict[str, float] = {}
    ev_norm = 0.0
    for it in items:
        if it.feature not in _KINDS:
            continue
        keys = [(it.feature, k) for k in it.keys]
        w = max(idf(*f) for f in keys)
        ev_norm += w * w
        for gid in {g for f in keys for g in profiles.postings.get(f, ())}:
            dots[gid] = dots.get(gid, 0.0) + w * w
    ev = math.sqrt(ev_norm) or 1.0
    cos = {g: d / (norms[g] * ev) for g, d in dots.items()}
    return sorted(cos, key=lambda g: (-cos[g], g))
