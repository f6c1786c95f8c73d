"""Sigma ``category: proxy`` rules on Squid logs: SigmaHQ's W3C-style field names (``c-uri``,
``cs-host``, ``c-uri-extension`` …) mapped to the proxy readers' columns by the default pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aptcatch.hunt.sigma.convert import PROXY_FIELDS
from tests.hunt.test_hunt_sigma import _hunt

_NATIVE = [
    # 1: the lure's scriptlet fetched from a dynamic-DNS host
    "1580724767.767    120 10.20.30.41 TCP_MISS/200 2311 GET http://cdn7.Hopto.org/t/scrobj.SCT?v=2 - "
    "HIER_DIRECT/203.0.113.7 text/scriptlet",
    # 2: the same file from an ordinary host: no dyndns suffix
    "1580724768.001     80 10.20.30.41 TCP_MISS/200 2311 GET http://cdn7.example.org/t/scrobj.sct alice "
    "HIER_DIRECT/203.0.113.8 text/scriptlet",
    # 3: a dyndns host, but a page, not a download
    "1580724769.100     10 10.20.30.42 TCP_MISS/200 911 GET http://a.hopto.org/index.html - "
    "HIER_DIRECT/203.0.113.9 text/html",
    # 4: a raw paste fetched
    "1580724770.200     10 10.20.30.43 TCP_MISS/200 91 GET http://www.pastebin.com/raw/AbC123 - "
    "HIER_DIRECT/203.0.113.10 text/plain",
    # 5: a tunnel to the Telegram bot API (no URL path, no user agent in the native layout)
    "1580724771.300     10 10.20.30.44 TCP_TUNNEL/200 4000 CONNECT api.telegram.org:443 - "
    "HIER_DIRECT/149.154.167.220 -",
]
_COMBINED = [
    '10.20.30.45 - - [03/Feb/2020:10:12:47 +0000] "GET http://update.example/p.ps1 HTTP/1.1" 200 120 "-"'
    ' "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.17763.1007"'
    " TCP_MISS:HIER_DIRECT",
    '10.20.30.46 - - [03/Feb/2020:10:12:48 +0000] "GET http://update.example/p.ps1 HTTP/1.1" 200 120'
    ' "http://portal.example/" '
    '"Mozilla/5.0 (Windows NT 10.0; Win64; x64)" TCP_MISS:HIER_DIRECT',
]

_RULES = {
    "dyndns.yml": """title: Script or document downloaded from a dynamic DNS host
id: 5b0f6d0e-7a41-4c57-9e35-000000000001
logsource: {category: proxy}
detection:
  sel:
    c-uri-extension: [sct, hta, xlsm]
    cs-host|endswith: ['.hopto.org', '.no-ip.org']
    cs-method: GET
    sc-status: 200
  condition: sel
""",
    "stem.yml": """title: Path and query of a scriptlet request
id: 5b0f6d0e-7a41-4c57-9e35-000000000002
logsource: {category: proxy}
detection:
  sel:
    c-uri-stem|endswith: '/scrobj.sct'
    c-uri-query: 'v=2'
    c-ip: 10.20.30.41
    dst_ip|cidr: 203.0.113.0/24
  condition: sel
""",
    "ua.yml": """title: PowerShell user agent
id: 5b0f6d0e-7a41-4c57-9e35-000000000003
logsource: {category: proxy}
detection:
  sel: {c-useragent|contains: ' WindowsPowerShell/'}
  condition: sel
""",
    "cookie.yml": """title: Needs a cookie, which Squid does not log
id: 5b0f6d0e-7a41-4c57-9e35-000000000004
logsource: {category: proxy}
detection:
  sel: {cs-cookie|contains: 'session='}
  condition: sel
