"""A correlation over a lazily read log (Zeek) reads its hits' times without building the full table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aptcatch.hunt.readers import read_log
from aptcatch.hunt.readers.duck import LineResult
from aptcatch.hunt.sigma import report
from aptcatch.hunt.sigma.correlate import correlate
from aptcatch.hunt.sigma.rules import load_rules
from aptcatch.hunt.sigma.vector import VectorSigma

RULES = """title: Lookup of a watched name
id: 0e9b7d4c-2222-4a5b-8c1d-000000000001
name: watched_lookup
logsource: {product: zeek, service: dns}
detection: {sel: {query|endswith: '.evil.test'}, condition: sel}
---
title: Repeated lookups of watched names from one host
id: 0e9b7d4c-2222-4a5b-8c1d-000000000002
level: high
correlation: {type: event_count, rules: [watched_lookup], group-by: [id.orig_h], timespan: 5m,
  condition: {gte: 3}}
"""


def _dns(i: int, host: str, query: str) -> str:
    return json.dumps(
        {
            "ts": 1700000000 + 30 * i,
            "uid": f"C{i}",
            "id.orig_h": host,
            "id.orig_p": 50000 + i,
            "id.resp_h": "192.0.2.53",
            "id.resp_p": 53,
            "proto": "udp",
            "query": query,
            "qtype_name": "A",
        }
    )


def test_correlation_on_zeek_reads_only_the_hit_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APTCATCH_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "r.yml").write_text(RULES, encoding="utf-8")
    rules = load_rules([tmp_path / "r.yml"], pipeline="none")
    lines = [_dns(i, "10.0.0.5", f"a{i}.evil.test") for i in range(3)]  # 3 in 90 s: fires
    lines += [_dns(10 + i, "10.0.0.6", "www.example.org") for i in range(50)]
    lines += [_dns(100, "10.0.0.6", "b.evil.test")]  # alone: does not
    log = tmp_path / "dns.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_log(log)
    assert isinstance(result, LineResult)
    run = VectorSigma(rules.rules).run([result])
    assert len(run.hits) == 4
    hits = correlate(rules.correlations, rules.rules, run.hits, [result])
    assert [(dict(h.group), h.count) for h in hits] == [({"id.orig_h": "10.0.0.5"}, 3)]
    alerts = report.alerts(rules, run, hits, [result])
    assert [a["rule.ruleset"] for a in alerts] == ["sigma-correlation"]
    assert alerts[0]["@timestamp"].startswith("2023-11-14T22:13:20")
    assert result._full is None  # neither the correlation nor the alerts built the whole table
