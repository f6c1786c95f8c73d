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
