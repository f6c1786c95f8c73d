"""The benchmark's cases, its leak-free hold-out and its report (a short run: two campaigns)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from aptcatch.attribution.bench import run_benchmark
from aptcatch.attribution.holdout import attack_cases, tidal_cases
from aptcatch.attribution.knowledge_facts import GroupFacts
from aptcatch.attribution.profiles import Filters, build_profiles, citation_name, citations, group_facts
from aptcatch.knowledge.models import Claim
from tests.attribution.test_engine import kb

ATTACK = "MITRE ATT&CK Enterprise v18.1"


@pytest.fixture(scope="module")
def facts() -> GroupFacts:
    return group_facts(kb())


def test_claim_filters() -> None:
    two = Claim(
        ATTACK, "Vendor A 2020 <https://a.example/x> | Vendor B 2021 <https://b.example/y>", "2021-03-01"
    )
    one = Claim(ATTACK, "Vendor A 2020 <https://a.example/x>", "2019-05-01")
    galaxy = Claim("MISP galaxy threat-actor v1", "https://c.example/z")
    assert Filters(exclude_sources=("vendor a",)).claim_ok(two)  # still cited by B
    assert not Filters(exclude_sources=("vendor a",)).claim_ok(one)
    assert not Filters(exclude_sources=("b.example",)).claim_ok(
        Claim(ATTACK, "Vendor B 2021 <https://b.example/y>")
    )
    assert not Filters(exclude_sources=("threat-actor",)).claim_ok(galaxy)
    assert not Filters(drop_citations=frozenset({"Vendor A 2020"})).claim_ok(one)
    assert Filters(drop_citations=frozenset({"Vendor A"})).claim_ok(one)  # exact names only
    assert Filters(as_of=date(2020, 1, 1)).claim_ok(one) and not Filters(as_of=date(2020, 1, 1)).claim_ok(two)
    assert not Filters(as_of=date(2030, 1, 1)).claim_ok(galaxy)  # undated: not known to be recorded
    assert Filters(exclude_sources=(" X ", "x")).exclude_sources == ("x",)


def test_attack_cases(facts: GroupFacts) -> None:
    cases = attack_cases(facts)
    assert len(cases) == 24  # 25 attributed-to relationships: SPACEHOP names two groups
    spacehop = next(c for c in cases if "SPACEHOP" in c.name)
    assert {facts.groups[g].name for g in spacehop.truth} == {"APT5", "Ke3chang"}
    assert all(c.evidence.techniques and c.citations for c in cases if "C0033" not in c.name)
    tidal = tidal_cases(facts)
    assert len(tidal) == 27 and all(c.truth for c in tidal)


def test_holdout_is_leak_free(facts: GroupFacts) -> None:
    for case in attack_cases(facts)[:8]:
        prof = build_profiles(facts, case.filters(Filters()))
        for gid in case.truth:
            group = prof.groups.get(gid)
            if group is None:
                continue
            for support in [*group.features.values(), *group.indirect.values()]:
                for a in support:
                    assert case.campaign not in a.via
                    for c in a.chain:
                        names = {citation_name(x) for x in citations(c)}
                        assert not names or not names <= case.citations, (case.name, c)
        opened = build_profiles(facts, case.filters(Filters(), open_set=True))
        assert not case.truth & set(opened.groups)


def test_run_benchmark_report() -> None:
    report = run_benchmark(kb(), limit=2)
    assert report.campaigns == 2 and report.tidal_campaigns == 2
    labels = [r.label for r in report.rows]
    assert any("leak-free" in x for x in labels) and any("open set" in x for x in labels)
    assert any("TF-IDF" in x for x in labels) and any("Tidal" in x for x in labels)
    assert len(report.folds) == 2 and report.timing_ms["median"] > 0
    fitted = {
        "miss",
        "partial",
        "indirect",
        "size_exponent",
        "technique_weight",
        "temperature",
        "unknown_prior",
    }
    assert fitted <= set(report.model) and all(fitted <= set(f) for f in report.folds)
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["command"] == "aptcatch bench attribution" and doc["rows"][0]["n"] == 2
    table = report.format_table()
    assert "top-1" in table and "MRR" in table and "command: aptcatch bench attribution" in table
    for row in report.rows:
        assert 0.0 <= row.top1 <= row.top3 <= row.top5 <= 1.0
