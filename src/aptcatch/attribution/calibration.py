"""The engine's few free numbers, and how they are fitted.

The model (:mod:`aptcatch.attribution.engine`) weighs every evidence item by what the knowledge base
says — how many groups have it (specificity) and how large each group's profile is. Seven numbers are
left, and none is set per case:

* ``miss`` (ε): how likely a group does something its profile does not record, relative to how common
  that thing is among groups — the knowledge base's incompleteness. Evidence *against* a group scales
  with ``-log ε``.
* ``partial`` (κ): the share of a direct match that a technique earns when the group is known to use
  only its parent, a sub- or a sibling technique of it.
* ``indirect`` (κ_s): the same share when the group is known to use it only through its software
  (0: not counted).
* ``technique_weight``: the share of a technique's log-likelihood that counts (techniques come in
  bundles; software and indicators count fully).
* ``size_exponent`` (γ): how strongly a large profile is discounted, ``ρ_g = (m / (m + n_g)) ** γ``;
  γ = 1 is "a group known for twice as many techniques shows any one of them half as often".
* ``temperature`` (T): naive Bayes treats the items as independent, which they are not (a campaign's
  techniques come in bundles), so raw posteriors are over-confident; the log-likelihoods are divided by T.
* ``unknown_prior`` (π): the prior share of "a group not in the knowledge base".

:data:`DEFAULT` holds the values fitted on the ATT&CK campaign hold-out (``aptcatch bench attribution``
refits them leave-one-campaign-out and reports the per-fold values, so the figures it prints never use
a case's own answer). The fit maximises the log-likelihood of the true answer (the group, or "unknown"
in the open-set runs) over a small grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Model:
    # Defaults: the leave-nothing-out fit of ``aptcatch bench attribution`` on the 24 ATT&CK campaigns
    # (closed and open set together) of the bundled knowledge snapshot.
    miss: float = 0.3
    partial: float = 0.3
    size_exponent: float = 0.5
    temperature: float = 1.5
    unknown_prior: float = 0.3
    # Victimology, lure and period are weaker, noisier evidence: their log-likelihoods count at this share.
    context_weight: float = 0.5
    # Techniques come in bundles (one tool brings a dozen), so each is worth less than a software or
    # indicator match; their log-likelihoods count at this share (fitted).
    technique_weight: float = 0.25
    # The share of a direct match a technique earns when the group is known to use it only through its
    # software (0: not counted; the software item, if the evidence names it, speaks for itself).
    indirect: float = 0.3

    def with_(self, **kw: float) -> Model:
        return replace(self, **kw)


DEFAULT = Model()

MISS_GRID = (0.01, 0.03, 0.1, 0.3)
PARTIAL_GRID = (0.1, 0.3, 0.6)
SIZE_GRID = (0.5, 1.0)
TECHNIQUE_GRID = (0.1, 0.25, 0.5, 1.0)
INDIRECT_GRID = (0.0, 0.1, 0.3)
TEMPERATURE_GRID = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)
PRIOR_GRID = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def softmax_with_unknown(
    loglik: Sequence[float], unknown_loglik: float, temperature: float, unknown_prior: float
) -> tuple[list[float], float]:
    """Posterior of each group and of "unknown": prior × likelihood^(1/T), normalised to sum to 1."""
    n = max(len(loglik), 1)
    lg = math.log((1.0 - unknown_prior) / n)
    logits = [x / temperature + lg for x in loglik]
    lu = unknown_loglik / temperature + math.log(unknown_prior)
    top = max([lu, *logits])
    ex = [math.exp(x - top) for x in logits]
    eu = math.exp(lu - top)
    z = sum(ex) + eu
    return [x / z for x in ex], eu / z
