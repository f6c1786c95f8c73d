"""``scan --attribute`` start-up: profiles built from the store vs read from the on-disk cache.

    .venv/bin/python benchmarks/attribution_cache.py [--runs N] [--sample FILE]

On a fresh temporary store filled from the bundled snapshot, each measurement runs in a new process
(as an analyst's command does): ``load_profiles`` alone with the cache directory removed (cold) and
present (warm), then the whole ``aptcatch scan --attribute`` command cold and warm. Prints medians and
the cold/warm ratio; the temporary store and its cache are removed at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aptcatch.knowledge.kb import open_store

_LOAD = """
import sys, time
from pathlib import Path
t0 = time.perf_counter()
from aptcatch.attribution.profiles import load_profiles
from aptcatch.knowledge.kb import open_store
store = open_store(Path(sys.argv[1]))
t1 = time.perf_counter()
profiles = load_profiles(store)
print(f"{time.perf_counter() - t1:.4f} {len(profiles.groups)}")
"""


def _load_once(db: Path) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", _LOAD, str(db)], check=True, capture_output=True, text=True)
    secs, groups = out.stdout.split()
    return float(secs), int(groups)


def _scan_once(db: Path, sample: Path) -> float:
    exe = Path(sys.executable).with_name("aptcatch")
    t0 = time.perf_counter()
    subprocess.run(
        [str(exe), "scan", "--attribute", "--db", str(db), "--json", str(sample)], capture_output=True
    )
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--sample", type=Path, default=Path(__file__).parent.parent / "examples" / "dde-field.docx"
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "kb.sqlite"
        open_store(db).close()
        cache = Path(f"{db}.attribution-cache")
        rows: dict[str, list[float]] = {"load cold": [], "load warm": [], "scan cold": [], "scan warm": []}
        groups = 0
        for _ in range(args.runs):
            shutil.rmtree(cache, ignore_errors=True)
            secs, groups = _load_once(db)
            rows["load cold"].append(secs)
            rows["load warm"].append(_load_once(db)[0])
            shutil.rmtree(cache, ignore_errors=True)
            rows["scan cold"].append(_scan_once(db, args.sample))
            rows["scan warm"].append(_scan_once(db, args.sample))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"profiles of {groups} groups; {args.runs} run(s) each, new process per run, medians:")
    print(f"  load_profiles, no cache (read store + build):  {med['load cold']:.2f} s")
    print(f"  load_profiles, from the cache file:            {med['load warm']:.2f} s")
    print(f"  ratio:                                        {med['load cold'] / med['load warm']:.1f}x")
    print(f"  aptcatch scan --attribute, no cache:           {med['scan cold']:.2f} s")
    print(f"  aptcatch scan --attribute, cache present:      {med['scan warm']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
