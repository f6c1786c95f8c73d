"""Benchmark 1 of the Sigma engine: SigmaHQ's regression data, every case must fire its rule.

Each ``info.yml`` under ``../shared/data/sigma/regression_data`` names a rule (by id) and an EVTX that
must trigger it (``match_count`` events where given). For every case this reads the EVTX with
:func:`aptcatch.hunt.readers.read_log`, runs the rule with :class:`VectorSigma` and, as a cross-check,
with the SQL reference :class:`DuckDBSigma`, and counts the matching events. It also compares the
field names of the JSON export beside each EVTX (the expected flattened events) with the fields the
reader gives Sigma, so a naming difference shows up by name.

    .venv/bin/python benchmarks/hunt_sigma_regression.py

Writes benchmarks/results/hunt_sigma_regression.json: pass rate (fired), count mismatches with the
event record ids that matched, failures with their reason, and timings.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SIGMA = REPO.parent / "shared" / "data" / "sigma"
RULE_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
OUT = REPO / "benchmarks" / "results" / "hunt_sigma_regression.json"
_ID = re.compile(r"^id:\s*['\"]?([0-9a-fA-F-]{36})", re.MULTILINE)


@dataclass
class Case:
    rule_id: str
    title: str
    evtx: Path
    match_count: int | None
    rule_file: Path | None = None
    result: dict[str, Any] = field(default_factory=dict)


def cases(sigma: Path = SIGMA) -> list[Case]:
    """Every regression case with an EVTX (``info.yml`` files without tests are skipped)."""
    out = []
    for info in sorted((sigma / "regression_data").rglob("info.yml")):
        doc = yaml.safe_load(info.read_text(encoding="utf-8"))
        meta = doc["rule_metadata"][0]
        for test in doc.get("regression_tests_info") or ():
            if test.get("type") == "evtx":
                out.append(
                    Case(meta["id"], meta.get("title", ""), sigma / test["path"], test.get("match_count"))
                )
    return out


def rule_files_by_id(sigma: Path = SIGMA) -> dict[str, Path]:
    """Rule id -> its file, over every rule folder (the first ``id:`` line of each file)."""
    out: dict[str, Path] = {}
    for d in RULE_DIRS:
        for f in sorted((sigma / d).rglob("*.yml")):
            m = _ID.search(f.read_text(encoding="utf-8", errors="replace"))
            if m:
                out.setdefault(m.group(1).lower(), f)
    return out


def json_events(path: Path) -> list[dict[str, Any]]:
    """The JSON export beside an EVTX: one or more concatenated JSON objects."""
    text, dec, pos, out = path.read_text(encoding="utf-8"), json.JSONDecoder(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        obj, pos = dec.raw_decode(text, pos)
        out.append(obj)


def expected_fields(path: Path) -> set[str]:
    """Event data names of the JSON export, as Sigma reads them (spaces dropped)."""
    names: set[str] = set()
    for obj in json_events(path):
        event = obj.get("Event", obj)
        for section in ("EventData", "UserData"):
            data = event.get(section)
            if isinstance(data, dict):
                if section == "UserData" and len(data) == 1:  # UserData wraps its fields in one element
                    inner = next(iter(data.values()))
                    data = inner if isinstance(inner, dict) else data
                names |= {k.replace(" ", "") for k in data if not k.startswith("#")}
    return names


def run(sigma: Path = SIGMA) -> dict[str, Any]:
    from aptcatch.hunt.readers import read_log
    from aptcatch.hunt.sigma.evaluate import DuckDBSigma
    from aptcatch.hunt.sigma.plan import sigma_columns
    from aptcatch.hunt.sigma.rules import load_rules
    from aptcatch.hunt.sigma.vector import VectorSigma

    all_cases = cases(sigma)
    t0 = time.perf_counter()
    by_id = rule_files_by_id(sigma)
    for c in all_cases:
        c.rule_file = by_id.get(c.rule_id.lower())
    files = sorted({c.rule_file for c in all_cases if c.rule_file is not None})
    t1 = time.perf_counter()
    ruleset = load_rules(files, use_cache=False)
    t2 = time.perf_counter()
    rules_by_id: dict[str, list[int]] = {}
    for i, r in enumerate(ruleset.rules):
        rules_by_id.setdefault(r.id.lower(), []).append(i)
    convert_failures = {f.rule.lower(): f.reason for f in ruleset.failures}

    read_s = vector_s = duck_s = 0.0
    for c in all_cases:
        res: dict[str, Any] = {"evtx": str(c.evtx.relative_to(sigma)), "match_count": c.match_count}
        c.result = res
        idxs = rules_by_id.get(c.rule_id.lower(), [])
        if c.rule_file is None or not idxs:
            res["status"] = "failed"
            res["reason"] = (
                "no rule file with this id"
                if c.rule_file is None
                else f"rule not converted: {convert_failures.get(c.rule_id.lower(), 'unknown')}"
            )
            continue
        rules = [ruleset.rules[i] for i in idxs]
        t = time.perf_counter()
        result = read_log(c.evtx)
        read_s += time.perf_counter() - t
        t = time.perf_counter()
        vrun = VectorSigma(rules).run([result])
        vector_s += time.perf_counter() - t
        t = time.perf_counter()
        drun = DuckDBSigma(rules).run([result])
        duck_s += time.perf_counter() - t
        rows = sorted({h.row for h in vrun.hits})
        res["events"] = result.rows
        res["matched"] = len(rows)
        res["duckdb_matched"] = len({h.row for h in drun.hits})
        records = []
        for original in result.original(rows):
            system = json.loads(original or "{}").get("Event", {}).get("System", {})
            records.append(system.get("EventRecordID"))
        res["record_ids"] = records
        fields = set()
        for seg in result.sigma_segments():
            fields |= {n for n in sigma_columns(seg.table).column_names} | set(seg.constants)
        json_path = c.evtx.with_suffix(".json")
        if json_path.is_file():
            res["fields_missing_vs_json"] = sorted(expected_fields(json_path) - fields)
        if not rows:
            res["status"] = "failed"
            res["reason"] = f"no event matched; blind fields {sorted(set().union(*vrun.blind.values()))}"
        elif c.match_count is not None and len(rows) != c.match_count:
            res["status"] = "count_mismatch"
            res["reason"] = f"{len(rows)} events matched, info.yml says {c.match_count}"
        else:
            res["status"] = "passed"
        if res["duckdb_matched"] != len(rows):
            res["engines_disagree"] = True
    total = time.perf_counter() - t0
    fired = [c for c in all_cases if c.result["status"] in ("passed", "count_mismatch")]
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "command": "benchmarks/hunt_sigma_regression.py",
        "cases": len(all_cases),
        "fired": len(fired),
        "fired_rate": round(len(fired) / len(all_cases), 4),
        "passed_with_count": sum(c.result["status"] == "passed" for c in all_cases),
        "count_mismatches": {
            c.rule_id: {k: c.result[k] for k in ("evtx", "reason", "record_ids")}
            for c in all_cases
            if c.result["status"] == "count_mismatch"
        },
        "failures": {
            c.rule_id: {k: c.result.get(k) for k in ("evtx", "reason")}
            for c in all_cases
            if c.result["status"] == "failed"
        },
        "engines_disagree": sorted(c.rule_id for c in all_cases if c.result.get("engines_disagree")),
        "fields_missing_vs_json": {
            c.rule_id: c.result["fields_missing_vs_json"]
            for c in all_cases
            if c.result.get("fields_missing_vs_json")
        },
        "seconds": {
            "find_rule_files": round(t1 - t0, 3),
            "convert_rules_uncached": round(t2 - t1, 3),
            "read": round(read_s, 3),
            "vector": round(vector_s, 3),
            "duckdb": round(duck_s, 3),
            "total": round(total, 3),
        },
        "rules_converted": len(ruleset.rules),
        "cases_detail": {c.rule_id: c.result for c in all_cases},
    }


def main() -> None:
    report = run()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    brief = {k: v for k, v in report.items() if k != "cases_detail"}
    print(json.dumps(brief, indent=2))


if __name__ == "__main__":
    main()
