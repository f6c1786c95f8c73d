"""Limits every parser runs under, and the helpers that enforce them.

A limit that trips never aborts the scan: the artifact concerned records an ``ArtifactError`` of kind
``limit`` (or ``timeout``) and the rest of the chain is analysed as usual.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import IO


@dataclass(frozen=True)
class Limits:
    max_file_size: int = 128 * 1024 * 1024
    """Largest submitted file read at all (bytes)."""
    max_depth: int = 8
    """Deepest nesting (email → zip → doc → object … counts one level each)."""
    max_children: int = 500
    """Most children one artifact may yield (archive members, OLE objects …)."""
    max_artifacts: int = 2000
    """Most artifacts in one submitted item, all levels together."""
    max_child_size: int = 64 * 1024 * 1024
    """Largest single extracted child (bytes)."""
    max_total_bytes: int = 256 * 1024 * 1024
    """Most bytes extracted from one submitted item, all levels together."""
    max_ratio: float = 200.0
    """Largest decompressed/compressed ratio accepted for an archive member."""
    analyzer_timeout: float = 20.0
    """Seconds one analyser may spend on one artifact."""
    max_text_chars: int = 200_000
    """Most characters of lure text kept per item."""


class LimitExceeded(Exception):
    """Raised by extraction helpers when a limit trips; caught by the engine per artifact."""


class AnalyzerTimeout(Exception):
    """Raised inside an analyser when its time budget is spent."""


def read_limited(stream: IO[bytes], limit: int, chunk: int = 1 << 20) -> bytes:
    """Read a stream but never more than ``limit`` bytes; raise LimitExceeded past it.

    Used for every decompressing read so that a bomb never gets more than ``limit`` bytes of memory.
    """
    parts: list[bytes] = []
    total = 0
    while True:
        block = stream.read(min(chunk, limit + 1 - total))
        if not block:
            break
        total += len(block)
        if total > limit:
            raise LimitExceeded(f"decompressed size exceeds {limit} bytes")
        parts.append(block)
    return b"".join(parts)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise AnalyzerTimeout in the current (main) thread after ``seconds``.

    Uses SIGALRM/ITIMER_REAL, which interrupts pure-Python loops and returns from most C calls. Outside
    the main thread (where signals cannot be set) it is a no-op and the worker-level timeout applies.
    """
    if seconds <= 0:
        yield
        return
    try:
        previous = signal.getsignal(signal.SIGALRM)
    except ValueError:  # pragma: no cover - not in the main thread
        yield
        return

    def _on_alarm(signum: int, frame: FrameType | None) -> None:
        raise AnalyzerTimeout(f"gave up after {seconds:g} s")

    try:
        signal.signal(signal.SIGALRM, _on_alarm)
    except ValueError:  # not the main thread
        yield
        return
    old_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if old_timer[0] > 0:  # restore an outer deadline, less the time spent
            signal.setitimer(signal.ITIMER_REAL, max(old_timer[0] - seconds, 0.001))
