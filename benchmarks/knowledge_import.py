"""Full knowledge-base import: ATT&CK + every staged MISP galaxy cluster file + every staged IOC list.

    .venv/bin/python benchmarks/knowledge_import.py [--data ../shared/data]

Reports wall time, peak memory (ru_maxrss of this process) and the size of the SQLite store.
Target: under 60 s.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from aptcatch.knowledge.feeds_catalog import import_staged
from aptcatch.knowledge.sqlite_store import SqliteStore

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "kb.sqlite"
        t0 = time.perf_counter()
        store = SqliteStore(db)
        report = import_staged(store, args.data)
        wall = time.perf_counter() - t0
        counts = store.counts()
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        size = db.stat().st_size
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"reference files: {report.reference_files}, feed files: {report.feed_files}, "
        f"skipped: {len(report.skipped)}"
    )
    print(f"counts: {counts}")
    print(f"wall time: {wall:.2f} s   peak RSS: {peak_mib:.0f} MiB   store size: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
