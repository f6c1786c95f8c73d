"""Helpers for benchmarks that time each measurement in a fresh subprocess over a list of files.

Shared by ``hunt_sigma_speed.py`` and ``hunt_read_evtx.py``: the file list goes to the child as a
temporary listing, the child prints one JSON line of figures, and a corpus is scaled up by hard links
(a symlink where the file system refuses one) into a temporary folder, never by copying the data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@contextmanager
def listing(paths: Sequence[Path]) -> Iterator[Path]:
    """A temporary file naming ``paths`` one per line (removed afterwards)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(str(p) for p in paths))
    try:
        yield Path(fh.name)
    finally:
        Path(fh.name).unlink()


def read_listing(path: Path) -> list[Path]:
    return [Path(p) for p in path.read_text().splitlines() if p]


def run_measure(
    script: Path, mode: str, files: Path, extra: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``script --measure MODE --list FILES EXTRA…`` in a fresh interpreter; its last output line as JSON."""
    cmd = [sys.executable, str(script), "--measure", mode, "--list", str(files), *extra]
    done = subprocess.run(
        cmd, check=True, capture_output=True, text=True, cwd=script.parents[1], env=dict(env) if env else None
    )
    result = dict(json.loads(done.stdout.splitlines()[-1]))
    print(mode, result, file=sys.stderr)
    return result


def replicate(files: Sequence[Path], copies: int, into: Path) -> list[Path]:
    """``files`` linked ``copies`` times under ``into`` (one folder per copy), in order."""
    paths = []
    for c in range(copies):
        folder = into / f"copy{c:03d}"
        folder.mkdir()
        for i, f in enumerate(files):
            target = folder / f"{i:04d}{f.suffix}"
            try:
                os.link(f, target)
            except OSError:
                target.symlink_to(f)
            paths.append(target)
    return paths


def header(script: str) -> dict[str, Any]:
    """The date, machine and exact command that every result file starts with."""
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
        "command": f"benchmarks/{script} " + " ".join(sys.argv[1:]),
    }


def _descendants_rss_kib(root: int) -> int:
    """Resident KiB of ``root`` and every process below it (worker pools, forkservers' children)."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue  # ended meanwhile
        pid = int(entry.name)
        parent[pid] = int(fields.get("PPid", "0").strip() or 0)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0] or 0)
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier += kids
    return sum(rss.get(p, 0) for p in tree)


class TreeMemory:
    """Peak resident memory of this process and all its descendants, sampled every ``every`` seconds
    in a thread (``getrusage`` misses a forkserver's children, which are not this process's)."""

    def __init__(self, every: float = 0.05) -> None:
        import threading

        self.every = every
        self.peak_kib = 0
        self.peak_system_kib = 0  # growth of the machine's memory in use (counts /dev/shm files too)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        base = _used_kib()
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, _descendants_rss_kib(me))
            self.peak_system_kib = max(self.peak_system_kib, _used_kib() - base)
            self._stop.wait(self.every)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> int:
        return self.peak_kib // 1024

    @property
    def peak_system_mib(self) -> int:
        return self.peak_system_kib // 1024


def _used_kib() -> int:
    """MemTotal - MemAvailable: memory in use on the machine, files in tmpfs included."""
    with open("/proc/meminfo", encoding="ascii") as fh:
        info = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in fh)}
    return info["MemTotal"] - info["MemAvailable"]
