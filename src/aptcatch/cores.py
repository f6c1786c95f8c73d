"""How many cores this process may run on (its CPU affinity where the OS tells it, else the machine's)."""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on: the scan's workers, the hunt's pool and reader threads."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