""",
}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APTCATCH_CACHE_DIR", str(tmp_path / "cache"))


def _logs(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_text("\n".join(_NATIVE) + "\n")
    (logs / "combined.log").write_text("\n".join(_COMBINED) + "\n")
    return logs


def _fired(alerts: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(a["rule.id"][-1], Path(a["log.file.path"]).name, a["event.original"][:24]) for a in alerts}


def test_proxy_fields_map_to_squid_columns(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in _RULES.items():
        (rules / name).write_text(text)
    code, alerts, summary = _hunt("--sigma", str(rules), str(_logs(tmp_path)))
    assert code == 1
    assert _fired(alerts) == {
        ("1", "access.log", _NATIVE[0][:24]),
        ("2", "access.log", _NATIVE[0][:24]),
        ("3", "combined.log", _COMBINED[0][:24]),
    }
    missing = {m["id"][-1]: m["fields"] for m in summary["sigma"]["missing_fields"]}
    assert missing == {"4": ["cs-cookie"]}


def test_without_the_pipeline_the_rules_are_blind(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "dyndns.yml").write_text(_RULES["dyndns.yml"])
    code, alerts, summary = _hunt("--sigma-pipeline", "none", "--sigma", str(rules), str(_logs(tmp_path)))
    assert (code, alerts) == (0, [])
    assert summary["sigma"]["missing_fields"][0]["fields"] == [
        "c-uri-extension",
        "cs-host",
        "cs-method",
        "sc-status",
    ]


def test_every_mapped_column_is_one_a_squid_reader_fills(tmp_path: Path) -> None:
    from aptcatch.hunt.readers.squid import read_squid

    filled: set[str] = set()
    for name, lines in (("a.log", _NATIVE), ("c.log", _COMBINED)):
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        table = read_squid(path).table
        filled |= {c for c in table.column_names if table.column(c).null_count < table.num_rows}
    assert set(PROXY_FIELDS.values()) - filled == set()


def test_sigmahq_proxy_rules_on_squid(tmp_path: Path, shared_data: Path) -> None:
    proxy_rules = shared_data / "sigma" / "rules" / "web" / "proxy_generic"
    code, alerts, summary = _hunt("--sigma", str(proxy_rules), str(_logs(tmp_path)))
    assert code == 1
    by_rule: dict[str, set[str]] = {}
    for a in alerts:
        by_rule.setdefault(a["rule.name"], set()).add(a["event.original"][:24])
    assert by_rule["Download from Suspicious Dyndns Hosts"] == {_NATIVE[0][:24]}
    assert by_rule["Raw Paste Service Access"] == {_NATIVE[3][:24]}
    assert by_rule["Telegram API Access"] == {_NATIVE[4][:24]}
    assert _COMBINED[0][:24] in by_rule["Windows PowerShell User Agent"]
    assert _COMBINED[1][:24] not in by_rule["Windows PowerShell User Agent"]
    blind = {f for m in summary["sigma"]["missing_fields"] for f in m["fields"]}
    assert not blind & set(PROXY_FIELDS), blind  # no mapped field is missing on these logs


def test_spark_alerts_like_duckdb_on_proxy_rules(spark_engine: Any, tmp_path: Path) -> None:
    from aptcatch.hunt.engines.duckdb import DuckDBEngine
    from aptcatch.hunt.ioc import IndicatorSet
    from aptcatch.hunt.sigma import report
    from aptcatch.hunt.sigma.correlate import correlate
    from aptcatch.hunt.sigma.rules import load_rules

    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in _RULES.items():
        (rules / name).write_text(text)
    ruleset = load_rules([rules], pipeline="windows", use_cache=False)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_text("\n".join(_NATIVE) + "\n")  # Spark reads the native layout
    out = []
    for engine in (spark_engine, DuckDBEngine()):
        results = engine.read([str(logs)], None).results
        engine.sweep_iocs(results, IndicatorSet())
        run = engine.run_sigma(results, ruleset.rules)
        corr = correlate(ruleset.correlations, ruleset.rules, run.hits, results)
        alerts = report.alerts(ruleset, run, corr, results)
        out.append((sorted(json.dumps(a, sort_keys=True) for a in alerts), run.applied, run.blind))
    assert out[0] == out[1]
    assert len(out[0][0]) == 2  # the dyndns download and its path + query rule
