"""`aptcatch hunt` with Sigma: the bundled lure-chain rules, alerts, summary, evidence, correlations."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aptcatch.cli import cli
from samplegen.sysmon import write_samples


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APTCATCH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    events, labels = write_samples(tmp_path_factory.mktemp("sysmon"))
    return events, json.loads(labels.read_text())


def _hunt(*args: str) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.json"
        result = CliRunner().invoke(
            cli, ["hunt", "--no-knowledge", "--iocs", "/dev/null", "--json", "--summary", str(path), *args]
        )
        summary = json.loads(path.read_text()) if path.exists() else {}
    alerts = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, alerts, summary


def _record_id(alert: dict[str, Any]) -> str:
    return str(json.loads(alert["event.original"])["Event"]["System"]["EventRecordID"])


def test_bundled_rules_fire_on_their_events_and_not_on_near_misses(
    samples: tuple[Path, dict[str, str]],
) -> None:
    events, labels = samples
    code, alerts, summary = _hunt(str(events))
    assert code == 1
    fired: dict[str, set[str]] = {}
    for a in alerts:
        fired.setdefault(a["rule.id"], set()).add(_record_id(a))
    rules = {label.split(":", 1)[1] for label in labels.values() if ":" in label}
    assert len(rules) == summary["sigma"]["rules_loaded"] == 16
    for rule in rules:
        want = {rid for rid, label in labels.items() if label == f"fire:{rule}"}
        never = {rid for rid, label in labels.items() if label == f"miss:{rule}"}
        assert want <= fired.get(rule, set()), rule
        assert not (never & fired.get(rule, set())), rule
    background = {rid for rid, label in labels.items() if label == "background"}
    assert not background & {_record_id(a) for a in alerts}


def test_alerts_are_ecs_shaped_with_techniques(samples: tuple[Path, dict[str, str]]) -> None:
    _, alerts, summary = _hunt(str(samples[0]))
    squiblydoo = [a for a in alerts if "scrobj" in a["rule.name"].lower()]
    assert squiblydoo
    a = squiblydoo[0]
    assert a["@timestamp"].startswith("20")
    assert a["host.name"] == "WS-ALICE.corp.example"
    assert a["event.code"] == "1"
    assert a["rule.ruleset"] == "sigma"
    assert "T1218.010" in a["threat.technique.id"]
    assert a["event.severity"] > 0
    assert json.loads(a["event.original"])["Event"]["EventData"]["Image"].lower().endswith("regsvr32.exe")
    assert summary["sigma"]["detections"] == len(alerts)
    assert summary["alerts"] == len(alerts)
    per_rule = {r["id"]: r["alerts"] for r in summary["sigma"]["per_rule"]}
    assert sum(per_rule.values()) == len(alerts)


def test_evidence_carries_the_sigma_techniques(samples: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    out = tmp_path / "ev.json"
    result = CliRunner().invoke(
        cli, ["hunt", "--no-knowledge", "--iocs", "/dev/null", "--evidence", str(out), str(samples[0])]
    )
    assert result.exit_code == 1, result.output
    ev = json.loads(out.read_text())
    assert "T1218.010" in ev["techniques"]
    assert "T1547.001" in ev["techniques"]


def test_no_sigma_and_explicit_rule_folder(samples: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    code, alerts, summary = _hunt("--no-sigma", str(samples[0]))
    assert (code, alerts, summary["sigma"]) == (0, [], None)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "one.yml").write_text(
        "title: Any regsvr32\nid: 0e9b7d4c-1111-4a5b-8c1d-000000000001\nlevel: low\n"
        "logsource: {product: windows, category: process_creation}\n"
        "detection:\n  sel: {Image|endswith: '\\\\REGSVR32.EXE'}\n  condition: sel\n"
    )
    (rules / "broken.yml").write_text("title: broken\ndetection: {sel: {a: 1}}\n")
    code, alerts, summary = _hunt("--sigma", str(rules), str(samples[0]))
    assert code == 1
    assert {a["rule.id"] for a in alerts} == {"0e9b7d4c-1111-4a5b-8c1d-000000000001"}
    failures = summary["sigma"]["not_converted"]
    assert [Path(f["file"]).name for f in failures] == ["broken.yml"]
    assert failures[0]["reason"]


def test_missing_field_is_reported(samples: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "blind.yml").write_text(
        "title: Needs a field Sysmon does not log\nid: 0e9b7d4c-1111-4a5b-8c1d-000000000002\n"
        "logsource: {product: windows, category: process_creation}\n"
        "detection:\n  sel: {ProcessTrustLabel: 'x'}\n  condition: sel\n"
    )
    code, alerts, summary = _hunt("--sigma", str(rules), str(samples[0]))
    assert (code, alerts) == (0, [])
    missing = summary["sigma"]["missing_fields"]
    assert missing == [
        {
            "id": "0e9b7d4c-1111-4a5b-8c1d-000000000002",
            "name": "Needs a field Sysmon does not log",
            "fields": ["ProcessTrustLabel"],
        }
    ]


def _logon(i: int, user: str, ip: str) -> str:
    return json.dumps(
        {
            "Event": {
                "System": {
                    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
                    "EventID": 4625,
                    "Channel": "Security",
                    "Computer": "dc1",
                    "TimeCreated": {"#attributes": {"SystemTime": f"2020-02-01T10:{i:02d}:00Z"}},
                },
                "EventData": {"TargetUserName": user, "IpAddress": ip},
            }
        }
    )


def test_correlations_event_count_and_value_count(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "c.yml").write_text(
        """title: Failed logon
