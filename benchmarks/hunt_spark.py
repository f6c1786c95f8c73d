"""Spark engine vs DuckDB engine on the same staged logs at 1x, 4x, 16x (issue 5, "Measured": Spark).

    .venv/bin/python benchmarks/hunt_spark.py [--base 150000] [--scales 1 4 16] [--cores 2]
        [--json benchmarks/results/hunt_spark.json]

Generated (deterministic seed) into a private temporary folder removed at the end; reserved names
(``*.example``) and TEST-NET / private addresses only. ``--base`` rows at 1x, split over a Squid access
log and Zeek conn, dns and http JSON logs; one event in 500 is a planted hit (a subdomain of an
indicator domain, an address inside an indicator CIDR, an indicator URL spelt with other case and the
default port) and as many are near misses (``notmal<k>.example``, an address outside the blocks, the URL
with a trailing slash).

Timed in one process on the same files: the DuckDB engine (Python readers + DuckDB joins) and the Spark
engine (``local[--cores]``, session started before timing; Spark reads the files itself), each as
``read`` + ``sweep_iocs`` + ``output.alerts``. Alerts must be identical as sets of (rule id, indicator,
matched field, event.original), and the row counts equal; the exit code is 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from aptcatch.hunt.engines import EngineOptions, HuntEngine, open_engine
from aptcatch.hunt.ioc import IndicatorSet, parse_ioc_lines
from aptcatch.hunt.output import alerts, provenance

N_DOMAINS = 200


def _iocs() -> list[str]:
    lines = [f"mal{i}.example" for i in range(N_DOMAINS)]
    lines += [f"192.0.2.{i * 8}/29" for i in range(16)]  # every other /29 of 192.0.2.0/24 at most
    lines += [f"http://dl{i}.example/p/{i}.bin" for i in range(50)]
    return lines


def _write(root: Path, rows: int, seed: int) -> None:
    """The four logs with ``rows`` rows in all."""
    rnd = random.Random(seed)
    t0 = 1_700_000_000.0
    per = rows // 4
    files = {
        n: (root / n).open("w", encoding="utf-8") for n in ("access.log", "conn.log", "dns.log", "http.log")
    }
    try:
        for i in range(per):
            ts = t0 + i * 0.37
            hit = i % 500 == 0
            miss = i % 500 == 250
            k = rnd.randrange(N_DOMAINS)
            client = f"10.1.{i % 200}.{i % 250 + 1}"
            if hit:
                dom, url = f"a{i}.mal{k}.example", f"HTTP://DL{k % 50}.example:80/p/{k % 50}.bin"
                ip = f"192.0.2.{(k % 16) * 8 + 3}"
            elif miss:
                dom, url, ip = (
                    f"notmal{k}.example",
                    f"http://dl{k % 50}.example/p/{k % 50}.bin/",
                    "192.0.2.133",
                )
            else:
                dom, url = f"www{rnd.randrange(10**6)}.example", f"http://cdn{i % 97}.example/s/{i}.js"
                ip = f"198.51.100.{rnd.randrange(256)}"
            files["access.log"].write(
                f"{ts:.3f}    {rnd.randrange(1, 900)} {client} TCP_MISS/200 {rnd.randrange(100, 90000)} GET "
                f"{url} - HIER_DIRECT/{ip} text/html\n"
            )
            conn = {"ts": ts, "uid": f"C{i}", "id.orig_h": client, "id.orig_p": 40000 + i % 20000,
                    "id.resp_h": ip, "id.resp_p": 443, "proto": "tcp", "duration": 0.25}  # fmt: skip
            files["conn.log"].write(json.dumps(conn) + "\n")
            dns = {"ts": ts, "uid": f"D{i}", "id.orig_h": client, "id.resp_h": "10.0.0.53",
                   "id.resp_p": 53, "query": dom, "qtype_name": "A"}  # fmt: skip
            files["dns.log"].write(json.dumps(dns) + "\n")
            http = {"ts": ts, "uid": f"H{i}", "id.orig_h": client, "id.resp_h": ip, "id.resp_p": 80,
                    "host": dom, "uri": f"/q?i={i}", "user_agent": "Mozilla/5.0"}  # fmt: skip
            files["http.log"].write(json.dumps(http) + "\n")
    finally:
        for fh in files.values():
            fh.close()


def _run(engine: HuntEngine, root: Path, inds: IndicatorSet) -> tuple[float, int, list[dict[str, Any]]]:
    t = time.perf_counter()
    reading = engine.read([str(root)])
    matches = engine.sweep_iocs(reading.results, inds)
    docs = alerts(matches, reading.results, provenance(matches, inds, None))
    return time.perf_counter() - t, sum(r.rows for r in reading.results), docs


def _key(a: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        a["rule.id"],
        a["threat.indicator.value"],
        a["threat.indicator.matched.field"],
        a["event.original"],
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--base", type=int, default=150_000)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    inds = IndicatorSet()
    parse_ioc_lines(_iocs(), "bench", inds)
    duck = open_engine("duckdb")
    spark = open_engine("spark", EngineOptions(cores=args.cores, driver_memory="4g"))
    t = time.perf_counter()
    spark.read([str(Path(__file__))], fmt="squid")  # starts the session (one tiny local file)
    start = time.perf_counter() - t
    print(f"spark session start: {start:.1f} s", flush=True)
    runs = []
    tmp = Path(tempfile.mkdtemp(prefix="aptcatch-bench-spark-"))
    try:
        for scale in args.scales:
            root = tmp / f"x{scale}"
            root.mkdir()
            _write(root, args.base * scale, seed=scale)
            size = sum(f.stat().st_size for f in root.iterdir())
            d_time, d_rows, d_alerts = _run(duck, root, inds)
            s_time, s_rows, s_alerts = _run(spark, root, inds)
            same = {_key(a) for a in d_alerts} == {_key(a) for a in s_alerts} and d_rows == s_rows
            run = {
                "scale": scale,
                "rows": d_rows,
                "bytes": size,
                "alerts": len(d_alerts),
                "identical_alerts": same,
                "duckdb_s": round(d_time, 2),
                "spark_s": round(s_time, 2),
                "duckdb_rows_per_s": round(d_rows / d_time),
                "spark_rows_per_s": round(s_rows / s_time),
            }
            runs.append(run)
            print(json.dumps(run), flush=True)
            shutil.rmtree(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        spark.close()
    doc = {
        "benchmark": "hunt_spark",
        "date": date.today().isoformat(),
        "command": " ".join(["benchmarks/hunt_spark.py", *sys.argv[1:]]),
        "spark_master": f"local[{args.cores}]",
        "spark_session_start_s": round(start, 1),
        "runs": runs,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["identical_alerts"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
