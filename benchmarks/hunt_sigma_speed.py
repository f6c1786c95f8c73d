"""Benchmark 2 of the Sigma engine: SigmaHQ's Windows rules over the EVTX-ATTACK-SAMPLES, 1x and scaled.

Rules: ``../shared/data/sigma/rules/windows`` with the sysmon + windows-logsources pipelines. Data:
``../shared/data/evtx-attack-samples`` (1x), then the same files hard-linked into a temporary folder
until it holds at least ``--events`` events (removed at the end). Every measurement runs in a fresh
subprocess, so its peak RSS is its own; times are wall seconds, the median of ``--repeat`` runs.

Modes:

* ``compile-cold``: :func:`load_rules` converting every rule with pySigma (empty cache folder);
  ``compile-cached``: the same call again, answered from the JSON cache the cold run wrote;
* ``bare``: ``PyEvtxParser(path).records_json()`` iterated to the end (the floor for any hunt);
* ``hunt``: rules from the cache (timed apart), :func:`read_evtx_files`, :class:`VectorSigma` with the
  segment plans of earlier runs read from the plan cache (what every hunt after the first one does);
  ``hunt-plan``: the same with the plan cache emptied first, so every event shape is planned (the
  first hunt with a new rule set); it runs before ``hunt`` in each round and writes the plans it reads;
* ``hunt-one-core``: the hunt as ``aptcatch hunt --cores 1`` runs it: the DuckDB engine with the rules
  given beforehand, the files read in this process and the rules run on the read batches
  (:func:`aptcatch.hunt.engines.winpool.read_here`);
* ``hunt-cores``: the hunt as ``aptcatch hunt`` runs it, on every core: the DuckDB engine with the
  rules given beforehand (``prepare_sigma``), so large inputs are read and evaluated in one worker
  process per core (:mod:`aptcatch.hunt.engines.winpool`; plans from the cache); ``cpu_s`` is the
  hunt process's own (the workers are the forkserver's children), ``peak_tree_mib`` the peak of the
  resident memory of the hunt and its workers together, sampled every 50 ms, and ``peak_system_mib``
  the growth of the machine's memory in use meanwhile (MemTotal - MemAvailable: counts the files the
  workers leave in ``/dev/shm`` for the parent, which no process's RSS shows until it maps them);
* ``sqlite``: the naive pipeline — pySigma's SQLite backend with the same pipelines (queries converted
  once and cached, timed apart as ``sqlite-convert``), the events read by the same reader into one
  SQLite table (columns ``TEXT COLLATE NOCASE`` named as Sigma names them, as Zircolite builds it),
  then one query per rule. At scale a full run takes minutes: every ``--sqlite-every``-th rule is
  queried and the query time is extrapolated (marked ``sampled``); ``--sqlite-every 1`` runs all.
* ``check`` (1x only): VectorSigma and the SQL reference DuckDBSigma on every ``--check-every``-th
  rule, hits compared (DuckDB compiles each predicate, which is why it is not timed here).

    .venv/bin/python benchmarks/hunt_sigma_speed.py [--events 500000] [--repeat 3]

Writes benchmarks/results/hunt_sigma_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import subprocess_runs

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CORPUS = DATA / "evtx-attack-samples"
RULES = DATA / "sigma" / "rules" / "windows"
OUT = REPO / "benchmarks" / "results" / "hunt_sigma_speed.json"
SCRIPT = Path(__file__).resolve()
MODES = (
    "compile-cold",
    "compile-cached",
    "bare",
    "hunt-plan",
    "hunt",
    "hunt-one-core",
    "hunt-cores",
    "sqlite-convert",
    "sqlite",
    "check",
)


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children."""
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def _rss_mib() -> int:
    return (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        // 1024
    )


def _load_rules() -> Any:
    from aptcatch.hunt.sigma.rules import load_rules

    return load_rules([RULES])