id: 5b5c6a2e-0000-4000-8000-000000000001
name: failed_logon
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4625}, condition: sel}
---
title: Brute force on one account
id: 5b5c6a2e-0000-4000-8000-000000000002
level: high
correlation: {type: event_count, rules: [failed_logon], group-by: [TargetUserName], timespan: 5m,
  condition: {gte: 3}}
---
title: Spray from one address
id: 5b5c6a2e-0000-4000-8000-000000000003
level: high
correlation: {type: value_count, rules: [failed_logon], group-by: [IpAddress], timespan: 5m,
  condition: {gte: 3, field: TargetUserName}}
"""
    )
    # bob: 3 failures within 2 minutes (fires), then 2 more an hour later (does not);
    # 10.0.0.9 tries 3 accounts in 3 minutes (fires); alice alone never reaches 3.
    lines = [_logon(i, "bob", "10.0.0.1") for i in (0, 1, 2)]
    lines += [_logon(i, u, "10.0.0.9") for i, u in ((10, "a"), (11, "b"), (12, "c"))]
    lines += [_logon(i, "bob", "10.0.0.1") for i in (50, 58)]
    lines += [_logon(20, "alice", "10.0.0.2")]
    logs = tmp_path / "security.jsonl"
    logs.write_text("\n".join(lines) + "\n")
    code, alerts, summary = _hunt("--sigma", str(rules), str(logs))
    assert code == 1
    assert all(a["rule.ruleset"] == "sigma-correlation" for a in alerts)  # the base rule does not alert
    got = {
        (a["rule.id"][-1], json.dumps(a["sigma.correlation"]["group"]), a["sigma.correlation"]["count"])
        for a in alerts
    }
    assert got == {("2", '{"TargetUserName": "bob"}', 3), ("3", '{"IpAddress": "10.0.0.9"}', 3)}
    assert summary["sigma"]["correlations_loaded"] == 2


def test_log_source_gates(tmp_path: Path) -> None:
    """A Zeek dns rule runs on the dns log only; a router's keyword rule never on Zeek or Windows data."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "z.yml").write_text(
        "title: DNS query for a watched name\nid: 0e9b7d4c-1111-4a5b-8c1d-000000000010\n"
        "logsource: {product: zeek, service: dns}\n"
        "detection:\n  sel: {query|endswith: '.evil.test'}\n  condition: sel\n"
    )
    (rules / "k.yml").write_text(
        "title: Router keyword\nid: 0e9b7d4c-1111-4a5b-8c1d-000000000011\n"
        "logsource: {product: cisco, service: aaa}\n"
        "detection:\n  keywords: ['evil']\n  condition: keywords\n"
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    base = {"ts": 1588206738.0, "uid": "C1", "id.orig_h": "10.0.0.1", "id.resp_h": "10.0.0.53"}
    (logs / "dns.log").write_text(json.dumps({**base, "_path": "dns", "query": "a.evil.test"}) + "\n")
    # the same value in an http log's host field: the dns rule must not run there
    (logs / "http.log").write_text(
        json.dumps({**base, "_path": "http", "query": "a.evil.test", "host": "a.evil.test", "uri": "/"})
        + "\n"
    )
    code, alerts, summary = _hunt("--sigma", str(rules), str(logs))
    assert code == 1
    assert [(a["rule.id"][-2:], Path(a["log.file.path"]).name) for a in alerts] == [("10", "dns.log")]
    assert summary["sigma"]["rules_applied"] == 1  # the cisco rule has no logs here: not applied, not blind
    assert summary["sigma"]["missing_fields"] == []


def test_attribute_in_one_go(samples: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """--attribute ranks groups from the hunt's evidence with the shipped knowledge snapshot."""
    result = CliRunner().invoke(
        cli,
        [
            "hunt",
            "--no-knowledge",
            "--iocs",
            "/dev/null",
            "--attribute",
            "--db",
            str(tmp_path / "kb.db"),
            str(samples[0]),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Attribution of the hunt's hits" in result.output
    assert "unknown" in result.output.lower()


def test_engine_that_cannot_run_exits_69(samples: tuple[Path, dict[str, str]]) -> None:
    """A refused Spark setting (it would download jars) is an engine error, not 'alerts' (1)."""
    result = CliRunner().invoke(
        cli,
        [
            *("hunt", "--no-knowledge", "--iocs", "/dev/null", "--engine", "spark"),
            *("--spark-conf", "spark.jars.packages=org.example:x:1", str(samples[0])),
        ],
    )
    assert result.exit_code == 69, result.output
    assert "spark.jars.packages" in result.output


@pytest.mark.parametrize("engine", ["vector", "duckdb"])
def test_keyword_in_a_constant_field(tmp_path: Path, engine: str) -> None:
    """Channel is a segment constant for evtx_dump events, not a column: keywords must still see it."""
    from aptcatch.hunt.readers import read_log
    from aptcatch.hunt.sigma.evaluate import DuckDBSigma
    from aptcatch.hunt.sigma.rules import load_rules
    from aptcatch.hunt.sigma.vector import VectorSigma

    (tmp_path / "k.yml").write_text(
        "title: Keyword only in the channel\nid: 0e9b7d4c-1111-4a5b-8c1d-000000000020\n"
        "logsource: {product: windows}\n"
        "detection:\n  keywords: ['*powershell/oper*']\n  condition: keywords\n"
    )
    rules = load_rules([tmp_path / "k.yml"]).rules
    events = [
        {"Channel": "Microsoft-Windows-PowerShell/Operational", "EventID": 4104, "ScriptBlockText": "x"},
        {"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\\\a.exe"},
    ]
    lines = [
        json.dumps(
            {
                "Event": {
                    "System": {"Channel": e["Channel"], "EventID": e["EventID"], "Computer": "h"},
                    "EventData": {k: v for k, v in e.items() if k not in ("Channel", "EventID")},
                }
            }
        )
        for e in events
    ]
    logs = tmp_path / "ev.jsonl"
    logs.write_text("\n".join(lines) + "\n")
    results = [read_log(logs)]
    assert any("Channel" in s.constants for s in results[0].sigma_segments())
    evaluator = VectorSigma(rules) if engine == "vector" else DuckDBSigma(rules)
    run = evaluator.run(results)
    assert {(h.row, h.rule) for h in run.hits} == {(0, 0)}


def test_non_log_files_in_a_folder_are_skipped_not_fatal(
    samples: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "events.jsonl").write_bytes(samples[0].read_bytes())
    (folder / "README.md").write_text("# notes about these logs\n")
    code, alerts, summary = _hunt("--no-sigma", str(folder))
    assert alerts == []
    assert code == 0  # no IOC, no rule: nothing to alert on, and the README does not make it exit 3
    assert [f["format"] for f in summary["files"] if f["path"].endswith("README.md")] == ["unknown"]
    code, _, _ = _hunt("--no-sigma", str(folder / "README.md"))
    assert code == 3  # named explicitly: the user asked for it
