"""Attribution: evidence → ranked threat groups with calibrated probabilities, reasons and "unknown".

* :mod:`~aptcatch.attribution.profiles` — group profiles from the knowledge base, under knowledge
  filters (``--exclude-source``, ``--as-of``), cached per process;
* :mod:`~aptcatch.attribution.scoring` / :mod:`~aptcatch.attribution.engine` — the model and
  ``attribute(evidence, profiles)``;
* :mod:`~aptcatch.attribution.bench` — the leak-free campaign hold-out, open-set and second-source
  benchmark (``aptcatch bench attribution``).

Evidence parsing, the CLI and the renderers live beside them (``evidence_io``, ``cli``, ``render``,
``navigator``).
"""

from aptcatch.attribution.engine import attribute
from aptcatch.attribution.profiles import Filters, Profiles, build_profiles, load_profiles

__all__ = ["Filters", "Profiles", "attribute", "build_profiles", "load_profiles"]