def _sqlite_queries(cache: Path) -> list[tuple[str, str]]:
    """(rule id, query) for every rule pySigma's SQLite backend converts, cached in ``cache``."""
    if cache.is_file():
        return [tuple(q) for q in json.loads(cache.read_text())]  # type: ignore[misc]
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    from sigma.pipelines.sysmon import sysmon_pipeline
    from sigma.pipelines.windows import windows_logsource_pipeline

    from aptcatch.hunt.sigma.rules import rule_files

    backend = sqliteBackend(sysmon_pipeline() + windows_logsource_pipeline())
    out: list[tuple[str, str]] = []
    for f in rule_files([RULES]):
        try:
            collection = SigmaCollection.from_yaml(f.read_text(encoding="utf-8"))
            for rule in collection.rules:
                for q in backend.convert_rule(rule):
                    out.append((str(rule.id), str(q)))
        except Exception:
            continue
    cache.write_text(json.dumps(out))
    return out


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def _sigma_rows(results: list[Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every event as (file id, Sigma field -> value), from the reader's segments."""
    from aptcatch.hunt.readers.base import ROW
    from aptcatch.hunt.sigma.plan import sigma_columns

    for file_id, r in enumerate(results):
        for seg in r.sigma_segments():
            table = sigma_columns(seg.table)
            names = [n for n in table.column_names if n != ROW]
            for row in table.select(names).to_pylist():
                row.update(seg.constants)
                yield file_id, row


def _sqlite(results: list[Any], queries: list[tuple[str, str]], every: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    columns: dict[str, None] = {}
    for r in results:
        for seg in r.sigma_segments():
            from aptcatch.hunt.readers.base import ROW
            from aptcatch.hunt.sigma.plan import sigma_columns

            columns.update(dict.fromkeys(n for n in sigma_columns(seg.table).column_names if n != ROW))
            columns.update(dict.fromkeys(seg.constants))
    # SQLite's column names ignore case (SourceProcessGuid / SourceProcessGUID): one column for both
    position: dict[str, int] = {}
    names: list[str] = []
    for n in columns:
        if n.lower() not in position:
            position[n.lower()] = len(names)
            names.append(n)
    con = sqlite3.connect(":memory:")
    con.create_function("regexp", 2, _regexp, deterministic=True)  # as Zircolite registers it
    q = '"{}"'.format
    con.execute(f"CREATE TABLE logs ({', '.join(q(n) + ' TEXT COLLATE NOCASE' for n in names)})")
    insert = f"INSERT INTO logs VALUES ({', '.join('?' * len(names))})"
    batch: list[list[Any]] = []
    for _, row in _sigma_rows(results):
        values: list[Any] = [None] * len(names)
        for k, v in row.items():
            if v is not None:
                values[position[k.lower()]] = v
        batch.append(values)
        if len(batch) >= 10_000:
            con.executemany(insert, batch)
            batch.clear()
    con.executemany(insert, batch)
    con.commit()
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    detections, fired, errors, ran = 0, set(), Counter[str](), 0
    for i, (rule_id, query) in enumerate(queries):
        if i % every:
            continue
        ran += 1
        try:
            n = con.execute(query.replace("SELECT *", "SELECT count(*)", 1)).fetchone()[0]
        except sqlite3.Error as exc:  # a field no event has is no column: the naive query fails
            errors[str(exc).split(":")[0]] += 1
            continue
        detections += n
        if n:
            fired.add(rule_id)
    query_s = time.perf_counter() - t1
    return {
        "columns": len(names),
        "load_s": round(load_s, 3),
        "query_s": round(query_s, 3),
        "queries_run": ran,
        "queries_total": len(queries),
        "query_errors": dict(errors),
        "sampled": every > 1,
        "query_s_extrapolated": round(query_s * len(queries) / max(ran, 1), 3),
        "detections": detections,
        "rules_fired": len(fired),
    }


def measure(mode: str, paths: list[Path], opts: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this process (called in a fresh subprocess)."""
    start = time.perf_counter()
    out: dict[str, Any] = {}
    if mode in ("compile-cold", "compile-cached"):
        rs = _load_rules()
        out = {"rules": len(rs.rules), "failures": len(rs.failures), "from_cache": rs.from_cache}
    elif mode == "bare":
        from evtx import PyEvtxParser

        events = sum(1 for p in paths for _ in PyEvtxParser(str(p)).records_json())
        out = {"events": events}
    elif mode in ("hunt", "hunt-plan"):
        from aptcatch.hunt.readers.evtx import read_evtx_files
        from aptcatch.hunt.sigma.vector import VectorSigma

        rs = _load_rules()
        t_rules = time.perf_counter()
        with subprocess_runs.TreeMemory() as memory:
            results = list(read_evtx_files(paths))
            t_read = time.perf_counter()
            sigma = VectorSigma(rs.rules, cache_key=rs.key)
            run = sigma.run(results)
            t_eval = time.perf_counter()
        out = {
            "peak_system_mib": memory.peak_system_mib,  # as hunt-cores measures it
            "plans_from_cache": not sigma.planner._indexed,
            "rules_s": round(t_rules - start, 3),
            "read_s": round(t_read - t_rules, 3),
            "eval_s": round(t_eval - t_read, 3),
            "hunt_s": round(t_eval - t_rules, 3),
            "events": sum(r.rows for r in results),
            "detections": len(run.hits),
            "rules_fired": len({h.rule for h in run.hits}),
            "rules_applied": len(run.applied),
        }
        start = t_rules  # the hunt itself, rules already compiled
    elif mode in ("hunt-cores", "hunt-one-core"):
        from aptcatch.hunt.engines import EngineOptions, open_engine, winpool

        if "min_bytes" in opts:  # the pool's threshold, for hunt_pool_breakeven.py
            winpool.MIN_BYTES = int(opts["min_bytes"])
        options = EngineOptions(cores=1) if mode == "hunt-one-core" else EngineOptions()
        rs = _load_rules()
        t_rules = time.perf_counter()
        cpu0 = _cpu_s()
        with subprocess_runs.TreeMemory() as memory, open_engine("duckdb", options) as engine:
            engine.prepare_sigma(rs.rules, cache_key=rs.key)
            results = engine.read([str(p) for p in paths]).results
            t_read = time.perf_counter()
            run = engine.run_sigma(results, rs.rules, cache_key=rs.key)
        t_eval = time.perf_counter()
        out = {
            "read_s": round(t_read - t_rules, 3),  # with the evaluation, when the workers ran it
            "eval_s": round(t_eval - t_read, 3),
            "hunt_s": round(t_eval - t_rules, 3),
            "cpu_s": round(_cpu_s() - cpu0, 3),  # without the workers': the forkserver's children
            "peak_tree_mib": memory.peak_mib,  # this process and its workers, sampled
            "peak_system_mib": memory.peak_system_mib,  # the machine's growth, /dev/shm included
            "events": sum(r.rows for r in results),
            "detections": len(run.hits),
            "rules_fired": len({h.rule for h in run.hits}),
            "rules_applied": len(run.applied),
        }
        start = t_rules
    elif mode == "sqlite-convert":
        out = {"queries": len(_sqlite_queries(Path(opts["sqlite_cache"])))}
    elif mode == "sqlite":
        from aptcatch.hunt.readers.evtx import read_evtx_files

        queries = _sqlite_queries(Path(opts["sqlite_cache"]))
        t_q = time.perf_counter()
        results = list(read_evtx_files(paths))
        t_read = time.perf_counter()
        out = {"read_s": round(t_read - t_q, 3), **_sqlite(results, queries, int(opts["sqlite_every"]))}
        out["events"] = sum(r.rows for r in results)
        start = t_q
    elif mode == "check":
        from aptcatch.hunt.readers.evtx import read_evtx_files
        from aptcatch.hunt.sigma.evaluate import DuckDBSigma
        from aptcatch.hunt.sigma.vector import VectorSigma

        rules = _load_rules().rules[:: int(opts["check_every"])]
        results = list(read_evtx_files(paths))
        v = {(h.file_id, h.row, h.rule) for h in VectorSigma(rules).run(results).hits}
        d = {(h.file_id, h.row, h.rule) for h in DuckDBSigma(rules).run(results).hits}
        out = {"rules": len(rules), "vector_hits": len(v), "duckdb_hits": len(d), "equal": v == d}
    out["seconds"] = round(time.perf_counter() - start, 3)
    out["peak_rss_mib"] = _rss_mib()
    return out


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, with every run's time beside it."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    mid = dict(ordered[(len(ordered) - 1) // 2])
    mid["all_seconds"] = [r["seconds"] for r in runs]
    mid["median_seconds"] = statistics.median(r["seconds"] for r in runs)
    return mid


def _scenario(
    paths: list[Path], modes: list[str], repeat: int, env: dict[str, str], opts: dict[str, Any]
) -> dict[str, Any]:
    with subprocess_runs.listing(paths) as files:
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        for i in range(repeat):
            for m in modes:  # interleaved, so a burst of load on the machine hits every mode
                if m in ("compile-cold", "sqlite-convert", "check") and i:
                    continue
                if m == "compile-cold":
                    for f in Path(env["APTCATCH_CACHE_DIR"]).rglob("*.json"):
                        f.unlink()
                if m == "hunt-plan":
                    for f in Path(env["APTCATCH_CACHE_DIR"]).rglob("plans-*.json"):
                        f.unlink()
                if m == "sqlite" and i and opts["scaled"]:
                    continue  # minutes per run at scale: once
                extra = ["--opts", json.dumps(opts)]
                runs[m].append(subprocess_runs.run_measure(SCRIPT, m, files, extra, env))
    out: dict[str, Any] = {"files": len(paths), "modes": {m: _median(r) for m, r in runs.items() if r}}
    modes_out = out["modes"]
    if "bare" in modes_out:
        bare = modes_out["bare"]
        events = bare["events"]
        out["events"] = events
        for m in ("bare", "hunt-plan", "hunt", "hunt-one-core", "hunt-cores", "sqlite"):
            if m in modes_out:
                modes_out[m]["events_per_s"] = round(events / modes_out[m]["seconds"])
                modes_out[m]["ratio_to_bare"] = round(modes_out[m]["seconds"] / bare["seconds"], 2)
        for m in ("hunt-plan", "hunt"):
            if m in modes_out:
                h = modes_out[m]
                h["eval_events_per_s"] = round(events / h["eval_s"])
                h["eval_ratio_to_bare"] = round(h["eval_s"] / bare["seconds"], 2)
        if "sqlite" in modes_out:
            s = modes_out["sqlite"]
            s["query_events_per_s"] = round(events / s["query_s_extrapolated"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500_000, help="events in the replicated folder (at least)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sqlite-every", type=int, default=10, help="at scale, query every n-th rule in SQLite")
    ap.add_argument("--check-every", type=int, default=10, help="1x: compare engines on every n-th rule")
    ap.add_argument("--measure", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--list", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--opts", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(
            json.dumps(measure(args.measure, subprocess_runs.read_listing(args.list), json.loads(args.opts)))
        )
        return
    files = sorted(CORPUS.rglob("*.evtx"))
    if not files:
        sys.exit(f"no EVTX files under {CORPUS}")
    result: dict[str, Any] = {**subprocess_runs.header(SCRIPT.name), "rules": str(RULES.relative_to(DATA))}
    with tempfile.TemporaryDirectory(prefix="sigma-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "cache").mkdir()
        env = {**os.environ, "APTCATCH_CACHE_DIR": str(tmp / "cache")}
        opts: dict[str, Any] = {
            "sqlite_cache": str(tmp / "sqlite_queries.json"),
            "sqlite_every": 1,
            "check_every": args.check_every,
            "scaled": False,
        }
        one = _scenario(files, list(MODES), args.repeat, env, opts)
        result["1x"] = one
        copies = -(-args.events // one["events"])
        (tmp / "data").mkdir()
        paths = subprocess_runs.replicate(files, copies, tmp / "data")
        opts.update(sqlite_every=args.sqlite_every, scaled=True)
        scaled_modes = ["bare", "hunt-plan", "hunt", "hunt-one-core", "hunt-cores", "sqlite"]
        result[f"{copies}x"] = _scenario(paths, scaled_modes, args.repeat, env, opts)
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
