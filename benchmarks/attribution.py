"""Attribution benchmark: leak-free ATT&CK campaign hold-out, open set, Tidal second source.

    .venv/bin/python benchmarks/attribution.py [--db PATH] [--json FILE] [--exclude-source S] [--as-of DATE]

The same run as ``aptcatch bench attribution`` (:func:`aptcatch.attribution.bench.run_benchmark`), on
the installed knowledge base — or, without ``--db``, on a fresh temporary store filled from the bundled
snapshot, so the figures do not depend on what was imported into the user's store. Prints the table,
the per-case ranks and the leave-one-out fitted numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from aptcatch.attribution.bench import run_benchmark
from aptcatch.knowledge.kb import open_store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, help="knowledge store (default: a fresh one from the snapshot)")
    ap.add_argument("--json", type=Path, help="also write the full report as JSON")
    ap.add_argument("--exclude-source", action="append", default=[], metavar="PATTERN")
    ap.add_argument("--as-of", type=date.fromisoformat, metavar="YYYY-MM-DD")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(args.db or Path(tmp) / "kb.sqlite")
        t0 = time.perf_counter()
        report = run_benchmark(store, exclude_sources=args.exclude_source, as_of=args.as_of)
        took = time.perf_counter() - t0
        store.close()
    print(report.format_table())
    print(f"benchmark run: {took:.1f} s")
    print("\nper case (rank of the right answer with unknown / among groups / TF-IDF; P(right); first):")
    for c in report.cases:
        first = c.top[0] if c.top else ("-", 0.0)
        print(
            f"  {c.setting:6} {c.case[:46]:46} {', '.join(c.truth)[:24]:24} "
            f"{c.rank or '-':>4} {c.group_rank or '-':>4} {c.baseline_rank or '-':>4}  "
            f"{c.probability:6.3f}  {first[0][:24]} ({first[1]:.2f})"
        )
    folds = sorted({tuple(sorted((k, v) for k, v in f.items() if k != "held_out")) for f in report.folds})
    print("\nleave-one-campaign-out fits (distinct):")
    for f in folds:
        print("  " + ", ".join(f"{k}={v:g}" for k, v in f))
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
