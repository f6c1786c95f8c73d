"""The garbage collector paused around bulk work that makes many objects and no reference cycles.

CPython's cyclic collector runs after every few hundred allocations and, in its older generations,
walks every container alive in the process. A hunt holds hundreds of thousands of them (each file's
result, its segments, the batch being built), so while the readers or the evaluator allocate, the
collector re-walks that whole graph again and again: measured at 500,000 events, 3.9 s of the EVTX
read and 1 s of the Sigma evaluation went to collections that found nothing (the attribution profile
cache pauses it while loading its ~10^5 small objects for the same reason). The work inside makes no
cycles; reference counting frees everything as usual, and the collector resumes afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with automatic collection off (restored as it was, also on error)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
