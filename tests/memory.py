"""Peak memory of a piece of work, measured so that earlier work in the same process cannot hide it.

``ru_maxrss`` is the high-water mark of the whole process, inherited through fork and kept across
exec: after a test worker has once used 600 MiB, every later reading starts there (a child process
started from it reports at least that much, and an in-process delta reads zero). Linux's VmHWM is the
high-water mark of the current address space, and writing ``5`` to ``/proc/self/clear_refs`` resets it.
"""

from __future__ import annotations

from pathlib import Path


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


class PeakGrowth:
    """``with PeakGrowth() as p: work()`` then ``p.kib``: how far the peak rose above the start."""

    def __enter__(self) -> PeakGrowth:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        self.start = _status_kib("VmRSS")
        self.kib = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.kib = _status_kib("VmHWM") - self.start


# For a child process: its own address space's peak, in MiB (print this from the child).
CHILD_PEAK_MIB = "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:'))) / 1024"
