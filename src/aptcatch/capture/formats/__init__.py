"""Format analysers, one module per format family.

Each module exposes ``analyzers(config) -> list[Analyzer]``; the registry is built from every module in
this package, so adding a format never means editing a central if/elif chain.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from aptcatch.capture.analyzer import Analyzer

if TYPE_CHECKING:
    from aptcatch.capture.engine import ScanConfig


def default_analyzers(config: ScanConfig) -> list[Analyzer]:
    out: list[Analyzer] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        factory = getattr(module, "analyzers", None)
        if factory is not None:
            out.extend(factory(config))
    return out
