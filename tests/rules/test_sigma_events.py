"""Each bundled Sigma rule fires on its sample events, not on its near misses, and no rule fires on the
background; checked with pySigma's SQLite backend (see :mod:`tests.rules.sigma_sqlite`)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from aptcatch.rules.sigma_store import bundled_rules_dir
from samplegen import sysmon
from tests.rules.sigma_sqlite import events_db, matches, rule_queries

CASES = sysmon.cases()


@pytest.fixture(scope="module")
def evaluated() -> tuple[dict[str, str], sqlite3.Connection, list[str]]:
    queries = rule_queries(sorted(bundled_rules_dir().glob("*.yml")))
    labelled = sysmon.labelled_events()
    return queries, events_db([e for _, e in labelled]), [label for label, _ in labelled]


def test_every_bundled_rule_has_a_case_and_back() -> None:
    ids = set(rule_queries(sorted(bundled_rules_dir().glob("*.yml"))))
    assert ids == set(CASES)
    for case in CASES.values():
        assert (bundled_rules_dir() / f"{case.rule_name}.yml").is_file(), case.rule_name
        assert case.fires and case.near_misses, case.rule_name


@pytest.mark.parametrize("rule_id", sorted(CASES), ids=lambda i: CASES[i].rule_name)
def test_rule_fires_on_its_events_and_not_on_near_misses(
    rule_id: str, evaluated: tuple[dict[str, str], sqlite3.Connection, list[str]]
) -> None:
    queries, db, labels = evaluated
    hit = matches(db, queries[rule_id])
    fires = {i for i, label in enumerate(labels) if label == f"fire:{rule_id}"}
    misses = {i for i, label in enumerate(labels) if label == f"miss:{rule_id}"}
    assert fires and misses
    assert fires <= hit, f"not fired on events {sorted(fires - hit)}"
    assert not misses & hit, f"fired on near misses {sorted(misses & hit)}"


def test_no_rule_fires_on_background(
    evaluated: tuple[dict[str, str], sqlite3.Connection, list[str]],
) -> None:
    queries, db, labels = evaluated
    background = {i for i, label in enumerate(labels) if label == "background"}
    assert len(background) >= 10
    noisy = {CASES[r].rule_name: sorted(matches(db, q) & background) for r, q in queries.items()}
    assert not {k: v for k, v in noisy.items() if v}


def test_written_samples_are_evtx_dump_lines_with_labels(tmp_path: Path) -> None:
    jsonl, labels_file = sysmon.write_samples(tmp_path)
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    labels = json.loads(labels_file.read_text(encoding="utf-8"))
    assert len(lines) == len(labels) == len(sysmon.labelled_events())
    for line in lines:
        system = json.loads(line)["Event"]["System"]
        assert system["Provider"]["#attributes"]["Name"]
        assert system["TimeCreated"]["#attributes"]["SystemTime"].endswith("Z")
        assert str(system["EventRecordID"]) in labels
    sysmon_lines = [json.loads(x) for x in lines if sysmon.SYSMON_CHANNEL in x]
    assert {e["Event"]["System"]["EventID"] for e in sysmon_lines} == {1, 3, 7, 11, 13, 22}


def test_sample_hosts_are_reserved_names_or_documentation_addresses() -> None:
    import re

    text = "\n".join(json.dumps(e) for _, e in sysmon.labelled_events())
    for ip in set(re.findall(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", text)):
        assert ip.startswith(("192.0.2.", "198.51.100.", "203.0.113.", "10.")), ip
    for url_host in set(re.findall(r"https?://([^/\s\"]+)", text)):
        allowed = (".test", "example.org", "example.com", "schemas.microsoft.com")
        assert url_host.endswith(allowed) or url_host[0].isdigit(), url_host
