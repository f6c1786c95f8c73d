"""Where the worker pool starts to pay: the whole hunt (SigmaHQ Windows rules, EVTX-ATTACK-SAMPLES
replicated ``k`` times by hard links) in one process against the pool on every core.

For each ``k`` of ``--copies``, in fresh subprocesses (``hunt_sigma_speed.py --measure``), interleaved
``--repeat`` times, median wall seconds kept:

* ``one``: ``hunt-one-core`` — the DuckDB engine with ``cores=1`` (read here, rules run on the batches);
* ``pool``: ``hunt-cores`` with the pool's threshold (``winpool.MIN_BYTES``) set to 0, so the pool runs
  whatever the size.

The ratio pool / one at each size shows the break-even, from which ``MIN_BYTES`` is set. The rule cache
and plan cache are warmed once first (as every hunt after the first one finds them).

    .venv/bin/python benchmarks/hunt_pool_breakeven.py [--copies 1 2 3 4 6 8] [--repeat 3]

Writes benchmarks/results/hunt_pool_breakeven.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import subprocess_runs

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CORPUS = DATA / "evtx-attack-samples"
SPEED = REPO / "benchmarks" / "hunt_sigma_speed.py"
OUT = REPO / "benchmarks" / "results" / "hunt_pool_breakeven.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    files = sorted(CORPUS.rglob("*.evtx"))
    if not files:
        sys.exit(f"no EVTX files under {CORPUS}")
    size = sum(f.stat().st_size for f in files)
    result: dict[str, Any] = {**subprocess_runs.header(Path(__file__).name), "corpus_mib": size / 2**20}
    rows = []
    with tempfile.TemporaryDirectory(prefix="pool-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "cache").mkdir()
        env = {**os.environ, "APTCATCH_CACHE_DIR": str(tmp / "cache")}
        with subprocess_runs.listing(files) as listing:  # rules compiled and plans written once
            subprocess_runs.run_measure(SPEED, "hunt-one-core", listing, ["--opts", "{}"], env)
        for k in args.copies:
            (tmp / f"d{k}").mkdir()
            paths = subprocess_runs.replicate(files, k, tmp / f"d{k}")
            runs: dict[str, list[dict[str, Any]]] = {"one": [], "pool": []}
            with subprocess_runs.listing(paths) as listing:
                for _ in range(args.repeat):
                    one = ["--opts", "{}"]
                    pool = ["--opts", json.dumps({"min_bytes": 0})]
                    runs["one"].append(subprocess_runs.run_measure(SPEED, "hunt-one-core", listing, one, env))
                    runs["pool"].append(subprocess_runs.run_measure(SPEED, "hunt-cores", listing, pool, env))
            t_one = statistics.median(r["seconds"] for r in runs["one"])
            t_pool = statistics.median(r["seconds"] for r in runs["pool"])
            row = {
                "copies": k,
                "mib": round(k * size / 2**20, 1),
                "events": runs["one"][0]["events"],
                "one_s": t_one,
                "pool_s": t_pool,
                "pool_over_one": round(t_pool / t_one, 2),
                "same_detections": len({r["detections"] for rs in runs.values() for r in rs}) == 1,
                "all": {m: [r["seconds"] for r in rs] for m, rs in runs.items()},
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    result["sizes"] = rows
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
