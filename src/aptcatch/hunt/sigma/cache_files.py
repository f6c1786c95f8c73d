"""The files of the Sigma cache folder: compiled rule sets (``<key>.json``) and their segment plans
(``plans-<key>.json``), written atomically and kept to the most recently used few.

Every change to a rule file, to aptcatch or to pySigma makes a new cache key, so without pruning the
folder would keep one compiled rule set (~4 MB for SigmaHQ's Windows rules) and one plan file per
change, forever. Reading an entry marks it used (its modification time), and after each write the
entries of that kind beyond the newest :data:`KEEP` are removed, with temporary files that a killed
process left behind.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

KEEP = 6  # entries of each kind (rule sets, plan files) kept
_STALE_TMP_S = 3600.0  # a temporary file this old belongs to no running write


def cache_dir() -> Path:
    """``$APTCATCH_CACHE_DIR/sigma``, or the user's cache folder for aptcatch."""
    env = os.environ.get("APTCATCH_CACHE_DIR")
    if env:
        return Path(env) / "sigma"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("aptcatch")) / "sigma"


def write(path: Path, text: str) -> bool:
    """``text`` to ``path`` through a temporary file of this process (readers never see half a file),
    then older entries of the same kind pruned; False when the folder cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        return False  # a read-only cache only costs time
    prune(path.parent, plans=path.name.startswith("plans-"))
    return True


def used(path: Path) -> None:
    """Mark an entry as just used (it is kept over entries used longer ago)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def prune(folder: Path, *, plans: bool, keep: int = KEEP) -> list[Path]:
    """Remove the entries of one kind beyond the ``keep`` most recently used, and stale temporary
    files; returns what was removed (nothing that cannot be removed is an error)."""
    removed: list[Path] = []
    entries: list[tuple[float, Path]] = []
    now = time.time()
    try:
        listing = list(folder.iterdir())
    except OSError:
        return removed
    for p in listing:
        try:
            mtime = p.stat().st_mtime
        except OSError:
            continue
        if p.name.endswith(".tmp"):
            if now - mtime > _STALE_TMP_S and _unlink(p):
                removed.append(p)
        elif p.suffix == ".json" and p.name.startswith("plans-") == plans:
            entries.append((mtime, p))
    entries.sort(reverse=True)
    removed += [p for _, p in entries[keep:] if _unlink(p)]
    return removed


def _unlink(p: Path) -> bool:
    try:
        p.unlink()
    except OSError:
        return False
    return True
