"""The hunt end to end on the Zeek logs of the APT29 ATT&CK evaluation (issue 5, benchmark 5).

Runs the installed CLI exactly as an analyst would: the SigmaHQ network rules plus an ad-hoc IOC list
with the emulation's attacker hosts (192.168.0.4 takes the victims' C2 traffic on 443/8443 and serves
WebDAV; 192.168.0.5 the second C2 — both visible in the conn logs), the knowledge base swept too.
Prints the summary and writes ``benchmarks/results/hunt_apt29.json``.

    .venv/bin/python benchmarks/hunt_apt29.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
LOGS = DATA / "security-datasets" / "datasets" / "compound" / "apt29"
RULES = DATA / "sigma" / "rules" / "network"
IOCS = "192.168.0.4;APT29 evaluation: C2 (443, 8443) and WebDAV server\n192.168.0.5;APT29 evaluation: C2\n"


def main() -> int:
    if not LOGS.is_dir() or not RULES.is_dir():
        print(f"needs {LOGS} and {RULES}", file=sys.stderr)
        return 2
    aptcatch = ROOT / ".venv" / "bin" / "aptcatch"
    with tempfile.TemporaryDirectory() as tmp:
        iocs, summary, alerts, cache = (Path(tmp) / n for n in ("iocs.txt", "s.json", "a.jsonl", "cache"))
        iocs.write_text(IOCS)
        env = {**os.environ, "APTCATCH_CACHE_DIR": str(cache)}
        cmd = [str(aptcatch), "hunt", "--sigma", str(RULES), "--iocs", str(iocs), "--summary", str(summary)]
        cmd += ["-o", str(alerts), str(LOGS / "day1" / "zeek"), str(LOGS / "day2" / "zeek")]
        runs = []
        for label in ("rules compiled", "rules from cache"):
            t = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            runs.append({"run": label, "seconds": round(time.perf_counter() - t, 2), "exit": proc.returncode})
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
        doc = json.loads(summary.read_text())
        lines = [json.loads(x) for x in alerts.read_text().splitlines()]
    sigma = doc["sigma"]
    ioc_alerts = [a for a in lines if a["rule.id"].startswith("ioc.")]
    result = {
        "date": date.today().isoformat(),
        "command": "benchmarks/hunt_apt29.py  (" + " ".join(["aptcatch", *cmd[1:6]]) + " … LOGS)",
        "runs": runs,
        "peak_rss_mib": peak,
        "files": len(doc["files"]),
        "events": sum(f["rows"] for f in doc["files"]),
        "bad_lines": sum(f["bad_lines"] for f in doc["files"]),
        "alerts": doc["alerts"],
        "ioc_alerts": len(ioc_alerts),
        "ioc_alerts_by_field": dict(Counter(a["threat.indicator.matched.field"] for a in ioc_alerts)),
        "ioc_hosts": sorted({a["host.name"] for a in ioc_alerts if a["host.name"]}),
        "ioc_time_span": doc["time_span"],
        "sigma": {k: sigma[k] for k in ("rules_loaded", "rules_applied", "rules_fired", "detections")},
        "sigma_per_rule": sigma["per_rule"],
        "sigma_not_converted": len(sigma["not_converted"]),
        "sigma_missing_fields": sigma["missing_fields"],
    }
    out = ROOT / "benchmarks" / "results" / "hunt_apt29.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
