"""Sigma on Spark vs the default evaluator: the SigmaHQ windows rules over EVTX-ATTACK-SAMPLES.

Same compiled rules, same reading; checks that Spark's hits, applied and blind rules equal VectorSigma's
and times both (Spark twice: the first run pays its code generation). Writes
``benchmarks/results/hunt_spark_sigma.json``.

    .venv/bin/python benchmarks/hunt_spark_sigma.py
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

from aptcatch.hunt.engines import EngineOptions, open_engine
from aptcatch.hunt.engines.duckdb import read_files
from aptcatch.hunt.sigma.rules import load_rules
from aptcatch.hunt.sigma.vector import VectorSigma

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def main() -> int:
    evtx = sorted((DATA / "evtx-attack-samples").rglob("*.evtx"))
    rules_dir = DATA / "sigma" / "rules" / "windows"
    if not evtx or not rules_dir.is_dir():
        print("needs ../shared/data/evtx-attack-samples and sigma/rules/windows", file=sys.stderr)
        return 2
    rules = load_rules([rules_dir]).rules
    results = read_files(evtx, None, None)
    t = time.perf_counter()
    ref = VectorSigma(rules).run(results)
    vector_s = time.perf_counter() - t
    out: dict[str, object] = {
        "date": date.today().isoformat(),
        "command": "benchmarks/hunt_spark_sigma.py",
        "events": sum(r.rows for r in results),
        "rules": len(rules),
        "vector_seconds": round(vector_s, 2),
        "vector_hits": len(ref.hits),
    }
    with open_engine("spark", EngineOptions(cores=2)) as eng:
        for label in ("spark_cold", "spark_warm"):
            t = time.perf_counter()
            run = eng.run_sigma(results, rules)
            out[f"{label}_seconds"] = round(time.perf_counter() - t, 2)
        out["spark_hits"] = len(run.hits)
        out["identical_hits"] = {(h.file_id, h.row, h.rule) for h in run.hits} == {
            (h.file_id, h.row, h.rule) for h in ref.hits
        }
        out["identical_applied_and_blind"] = run.applied == ref.applied and run.blind == ref.blind
    (ROOT / "benchmarks" / "results" / "hunt_spark_sigma.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
